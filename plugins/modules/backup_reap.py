#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: backup_reap
short_description: Record when deployments were last used and decide which idle ones to notify or delete
version_added: 0.2.0
description:
  - Runs on the control host (C(langgraph_control_host)). The control database keeps, per deployment (table
    C(deployment_usage)), when it was last used and when the reaper last told that it is idle.
  - O(step=observe) records the last use of each deployment exactly as M(selfhost.langgraph.deployment_usage)
    does on every tick (a request through O(load_balancers), or a newer run in its database) and decides for each
    of O(deployments) that has a database - keep, none, notify (one per idle period) or delete (after
    O(delete_days), only with O(reap_delete)).
  - O(step=notified) records that O(notified) were told, so that the next run does not tell them again until they
    were used. O(step=confirm) returns which of O(names) have a backup made since O(since), the condition of
    a delete.
author:
  - selfhost.langgraph maintainers (@selfhost)
extends_documentation_fragment:
  - selfhost.langgraph.postgres
attributes:
  check_mode:
    support: full
    description: Decides from the recorded and observed counters and writes nothing.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: partial
    description: O(step=observe) records the counters and the time of each look; decisions of a second run at once
      are the same, and a notification is decided once per idle period.
options:
  step:
    description: What to do.
    type: str
    required: true
    choices: [observe, notified, confirm]
  deployments:
    description:
      - The declared deployments (C(langgraph_deployments) entries; only C(name) and C(keep) are read, C(keep=true)
        exempts one) for O(step=observe).
    type: list
    elements: dict
    default: []
  keep:
    description: Names of deployments that are never notified or deleted (as C(keep=true) on their entry).
    type: list
    elements: str
    default: []
  load_balancers:
    description: Per load balancer, the C(backends) haproxy_info returned (O(step=observe)).
    type: dict
    default: {}
  notify_days:
    description: Days without use after which a deployment's owners are told (once per idle period).
    type: float
    default: 7
  delete_days:
    description: Days without use after which a deployment is backed up and deleted (with O(reap_delete)).
    type: float
    default: 28
  reap_delete:
    description: Delete idle deployments (otherwise only notify).
    type: bool
    default: false
  notified:
    description: Deployments that were notified (O(step=notified)).
    type: list
    elements: str
    default: []
  names:
    description: Deployments to confirm (O(step=confirm)).
    type: list
    elements: str
    default: []
  since:
    description: Epoch; O(step=confirm) counts backups made at or after it.
    type: float
    default: 0
  postgres_servers:
    description:
      - How to reach each Postgres host as the admin (the C(postgres_servers) filter), to read the newest run of the
        deployments as M(selfhost.langgraph.deployment_usage) does. Empty reads no runs; requests still count.
    type: list
    elements: dict
    default: []
    version_added: 0.2.0
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
    version_added: 0.2.0
  run_checks:
    description: At most this many deployment databases are opened to read their newest run (see M(selfhost.langgraph.deployment_usage)).
    type: int
    default: 50
    version_added: 0.2.0
'''

EXAMPLES = r'''
- name: Decide which deployments are idle
  selfhost.langgraph.backup_reap:
    step: observe
    deployments: "{{ langgraph_deployments }}"
    load_balancers: "{{ {'lb1': __lb.backends} }}"
    login_password: "{{ postgres_admin_password }}"
'''

RETURN = r'''
decisions:
  description: (observe) Per deployment, action (keep, none, notify, delete), reason, last_used_at and last_run_at
    (epochs), used (since the last look), used_by (requests, runs, first look or null), text and subject (of the
    notification).
  returned: step is observe
  type: dict
  sample: {support-bot: {action: notify, reason: unused for 7.2 days (reap_notify_days 7), last_used_at: 1700000000,
           used: false, used_by: null, text: "LangGraph deployment support-bot is idle: ...",
           subject: LangGraph deployment support-bot is idle}}
now:
  description: The control database's clock (epoch).
  returned: always
  type: float
confirmed:
  description: (confirm) The deployments of O(names) that have a backup made since O(since).
  returned: step is confirm
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils import backup_reap as reap
from ansible_collections.selfhost.langgraph.plugins.module_utils import deployment_usage as usage
from ansible_collections.selfhost.langgraph.plugins.module_utils.backup import BackupError, deployment_name_problem
from ansible_collections.selfhost.langgraph.plugins.module_utils.backup_catalog import ensure_schema
from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    check_libraries,
    postgres_common_argument_spec,
    postgres_connect,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


