#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: control_db
short_description: Create and migrate the selfhost.langgraph control database
version_added: 0.1.0
description:
  - Ensures that the control database exists (owned by O(login_user), C(CONNECT) revoked from C(PUBLIC))
    and brings its schema to the latest version this collection knows.
  - The schema is a versioned list of migrations. Each is applied once, in one transaction, under an
    advisory lock, so parallel jobs migrate one after the other; the version is kept in table C(schema_version).
  - Tables are C(deployments) (with the Postgres and Redis hosts each deployment is pinned to), C(redis_allocations)
    (unique per instance and number, and per instance and deployment), C(revisions), C(deploy_locks) (leases with an
    expiry) and C(scale_events).
  - Run it on the control host (C(langgraph_control_host)). M(selfhost.langgraph.control_state) also migrates, at the
    start of every run.
author:
  - selfhost.langgraph maintainers (@selfhost)
requirements:
  - psycopg2 (Debian package C(python3-psycopg2)) on the host where the module runs
extends_documentation_fragment:
  - selfhost.langgraph.postgres
attributes:
  check_mode:
    support: full
    description: Reports the migrations that would be applied and whether the database would be created.
  diff_mode:
    support: full
    description: Shows the schema version before and after.
  idempotent:
    support: full
    description: A second run applies nothing and reports no change.
options:
  create_database:
    description:
      - Create the control database when it does not exist. O(login_user) needs C(CREATEDB) for that.
    type: bool
    default: true'''

EXAMPLES = r'''
- name: Migrate the control database
  selfhost.langgraph.control_db:
    login_host: 127.0.0.1
    login_password: "{{ postgres_admin_password }}"
  delegate_to: "{{ groups['langgraph_postgres'][0] }}"
  run_once: true

- name: Show which migrations are pending, changing nothing
  selfhost.langgraph.control_db:
    login_password: "{{ postgres_admin_password }}"
  check_mode: true
  register: __pending
'''

RETURN = r'''
version:
  description: Schema version after the run (in check mode, the version the run would reach).
  returned: always
  type: int
  sample: 2
previous_version:
  description: Schema version before the run (0 when the database had no schema).
  returned: always
  type: int
  sample: 1
latest_version:
  description: Latest schema version this collection knows.
  returned: always
  type: int
  sample: 2
applied:
  description: Migrations applied (in check mode, the ones pending).
  returned: always
  type: list
  elements: dict
  contains:
    version:
      description: Version the migration brings the schema to.
      type: int
    description:
      description: What the migration adds.
      type: str
  sample: [{"version": 2, "description": "revisions, deploy locks and scale events"}]
database_created:
  description: Whether the control database was (in check mode, would be) created.
  returned: always
  type: bool
  sample: false
database:
  description: Name of the control database.
  returned: always
  type: str
  sample: langgraph_control
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    check_libraries,
    postgres_common_argument_spec,
    postgres_connect,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.control_schema import ensure_control_database
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(create_database=dict(type='bool', default=True))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    check_libraries(module)
    params = module.params
    try:
        result = ensure_control_database(params, postgres_connect, module.check_mode,
                                         create=params['create_database'])
    except StoreError as e:
        module.fail_json(msg=str(e))
    changed = result['database_created'] or bool(result['applied'])
    module.exit_json(
        changed=changed,
        diff=dict(before={'schema_version': result['previous_version']},
                  after={'schema_version': result['version']}),
        **result)


if __name__ == '__main__':
    main()
