#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: deployment_usage
short_description: Record when each deployment was last used
version_added: 0.2.0
description:
  - Runs on the control host (C(langgraph_control_host)), once per run of the fleet control loop, after the load
    balancers were observed; every reconcile and autoscale tick (and each deploy, rollback and scale) records with it,
    status reads with it. The control database keeps it per deployment (table C(deployment_usage)); the idle reaper
    (C(playbooks/reap.yml)) decides from it.
  - A deployment was used when one of its load balancer servers answered a request since the last look (HAProxy's
    per-server request counter C(stot) in O(load_balancers) grew, or a new server answered some), or when its own
    database holds a run newer than its last use (a cron, a client that reached a container directly).
  - Reading the newest run takes one connection to the deployment's database. To stay bounded with hundreds of
    deployments, one query per Postgres host first reads the write counters of all its deployments' databases
    (C(pg_stat_database)); only those that wrote since the last look, and whose requests did not already show use,
    are opened, at most O(run_checks) per call, the longest idle first. The others are opened by a later call.
  - Only deployments that have a database are recorded. A deployment seen for the first time counts as used now.
author:
  - selfhost.langgraph maintainers (@selfhost)
extends_documentation_fragment:
  - selfhost.langgraph.postgres
attributes:
  check_mode:
    support: full
    description: Reads and works out the last use as it would be recorded, and writes nothing.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: partial
    description: Records the counters and the time of each look; changed only when it found use (or migrated the
      schema), so a second call at once reports no change.
options:
  deployments:
    description: Names of the deployments to look at (the run's deployments).
    type: list
    elements: str
    required: true
  load_balancers:
    description: Per load balancer, the C(backends) M(selfhost.langgraph.haproxy_info) returned. A load balancer that
      did not answer is left out; its counters are compared on its next answer.
    type: dict
    default: {}
  postgres_servers:
    description:
      - How to reach each Postgres host as the admin (the C(postgres_servers) filter). Empty reads no runs; requests
        still count.
    type: list
    elements: dict
    default: []
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
        description: Where the control host connects to it; O(postgres_servers[].address) when omitted.
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
      ca_cert:
        description: The fleet's CA certificate, with which the admin connection verifies the server's certificate.
        type: path
  control_host:
    description: Inventory name of the control host, where deployments recorded without a Postgres host live.
    type: str
    default: ''
  record:
    description: Write what was found; V(false) only reads (status).
    type: bool
    default: true
  run_checks:
    description: At most this many deployment databases are opened per call to read their newest run (0 reads none).
    type: int
    default: 50
  parallel:
    description: Databases opened at once.
    type: int
    default: 8
'''

EXAMPLES = r'''
- name: Record when each deployment was last used
  selfhost.langgraph.deployment_usage:
    deployments: "{{ control.deployments | list }}"
    load_balancers: "{{ {'lb1': lb_info.backends} }}"
    postgres_servers: "{{ groups['langgraph_postgres'] | selfhost.langgraph.postgres_servers(hostvars, langgraph_control_host) }}"
    control_host: "{{ langgraph_control_host }}"
    login_password: "{{ postgres_admin_password }}"
  delegate_to: "{{ langgraph_control_host }}"
  run_once: true
'''

RETURN = r'''
now:
  description: The control database's clock (epoch).
  returned: always
  type: float
usage:
  description:
    - Per deployment that has a database, C(last_used_at) and C(last_run_at) (epochs; null when none seen),
      C(used_by) (what showed use in this look - V(requests), V(runs), V(first look) - or null), C(notified_at)
      (when the reaper last told it is idle, or null) and C(first_look).
  returned: always
  type: dict
  sample: {support-bot: {last_used_at: 1764500000.5, last_run_at: 1764499000.0, used_by: requests,
           notified_at: null, first_look: false}}
problems:
  description: Deployments whose newest run could not be read now, with why (their requests still counted).
  returned: always
  type: dict
  sample: {new-bot: its newest run is read on a later tick (run_checks 50 per tick)}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils import deployment_usage as usage
from ansible_collections.selfhost.langgraph.plugins.module_utils.backup_catalog import ensure_schema
from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    check_libraries,
    postgres_common_argument_spec,
    postgres_connect,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import validate_deployment_name


def main():
    spec = postgres_common_argument_spec()
    spec.update(
        deployments=dict(type='list', elements='str', required=True),
        load_balancers=dict(type='dict', default={}),
        postgres_servers=usage.servers_argument_spec(),
        control_host=dict(type='str', default=''),
        record=dict(type='bool', default=True),
        run_checks=dict(type='int', default=50),
        parallel=dict(type='int', default=8),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    try:
        for name in p['deployments']:
            validate_deployment_name(name, p['control_database'])
    except StoreError as e:
        module.fail_json(msg=str(e))
    if p['run_checks'] < 0 or p['parallel'] < 1:
        module.fail_json(msg='run_checks must be 0 or more and parallel 1 or more (got %s and %s)'
                         % (p['run_checks'], p['parallel']))
    check_libraries(module)
    write = p['record'] and not module.check_mode
    servers = dict((s['host'], s) for s in p['postgres_servers'])

    def connect(server, database):
        return postgres_connect(usage.server_login(server, p['connect_timeout']), database)

    try:
        conn = postgres_connect(p, p['control_database'])
        try:
            version, dummy, pending = ensure_schema(conn, not write)
            now, found, problems = usage.record(conn, version, p['deployments'], p['load_balancers'], servers,
                                                connect, p['control_host'], write=write,
                                                run_checks=p['run_checks'], parallel=p['parallel'])
        finally:
            conn.close()
    except StoreError as e:
        module.fail_json(msg=str(e))
    news = any(seen['used_by'] for seen in found.values())
    module.exit_json(changed=write and (news or bool(pending)), now=now, usage=found, problems=problems)


if __name__ == '__main__':
    main()
