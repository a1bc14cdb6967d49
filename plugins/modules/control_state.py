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
    ones taken stay taken, so the run goes on with them. A lock is a lease of O(lock_ttl) seconds that its
    run renews while it works (O(step=prepare) and O(step=renew)); a lock whose lease was not renewed in
    time (its job died) is taken over, and said so in the deployment's C(taken_over). Taking a lock the
    holder already has renews it. It also returns the desired replica counts and the hosts as runs last
    recorded them.
  - O(step=prepare) records, in one transaction, the pins of deployments to their Postgres and Redis hosts
    (O(assignments)), new revisions (O(revisions)), revision statuses (O(statuses)) and autoscaler decisions
    (O(scale_events)). A revision number must be the deployment's newest + 1; a revision identical to the
    recorded one is no change, a different one is refused. A pin, once set, never changes.
  - O(step=renew) extends every lease of O(holder) to O(lock_ttl) seconds from now (never shortening one), in
    one short transaction, and says which of O(deployments) the run lost (another job took the lock over, or nobody
    holds it). Call it between the steps of a long run (each wave), or from a heartbeat.
  - O(step=finish) records revision statuses, the replica counts applied for scale decisions, the desired
    replica counts (O(replicas)), which hosts answered (O(hosts)) and audit events (O(audit)), then releases
    every lock of O(holder), also when all lists are empty.
  - O(step=unlock) releases the locks of O(deployments) whoever holds them (a job known to be dead), and
    records each release in the audit trail with O(holder) as who did it.
  - O(step=prepare) and O(step=finish) record O(audit) events (who is O(holder)), in the same transaction as
    the rest; what a run records for a deployment another live job holds now is refused (O(step=prepare))
    or left out and reported in RV(not_recorded) (O(step=finish)).
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
      null) and returns in RV(locked) the locks it would take (and in C(taken_over) the expired leases it would
      take over); O(step=prepare) and O(step=finish) check their input against the records and report the
      actions they would take (no RV(scale_event_ids)); O(step=renew) names the leases it would renew and
      O(step=unlock) the locks it would release.
  diff_mode:
    support: none
    description: Returns no diff; RV(actions) says what changed.
  idempotent:
    support: partial
    description: >-
      Recording what is recorded changes nothing; a second O(step=finish) finds nothing to release; a second
      O(step=unlock) finds nothing to release. O(step=begin) reports a change only for locks it took (renewing
      its own is none); O(step=renew) never reports one. A host recorded up again only moves its C(last_seen)
      (no change). O(audit) events are appended on every call: each call is an event.
options:
  step:
    description: The step of the run.
    type: str
    required: true
    choices: [begin, prepare, renew, finish, unlock]
  deployments:
    description:
      - With O(step=begin), the deployments to lock and read. Unknown ones are returned with an empty history.
      - With O(step=renew), optional - the deployments the run expects to hold; those it no longer holds come
        back in RV(lost).
      - With O(step=unlock), required - the deployments whose locks to release, whoever holds them.
    type: list
    elements: str
    default: []
  holder:
    description:
      - Who holds the locks, unique per run (for example C(awx-job-1234) or C(alice@laptop:4f2a)).
      - Required with O(step=begin) and O(lock=true), and with O(step=renew) and O(step=finish). With
        O(step=prepare), optional - when given, recording for a deployment another live job holds is refused,
        and the holder's leases are renewed; required there with O(audit).
      - With O(step=unlock), required - who releases the locks (for example C(alice@laptop)), recorded in the
        audit trail.
      - O(audit) events are recorded with it as who did them.
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
    description:
      - Length of a lease in seconds, from O(step=begin), O(step=prepare) and O(step=renew), each of which
        extends the run's leases to this long from now (O(step=prepare) and O(step=renew) never shorten one).
      - A run renews its leases while it works; a lease that stops being renewed (its job died, was killed or
        lost its connection) is taken over by the next O(step=begin) after it, so this is how long a dead
        job's deployments stay locked. Renew more often than this (for example each wave of a roll-out).
    type: int
    default: 120
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
        choices: [rolling_out, deployed, failed, superseded]
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
    description:
      - Autoscaler decisions to record. With O(step=prepare) their ids come back in RV(scale_event_ids), for the
        applied counts of O(step=finish); a tick that applies none records them with O(step=finish) instead.
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
  replicas:
    description:
      - Desired replica counts to record (O(step=finish)), the count a later run (reconcile) restores. The
        last entry of a deployment counts; a count already recorded is no change.
    type: list
    elements: dict
    default: []
    suboptions:
      deployment:
        description: Name of the deployment.
        type: str
        required: true
      replicas:
        description: The desired number of containers, 0 or more.
        type: int
        required: true
  hosts:
    description:
      - Hosts (app hosts and load balancers) as this run found them (O(step=finish)), created as needed.
      - Up - seen now, not down, no problem. Down - down since the first run that found it down (kept over
        later downs), with the problem given; C(last_seen) stays when it was last seen up.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Inventory name of the host.
        type: str
        required: true
      up:
        description: Whether the host answered.
        type: bool
        required: true
      problem:
        description: Why it is down, in words (ignored for a host that is up).
        type: str
  audit:
    description:
      - Events for the audit trail (O(step=prepare) and O(step=finish)), recorded with O(holder) as who did them
        and the database clock as when. Never put a secret in them.
    type: list
    elements: dict
    default: []
    suboptions:
      deployment:
        description: The deployment the event concerns; omitted for an event of the whole fleet.
        type: str
      action:
        description: What was done (for example C(deploy), C(rollback), C(scale), C(delete), C(autoscale), C(reconcile)).
        type: str
        required: true
      details:
        description: What exactly, as a dictionary (revision, image, hosts, counts, reason ...).
        type: dict
        default: {}
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

