# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: survey_deployments
short_description: Apply an AWX survey's answers to the inventory's deployment entries
version_added: 0.2.0
description:
  - Returns the deployment entries with the one named O(deployment) changed for this run by the answers a
    deploy job template's survey gives; an empty answer leaves the entry as the inventory has it.
  - A survey changes a declared deployment only; a name that is not in the list is refused naming where to
    declare it. Everything else about the entries is checked by the deploy role as usual.
author:
  - selfhost.langgraph maintainers (@selfhost)
options:
  _input:
    description: The deployment entries (C(langgraph_deployments)).
    type: list
    elements: dict
    required: true
  deployment:
    description: Name of the deployment the answers apply to.
    type: str
    default: ''
  image:
    description: The image to roll out instead of the entry's.
    type: str
    default: ''
  type:
    description: The deployment type instead of the entry's (V(development) or V(production)).
    type: str
    default: ''
  replicas:
    description:
      - Fewest containers (the entry's C(min_replicas)); the entry's C(max_replicas) is raised to it when
        lower. V(0) keeps the entry's.
    type: int
    default: 0
'''

EXAMPLES = r'''
deploy_deployments: >-
  {{ langgraph_deployments | selfhost.langgraph.survey_deployments(deployment=deployment | default(''),
     image=image | default(''), type=type | default(''), replicas=replicas | default(0)) }}
'''

RETURN = r'''
_value:
  description: The deployment entries, the named one changed.
  type: list
  elements: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.survey import survey_deployments as _survey


def survey_deployments(deployments, deployment='', image='', type='', replicas=0):  # pylint: disable=redefined-builtin
    try:
        return _survey(deployments, deployment, image, type, replicas)
    except StoreError as e:
        raise AnsibleFilterError(str(e))


class FilterModule(object):
    def filters(self):
        return {'survey_deployments': survey_deployments}
