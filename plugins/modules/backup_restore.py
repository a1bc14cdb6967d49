#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: backup_restore
short_description: Verify a deployment database dump and restore it on its Postgres host
version_added: 0.2.0
description:
  - Runs on the Postgres host that holds the dump (with become). Verifies the dump's SHA-256 against the recorded
    one first; a missing or changed file is an error and nothing changes.
  - Restores with C(pg_restore) as the cluster's system user (O(pg_user); no password is used) into a scratch
    database C(<database>__restore) owned by O(role), objects owned by O(role) whatever role owned them in the
    dump. Only when that succeeded is O(database) replaced, by two renames in one transaction, and the old one
    dropped; a failed restore leaves O(database) as it was.
  - Stop the deployment's containers first (playbooks/restore.yml does); connections to O(database) are
    terminated for the swap.
author:
  - selfhost.langgraph maintainers (@selfhost)
attributes:
  check_mode:
    support: full
    description: Verifies the checksum and that O(role) exists, and reports what would be replaced.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: none
    description: Every run replaces the database with the dump's content.
options:
  path:
    description: The dump file (C(pg_dump -Fc)).
    type: path
    required: true
  sha256:
    description: Its recorded checksum.
    type: str
    required: true
  database:
    description: Database to restore into (replaced when it exists).
    type: str
    required: true
  role:
    description: Role that owns O(database) and the restored objects (the deployment's role); it must exist.
    type: str
    required: true
  verify_only:
    description: Only verify the checksum; change nothing (the role need not exist yet).
    type: bool
    default: false
  pg_user:
    description: System user that owns the Postgres cluster.
    type: str
    default: postgres
  port:
    description: Port of the local Postgres cluster.
    type: int
    default: 5432
'''

EXAMPLES = r'''
- name: Verify the dump before stopping anything
  selfhost.langgraph.backup_restore:
    path: /var/backups/selfhost-langgraph/support-bot/42.dump
    sha256: "{{ __restore.restore.backup.sha256 }}"
    database: lg_support_bot
    role: lg_support_bot
    verify_only: true
  become: true
'''

RETURN = r'''
verified:
  description: Whether the file's checksum is the recorded one (always true when the module did not fail).
  returned: always
  type: bool
replaced:
  description: Whether an existing database was (in check mode, would be) replaced.
  returned: always
  type: bool
tables:
  description: Tables in the restored database.
  returned: when restored
  type: int
seconds:
  description: Time pg_restore and the swap took.
  returned: when restored
  type: float
'''

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils import backup as plans
from ansible_collections.selfhost.langgraph.plugins.module_utils import backup_host
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

POSTGRES_NAME = re.compile(r'^lg_[a-z0-9_]{2,40}$')


def main():
    module = AnsibleModule(argument_spec=dict(
        path=dict(type='path', required=True),
        sha256=dict(type='str', required=True),
        database=dict(type='str', required=True),
        role=dict(type='str', required=True),
        verify_only=dict(type='bool', default=False),
        pg_user=dict(type='str', default='postgres'),
        port=dict(type='int', default=5432),
    ), supports_check_mode=True)
    p = module.params
    problems = ['%s %r is not a deployment\'s Postgres name (lg_...)' % (k, p[k])
                for k in ('database', 'role') if not POSTGRES_NAME.match(p[k])]
    if not plans.SHA256.match(p['sha256']):
        problems.append('sha256 must be 64 hexadecimal digits')
    if problems:
        module.fail_json(msg='; '.join(problems))
    result = dict(changed=False, verified=False, replaced=False)
    host = backup_host.Host(p['pg_user'], p['port'])
    try:
        if not os.path.isfile(p['path']):
            raise plans.BackupError('the dump %s is not on this host (moved or deleted?); nothing was changed' % p['path'])
        plans.check_sha256(p['sha256'], backup_host.sha256_file(p['path']), p['path'])
        result['verified'] = True
        result['replaced'] = host.database_exists(p['database'])
        if p['verify_only']:
            module.exit_json(**result)
        if not host.role_exists(p['role']):
            raise plans.BackupError('role %s does not exist on this host: create the deployment\'s stores first '
                                    '(playbooks/stores.yml); nothing was changed' % p['role'])
        if module.check_mode:
            module.exit_json(**result)
        result.update(host.restore(p['path'], p['database'], p['role']))
        result['changed'] = True
    except (StoreError, OSError) as e:
        module.fail_json(msg=str(e), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
