#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: deployment_backup
short_description: Dump deployment databases on their Postgres host, checksummed, and remove old dumps
version_added: 0.2.0
description:
  - Runs on a Postgres host (with become) and dumps each listed database with C(pg_dump -Fc) as the cluster's system
    user (O(pg_user), peer authentication over the local socket, so no password is used), into O(directory), streaming
    the dump through a SHA-256 checksum. A dump is written as C(<path>.partial) and renamed when complete.
  - The backup directory is made (mode 0700) when missing, and proved writable before any dump starts; a directory
    that cannot be written is an error and nothing is dumped.
  - O(remove) deletes dump files retention let go (missing ones are not an error).
  - The ids and paths come from M(selfhost.langgraph.backup_catalog) (C(step=plan_backup)); its C(step=record) records
    what this module returns.
author:
  - selfhost.langgraph maintainers (@selfhost)
attributes:
  check_mode:
    support: full
    description: Checks the directory and that each database exists, and reports what would be dumped and removed.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: partial
    description: Each call with O(dumps) makes new dumps (a backup is a new file); a dump whose file is complete is kept
      and not made again; O(remove) of removed files changes nothing.
options:
  dumps:
    description: Databases to dump.
    type: list
    elements: dict
    default: []
    suboptions:
      deployment: {description: Deployment name., type: str, required: true}
      database: {description: Its database., type: str, required: true}
      id: {description: Backup id (reserved in the control database; none in check mode)., type: int}
      path: {description: File to write (under O(directory))., type: str, required: true}
  directory:
    description: The backup directory on this host.
    type: path
    default: /var/backups/selfhost-langgraph
  remove:
    description: Dump files to delete (under O(directory)).
    type: list
    elements: str
    default: []
  pg_user:
    description: System user that owns the Postgres cluster.
    type: str
    default: postgres
  port:
    description: Port of the local Postgres cluster.
    type: int
    default: 5432
  host:
    description: Inventory name of this host, returned with each dump for the record.
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Dump the databases planned for this host
  selfhost.langgraph.deployment_backup:
    dumps: "{{ __plan.dumps[inventory_hostname] | default([]) }}"
    host: "{{ inventory_hostname }}"
  become: true
'''

RETURN = r'''
made:
  description: Dumps made (in check mode, none), ready for backup_catalog C(step=record).
  returned: always
  type: list
  elements: dict
  sample: [{id: 42, deployment: support-bot, host: pg1, database: lg_support_bot,
            path: /var/backups/selfhost-langgraph/support-bot/42.dump, size: 1048576, sha256: 9f0c..., seconds: 0.8}]
would_dump:
  description: In check mode, the deployments whose databases would be dumped, with the file each would go to.
  returned: check mode
  type: list
  elements: dict
failures:
  description: Deployment -> why its dump failed (the others are made).
  returned: always
  type: dict
removed:
  description: Files removed (in check mode, that would be removed).
  returned: always
  type: list
  elements: str
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils import backup as plans
from ansible_collections.selfhost.langgraph.plugins.module_utils import backup_host
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


def under(directory, path):
    directory = os.path.normpath(directory)
    return os.path.normpath(path).startswith(directory + os.sep)


def main():
    dump_spec = dict(deployment=dict(type='str', required=True), database=dict(type='str', required=True),
                     id=dict(type='int'), path=dict(type='str', required=True))
    module = AnsibleModule(argument_spec=dict(
        dumps=dict(type='list', elements='dict', default=[], options=dump_spec),
        directory=dict(type='path', default=plans.DEFAULT_DIRECTORY),
        remove=dict(type='list', elements='str', default=[]),
        pg_user=dict(type='str', default='postgres'),
        port=dict(type='int', default=5432),
        host=dict(type='str', required=True),
    ), supports_check_mode=True)
    p = module.params
    problems = []
    problem = plans.directory_problem(p['directory'])
    if problem:
        problems.append(problem)
    for d in p['dumps']:
        problem = plans.deployment_name_problem(d['deployment'])
        if problem:
            problems.append(problem)
        elif d['id'] is None:
            if not module.check_mode:
                problems.append('dump of %s has no backup id: plan it with backup_catalog step=plan_backup' % d['deployment'])
        elif not problems and d['path'] != plans.backup_path(p['directory'], d['deployment'], d['id']):
            problems.append('dump %s of %s must go to %s, not %s' % (
                d['id'], d['deployment'], plans.backup_path(p['directory'], d['deployment'], d['id']), d['path']))
    for path in p['remove']:
        if not under(p['directory'], path) or not path.endswith('.dump'):
            problems.append('%s is not a dump under %s: not removed' % (path, p['directory']))
    if problems:
        module.fail_json(msg='; '.join(problems))

    host = backup_host.Host(p['pg_user'], p['port'])
    result = dict(changed=False, made=[], failures={}, removed=[])
    try:
        if p['dumps']:
            check = backup_host.writable_problem_readonly if module.check_mode else backup_host.writable_problem
            problem = check(p['directory'])
            if problem:
                module.fail_json(msg=problem + '; nothing was dumped', **result)
            missing = [d['database'] for d in p['dumps'] if not host.database_exists(d['database'])]
            if module.check_mode:
                result['would_dump'] = [dict(deployment=d['deployment'], database=d['database'], path=d['path'])
                                        for d in p['dumps'] if d['database'] not in missing]
        for d in p['dumps']:
            if module.check_mode:
                if d['database'] in missing:
                    result['failures'][d['deployment']] = 'database %s does not exist on %s' % (d['database'], p['host'])
                continue
            if d['database'] in missing:
                result['failures'][d['deployment']] = 'database %s does not exist on %s' % (d['database'], p['host'])
                continue
            folder = os.path.dirname(d['path'])
            if not os.path.isdir(folder):
                os.makedirs(folder, 0o700)
            try:
                if os.path.exists(d['path']):  # made by an earlier attempt of the same id: whole, by the rename
                    made = dict(size=os.path.getsize(d['path']), sha256=backup_host.sha256_file(d['path']), seconds=0)
                else:
                    made = host.dump(d['database'], d['path'])
                    result['changed'] = True
            except (StoreError, OSError) as e:
                result['failures'][d['deployment']] = str(e)
                continue
            result['made'].append(dict(d, host=p['host'], **made))
        for path in p['remove']:
            if os.path.exists(path):
                if not module.check_mode:
                    os.remove(path)
                    result['changed'] = True
                result['removed'].append(path)
    except (StoreError, OSError) as e:
        module.fail_json(msg=str(e), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
