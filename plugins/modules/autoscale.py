#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: autoscale
short_description: Decide a deployment's container count from measured load and record the decision
version_added: 0.1.0
description:
  - Decides how many containers a deployment should run from its concurrency (measured in HAProxy by
    M(selfhost.langgraph.haproxy_sessions)) and, with O(queue), its pending runs, and records the decision
    with its inputs, reason and scale-down timer in the control database (table C(scale_events)), so that a
    stateless job (an AWX schedule, a systemd timer) continues where the previous one stopped.
  - "desired = max(ceil(concurrency / O(target_concurrency)), ceil(pending / O(jobs_per_container))), clamped to
    [O(min_replicas), O(max_replicas)] (a V(development) deployment runs at most 1). A higher count is applied at
    once; a lower one only once it has held for O(scale_down_delay), then the count is recomputed. A count within
    O(tolerance) of the current one does not move it. Missing or stale metrics never scale down."
  - The module does not start or stop containers; the role C(selfhost.langgraph.autoscale) applies the decision
    with C(selfhost.langgraph.deploy) (C(deploy_action=scale)) and then records what was applied by calling this
    module again with O(decision_id) and O(applied).
  - Run it on the Postgres host (the first host of group C(langgraph_postgres)).
author:
  - selfhost.langgraph maintainers (@selfhost)
extends_documentation_fragment:
  - selfhost.langgraph.postgres
attributes:
  check_mode:
    support: full
    description: Measures the queue and decides; records nothing and returns the decision.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: partial
    description:
      - Every decision is a new row of C(scale_events) (an audit trail), so deciding always changes something.
      - Recording O(applied) on a decision that already has it changes nothing.