def observe(conn, p, check_mode, version):
    """Record the last use of every declared deployment (as each tick does) and decide."""
    def connect(server, database):
        return postgres_connect(usage.server_login(server, p['connect_timeout']), database)

    servers = dict((s['host'], s) for s in p['postgres_servers'])
    now, used_at, problems = usage.record(conn, version, [d['name'] for d in p['deployments']],
                                          p['load_balancers'], servers, connect, p['control_host'],
                                          write=not check_mode, run_checks=p['run_checks'])
    decisions = {}
    for d in p['deployments']:
        name = d['name']
        if name not in used_at:
            continue
        seen = used_at[name]
        action, reason = reap.decide(seen, d['keep'], now, p['notify_days'], p['delete_days'], p['reap_delete'])
        decisions[name] = dict(action=action, reason=reason, last_used_at=seen['last_used_at'],
                               last_run_at=seen['last_run_at'], used=seen['used_by'] in ('requests', 'runs'),
                               used_by=seen['used_by'], first_seen=seen['first_look'],
                               text=reap.message(name, action, reason, p['delete_days'], p['reap_delete']),
                               subject=reap.subject(name, action))
    return now, decisions, problems


def main():
    spec = postgres_common_argument_spec()
    spec.update(
        step=dict(type='str', required=True, choices=['observe', 'notified', 'confirm']),
        deployments=dict(type='list', elements='dict', default=[]),
        keep=dict(type='list', elements='str', default=[]),
        load_balancers=dict(type='dict', default={}),
        notify_days=dict(type='float', default=7),
        delete_days=dict(type='float', default=28),
        reap_delete=dict(type='bool', default=False),
        notified=dict(type='list', elements='str', default=[]),
        names=dict(type='list', elements='str', default=[]),
        since=dict(type='float', default=0),
        postgres_servers=usage.servers_argument_spec(),
        control_host=dict(type='str', default=''),
        run_checks=dict(type='int', default=50),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    entries = [dict(name=d.get('name'), keep=d.get('keep') in (True, 'true', 'yes') or d.get('name') in p['keep'])
               for d in p['deployments']]
    p['deployments'] = entries
    problems = [problem for problem in (deployment_name_problem(n) for n in
                                        [d['name'] for d in entries] + p['notified'] + p['names']) if problem]
    try:
        reap.validate_days(p['notify_days'], p['delete_days'])
    except BackupError as e:
        problems.append(str(e))
    if problems:
        module.fail_json(msg='; '.join(problems))
    check_libraries(module)
    result = dict(changed=False)
    try:
        conn = postgres_connect(p, p['control_database'])
        try:
            version, dummy, pending = ensure_schema(conn, module.check_mode)
            result['changed'] = bool(pending) and not module.check_mode
            if p['step'] == 'observe':
                result['now'], result['decisions'], problems = observe(conn, p, module.check_mode, version)
                for name, problem in sorted(problems.items()):
                    module.warn('runs of %s were not read: %s' % (name, problem))
                result['changed'] = result['changed'] or (not module.check_mode and bool(result['decisions']))
            elif p['step'] == 'notified':
                cur = conn.cursor()
                cur.execute('SELECT extract(epoch FROM now())')
                result['now'] = float(cur.fetchone()[0])
                if p['notified'] and not module.check_mode:
                    cur.execute('UPDATE deployment_usage SET notified_at = now() WHERE deployment = ANY(%s)',
                                (p['notified'],))
                    cur.execute("INSERT INTO audit_events (who, action, deployment, details) "
                                "SELECT 'reaper', 'reap-notify', d, '{}'::jsonb FROM unnest(%s::text[]) AS d",
                                (p['notified'],))
                    result['changed'] = True
                conn.commit()
            else:
                cur = conn.cursor()
                cur.execute('SELECT extract(epoch FROM now())')
                result['now'] = float(cur.fetchone()[0])
                names = p['names']
                cur.execute('SELECT DISTINCT deployment FROM backups WHERE deployment = ANY(%s) '
                            'AND created_at >= to_timestamp(%s) ORDER BY deployment', (names, p['since']))
                result['confirmed'] = [r[0] for r in cur.fetchall()]
                conn.rollback()
        finally:
            conn.close()
    except StoreError as e:
        module.fail_json(msg=str(e), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
