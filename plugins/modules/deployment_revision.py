#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: deployment_revision
short_description: Record a revision of a LangGraph deployment, or move it to a new status
version_added: 0.1.0
description:
  - A revision is one immutable pair of an image and an environment, numbered 1, 2, 3 ... per deployment,
    and kept in the control database with the image digest, the environment (secret values are never
    stored, only their names and a fingerprint), who created it and when.
  - With O(image), records a new revision unless the newest one has the same image and environment and did
    not fail, in which case that one is returned unchanged (running a deploy twice is not a new revision).
  - With O(number) and O(status), moves that revision to the status. A revision becoming V(deployed) marks
    the one that served before V(superseded) (or V(rolled_back) when the new one is older).
  - Run it on the Postgres host (the first host of group C(langgraph_postgres)).
author:
  - selfhost.langgraph maintainers (@selfhost)
extends_documentation_fragment:
  - selfhost.langgraph.postgres
attributes:
  check_mode:
    support: full
    description: Returns the revision that would be recorded, or whether the status would change.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: The same image and environment give back the same revision; the same status changes nothing.
options:
  deployment:
    description: Name of the deployment.
    type: str
    required: true
  image:
    description: Image of a new revision. Mutually exclusive with O(number).
    type: str
  image_digest:
    description: Digest of O(image) as pulled (C(sha256:...)), recorded with the revision.
    type: str
  env:
    description: Environment of a new revision (not secret).
    type: dict
    default: {}
  secret_names:
    description: Names of the secret variables of a new revision; their values are never stored.
    type: list
    elements: str
    default: []
  created_by:
    description: Who creates the revision, for example C(awx-job-1234) or C(alice@laptop).
    type: str
  number:
    description: Revision whose status to set. Mutually exclusive with O(image).
    type: int
  status:
    description: New status of revision O(number).
    type: str
    choices: [rolling_out, deployed, failed]
  reason:
    description: Why the revision has this status (for example the error of a failed roll-out).
    type: str
'''

EXAMPLES = r'''
- name: Record the revision to roll out
  selfhost.langgraph.deployment_revision:
    deployment: support-bot
    image: registry.example.com/support-bot:2024-11-20
    env: {LOG_LEVEL: INFO}
    secret_names: [LANGSMITH_API_KEY]
    created_by: "awx-job-{{ awx_job_id | default('cli') }}"
    login_password: "{{ postgres_admin_password }}"
  register: revision

- name: Mark it deployed
  selfhost.langgraph.deployment_revision:
    deployment: support-bot
    number: "{{ revision.revision.number }}"
    status: deployed
    login_password: "{{ postgres_admin_password }}"
'''

RETURN = r'''
revision:
  description: The revision recorded, found or updated.
  returned: always
  type: dict
  contains:
    number:
      description: Revision number.
      type: int
      sample: 4
    image:
      description: Image.
      type: str
      sample: registry.example.com/support-bot:2024-11-20
    image_digest:
      description: Digest of the image when recorded.
      type: str
    env:
      description: Environment (not secret).
      type: dict
    secret_names:
      description: Names of the secret variables.
      type: list
      elements: str
    env_fingerprint:
      description: Fingerprint of image, environment and secret names.
      type: str
    status:
      description: created, rolling_out, deployed, failed, superseded or rolled_back.
      type: str
    status_reason:
      description: Why it has this status.
      type: str
    created_by:
      description: Who created it.
      type: str
    created_at:
      description: When it was created.
      type: str
    deployed_at:
      description: When it was last deployed.
      type: str
created:
  description: Whether a new revision was recorded.
  returned: always
  type: bool
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import validate_deployment_name
from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    check_libraries, postgres_common_argument_spec, postgres_connect)
from ansible_collections.selfhost.langgraph.plugins.module_utils import control_plane
from ansible_collections.selfhost.langgraph.plugins.module_utils import revision_plan as rp


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        deployment=dict(type='str', required=True),
        image=dict(type='str'),
        image_digest=dict(type='str'),
        env=dict(type='dict', default={}),
        secret_names=dict(type='list', elements='str', default=[], no_log=False),
        created_by=dict(type='str'),
        number=dict(type='int'),
        status=dict(type='str', choices=['rolling_out', 'deployed', 'failed']),
        reason=dict(type='str'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[('image', 'number')],
                           required_one_of=[('image', 'number')],
                           required_together=[('number', 'status')])
    check_libraries(module)
    params = module.params
    try:
        validate_deployment_name(params['deployment'], params['control_database'])
        conn = postgres_connect(params, params['control_database'])
        if params['image'] is not None:
            rp.validate_image(params['image'])
            rp.validate_env(params['env'], 'env')
            env = dict((k, str(v)) for k, v in params['env'].items())
            revision, created = control_plane.record_revision(
                conn, params['deployment'], params['image'], params['image_digest'], env,
                params['secret_names'], rp.fingerprint(params['image'], env, params['secret_names']),
                params['created_by'], check_mode=module.check_mode)
            changed = created
        else:
            changed = control_plane.set_status(conn, params['deployment'], params['number'], params['status'],
                                               params['reason'], check_mode=module.check_mode)
            with conn.cursor() as cur:
                revision = control_plane.get_revision(cur, params['deployment'], params['number'])
            conn.rollback()
            created = False
        conn.close()
    except StoreError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=changed, created=created, revision=revision)


if __name__ == '__main__':
    main()
