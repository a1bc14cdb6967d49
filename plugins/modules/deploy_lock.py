#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: deploy_lock
short_description: Take or release the per-deployment lock in the control database
version_added: 0.1.0
description:
  - Two jobs must never roll out or scale the same deployment at once. This module takes the deployment's
    lock for O(holder) in the control database (table C(deploy_locks), with who, since when and why), waiting
    up to O(wait) seconds for another holder to release it, or releases it.
  - A lock carries an expiry (O(ttl)); the lock of a job that died is taken over once it expired.
  - Run it on the Postgres host (the first host of group C(langgraph_postgres)).
author:
  - selfhost.langgraph maintainers (@selfhost)
extends_documentation_fragment:
  - selfhost.langgraph.postgres
attributes:
  check_mode:
    support: full
    description: Reports who holds the lock and whether it would be taken or released.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: Taking a lock the holder already has, or releasing one it does not have, changes nothing.
options:
  deployment:
    description: Name of the deployment.
    type: str
    required: true
  holder:
    description: Who takes the lock, for example C(awx-job-1234) or C(alice@laptop:4f2a); unique per job.
    type: str
    required: true
  purpose:
    description: What the holder does, for example C(deploy revision 4).
    type: str
    default: deploy
  state:
    description: V(present) takes the lock, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: Seconds to wait for another holder to release the lock before failing.
    type: int
    default: 0
  ttl:
    description: Seconds after which the lock counts as abandoned and may be taken over.
    type: int
    default: 3600
  force:
    description: With O(state=absent), release the lock whoever holds it (for a job that died).
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Take the lock of support-bot, waiting up to 10 minutes for another job
  selfhost.langgraph.deploy_lock:
    deployment: support-bot
    holder: "awx-job-{{ awx_job_id | default('cli') }}"
    purpose: deploy revision 4
    wait: 600
    login_password: "{{ postgres_admin_password }}"

- name: Release it
  selfhost.langgraph.deploy_lock:
    deployment: support-bot
    holder: "awx-job-{{ awx_job_id | default('cli') }}"
    state: absent
    login_password: "{{ postgres_admin_password }}"
'''

RETURN = r'''
lock:
  description: The lock after the run, or null when nobody holds it.
  returned: always
  type: dict
  sample: {holder: awx-job-1234, purpose: deploy revision 4, since: "2026-11-22T14:30:00+00:00",
           expires_at: "2026-11-22T15:30:00+00:00", expired: false}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import validate_deployment_name
from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    check_libraries, postgres_common_argument_spec, postgres_connect)
from ansible_collections.selfhost.langgraph.plugins.module_utils import control_plane


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        deployment=dict(type='str', required=True),
        holder=dict(type='str', required=True),
        purpose=dict(type='str', default='deploy'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        wait=dict(type='int', default=0),
        ttl=dict(type='int', default=3600),
        force=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    check_libraries(module)
    params = module.params
    try:
        validate_deployment_name(params['deployment'], params['control_database'])
        if params['wait'] < 0 or params['ttl'] < 1:
            raise StoreError("wait must be 0 or more and ttl 1 or more seconds")
        conn = postgres_connect(params, params['control_database'])
        with conn.cursor() as cur:
            current = control_plane.lock_holder(cur, params['deployment'])
        conn.rollback()
        if module.check_mode:
            mine = current is not None and current['holder'] == params['holder']
            if params['state'] == 'present':
                changed = not mine
            else:
                changed = current is not None and (mine or params['force'])
            module.exit_json(changed=changed, lock=current)
        if params['state'] == 'present':
            changed = control_plane.acquire_lock(conn, params['deployment'], params['holder'],
                                                 params['purpose'], params['ttl'], params['wait'])
        else:
            changed = control_plane.release_lock(conn, params['deployment'], params['holder'], params['force'])
        with conn.cursor() as cur:
            lock = control_plane.lock_holder(cur, params['deployment'])
        conn.rollback()
        conn.close()
    except StoreError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=changed, lock=lock)


if __name__ == '__main__':
    main()
