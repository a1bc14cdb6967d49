#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: control_state
short_description: The control-database steps of the fleet control loop, for many deployments at once
version_added: 0.2.0
description:
  - One call per step of a run, whatever the number of deployments; each step runs a fixed number of
    statements, not one round of queries per deployment.
  - O(step=begin) migrates the control database schema, takes the deploy lock of each of O(deployments) for
    O(holder) and reads what the control database knows of them. Locks held by another job are waited for
    up to O(lock_wait) seconds; those still held then are returned in RV(busy), not as an error, and the
    ones taken stay taken, so the run goes on with them. A lock is a lease of O(lock_ttl) seconds; a lock
    whose lease expired (its job died) is taken over, and taking a lock the holder already has renews it.
  - O(step=prepare) records, in one transaction, the pins of deployments to their Postgres and Redis hosts
    (O(assignments)), new revisions (O(revisions)), revision statuses (O(statuses)) and autoscaler decisions
    (O(scale_events)). A revision number must be the deployment's newest + 1; a revision identical to the
    recorded one is no change, a different one is refused. A pin, once set, never changes.
  - O(step=finish) records revision statuses and the replica counts applied for scale decisions, then
    releases every lock of O(holder), also when both lists are empty.
  - A revision becoming V(deployed) marks the one deployed before V(superseded), or V(rolled_back) when
    the new one is older.
  - Run it once per run on the control host (C(langgraph_control_host)), with the login options from
    C(module_defaults) of C(group/selfhost.langgraph.control).
author:
  - selfhost.langgraph maintainers (@selfhost)
extends_documentation_fragment:
  - selfhost.langgraph.postgres
attributes:
  check_mode:
    support: full
    description: >-
      Writes nothing. O(step=begin) reads the schema as it is (also when it is behind; columns it lacks read as
      null) and returns in RV(locked) the locks it would take; O(step=prepare) and O(step=finish) check their
      input against the records and report the actions they would take (no RV(scale_event_ids)).
  diff_mode:
    support: none
    description: Returns no diff; RV(actions) says what changed.
  idempotent:
    support: full
    description: >-
      Recording what is recorded changes nothing; a second O(step=finish) finds nothing to release. O(step=begin)
      reports a change only for locks it took (renewing its own is none).