- name: Keep the run's leases while a long roll-out goes on
  selfhost.langgraph.control_state:
    step: renew
    holder: "awx-job-{{ awx_job_id | default('cli') }}"
    deployments: [support-bot]
  delegate_to: "{{ langgraph_control_host }}"
  run_once: true
  register: __renewed

- name: Record how the run ended and release its locks
  selfhost.langgraph.control_state:
    step: finish
    holder: "awx-job-{{ awx_job_id | default('cli') }}"
    statuses:
      - {deployment: support-bot, number: 4, status: deployed}
    replicas:
      - {deployment: support-bot, replicas: 3}
    hosts:
      - {name: app1, up: true}
      - {name: app2, up: false, problem: unreachable over SSH}
    audit:
      - {deployment: support-bot, action: deploy, details: {revision: 4, image: "registry.example.com/support-bot:2024-11-20"}}
  delegate_to: "{{ langgraph_control_host }}"
  run_once: true

- name: Release the lock of a job that died, by hand
  selfhost.langgraph.control_state:
    step: unlock
    deployments: [support-bot]
    holder: "alice@laptop"
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
    - C(replicas), the desired replica count a run recorded (O(replicas) of O(step=finish)), or null.
    - C(taken_over), when this call took over the expired lease of another holder (its job died), that lock
      (holder, purpose, since, expires_at), else null. In check mode, the lease it would take over.
  returned: step is begin
  type: dict
  sample: {support-bot: {type: production, postgres_host: pg1, redis_host: redis1, database: lg_support_bot,
           redis_db: 3, redis_instance: "172.30.213.12:6379", revisions: [], serving: null, scale: null,
           replicas: 3, taken_over: null}}
placement_counts:
  description: How many recorded deployments are pinned to each Postgres and Redis host (unpinned ones are not counted).
  returned: step is begin
  type: dict
  sample: {postgres: {pg1: 12}, redis: {redis1: 12}}
hosts:
  description:
    - Every host a run recorded (O(hosts) of O(step=finish)), with C(last_seen) (when last found up),
      C(down_since) (null while up) and C(problem) (why it is down), ISO 8601 times of the database clock.
  returned: step is begin
  type: dict
  sample: {app1: {last_seen: "2026-11-30T10:00:00+00:00", down_since: null, problem: null},
           app2: {last_seen: "2026-11-30T09:40:00+00:00", down_since: "2026-11-30T09:41:00+00:00",
                  problem: unreachable over SSH}}
renewed:
  description: Deployments whose lease of O(holder) was extended (in check mode, would be), sorted.
  returned: step is renew
  type: list
  elements: str
  sample: [support-bot]
lost:
  description: >-
    Deployments of O(deployments) that O(holder) no longer holds, with the lock of the job that holds them now,
    or null when nobody does. A run must not act on them any more.
  returned: step is renew
  type: dict
  sample: {faq-bot: {holder: awx-job-1240, purpose: deploy, since: "2026-11-30T10:05:00+00:00",
                     expires_at: "2026-11-30T10:07:00+00:00"}, old-bot: null}
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
  description:
    - With O(step=finish), a list - the deployments whose lock O(holder) released (in check mode, would release),
      sorted.
    - With O(step=unlock), a dict - each lock released (in check mode, that would be), as it was - holder,
      purpose, since, expires_at.
  returned: step is finish or unlock
  type: raw
  sample: [support-bot]
