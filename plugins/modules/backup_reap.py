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
    C(deployment_usage), schema version 7), the load balancers' per-server request counters as last seen and when
    the deployment last served a request.
  - O(step=observe) compares O(load_balancers) (haproxy_info C(backends) per load balancer) with the recorded
    counters; a counter that grew, or a new server that answered requests, is use and resets the idle count. It
    records the counters and decides for each of O(deployments) that has a database - keep, none, notify (one per
    idle period) or delete (after O(delete_days), only with O(reap_delete)).
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
  description: (observe) Per deployment, action (keep, none, notify, delete), reason, last_used_at (epoch), used (now).
  returned: step is observe
  type: dict
  sample: {support-bot: {action: notify, reason: unused for 7.2 days (reap_notify_days 7), last_used_at: 1700000000,
           used: false, text: "LangGraph deployment support-bot is idle: ..."}}
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

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils import backup_reap as reap
from ansible_collections.selfhost.langgraph.plugins.module_utils.backup import BackupError, deployment_name_problem
from ansible_collections.selfhost.langgraph.plugins.module_utils.backup_catalog import ensure_schema
from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    check_libraries,
    postgres_common_argument_spec,
    postgres_connect,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


def observe(conn, p, check_mode, has_table):
    cur = conn.cursor()
    cur.execute('SELECT extract(epoch FROM now())')
    now = float(cur.fetchone()[0])
    names = [d['name'] for d in p['deployments']]
    cur.execute('SELECT name FROM deployments WHERE name = ANY(%s) AND postgres_database IS NOT NULL', (names,))
    with_database = set(r[0] for r in cur.fetchall())
    recorded = {}
    if has_table:
        cur.execute('SELECT deployment, extract(epoch FROM last_used_at), counters, extract(epoch FROM notified_at) '
                    'FROM deployment_usage WHERE deployment = ANY(%s)', (names,))
        for name, last_used, seen, notified in cur.fetchall():
            recorded[name] = dict(last_used_at=float(last_used), counters=seen or {},
                                  notified_at=None if notified is None else float(notified))
    observed = reap.counters(p['load_balancers'])
    decisions = {}
    for d in p['deployments']:
        name = d['name']
        if name not in with_database:
            continue
        now_counters = observed.get(name, {})
        row = recorded.get(name)
        was_used = row is not None and reap.used(row['counters'], now_counters)
        usage = dict(last_used_at=now if row is None or was_used else row['last_used_at'],
                     notified_at=None if row is None else row['notified_at'])
        action, reason = reap.decide(usage, d['keep'], now, p['notify_days'], p['delete_days'], p['reap_delete'])
        decisions[name] = dict(action=action, reason=reason, last_used_at=usage['last_used_at'], used=was_used,
                               first_seen=row is None,
                               text=reap.message(name, action, reason, p['delete_days'], p['reap_delete']))
        if not check_mode:
            cur.execute("""INSERT INTO deployment_usage (deployment, last_used_at, counters, observed_at)
                           VALUES (%s, to_timestamp(%s), %s, now())
                           ON CONFLICT (deployment) DO UPDATE SET last_used_at = EXCLUDED.last_used_at,
                               counters = EXCLUDED.counters, observed_at = EXCLUDED.observed_at""",
                        (name, usage['last_used_at'], json.dumps(now_counters)))
    conn.commit()
    return now, decisions


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
            has_table = version >= 7 and not (module.check_mode and any(m.version == 7 for m in pending))
            result['changed'] = bool(pending) and not module.check_mode
            if p['step'] == 'observe':
                result['now'], result['decisions'] = observe(conn, p, module.check_mode, has_table)
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
