# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the control_state steps may write, decided in pure functions.

The callers read the control database in a few queries, hand the rows to
these functions and write what they return; a refusal is a StoreError whose
message says what is wrong and what to do, raised before anything is written.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

# What a job may set; superseded and rolled_back follow from a deployed one.
# superseded: a deleted deployment's revision serves no more.
SETTABLE_STATUSES = ('rolling_out', 'deployed', 'failed', 'superseded')
# The fields that make a revision what it is (who recorded it is not one).
REVISION_IDENTITY = ('image', 'image_digest', 'env_fingerprint', 'env', 'secret_names')
PIN_FIELDS = (('postgres_host', 'Postgres'), ('redis_host', 'Redis'))


def unique(names):
    """names without repeats, in their first order."""
    seen = set()
    return [n for n in names if not (n in seen or seen.add(n))]


# --- locks -----------------------------------------------------------------------------------------

def lock_outcome(lock, holder):
    """free (nobody holds it), mine (holder has it: renewed), expired (a dead
    job's: taken over) or busy (another live holder)."""
    if lock is None:
        return 'free'
    if lock['holder'] == holder:
        return 'mine'
    if lock['expired']:
        return 'expired'
    return 'busy'


def plan_locks(names, locks, holder):
    """What a lock attempt for holder does to each of names, given locks
    ({name: {holder, purpose, since, expires_at, expired}} of those held).

    Returns dict(take=[...], renew=[...], take_over={name: lock}, busy={name: lock})."""
    plan = dict(take=[], renew=[], take_over={}, busy={})
    for name in names:
        lock = locks.get(name)
        outcome = lock_outcome(lock, holder)
        if outcome == 'free':
            plan['take'].append(name)
        elif outcome == 'mine':
            plan['renew'].append(name)
        elif outcome == 'expired':
            plan['take'].append(name)
            plan['take_over'][name] = lock
        else:
            plan['busy'][name] = lock
    return plan


def public_lock(lock):
    """A lock as returned in busy (without the computed flag)."""
    return dict((k, lock[k]) for k in ('holder', 'purpose', 'since', 'expires_at'))


def describe_lock(name, lock):
    return '%s (held by %s since %s for %s, lease until %s)' % (name, lock['holder'], lock['since'],
                                                                lock['purpose'], lock['expires_at'])


def lost_locks(names, renewed, locks):
    """{name: lock or None} of names a renewal did not extend: another holder
    has the lock now (its lock), or nobody does (None)."""
    renewed = set(renewed)
    return dict((n, public_lock(locks[n]) if n in locks else None) for n in unique(names) if n not in renewed)


def lock_conflicts(names, locks, holder):
    """{name: lock} of names that another live holder has: a job must not
    record for a deployment it does not hold (its lease may have been taken
    over)."""
    return dict((n, locks[n]) for n in names
                if n in locks and lock_outcome(locks[n], holder) == 'busy')


# --- revisions ------------------------------------------------------------------------------------

def revision_identity(revision):
    identity = dict((k, revision.get(k)) for k in REVISION_IDENTITY)
    identity['env'] = dict((k, str(v)) for k, v in (identity['env'] or {}).items())
    identity['secret_names'] = sorted(identity['secret_names'] or [])
    return identity


def plan_revisions(requests, newest, existing):
    """The revisions to insert, in order.

    requests: [{deployment, number, image, image_digest, env, secret_names,
    env_fingerprint, created_by}]; newest: {deployment: newest recorded
    number}; existing: {(deployment, number): recorded row} for the requested
    numbers. A request identical to its recorded row is no change; a new
    number must be the deployment's newest + 1."""
    newest = dict(newest)
    planned = {}
    inserts = []
    for request in requests:
        deployment, number = request['deployment'], request['number']
        key = (deployment, number)
        recorded = existing.get(key) or planned.get(key)
        if recorded is not None:
            if revision_identity(recorded) != revision_identity(request):
                differing = [k for k in REVISION_IDENTITY
                             if revision_identity(recorded)[k] != revision_identity(request)[k]]
                raise StoreError(
                    'revision %d of deployment %s is already recorded with another %s: revisions never change; '
                    'record the new configuration as revision %d'
                    % (number, deployment, ' and '.join(differing), newest.get(deployment, 0) + 1))
            continue
        expected = newest.get(deployment, 0) + 1
        if number != expected:
            raise StoreError(
                'cannot record revision %d of deployment %s: its newest revision is %d, so the next one is %d '
                '(another job may have recorded one meanwhile: read the history again with step=begin)'
                % (number, deployment, expected - 1, expected))
        row = dict(revision_identity(request), deployment=deployment, number=number,
                   created_by=request.get('created_by'))
        planned[key] = row
        inserts.append(row)
        newest[deployment] = number
    return inserts


