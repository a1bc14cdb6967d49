#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: deployment_revision_info
short_description: Read a LangGraph deployment's revisions and deploy lock from the control database
version_added: 0.1.0
description:
  - Returns the newest revisions of a deployment, the one serving (status C(deployed)), one revision by
    number (for a rollback), and who holds the deploy lock.
  - Run it on the Postgres host (the first host of group C(langgraph_postgres)).
author:
  - selfhost.langgraph maintainers (@selfhost)
extends_documentation_fragment:
  - selfhost.langgraph.postgres
attributes:
  check_mode:
    support: full
    description: Read only; runs the same in check mode.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: Read only.
options:
  deployment:
    description: Name of the deployment.
    type: str
    required: true
  number:
    description: Revision to return in RV(revision); the module fails when it does not exist.
    type: int
  limit:
    description: How many of the newest revisions to return.
    type: int
    default: 10
'''

EXAMPLES = r'''
- name: Read support-bot's history
  selfhost.langgraph.deployment_revision_info:
    deployment: support-bot
    login_password: "{{ postgres_admin_password }}"
  register: history
'''

RETURN = r'''
revisions:
  description: The newest revisions, newest first (same fields as RV(revision)).
  returned: always
  type: list
  elements: dict
serving:
  description: The revision with status C(deployed), or null.
  returned: always
  type: dict
revision:
  description: Revision O(number) with number, image, image_digest, env, secret_names, env_fingerprint,
    status, status_reason, created_by, created_at and deployed_at.
  returned: when O(number) is given
  type: dict
lock:
  description: The deploy lock (holder, purpose, since, expires_at, expired), or null.
  returned: always
  type: dict
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
        number=dict(type='int'),
        limit=dict(type='int', default=10),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    check_libraries(module)
    params = module.params
    result = {}
    try:
        validate_deployment_name(params['deployment'], params['control_database'])
        conn = postgres_connect(params, params['control_database'])
        with conn.cursor() as cur:
            history = control_plane.revisions(cur, params['deployment'])
            result['revisions'] = history[:params['limit']]
            result['serving'] = control_plane.serving_revision(history)
            result['lock'] = control_plane.lock_holder(cur, params['deployment'])
            if params['number'] is not None:
                result['revision'] = control_plane.get_revision(cur, params['deployment'], params['number'])
        conn.close()
    except StoreError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
