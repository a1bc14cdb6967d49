#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: run_queues_info
short_description: Count the pending and running runs of many deployments
version_added: 0.2.0
description:
  - For each deployment, counts the runs waiting (C(pending), due now) and running in the C(runs) table of its own
    database, as the official Helm chart's KEDA trigger does. The open LangGraph runtime exports no queue gauges,
    so this is the autoscaler's queue metric.
  - One short connection per deployment database (Postgres cannot query across databases), several at once.
  - A deployment whose count fails is returned in RV(failures); the others are counted.
  - Runs on the control host; it reaches every Postgres host as the admin, as M(selfhost.langgraph.deployment_stores) does.
author:
  - selfhost.langgraph maintainers (@selfhost)
requirements:
  - psycopg2 (Debian package C(python3-psycopg2)) where the module runs
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: Reads only.
options:
  deployments:
    description: RV(selfhost.langgraph.control_state#module:deployments) of step C(begin) (each with C(postgres_host) and C(database)).
    type: dict
    required: true
  postgres_servers:
    description: How to reach each Postgres host as the admin (the C(postgres_servers) filter).
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: Inventory name of the Postgres host.
        type: str
        required: true
      address:
        description: Its address.
        type: str
        required: true
      port:
        description: Its port.
        type: int
        default: 5432
      login_host:
        description: Where this host connects to it (V(127.0.0.1) on the host itself); O(postgres_servers[].address) when omitted.
        type: str
      admin_user:
        description: The admin role.
        type: str
        default: langgraph_admin
      admin_password:
        description: The admin role's password.
        type: str
      sslmode:
        description: C(sslmode) of the deployments' URIs; the admin connection is encrypted when they are.
        type: str
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
      ca_cert:
        description: CA certificate file on this host; with it the admin connection verifies the server's certificate (C(verify-ca)).
        type: path
  parallel:
    description: Counts run at once.
    type: int
    default: 8
  connect_timeout:
    description: Seconds to wait for each connection.
    type: int
    default: 10
'''

EXAMPLES = r'''
- name: Count the pending runs of every deployment
  selfhost.langgraph.run_queues_info:
    deployments: "{{ control.deployments }}"
    postgres_servers: "{{ groups['langgraph_postgres'] | selfhost.langgraph.postgres_servers(hostvars, langgraph_control_host) }}"
  delegate_to: "{{ langgraph_control_host }}"
  run_once: true
  register: queues
'''

RETURN = r'''
queues:
  description: Per deployment, its pending (due) and running runs.
  returned: always
  type: dict
  sample: {support-bot: {pending: 12, running: 10}}
failures:
  description: Deployments that could not be counted, with why.
  returned: always
  type: dict
  sample: {new-bot: it has no database yet}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import check_libraries, postgres_connect
from ansible_collections.selfhost.langgraph.plugins.module_utils.run_queues import count_all, targets
from ansible_collections.selfhost.langgraph.plugins.module_utils.store_batches import postgres_login, postgres_servers_option


def main():
    module = AnsibleModule(
        argument_spec=dict(
            deployments=dict(type='dict', required=True),
            postgres_servers=postgres_servers_option(required=True),
            parallel=dict(type='int', default=8),
            connect_timeout=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    check_libraries(module)
    p = module.params
    servers = dict((s['host'], s) for s in p['postgres_servers'])

    def connect(server, database):
        return postgres_connect(postgres_login(server, p['connect_timeout']), database)

    todo, failures = targets(p['deployments'], servers)
    queues, problems = count_all(todo, connect, p['parallel'])
    failures.update(problems)
    module.exit_json(changed=False, queues=queues, failures=failures)


if __name__ == '__main__':
    main()