options:
  step:
    description: The step of the run.
    type: str
    required: true
    choices: [begin, prepare, finish]
  deployments:
    description:
      - With O(step=begin), the deployments to lock and read. Unknown ones are returned with an empty history.
    type: list
    elements: str
    default: []
  holder:
    description:
      - Who holds the locks, unique per run (for example C(awx-job-1234) or C(alice@laptop:4f2a)).
      - Required with O(step=begin) and O(lock=true), and with O(step=finish). With O(step=prepare), optional -
        when given, recording for a deployment another live job holds is refused, and the holder's leases are
        renewed.
    type: str
  purpose:
    description: What the run does, recorded with the locks (O(step=begin)).
    type: str
    default: deploy
  lock:
    description: With O(step=begin), take the locks; V(false) only reads (status runs).
    type: bool
    default: true
  lock_wait:
    description: Seconds O(step=begin) waits for locks other jobs hold, polling once a second.
    type: int
    default: 0
  lock_ttl:
    description: Length of a lease in seconds, from O(step=begin) and renewed by O(step=prepare).
    type: int
    default: 3600
  history:
    description: How many of the newest revisions O(step=begin) returns per deployment.
    type: int
    default: 10
  revisions:
    description: New revisions to record (O(step=prepare)).
    type: list
    elements: dict
    default: []
    suboptions:
      deployment:
        description: Name of the deployment.
        type: str
        required: true
      number:
        description: Number of the revision, the deployment's newest + 1.
        type: int
        required: true
      image:
        description: Image of the revision.
        type: str
        required: true
      image_digest:
        description: Digest of the image as pulled (C(sha256:...)).
        type: str
      env:
        description: Environment (not secret); values are kept as strings.
        type: dict
        default: {}
      secret_names:
        description: Names of the secret variables; their values are never stored.
        type: list
        elements: str
        default: []
      env_fingerprint:
        description: Fingerprint of image, environment and secret names, as the containers carry it.
        type: str
        required: true
      created_by:
        description: Who creates the revision.
        type: str
  statuses:
    description: Revision statuses to record (O(step=prepare) and O(step=finish)), applied in order.
    type: list
    elements: dict
    default: []
    suboptions:
      deployment:
        description: Name of the deployment.
        type: str
        required: true
      number:
        description: Number of the revision (recorded before, or in O(revisions) of the same call).
        type: int
        required: true
      status:
        description: The new status.
        type: str
        required: true
        choices: [rolling_out, deployed, failed]
      reason:
        description: Why (for V(failed) - what failed). Omitted, the recorded reason stays.
        type: str
  assignments:
    description:
      - Deployments' types and the hosts they are pinned to (O(step=prepare)). A pin already set to another
        host is refused; an omitted field is left as recorded.
    type: list
    elements: dict
    default: []
    suboptions:
      deployment:
        description: Name of the deployment.
        type: str
        required: true
      type:
        description: Type of the deployment.
        type: str
        choices: [development, production]
      postgres_host:
        description: Inventory name of the Postgres host holding the deployment's database.
        type: str
      redis_host:
        description: Inventory name of the Redis host holding the deployment's database number.
        type: str
  scale_events:
    description: Autoscaler decisions to record (O(step=prepare)); their ids come back in RV(scale_event_ids).
    type: list
    elements: dict
    default: []
    suboptions:
      deployment:
        description: Name of the deployment.
        type: str
        required: true
      inputs:
        description: What the decision was made from (sessions, pending runs, bounds).
        type: dict
        default: {}
      current:
        description: Replicas running when deciding.
        type: int
      desired:
        description: Replicas decided.
        type: int
        required: true
      reason:
        description: Why, in words.
        type: str
        required: true
      low_since:
        description: Epoch seconds since when the lower count held (the scale-down timer), or null.
        type: float
      scale_down_at:
        description: Epoch seconds when the scale-down is due, or null.
        type: float
  applied:
    description: Replica counts applied for scale decisions (O(step=finish)).
    type: list
    elements: dict
    default: []
    suboptions:
      deployment:
        description: Name of the deployment.
        type: str
        required: true
      decision_id:
        description: Id of the decision (from RV(scale_event_ids)).
        type: int
        required: true
      applied:
        description: Replicas running after the run.
        type: int
        required: true
seealso:
  - module: selfhost.langgraph.deployment_stores
  - module: selfhost.langgraph.deploy_lock
'''

EXAMPLES = r'''
- name: Lock and read every deployment of the run
  selfhost.langgraph.control_state:
    step: begin
    deployments: "{{ langgraph_deployments | map(attribute='name') }}"
    holder: "awx-job-{{ awx_job_id | default('cli') }}"
    purpose: deploy
    lock_wait: 60
  delegate_to: "{{ langgraph_control_host }}"
  run_once: true
  register: __control

- name: Record the run's revisions and pins
  selfhost.langgraph.control_state:
    step: prepare
    holder: "awx-job-{{ awx_job_id | default('cli') }}"
    assignments:
      - {deployment: support-bot, type: production, postgres_host: pg1, redis_host: redis1}
    revisions:
      - deployment: support-bot
        number: 4
        image: registry.example.com/support-bot:2024-11-20
        image_digest: sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
        env: {LOG_LEVEL: INFO}
        secret_names: [LANGSMITH_API_KEY]
        env_fingerprint: 3f9a0c1b2d4e5f60
        created_by: awx-job-1234
    statuses:
      - {deployment: support-bot, number: 4, status: rolling_out}
  delegate_to: "{{ langgraph_control_host }}"
  run_once: true

- name: Record how the run ended and release its locks
  selfhost.langgraph.control_state:
    step: finish
    holder: "awx-job-{{ awx_job_id | default('cli') }}"
    statuses:
      - {deployment: support-bot, number: 4, status: deployed}
  delegate_to: "{{ langgraph_control_host }}"
  run_once: true