options:
  deployment:
    description: Name of the deployment.
    type: str
    required: true
  current_replicas:
    description: Containers of the serving revision running now. Required unless O(applied) is given.
    type: int
  sessions:
    description:
      - The results of M(selfhost.langgraph.haproxy_sessions), one per load balancer; their totals are added.
      - Empty, or a failed result, means the concurrency is unknown, which never causes a scale-down.
    type: list
    elements: dict
    default: []
  type:
    description: Deployment type; V(development) runs at most 1 container.
    type: str
    choices: [development, production]
    default: production
  min_replicas:
    description: Fewest containers.
    type: int
    default: 1
  max_replicas:
    description: Most containers; the type's limit (production 10, development 1) when not set.
    type: int
  target_concurrency:
    description: Concurrent requests one container should serve; a target, not a hard limit.
    type: float
    default: 10
  queue:
    description:
      - Also count the pending runs in the deployment's own database (table C(runs), as the official Helm
        chart's KEDA trigger does), and ask for ceil(pending / O(jobs_per_container)) containers.
      - By default the module connects to the deployment's database (C(lg_<name>), see
        C(selfhost.langgraph.deployment_postgres)) with the admin login, which is a member of the deployment's
        role and may read its tables. Give O(queue_database_uri) to connect otherwise.
    type: bool
    default: false
  queue_database_uri:
    description:
      - libpq URI of the deployment's database to count runs in, for example the deployment's own
        C(DATABASE_URI) from the stores role (C(stores_uris[name].database_uri)), when the admin login may not
        read it.
    type: str
  jobs_per_container:
    description: Runs one container executes at once (the server's C(N_JOBS_PER_WORKER)), for the queue rule.
    type: int
    default: 10
  tolerance:
    description: Fraction of the current count within which the load ratio does not move it (0.1 = 10%).
    type: float
    default: 0.1
  scale_down_delay:
    description: How long a lower count must hold before it is applied, as V(30m), V(90s), V(1h30m) or seconds.
    type: str
    default: 30m
  max_metrics_age:
    description: Measurements older than this many seconds count as stale (no scale-down).
    type: int
    default: 120
  decision_id:
    description: With O(applied), the decision (C(scale_events.id)) whose applied count is recorded.
    type: int
  applied:
    description:
      - Record that the container count O(applied) was applied for decision O(decision_id); nothing is decided.
    type: int
requirements:
  - psycopg2 (Debian package C(python3-psycopg2)) on the host where the module runs
'''

EXAMPLES = r'''
- name: Measure support-bot's concurrency on the load balancers
  selfhost.langgraph.haproxy_sessions:
    deployment: support-bot
  delegate_to: "{{ item }}"
  loop: "{{ groups['langgraph_lb'] }}"
  become: true
  register: sessions

- name: Decide support-bot's container count
  selfhost.langgraph.autoscale:
    deployment: support-bot
    current_replicas: 2
    sessions: "{{ sessions.results }}"
    type: production
    max_replicas: 10
    target_concurrency: 10
    scale_down_delay: 30m
    queue: true
    login_host: 127.0.0.1
    login_password: "{{ postgres_admin_password }}"
  delegate_to: "{{ groups['langgraph_postgres'][0] }}"
  register: decision

- name: Record what was applied
  selfhost.langgraph.autoscale:
    deployment: support-bot
    decision_id: "{{ decision.decision_id }}"
    applied: "{{ decision.desired }}"
    login_host: 127.0.0.1
    login_password: "{{ postgres_admin_password }}"
  delegate_to: "{{ groups['langgraph_postgres'][0] }}"
  when: decision.apply
'''

RETURN = r'''
desired:
  description: The container count decided.
  returned: when deciding
  type: int
  sample: 4
apply:
  description: Whether O(current_replicas) should change to RV(desired) now.
  returned: when deciding
  type: bool
  sample: true
reason:
  description: Why, in words.
  returned: when deciding
  type: str
  sample: "scale up 1 -> 4 at once (concurrency ratio 3.5 wants 4)"
decision_id:
  description: Id of the recorded decision (C(scale_events.id)); null in check mode.
  returned: when deciding
  type: int
  sample: 42
computed:
  description: The count the metrics ask for, clamped to the bounds (before the scale-down timer).
  returned: when deciding
  type: int
  sample: 4
low_since:
  description: Since when a lower count has held (ISO 8601), or null.
  returned: when deciding
  type: str
  sample: "2026-11-22T15:00:00+00:00"
scale_down_at:
  description: When the lower count will be applied if it still holds (ISO 8601), or null.
  returned: when deciding
  type: str
  sample: "2026-11-22T15:30:00+00:00"
inputs:
  description: What the decision was made from (as recorded in C(scale_events.inputs)).
  returned: when deciding
  type: dict
  sample: {"concurrency": 35.2, "pending": 25, "running": 10, "current": 1, "metrics_age": 0.4}
'''

import datetime

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    check_libraries, postgres_common_argument_spec, postgres_connect, psycopg2)
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import (
    postgres_name, validate_deployment_name)
from ansible_collections.selfhost.langgraph.plugins.module_utils import autoscale_policy as policy
from ansible_collections.selfhost.langgraph.plugins.module_utils import autoscale_store as store


def _iso(epoch):
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat()


def measured_concurrency(sessions, now):
    """(total, age, per-server) from haproxy_sessions results; total None when any is missing."""
    usable = [s for s in sessions if not s.get('failed') and not s.get('skipped') and s.get('total') is not None]
    if not sessions or len(usable) != len(sessions):
        return None, None, {}
    servers = {}
    for s in usable:
        servers.update(s.get('servers') or {})
    sampled = [s.get('sampled_at') for s in usable]
    age = max(0.0, now - min(sampled)) if all(isinstance(t, (int, float)) for t in sampled) else None
    return round(sum(float(s['total']) for s in usable), 3), age, servers


def count_queue(params):
    """(pending, running) runs of the deployment, or raises StoreError."""
    if params['queue_database_uri']:
        try:
            conn = psycopg2.connect(params['queue_database_uri'], connect_timeout=params['connect_timeout'],
                                    application_name='selfhost.langgraph')
        except psycopg2.OperationalError as e:
            raise StoreError('cannot connect to the database of %s with queue_database_uri: %s'
                             % (params['deployment'], str(e).strip().splitlines()[-1]))
    else:
        conn = postgres_connect(params, postgres_name(params['deployment']))
    try:
        with conn.cursor() as cur:
            return store.queue_depth(cur)
    except psycopg2.Error as e:
        raise StoreError('cannot count the runs of %s: %s; give queue_database_uri (the deployment\'s '
                         'DATABASE_URI) if the admin login may not read them' % (params['deployment'], e))
    finally:
        conn.rollback()
        conn.close()


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        deployment=dict(type='str', required=True),
        current_replicas=dict(type='int'),
        sessions=dict(type='list', elements='dict', default=[]),
        type=dict(type='str', default='production', choices=['development', 'production']),
        min_replicas=dict(type='int', default=1),
        max_replicas=dict(type='int'),
        target_concurrency=dict(type='float', default=10.0),
        queue=dict(type='bool', default=False),
        queue_database_uri=dict(type='str', no_log=True),
        jobs_per_container=dict(type='int', default=10),
        tolerance=dict(type='float', default=0.1),
        scale_down_delay=dict(type='str', default='30m'),
        max_metrics_age=dict(type='int', default=120),
        decision_id=dict(type='int'),
        applied=dict(type='int'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_together=[('decision_id', 'applied')])
    check_libraries(module)
    params = module.params
    try:
        deployment = validate_deployment_name(params['deployment'], params['control_database'])
        if params['applied'] is not None:
            if params['applied'] < 0:
                raise StoreError('applied must be 0 or more (got %d)' % params['applied'])
            conn = postgres_connect(params, params['control_database'])
            with conn.cursor() as cur:
                changed = store.record_applied(cur, deployment, params['decision_id'], params['applied'])
            if module.check_mode:
                conn.rollback()
            else:
                conn.commit()
            conn.close()
            module.exit_json(changed=changed, decision_id=params['decision_id'], applied=params['applied'])

        if params['current_replicas'] is None:
            raise StoreError('current_replicas is required to decide (or give decision_id and applied)')
        # Bad input fails before anything is read.
        policy.replica_bounds(params['type'], params['min_replicas'], params['max_replicas'])
        policy.parse_duration(params['scale_down_delay'])
        if params['target_concurrency'] <= 0 or params['jobs_per_container'] <= 0:
            raise StoreError('target_concurrency and jobs_per_container must be greater than 0 (got %s and %s)'
                             % (params['target_concurrency'], params['jobs_per_container']))

        conn = postgres_connect(params, params['control_database'])
        with conn.cursor() as cur:
            store.check_deployment(cur, deployment)
            now = store.db_now(cur)
            previous = store.last_event(cur, deployment)
        conn.rollback()

        concurrency, age, servers = measured_concurrency(params['sessions'], now)
        pending = running = None
        queue_error = None
        if params['queue']:
            try:
                pending, running = count_queue(params)
            except StoreError as e:
                queue_error = str(e)  # a missing metric: decided on without it, never a scale-down
        current = params['current_replicas']
        decision = policy.decide(
            current=current, concurrency=concurrency, now=now, pending=pending, metrics_age=age,
            state=store.timer_state(previous), target_concurrency=params['target_concurrency'],
            jobs_per_container=params['jobs_per_container'] if params['queue'] else None,
            min_replicas=params['min_replicas'], max_replicas=params['max_replicas'],
            deployment_type=params['type'], tolerance=params['tolerance'],
            scale_down_delay=params['scale_down_delay'], max_metrics_age=params['max_metrics_age'])
        inputs = dict(concurrency=concurrency, metrics_age=None if age is None else round(age, 3),
                      servers=servers, pending=pending, running=running, queue_error=queue_error,
                      current=current, type=params['type'], bounds=decision['bounds'],
                      target_concurrency=params['target_concurrency'],
                      jobs_per_container=params['jobs_per_container'] if params['queue'] else None,
                      tolerance=params['tolerance'], scale_down_delay=decision['delay'],
                      rules=decision['rules'], previous_decision=previous['id'] if previous else None)
        decision_id = None
        if not module.check_mode:
            with conn.cursor() as cur:
                decision_id = store.record(cur, deployment, inputs, current, decision)
            conn.commit()
        conn.close()
    except (StoreError, policy.PolicyError) as e:
        module.fail_json(msg=str(e))
    except psycopg2.Error as e:
        module.fail_json(msg='the control database %s could not be read or written: %s; is its schema current '
                             '(selfhost.langgraph.control_db)?' % (params['control_database'], str(e).strip()))
    module.exit_json(changed=not module.check_mode, desired=decision['desired'], apply=decision['apply'],
                     reason=decision['reason'], decision_id=decision_id, computed=decision['computed'],
                     low_since=_iso(decision['low_since']), scale_down_at=_iso(decision['scale_down_at']),
                     current=current, inputs=inputs)


if __name__ == '__main__':
    main()
