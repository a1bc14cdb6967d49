# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: store_entries
short_description: The deployment_stores entries of validated deployments
version_added: 0.2.0
description:
  - From the deployments M(selfhost.langgraph.validate_deployments) returns, the entries
    M(selfhost.langgraph.deployment_stores) takes - name, type, the Postgres and Redis host (the entry's
    C(postgres_host) and C(redis_host), else the group's only host; with several and none named, the host
    recorded for the deployment), C(redis_isolation) and C(redis_maxmemory), and C(postgres_password) from the entries that set one.
  - The result may hold passwords; give it only to an option marked C(no_log).
author:
  - selfhost.langgraph maintainers (@selfhost)
options:
  _input:
    description: The validated deployments.
    type: list
    elements: dict
    required: true
  entries:
    description: The deployment entries (C(langgraph_deployments)), for their C(postgres_password).
    type: list
    elements: dict
    required: true
  postgres_hosts:
    description: The hosts of group C(langgraph_postgres).
    type: list
    elements: str
    required: true
  redis_hosts:
    description: The hosts of group C(langgraph_redis).
    type: list
    elements: str
    required: true
'''

EXAMPLES = r'''
deployments: "{{ valid.deployments | selfhost.langgraph.store_entries(langgraph_deployments, groups['langgraph_postgres'], groups['langgraph_redis']) }}"
'''

RETURN = r'''
_value:
  description: >-
    One dict per deployment with name, type, postgres_host, redis_host, redis_isolation, redis_maxmemory and, when
    set, postgres_password.
  type: list
  elements: dict
'''

from ansible_collections.selfhost.langgraph.plugins.filter.with_postgres_passwords import with_postgres_passwords


def store_entries(deployments, entries, postgres_hosts, redis_hosts):
    stores = []
    for d in deployments or []:
        store = dict(name=d['name'], type=d['type'], redis_isolation=d.get('redis_isolation') or 'shared',
                     redis_maxmemory=d.get('redis_maxmemory'))
        for key, hosts in (('postgres_host', postgres_hosts or []), ('redis_host', redis_hosts or [])):
            host = d.get(key) or (hosts[0] if len(hosts) == 1 else None)
            if host:
                store[key] = host
        stores.append(store)
    return with_postgres_passwords(stores, entries)


class FilterModule(object):
    def filters(self):
        return {'store_entries': store_entries}