'''

RETURN = r'''
now:
  description: The database clock, epoch seconds (O(step=begin)); every timer is on this clock.
  returned: step is begin
  type: float
  sample: 1764500000.25
locked:
  description: Deployments locked for O(holder) (in check mode, those it would lock), sorted.
  returned: step is begin
  type: list
  elements: str
  sample: [support-bot]
busy:
  description: Deployments another job holds, with its lock.
  returned: step is begin
  type: dict
  sample: {faq-bot: {holder: awx-job-1233, purpose: autoscale, since: "2026-11-30T10:00:00+00:00",
                     expires_at: "2026-11-30T11:00:00+00:00"}}
deployments:
  description:
    - What the control database knows of each of O(deployments) (all of them; unknown ones with nulls and an
      empty history).
    - C(type), C(postgres_host), C(redis_host) (the pins), C(database), C(redis_db) and C(redis_instance) (the
      Redis allocation), C(revisions) (newest first, at most O(history); number, image, image_digest,
      env_fingerprint, env, secret_names, status, status_reason, created_by, created_at, deployed_at),
      C(serving) (number of the deployed revision or null) and C(scale) (the newest scale decision with epoch
      times - id, decided_at, inputs, current_replicas, desired, applied, reason, low_since, scale_down_at - or
      null).
  returned: step is begin
  type: dict
  sample: {support-bot: {type: production, postgres_host: pg1, redis_host: redis1, database: lg_support_bot,
           redis_db: 3, redis_instance: "172.30.213.12:6379", revisions: [], serving: null, scale: null}}
placement_counts:
  description: How many recorded deployments are pinned to each Postgres and Redis host (unpinned ones are not counted).
  returned: step is begin
  type: dict
  sample: {postgres: {pg1: 12}, redis: {redis1: 12}}
scale_event_ids:
  description: Id of the recorded scale decision per deployment (empty in check mode).
  returned: step is prepare
  type: dict
  sample: {support-bot: 4711}
recorded_revisions:
  description: Revisions recorded now (in check mode, those that would be).
  returned: step is prepare
  type: list
  elements: dict
  sample: [{deployment: support-bot, number: 4}]
released:
  description: Deployments whose lock O(holder) released (in check mode, would release).
  returned: step is finish
  type: list
  elements: str
  sample: [support-bot]