not_recorded:
  description: >-
    Deployments whose statuses, applied and desired counts or audit events were not recorded because another
    live job holds their lock now (this run's lease expired and was taken over), with that lock.
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
  description: >-
    Schema version read with (in check mode, the current one), latest known, and migrations applied (or pending).
    O(step=renew) never migrates.
  returned: always
  type: dict
  sample: {version: 5, latest_version: 5, migrated: []}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    check_libraries,
    postgres_common_argument_spec,
    postgres_connect,
    psycopg2,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils import control_decisions
from ansible_collections.selfhost.langgraph.plugins.module_utils import control_steps
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import validate_deployment_name

STEP_OPTIONS = dict(
    begin=('deployments',),
    prepare=('revisions', 'statuses', 'assignments', 'scale_events', 'audit'),
    renew=('deployments',),
    finish=('statuses', 'applied', 'replicas', 'hosts', 'audit', 'scale_events'),
    unlock=('deployments',),
)
LIST_OPTIONS = ('deployments', 'revisions', 'statuses', 'assignments', 'scale_events', 'applied', 'replicas',
                'hosts', 'audit')
# The list options whose items name a deployment (an audit event may name none).
DEPLOYMENT_ITEMS = ('revisions', 'statuses', 'assignments', 'scale_events', 'applied', 'replicas', 'audit')


def holder_needed(p):
    """Why holder is required for this call, or None."""
    if p['step'] in ('renew', 'finish'):
        return 'with step=%s: name the run (unique per job)' % p['step']
    if p['step'] == 'begin' and p['lock']:
        return 'with step=begin and lock=true: name the run (unique per job)'
    if p['step'] == 'unlock':
        return 'with step=unlock: say who releases the locks (it is recorded in the audit trail)'
    if p['audit']:
        return 'with audit: it is recorded as who did it'
    return None


def check_input(p):
    """One clear message for input the step cannot use, before anything is touched."""
    misplaced = [o for o in LIST_OPTIONS if p[o] and o not in STEP_OPTIONS[p['step']]]
    if misplaced:
        raise StoreError('%s: not an option of step=%s (%s takes %s)'
                         % (', '.join(misplaced), p['step'], p['step'], ', '.join(STEP_OPTIONS[p['step']])))
    needed = holder_needed(p)
    if needed and not p['holder']:
        raise StoreError('holder is required ' + needed)
    if p['step'] == 'unlock' and not p['deployments']:
        raise StoreError('step=unlock needs deployments: name the deployments whose locks to release')
    if p['lock_wait'] < 0 or p['lock_ttl'] < 1 or p['history'] < 0:
        raise StoreError('lock_wait and history must be 0 or more and lock_ttl 1 or more seconds')
    names = list(p['deployments']) + [item['deployment'] for option in DEPLOYMENT_ITEMS for item in p[option]
                                      if item['deployment'] is not None]
    for name in names:
        validate_deployment_name(name, p['control_database'])
    control_decisions.check_replicas(p['replicas'])
    control_decisions.check_hosts(p['hosts'])
    control_decisions.check_audit(p['audit'], p['holder'])
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
                                           p['assignments'], p['scale_events'], module.check_mode, audit=p['audit'])
        elif p['step'] == 'renew':
            result = control_steps.renew(conn, p['holder'], p['deployments'], p['lock_ttl'], module.check_mode)
            for name, lock in sorted(result['lost'].items()):
                module.warn('%s lost the lock of %s: %s' % (
                    p['holder'], name, 'nobody holds it now' if lock is None else '%s holds it since %s (%s)'
                    % (lock['holder'], lock['since'], lock['purpose'])))
        elif p['step'] == 'unlock':
            result = control_steps.unlock(conn, p['deployments'], p['holder'], module.check_mode)
        else:
            result = control_steps.finish(conn, p['holder'], p['statuses'], p['applied'], module.check_mode,
                                          replicas=p['replicas'], hosts=p['hosts'], audit=p['audit'],
                                          scale_events=p['scale_events'])
            for name, lock in sorted(result['not_recorded'].items()):
                module.warn('the statuses, counts and audit events of %s were not recorded: %s holds its lock '
                            'since %s (%s), as the lease of %s expired'
                            % (name, lock['holder'], lock['since'], lock['purpose'], p['holder']))
    finally:
        conn.close()
    return result


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        step=dict(type='str', required=True, choices=['begin', 'prepare', 'renew', 'finish', 'unlock']),
        deployments=dict(type='list', elements='str', default=[]),
        holder=dict(type='str'),
        purpose=dict(type='str', default='deploy'),
        lock=dict(type='bool', default=True),
        lock_wait=dict(type='int', default=0),
        lock_ttl=dict(type='int', default=control_steps.DEFAULT_LOCK_TTL),
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
            status=dict(type='str', required=True, choices=['rolling_out', 'deployed', 'failed', 'superseded']),
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
        replicas=dict(type='list', elements='dict', default=[], options=dict(
            deployment=dict(type='str', required=True),
            replicas=dict(type='int', required=True),
        )),
        hosts=dict(type='list', elements='dict', default=[], options=dict(
            name=dict(type='str', required=True),
            up=dict(type='bool', required=True),
            problem=dict(type='str'),
        )),
        audit=dict(type='list', elements='dict', default=[], options=dict(
            deployment=dict(type='str'),
            action=dict(type='str', required=True),
            details=dict(type='dict', default={}),
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
