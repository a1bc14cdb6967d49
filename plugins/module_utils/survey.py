# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an AWX survey of the deploy job template asks for, applied to the
inventory's deployments: the named deployment's entry with the survey's
image, type and replicas for this run. Empty answers leave the entry as the
inventory has it."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


def survey_deployments(deployments, deployment='', image='', deployment_type='', replicas=0):
    """deployments (the inventory's langgraph_deployments) with the entry
    named deployment changed by the survey's answers; the list as it is when
    no answer is given. Raises StoreError naming what to fix."""
    deployments = list(deployments or [])
    deployment = (deployment or '').strip()
    image = (image or '').strip()
    deployment_type = (deployment_type or '').strip()
    try:
        replicas = int(replicas or 0)
    except (TypeError, ValueError):
        raise StoreError('replicas must be a whole number, not %r' % (replicas,))
    if replicas < 0:
        raise StoreError('replicas must be 0 (keep the entry\'s min_replicas) or more, not %d' % replicas)
    if not (image or deployment_type or replicas):
        return deployments
    if not deployment:
        raise StoreError('image, type and replicas apply to one deployment: answer deployment too')
    names = [entry.get('name') if isinstance(entry, dict) else None for entry in deployments]
    if deployment not in names:
        raise StoreError('deployment %s is not in langgraph_deployments: declare it in the inventory (with its '
                         'image, type and secrets) and sync the AWX inventory source; a survey changes a declared '
                         'deployment only' % deployment)
    result = []
    for entry in deployments:
        if isinstance(entry, dict) and entry.get('name') == deployment:
            entry = dict(entry)
            if image:
                entry['image'] = image
            if deployment_type:
                entry['type'] = deployment_type
            if replicas:
                entry['min_replicas'] = replicas
                if entry.get('max_replicas') is not None and int(entry['max_replicas']) < replicas:
                    entry['max_replicas'] = replicas
        result.append(entry)
    return result
