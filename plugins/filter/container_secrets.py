# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: container_secrets
short_description: The secret environment of the deployments a step starts
version_added: 0.2.0
description:
  - From the deployment entries and the stores' URIs, the secret environment (the entry's C(secrets), the LangSmith
    API key and the license key of the tracing settings, plus C(DATABASE_URI) and C(REDIS_URI)) of each deployment
    named in a step's entries, and of no other.
  - Give the result only to a module option marked C(no_log) (for example M(selfhost.langgraph.app_containers)'s
    O(selfhost.langgraph.app_containers#module:secrets)); never print it or keep it in a fact.
author:
  - selfhost.langgraph maintainers (@selfhost)
options:
  _input:
    description: The deployment entries (C(langgraph_deployments)).
    type: list
    elements: dict
    required: true
  uris:
    description: The stores' URIs per deployment, RV(selfhost.langgraph.deployment_stores#module:uris).
    type: dict
    required: true
  entries:
    description: The step's entries (containers or migrations); each has a C(deployment).
    type: list
    elements: dict
    required: true
  tracing:
    description:
      - The fleet's LangSmith settings (C(tracing), C(api_key), C(endpoint), C(license_key)); see docs/tracing.md.
      - An entry's C(langsmith_api_key) overrides C(api_key) for it.
    type: dict
'''

EXAMPLES = r'''
secrets: "{{ langgraph_deployments | selfhost.langgraph.container_secrets(stores.uris, wave.start[inventory_hostname]) }}"
'''

RETURN = r'''
_value:
  description: "C({deployment: {NAME: value}}) for the deployments of the entries."
  type: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment import secrets_of


def container_secrets(entries, uris, step_entries, tracing=None):
    wanted = sorted(set(e.get('deployment') for e in step_entries or []))
    secrets = secrets_of(entries, tracing)
    uris = uris or {}
    result = {}
    for name in wanted:
        if name not in uris:
            raise AnsibleFilterError('deployment %s has no database and Redis URIs from the stores step' % name)
        environment = dict(secrets.get(name) or {})
        environment['DATABASE_URI'] = uris[name]['database_uri']
        environment['REDIS_URI'] = uris[name]['redis_uri']
        result[name] = environment
    return result


class FilterModule(object):
    def filters(self):
        return {'container_secrets': container_secrets}