not_recorded:
  description: >-
    Deployments whose statuses or applied counts were not recorded because another live job holds their lock
    now (this run's lease expired and was taken over), with that lock.
  returned: step is finish
  type: dict
  sample: {}
actions:
  description: What was done (in check mode, what would be done), in words.
  returned: always
  type: list
  elements: str
  sample: ["lock support-bot for awx-job-1234", "record revision 4 of support-bot (registry.example.com/support-bot:2)"]
schema:
  description: Schema version read with (in check mode, the current one), latest known, and migrations applied (or pending).
  returned: always
  type: dict
  sample: {version: 4, latest_version: 4, migrated: []}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    check_libraries,
    postgres_common_argument_spec,
    postgres_connect,
    psycopg2,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils import control_steps
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import validate_deployment_name

STEP_OPTIONS = dict(
    begin=('deployments',),
    prepare=('revisions', 'statuses', 'assignments', 'scale_events'),
    finish=('statuses', 'applied'),
)
LIST_OPTIONS = ('deployments', 'revisions', 'statuses', 'assignments', 'scale_events', 'applied')


def check_input(p):
    """One clear message for input the step cannot use, before anything is touched."""
    misplaced = [o for o in LIST_OPTIONS if p[o] and o not in STEP_OPTIONS[p['step']]]
    if misplaced:
        raise StoreError('%s: not an option of step=%s (%s takes %s)'
                         % (', '.join(misplaced), p['step'], p['step'], ', '.join(STEP_OPTIONS[p['step']])))
    if not p['holder'] and (p['step'] == 'finish' or (p['step'] == 'begin' and p['lock'])):
        raise StoreError('holder is required with step=%s%s: name the run (unique per job)'
                         % (p['step'], ' and lock=true' if p['step'] == 'begin' else ''))
    if p['lock_wait'] < 0 or p['lock_ttl'] < 1 or p['history'] < 0:
        raise StoreError('lock_wait and history must be 0 or more and lock_ttl 1 or more seconds')
    names = list(p['deployments']) + [item['deployment'] for option in LIST_OPTIONS[1:] for item in p[option]]
    for name in names:
        validate_deployment_name(name, p['control_database'])
    for revision in p['revisions']:
        if revision['number'] < 1 or not revision['image']:
            raise StoreError('revision %r of %s: the number must be 1 or more and the image given'
                             % (revision['number'], revision['deployment']))


def run(module):
    p = module.params
    conn = postgres_connect(p, p['control_database'])
    try:
        if p['step'] == 'begin':
            result = control_steps.begin(conn, p['deployments'], p['holder'], p['purpose'], p['lock'],
                                         p['lock_wait'], p['lock_ttl'], p['history'], module.check_mode)
        elif p['step'] == 'prepare':
            result = control_steps.prepare(conn, p['holder'], p['lock_ttl'], p['revisions'], p['statuses'],
                                           p['assignments'], p['scale_events'], module.check_mode)
        else:
            result = control_steps.finish(conn, p['holder'], p['statuses'], p['applied'], module.check_mode)
            for name, lock in sorted(result['not_recorded'].items()):
                module.warn('the statuses and counts of %s were not recorded: %s holds its lock since %s (%s), '
                            'as the lease of %s expired' % (name, lock['holder'], lock['since'], lock['purpose'],
                                                            p['holder']))
    finally:
        conn.close()
    return result


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        step=dict(type='str', required=True, choices=['begin', 'prepare', 'finish']),
        deployments=dict(type='list', elements='str', default=[]),
        holder=dict(type='str'),
        purpose=dict(type='str', default='deploy'),
        lock=dict(type='bool', default=True),
        lock_wait=dict(type='int', default=0),
        lock_ttl=dict(type='int', default=3600),
        history=dict(type='int', default=10),
        revisions=dict(type='list', elements='dict', default=[], options=dict(
            deployment=dict(type='str', required=True),
            number=dict(type='int', required=True),
            image=dict(type='str', required=True),
            image_digest=dict(type='str'),
            env=dict(type='dict', default={}),
            secret_names=dict(type='list', elements='str', default=[], no_log=False),
            env_fingerprint=dict(type='str', required=True),
            created_by=dict(type='str'),
        )),
        statuses=dict(type='list', elements='dict', default=[], options=dict(
            deployment=dict(type='str', required=True),
            number=dict(type='int', required=True),
            status=dict(type='str', required=True, choices=['rolling_out', 'deployed', 'failed']),
            reason=dict(type='str'),
        )),
        assignments=dict(type='list', elements='dict', default=[], options=dict(
            deployment=dict(type='str', required=True),
            type=dict(type='str', choices=['development', 'production']),
            postgres_host=dict(type='str'),
            redis_host=dict(type='str'),
        )),
        scale_events=dict(type='list', elements='dict', default=[], options=dict(
            deployment=dict(type='str', required=True),
            inputs=dict(type='dict', default={}),
            current=dict(type='int'),
            desired=dict(type='int', required=True),
            reason=dict(type='str', required=True),
            low_since=dict(type='float'),
            scale_down_at=dict(type='float'),
        )),
        applied=dict(type='list', elements='dict', default=[], options=dict(
            deployment=dict(type='str', required=True),
            decision_id=dict(type='int', required=True),
            applied=dict(type='int', required=True),
        )),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        check_input(module.params)
        check_libraries(module)
        result = run(module)
    except StoreError as e:
        module.fail_json(msg=str(e))
    except psycopg2.Error as e:
        module.fail_json(msg='the control database %s could not be read or written: %s'
                             % (module.params['control_database'], str(e).strip()))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
