#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: backup_catalog
short_description: Plan, record and look up backups of deployment databases in the control database
version_added: 0.2.0
description:
  - The control database's side of backups (table C(backups), schema version 6, migrated by this module as by
    M(selfhost.langgraph.control_state)).
  - O(step=plan_backup) chooses the deployments to dump (O(deployments), or every deployment that has a database),
    reserves a backup id for each and returns, per Postgres host that holds their databases, what to dump where.
  - O(step=record) records the dumps made (O(made)) and applies retention to those deployments (O(keep_count),
    O(keep_days); the newest backup always stays); it returns the files to remove per host.
  - O(step=plan_restore) checks a restore request against the records and returns what the restore does, or fails
    with what to fix, before anything changes.
  - Run it on the control host (C(langgraph_control_host)).
author:
  - selfhost.langgraph maintainers (@selfhost)
extends_documentation_fragment:
  - selfhost.langgraph.postgres
attributes:
  check_mode:
    support: full
    description: Reads and plans; reserves no id and records or forgets nothing.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: partial
    description: O(step=plan_backup) reserves new ids on every run (each run is a new backup); O(step=record) of the
      same rows again changes nothing.
options:
  step:
    description: What to do.
    type: str
    required: true
    choices: [plan_backup, record, plan_restore]
  deployments:
    description:
      - Deployments to back up (O(step=plan_backup)) or whose retention to apply (O(step=record)). Empty means
        every deployment that has a database.
    type: list
    elements: str
    default: []
  skip_missing:
    description:
      - With O(step=plan_backup), leave out the listed deployments that have no database yet instead of failing
        (a backup of every declared deployment).
    type: bool
    default: false
  directory:
    description: Backup directory on the Postgres hosts (O(step=plan_backup)).
    type: path
    default: /var/backups/selfhost-langgraph
  control_host:
    description: Inventory name of the control host, where deployments recorded without a Postgres host live.
    type: str
    default: ''
  made:
    description: Dumps made, as M(selfhost.langgraph.deployment_backup) returned them (O(step=record)).
    type: list
    elements: dict
    default: []
    suboptions:
      id: {description: Backup id., type: int, required: true}
      deployment: {description: Deployment., type: str, required: true}
      host: {description: Inventory host that holds the file., type: str, required: true}
      path: {description: Path of the dump on that host., type: str, required: true}
      database: {description: Database dumped., type: str, required: true}
      size: {description: Bytes., type: int, required: true}
      sha256: {description: Checksum of the file., type: str, required: true}
      seconds: {description: Time the dump took (not recorded)., type: float}
  keep_count:
    description: Backups kept per deployment (O(step=record)).
    type: int
    default: 7
  keep_days:
    description: Backups older than this many days are removed (0 keeps them by count only); the newest stays.
    type: int
    default: 30
  who:
    description: Who makes the backup (recorded as C(created_by)).
    type: str
    default: ansible
  deployment:
    description: Whose backup to restore (O(step=plan_restore)).
    type: str
    default: ''
  backup:
    description: Id of the backup to restore; 0 means the deployment's newest.
    type: int
    default: 0
  into:
    description: Deployment to restore into; empty means O(deployment) itself.
    type: str
    default: ''
  force:
    description: Restore into a deployment other than O(deployment) that already has a database, replacing it.
    type: bool
    default: false
  declared:
    description: Names of the deployments in C(langgraph_deployments); the restore target must be one of them.
    type: list
    elements: str
    default: []
'''

EXAMPLES = r'''
- name: Plan the backup of every deployment
  selfhost.langgraph.backup_catalog:
    step: plan_backup
    login_host: 127.0.0.1
    login_password: "{{ postgres_admin_password }}"
  register: __plan

- name: Check a restore request
  selfhost.langgraph.backup_catalog:
    step: plan_restore
    deployment: support-bot
    backup: 42
    into: support-bot-copy
    declared: "{{ langgraph_deployments | map(attribute='name') | list }}"
    login_password: "{{ postgres_admin_password }}"
'''

RETURN = r'''
dumps:
  description: (plan_backup) Per Postgres inventory host, the dumps to make there.
  returned: step is plan_backup
  type: dict
  sample: {pg1: [{deployment: support-bot, database: lg_support_bot, id: 42,
                  path: /var/backups/selfhost-langgraph/support-bot/42.dump}]}
remove:
  description: (record) Per host, the files retention removes (their records are already gone).
  returned: step is record
  type: dict
  sample: {pg1: [/var/backups/selfhost-langgraph/support-bot/35.dump]}
forgotten:
  description: (record) Ids of the backups retention removed (in check mode, would remove).
  returned: step is record
  type: list
  elements: int
restore:
  description: (plan_restore) What the restore does.
  returned: step is plan_restore
  type: dict
  sample: {backup: {id: 42, path: /var/backups/selfhost-langgraph/support-bot/42.dump, host: pg1, sha256: 9f0c...},
           deployment: support-bot, target: support-bot, same: true, overwrite: true, stop_first: true,
           database: lg_support_bot, role: lg_support_bot, postgres_host: pg1, backup_host: pg1}
backups:
  description: Recorded backups of the deployments concerned, newest first.
  returned: always
  type: dict
schema_version:
  description: Schema version of the control database (in check mode, as found).
  returned: always
  type: int
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils import backup as plans
from ansible_collections.selfhost.langgraph.plugins.module_utils import backup_catalog as catalog
from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    check_libraries,
    postgres_common_argument_spec,
    postgres_connect,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