# --- statuses -------------------------------------------------------------------------------------

def _same_status(row, status, reason):
    return row['status'] == status and (reason is None or row['status_reason'] == reason)


def plan_statuses(requests, current):
    """The revision rows to update, in request order.

    requests: [{deployment, number, status, reason}]; current: {(deployment,
    number): {status, status_reason}} holding every requested revision that
    exists and every deployed revision of the requested deployments. A
    revision becoming deployed supersedes the deployed one (rolled_back when
    the new one is older). Returns [{deployment, number, status,
    status_reason, deployed_now}], one per changed row, in the order to apply."""
    state = dict((key, dict(row)) for key, row in current.items())
    changed = {}
    order = []

    def change(key, status, reason, deployed_now=False):
        state[key].update(status=status, status_reason=reason)
        if key not in changed:
            order.append(key)
            changed[key] = dict(deployment=key[0], number=key[1], deployed_now=False)
        changed[key].update(status=status, status_reason=reason)
        changed[key]['deployed_now'] = changed[key]['deployed_now'] or deployed_now

    for request in requests:
        deployment, number, status = request['deployment'], request['number'], request['status']
        reason = request.get('reason')
        if status not in SETTABLE_STATUSES:
            raise StoreError('status %r of revision %d of deployment %s is not one a job sets: use one of %s'
                             % (status, number, deployment, ', '.join(SETTABLE_STATUSES)))
        key = (deployment, number)
        if key not in state:
            raise StoreError('deployment %s has no revision %d: record it (revisions of step=prepare) before '
                             'setting its status' % (deployment, number))
        if _same_status(state[key], status, reason):
            continue
        if status == 'deployed':
            for other in sorted(k for k in state if k[0] == deployment and k != key):
                if state[other]['status'] == 'deployed':
                    change(other, 'rolled_back' if other[1] > number else 'superseded',
                           state[other]['status_reason'])
        change(key, status, reason, deployed_now=status == 'deployed')
    return [changed[key] for key in order]


def describe_status(update):
    return 'mark revision %d of %s %s' % (update['number'], update['deployment'], update['status'])


# --- pins -----------------------------------------------------------------------------------------

def plan_assignments(assignments, recorded):
    """{deployment: {field: value}} to write for assignments [{deployment,
    type, postgres_host, redis_host}], given recorded {deployment: {type,
    postgres_host, redis_host}}. A pin is set once and never changed: a
    deployment's data lives on its host."""
    state = dict((name, dict(row)) for name, row in recorded.items())
    updates = {}
    for assignment in assignments:
        name = assignment['deployment']
        row = state.setdefault(name, dict(type=None, postgres_host=None, redis_host=None))
        for field, what in PIN_FIELDS:
            wanted = assignment.get(field)
            if wanted is None or wanted == row[field]:
                continue
            if row[field] is not None:
                raise StoreError(
                    'deployment %s is pinned to %s host %s (its data lives there) and cannot move to %s: assign %s '
                    'again, or delete the deployment (state absent, purge) to place it anew'
                    % (name, what, row[field], wanted, row[field]))
            row[field] = wanted
            updates.setdefault(name, {})[field] = wanted
        if assignment.get('type') is not None and assignment['type'] != row['type']:
            row['type'] = assignment['type']
            updates.setdefault(name, {})['type'] = assignment['type']
    return updates


def describe_assignment(name, fields):
    words = []
    for field, what in PIN_FIELDS:
        if field in fields:
            words.append('%s host %s' % (what, fields[field]))
    text = 'pin %s to %s' % (name, ' and '.join(words)) if words else ''
    if 'type' in fields:
        text = (text + ', type ' if text else 'set the type of %s to ' % name) + fields['type']
    return text


# --- scale events ---------------------------------------------------------------------------------

def check_scale_events(events):
    for event in events:
        if event['desired'] < 0:
            raise StoreError('scale event of deployment %s: desired must be 0 or more, not %d'
                             % (event['deployment'], event['desired']))
        if not event.get('reason'):
            raise StoreError('scale event of deployment %s: give the reason of the decision' % event['deployment'])


