# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The control-database steps of the fleet control loop (control_state module).

begin locks and reads, prepare records what the run will do, renew extends
the run's leases while it works, finish records how it ended and releases
the locks; unlock releases locks by hand. Each runs a fixed number of
statements whatever the number of deployments; the decisions are
control_decisions'.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.selfhost.langgraph.plugins.module_utils import autoscale_store
from ansible_collections.selfhost.langgraph.plugins.module_utils import control_plane as cp
from ansible_collections.selfhost.langgraph.plugins.module_utils import control_decisions as cd
from ansible_collections.selfhost.langgraph.plugins.module_utils.control_schema import (
    LATEST_VERSION,
    current_version,
    migrate,
    plan_migrations,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


# A lease that stops being renewed (its job died) is taken over after this.
DEFAULT_LOCK_TTL = 120


def _migrate(conn, check_mode):
    """Migrate (check mode: only look). Returns (version to read with, result fields)."""
    before, after, pending = migrate(conn, check_mode)
    schema = dict(version=before if check_mode else after, latest_version=LATEST_VERSION,
                  migrated=[dict(version=m.version, description=m.description) for m in pending])
    actions = ['migrate the control database to schema version %d' % pending[-1].version] if pending else []
    return schema['version'], dict(schema=schema, actions=actions, changed=bool(pending))


def begin(conn, names, holder=None, purpose='deploy', lock=True, wait=0, ttl=DEFAULT_LOCK_TTL, history=10,
          check_mode=False, poll=1.0, clock=time):
    version, result = _migrate(conn, check_mode)
    names = cd.unique(names)
    locked, busy, taken_over = [], {}, {}
    if lock and not check_mode and names:
        outcome = cp.acquire_many(conn, names, holder, purpose, ttl, wait, poll, clock)
        locked, busy, taken_over = outcome['locked'], outcome['busy'], outcome['taken_over']
        for name in outcome['taken']:
            previous = outcome['taken_over'].get(name)
            result['actions'].append('lock %s for %s' % (name, holder) + (
                ' (taken over from %s, expired at %s)' % (previous['holder'], previous['expires_at'])
                if previous else ''))
        result['changed'] = result['changed'] or bool(outcome['taken'])
    else:
        with conn:
            plan = cd.plan_locks(names, cp.locks_of(conn.cursor(), names, version), holder)
        busy = plan['busy']
        if lock:  # check mode: the locks this run would hold
            locked = sorted(plan['take'] + plan['renew'])
            taken_over = plan['take_over']
            result['actions'] += ['lock %s for %s' % (name, holder) for name in plan['take']]
            result['changed'] = result['changed'] or bool(plan['take'])
    with conn:
        cur = conn.cursor()
        now = autoscale_store.db_now(cur)
        recorded = cp.recorded_deployments(cur, names, version)
        allocations = cp.allocations_of(cur, names, version)
        revisions = cp.histories(cur, names, history, version)
        serving = cp.serving_numbers(cur, names, version)
        scale = autoscale_store.last_events(cur, names) if version >= cp.HISTORY_VERSION else {}
        counts = cp.placement_counts(cur, version)
        hosts = cp.fleet_hosts(cur, version)
    result.update(
        now=now,
        locked=locked,
        busy=dict((name, cd.public_lock(lock_row) if lock_row else None) for name, lock_row in busy.items()),
        deployments=dict((name, cd.deployment_view(name, recorded.get(name), revisions.get(name),
                                                   serving.get(name), allocations.get(name), scale.get(name),
                                                   taken_over.get(name)))
                         for name in names),
        placement_counts=counts,
        hosts=hosts,
    )
    return result


def _refuse_conflicts(cur, names, holder, version, what):
    conflicts = cd.lock_conflicts(names, cp.locks_of(cur, names, version), holder)
    if conflicts:
        raise StoreError(
            'refusing to %s: %s; the lock of %s was lost (expired and taken over?): run step=begin again'
            % (what, '; '.join('%s is locked by %s since %s (%s)' % (n, l['holder'], l['since'], l['purpose'])
                               for n, l in sorted(conflicts.items())),
               holder))


def _deployments_of(*groups):
    """The deployments the items of groups concern, each once (an audit event may concern none)."""
    return cd.unique([item['deployment'] for group in groups for item in group if item.get('deployment')])


def prepare(conn, holder=None, ttl=DEFAULT_LOCK_TTL, revisions=(), statuses=(), assignments=(), scale_events=(),
            check_mode=False, audit=()):
    cd.check_scale_events(scale_events)
    cd.check_audit(audit, holder)
    version, result = _migrate(conn, check_mode)
    names = _deployments_of(assignments, revisions, statuses, scale_events, audit)
    with conn:  # one transaction: all or nothing
        cur = conn.cursor()
        if holder:
            _refuse_conflicts(cur, names, holder, version, 'record for deployments this run does not hold')
        if not check_mode:
            # Not for audit events: one may tell of a deployment deleted since.
            cp.ensure_deployment_rows(cur, _deployments_of(assignments, revisions, statuses, scale_events))
            cp.lock_revisions_of(cur, [r['deployment'] for r in revisions])
        recorded = cp.recorded_deployments(cur, [a['deployment'] for a in assignments], version)
        pins = cd.plan_assignments(assignments, recorded)
        new_revisions = cd.plan_revisions(
            revisions, cp.newest_numbers(cur, [r['deployment'] for r in revisions], version),
            cp.revisions_at(cur, [(r['deployment'], r['number']) for r in revisions], version))
        current = cp.statuses_for(cur, [(s['deployment'], s['number']) for s in statuses], version)
        for row in new_revisions:
            current[(row['deployment'], row['number'])] = dict(status='created', status_reason=None)
        status_updates = cd.plan_statuses(statuses, current)
        event_ids = {}
        if not check_mode:
            cp.update_deployments(cur, pins)
            cp.insert_revisions(cur, new_revisions)
            cp.update_statuses(cur, status_updates)
            ids = autoscale_store.record_many(cur, scale_events)
            event_ids = dict((e['deployment'], i) for e, i in zip(scale_events, ids))
            cp.insert_audit_events(cur, holder, audit)
            if holder:
                cp.renew_locks(cur, holder, ttl)
    result['actions'] += [cd.describe_assignment(n, f) for n, f in sorted(pins.items())]
    result['actions'] += ['record revision %d of %s (%s)' % (r['number'], r['deployment'], r['image'])
                          for r in new_revisions]
    result['actions'] += [cd.describe_status(u) for u in status_updates]
    result['actions'] += ['record a scale decision for %s: %d replicas (%s)' % (e['deployment'], e['desired'], e['reason'])
                          for e in scale_events]
    result['actions'] += [cd.describe_audit(e) for e in audit]
    result['changed'] = result['changed'] or bool(pins or new_revisions or status_updates or scale_events or audit)
    result.update(scale_event_ids=event_ids,
                  recorded_revisions=[dict(deployment=r['deployment'], number=r['number']) for r in new_revisions])
    return result


def renew(conn, holder, names=(), ttl=DEFAULT_LOCK_TTL, check_mode=False):
    """Extend every lease of holder to now + ttl, in one short transaction (a
    run calls it between its steps, so it never migrates). Returns renewed
    (names) and lost: those of names it no longer holds, with the lock of
    whoever holds them now (None: nobody)."""
    names = cd.unique(names)
    with conn:
        cur = conn.cursor()
        version = current_version(cur)
        plan_migrations(version)  # a database newer than this collection is refused, as by every step
        renewed = cp.renew_or_read_locks(cur, holder, ttl, check_mode) if version >= cp.HISTORY_VERSION else []
        lost = cd.lost_locks(names, renewed, cp.locks_of(cur, [n for n in names if n not in renewed], version))
    actions = ['renew the lease of %s for %d s' % (name, ttl) for name in renewed]
    actions += ['lost the lock of %s' % (cd.describe_lock(n, l) if l else '%s (nobody holds it)' % n)
                for n, l in sorted(lost.items())]
    return dict(changed=False, renewed=renewed, lost=lost, actions=actions,
                schema=dict(version=version, latest_version=LATEST_VERSION, migrated=[]))


def unlock(conn, names, who, check_mode=False):
    """Release the locks of names whoever holds them (an operator's hand when
    a job is known dead), each recorded in the audit trail with who did it."""
    version, result = _migrate(conn, check_mode)
    with conn:  # one transaction: the release and its record together
        cur = conn.cursor()
        released = cp.release_locks(cur, cd.unique(names), check_mode, version)
        if not check_mode:
            cp.insert_audit_events(cur, who, cd.unlock_events(released))
    result['actions'] += ['release the lock of %s' % cd.describe_lock(n, l) for n, l in sorted(released.items())]
    result['changed'] = result['changed'] or bool(released)
    result['released'] = dict((n, cd.public_lock(l)) for n, l in released.items())
    return result


def finish(conn, holder, statuses=(), applied=(), check_mode=False, replicas=(), hosts=(), audit=(),
           scale_events=()):
    """Record how the run ended and release holder's locks. What concerns a
    deployment another live job holds now (this run's lease expired and was
    taken over: statuses, counts, audit events) is not recorded but returned
    in not_recorded: the run is over either way, and its other locks must not
    wait for their expiry. Hosts concern the fleet, not a deployment: always
    recorded. Scale decisions that apply nothing are recorded here too (those
    that do are recorded by prepare, whose ids the applied counts refer to)."""
    cd.check_scale_events(scale_events)
    cd.check_replicas(replicas)
    cd.check_hosts(hosts)
    cd.check_audit(audit, holder)
    version, result = _migrate(conn, check_mode)
    names = _deployments_of(statuses, applied, replicas, audit, scale_events)
    with conn:  # one transaction: the records and the release together
        cur = conn.cursor()
        lost = cd.lock_conflicts(names, cp.locks_of(cur, names, version), holder)
        statuses = [s for s in statuses if s['deployment'] not in lost]
        applied = [a for a in applied if a['deployment'] not in lost]
        replicas = [r for r in replicas if r['deployment'] not in lost]
        audit = [e for e in audit if e.get('deployment') not in lost]
        scale_events = [e for e in scale_events if e['deployment'] not in lost]
        status_updates = cd.plan_statuses(
            statuses, cp.statuses_for(cur, [(s['deployment'], s['number']) for s in statuses], version))
        applied_updates = cd.plan_applied(
            applied, autoscale_store.applied_of(cur, [a['decision_id'] for a in applied])
            if version >= cp.HISTORY_VERSION else {})
        replica_updates = cd.plan_replicas(
            replicas, cp.recorded_deployments(cur, [r['deployment'] for r in replicas], version))
        host_rows, host_changes = cd.plan_hosts(hosts, cp.fleet_hosts(cur, version))
        if not check_mode:
            cp.update_statuses(cur, status_updates)
            autoscale_store.update_applied(cur, applied_updates)
            cp.ensure_deployment_rows(cur, list(replica_updates))
            cp.write_replicas(cur, replica_updates)
            cp.write_hosts(cur, host_rows)
            cp.insert_audit_events(cur, holder, audit)
            autoscale_store.record_many(cur, scale_events)
        released = cp.release_locks_of(cur, holder, check_mode, version)
    result['actions'] += [cd.describe_status(u) for u in status_updates]
    result['actions'] += ['record %d replicas applied for scale decision %d of %s'
                          % (u['applied'], u['decision_id'], u['deployment']) for u in applied_updates]
    result['actions'] += ['record %d desired replicas of %s' % (replica_updates[n], n) for n in sorted(replica_updates)]
    result['actions'] += host_changes
    result['actions'] += [cd.describe_audit(e) for e in audit]
    result['actions'] += ['record a scale decision for %s: %d replicas (%s)' % (e['deployment'], e['desired'], e['reason'])
                          for e in scale_events]
    result['actions'] += ['release the lock of %s' % name for name in released]
    result['changed'] = result['changed'] or bool(status_updates or applied_updates or replica_updates
                                                  or host_changes or audit or scale_events or released)
    result['released'] = released
    result['not_recorded'] = dict((name, cd.public_lock(lock)) for name, lock in lost.items())
    return result