def argument_spec():
    spec = postgres_common_argument_spec()
    made = dict(id=dict(type='int', required=True), deployment=dict(type='str', required=True),
                host=dict(type='str', required=True), path=dict(type='str', required=True),
                database=dict(type='str', required=True), size=dict(type='int', required=True),
                sha256=dict(type='str', required=True), seconds=dict(type='float'))
    spec.update(
        step=dict(type='str', required=True, choices=['plan_backup', 'record', 'plan_restore']),
        deployments=dict(type='list', elements='str', default=[]),
        skip_missing=dict(type='bool', default=False),
        directory=dict(type='path', default=plans.DEFAULT_DIRECTORY),
        control_host=dict(type='str', default=''),
        made=dict(type='list', elements='dict', default=[], options=made),
        keep_count=dict(type='int', default=7),
        keep_days=dict(type='int', default=30),
        who=dict(type='str', default='ansible'),
        deployment=dict(type='str', default=''),
        backup=dict(type='int', default=0),
        into=dict(type='str', default=''),
        force=dict(type='bool', default=False),
        declared=dict(type='list', elements='str', default=[]),
    )
    return spec


def validate(p):
    """Problems of the input, before anything is read or changed."""
    problems = []
    names = list(p['deployments']) + [m['deployment'] for m in p['made']]
    if p['step'] == 'plan_restore':
        names += [p['deployment']] if p['deployment'] else []
        if not p['deployment']:
            problems.append('name the deployment whose backup to restore (-e deployment=NAME)')
        if p['into']:
            names.append(p['into'])
        if p['backup'] < 0:
            problems.append('backup must be a backup id (a positive number), not %d' % p['backup'])
    for name in names:
        problem = plans.deployment_name_problem(name)
        if problem:
            problems.append(problem)
    if p['step'] == 'plan_backup':
        problem = plans.directory_problem(p['directory'])
        if problem:
            problems.append(problem)
    if p['step'] == 'record':
        if p['keep_count'] < 1:
            problems.append('backup_keep_count must be 1 or more, not %d' % p['keep_count'])
        if p['keep_days'] < 0:
            problems.append('backup_keep_days must be 0 (no age limit) or more, not %d' % p['keep_days'])
        for m in p['made']:
            if not plans.SHA256.match(m['sha256']):
                problems.append('made: %s has no sha256 checksum' % m['path'])
    return problems


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    problems = validate(p)
    if problems:
        module.fail_json(msg='; '.join(problems))
    check_libraries(module)
    result = dict(changed=False)
    try:
        conn = postgres_connect(p, p['control_database'])
        try:
            version, has_table, pending = catalog.ensure_schema(conn, module.check_mode)
            result['schema_version'] = version
            result['changed'] = bool(pending) and not module.check_mode
            if p['step'] == 'plan_backup':
                recorded, backups, _now = catalog.read(conn, None, has_table)
                plan = plans.plan_backups(recorded, p['deployments'], p['control_host'] or None,
                                          skip_missing=p['skip_missing'])
                count = sum(len(v) for v in plan.values())
                ids = [None] * count if module.check_mode else catalog.reserve(conn, count)
                for item in [i for host in sorted(plan) for i in plan[host]]:
                    item['id'] = ids.pop(0)
                    item['path'] = (plans.backup_path(p['directory'], item['deployment'], item['id'])
                                    if item['id'] is not None else '%s/%s/<id>.dump' % (p['directory'], item['deployment']))
                result.update(dumps=plan, backups=dict((n, backups.get(n, [])) for n in sorted(
                    d['deployment'] for v in plan.values() for d in v)))
            elif p['step'] == 'record':
                scope = sorted(set(p['deployments']) | set(m['deployment'] for m in p['made']))
                _recorded, backups, now = catalog.read(conn, scope, has_table)
                for m in p['made']:  # the new ones count for retention (in check mode too)
                    rows = backups.setdefault(m['deployment'], [])
                    if not any(r['id'] == m['id'] for r in rows):
                        rows.insert(0, dict(m, created_at=now))
                gone, remove = [], {}
                for name in scope:
                    for backup_id in plans.retention(backups.get(name, []), p['keep_count'], p['keep_days'], now):
                        row = [r for r in backups[name] if r['id'] == backup_id][0]
                        gone.append(backup_id)
                        remove.setdefault(row['host'], []).append(row['path'])
                if not module.check_mode and (p['made'] or gone):
                    gone = catalog.record(conn, p['made'], gone, p['who'])
                    result['changed'] = True
                result.update(remove=remove, forgotten=sorted(gone), backups=backups)
            else:
                names = [p['deployment']] + ([p['into']] if p['into'] else [])
                recorded, backups, _now = catalog.read(conn, names, has_table)
                restore = plans.plan_restore(p['deployment'], p['backup'], p['into'], p['force'], p['declared'],
                                             backups, recorded)
                if not restore['postgres_host']:
                    restore['postgres_host'] = restore['backup_host'] if not restore['overwrite'] else p['control_host']
                if restore['postgres_host'] != restore['backup_host']:
                    raise plans.BackupError(
                        'backup %s lies on %s but %s\'s database is on %s: copy the dump there and restore it by hand '
                        '(docs/backups.md), or restore into a deployment on %s'
                        % (restore['backup']['id'], restore['backup_host'], restore['target'],
                           restore['postgres_host'], restore['backup_host']))
                result.update(restore=restore, backups=backups)
        finally:
            conn.close()
    except StoreError as e:
        module.fail_json(msg=str(e), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