def plan_applied(requests, recorded):
    """[{decision_id, applied}] to write for requests [{deployment,
    decision_id, applied}], given recorded {decision_id: {deployment,
    applied}}. What is already recorded is no change."""
    updates = []
    state = dict((k, dict(v)) for k, v in recorded.items())
    for request in requests:
        decision = state.get(request['decision_id'])
        if decision is None or decision['deployment'] != request['deployment']:
            raise StoreError('deployment %s has no scale decision %d: give the id that step=prepare returned in '
                             'scale_event_ids' % (request['deployment'], request['decision_id']))
        if decision['applied'] == request['applied']:
            continue
        decision['applied'] = request['applied']
        updates.append(dict(deployment=request['deployment'], decision_id=request['decision_id'],
                            applied=request['applied']))
    return updates


# --- desired replicas, hosts and the audit trail ------------------------------------------------------

def check_replicas(requests):
    for request in requests:
        if request['replicas'] < 0:
            raise StoreError('replicas of deployment %s: the desired count must be 0 or more, not %d'
                             % (request['deployment'], request['replicas']))


def plan_replicas(requests, recorded):
    """{deployment: count} to write for requests [{deployment, replicas}] (the
    last one of a deployment counts), given recorded {deployment: {replicas}}.
    A count already recorded is no change."""
    check_replicas(requests)
    wanted = dict((r['deployment'], r['replicas']) for r in requests)
    return dict((name, count) for name, count in wanted.items()
                if (recorded.get(name) or {}).get('replicas') != count)


def check_hosts(hosts):
    for host in hosts:
        if not host['name'] or not host['name'].strip():
            raise StoreError('hosts: every entry needs the inventory name of the host in name')


def plan_hosts(requests, recorded):
    """What to write for requests [{name, up, problem}] (the last one of a name
    counts), given recorded {name: {last_seen, down_since, problem}}.

    Returns (rows, changes): rows [{name, up, problem}] to write, one per name
    (an up host's last_seen moves on every run: bookkeeping), and changes,
    in words, of the hosts whose state is new (first seen, went down, came
    back, another problem)."""
    check_hosts(requests)
    wanted = {}
    for request in requests:
        up = bool(request['up'])
        wanted[request['name']] = dict(name=request['name'], up=up, problem=None if up else request.get('problem'))
    rows, changes = [], []
    for name in sorted(wanted):
        row, before = wanted[name], recorded.get(name)
        rows.append(row)
        problem = ': %s' % row['problem'] if row['problem'] else ''
        if row['up']:
            if before is None:
                changes.append('record host %s up' % name)
            elif before['down_since'] is not None:
                changes.append('record host %s up again (down since %s)' % (name, before['down_since']))
        elif before is None or before['down_since'] is None:
            changes.append('record host %s down%s' % (name, problem))
        elif before['problem'] != row['problem']:
            changes.append('record host %s still down%s' % (name, problem))
    return rows, changes


def check_audit(events, holder):
    if events and not holder:
        raise StoreError('holder is required with audit: it is recorded as who did it')
    for event in events:
        if not event.get('action') or not event['action'].strip():
            raise StoreError('audit: every event needs an action (for example deploy, scale, unlock)')


def describe_audit(event):
    of = ' of %s' % event['deployment'] if event.get('deployment') else ''
    return 'record %s in the audit trail%s' % (event['action'], of)


def unlock_events(released):
    """The audit events of locks released by hand: {name: lock} -> [{deployment, action, details}]."""
    return [dict(deployment=name, action='unlock', details=public_lock(released[name])) for name in sorted(released)]


# --- reading --------------------------------------------------------------------------------------

def serving_number(revisions):
    for revision in revisions:
        if revision['status'] == 'deployed':
            return revision['number']
    return None


def deployment_view(name, row, revisions, serving, allocation, scale, taken_over=None):
    """One entry of begin's deployments: what the control database knows of
    name, and the expired lease of another job this run took over, if any."""
    row = row or {}
    allocation = allocation or {}
    return dict(
        type=row.get('type'),
        postgres_host=row.get('postgres_host'),
        redis_host=row.get('redis_host'),
        database=row.get('postgres_database'),
        redis_db=allocation.get('db_number'),
        redis_instance=allocation.get('redis_instance'),
        revisions=revisions or [],
        serving=serving if serving is not None else serving_number(revisions or []),
        scale=scale,
        replicas=row.get('replicas'),
        taken_over=public_lock(taken_over) if taken_over else None,
    )
