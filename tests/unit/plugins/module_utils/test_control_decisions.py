# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.control_decisions import (
    check_audit,
    check_hosts,
    check_scale_events,
    deployment_view,
    describe_assignment,
    describe_audit,
    lock_conflicts,
    lock_outcome,
    lost_locks,
    plan_applied,
    plan_assignments,
    plan_hosts,
    plan_locks,
    plan_replicas,
    plan_revisions,
    plan_statuses,
    public_lock,
    unique,
    unlock_events,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


def lock(holder, expired=False):
    return dict(holder=holder, purpose='deploy', since='2026-11-30T10:00:00+00:00',
                expires_at='2026-11-30T11:00:00+00:00', expired=expired)


# --- locks ----------------------------------------------------------------------------------------

@pytest.mark.parametrize('current, holder, outcome', [
    (None, 'job-1', 'free'),
    (lock('job-1'), 'job-1', 'mine'),
    (lock('job-1', expired=True), 'job-1', 'mine'),      # still ours: renewed, not taken over
    (lock('job-2'), 'job-1', 'busy'),
    (lock('job-2', expired=True), 'job-1', 'expired'),   # a dead job's lease is taken over
    (lock('job-2'), None, 'busy'),                       # a read-only run sees every live lock as busy
])
def test_lock_outcome(current, holder, outcome):
    assert lock_outcome(current, holder) == outcome


def test_plan_locks():
    locks = {'b': lock('me'), 'c': lock('other'), 'd': lock('dead', expired=True)}
    plan = plan_locks(['a', 'b', 'c', 'd'], locks, 'me')
    assert plan == dict(take=['a', 'd'], renew=['b'], take_over={'d': locks['d']}, busy={'c': locks['c']})


@pytest.mark.parametrize('names, locks, conflicts', [
    ([], {}, {}),
    (['a'], {}, {}),                                    # nobody holds it: recording is harmless
    (['a'], {'a': lock('me')}, {}),
    (['a'], {'a': lock('other')}, {'a': lock('other')}),
    (['a'], {'a': lock('other', expired=True)}, {}),    # its job died; nobody else records
    (['a', 'b'], {'a': lock('me'), 'b': lock('other')}, {'b': lock('other')}),
])
def test_lock_conflicts(names, locks, conflicts):
    assert lock_conflicts(names, locks, 'me') == conflicts


@pytest.mark.parametrize('names, renewed, locks, lost', [
    ([], [], {}, {}),                                          # no names given: nothing to report
    (['a'], ['a'], {}, {}),
    (['a', 'b'], ['a', 'b', 'c'], {}, {}),                     # renewed more than asked: fine
    (['a'], [], {}, {'a': None}),                              # released by hand: nobody holds it
    (['a'], [], {'a': lock('other')}, {'a': public_lock(lock('other'))}),   # taken over
    (['a', 'b', 'a'], ['b'], {'a': lock('other', expired=True)}, {'a': public_lock(lock('other', expired=True))}),
])
def test_lost_locks(names, renewed, locks, lost):
    assert lost_locks(names, renewed, locks) == lost


def test_unlock_events_record_each_released_lock():
    events = unlock_events({'b': lock('job-2'), 'a': lock('job-1', expired=True)})
    assert events == [
        dict(deployment='a', action='unlock', details=public_lock(lock('job-1'))),
        dict(deployment='b', action='unlock', details=public_lock(lock('job-2'))),
    ]
    assert unlock_events({}) == []


def test_unique_keeps_the_first_order():
    assert unique(['b', 'a', 'b', 'c', 'a']) == ['b', 'a', 'c']


# --- revisions ------------------------------------------------------------------------------------

def rev(deployment, number, image='reg/app:1', env=None, digest=None, fingerprint=None, secrets=None):
    return dict(deployment=deployment, number=number, image=image, image_digest=digest, env=env or {},
                secret_names=secrets or [], env_fingerprint=fingerprint or 'fp-' + image, created_by='job-1')


@pytest.mark.parametrize('requests, newest, existing, inserted', [
    ([rev('a', 1)], {}, {}, [('a', 1)]),                                    # the first revision
    ([rev('a', 4)], {'a': 3}, {}, [('a', 4)]),
    ([rev('a', 4), rev('a', 5, 'reg/app:2')], {'a': 3}, {}, [('a', 4), ('a', 5)]),  # two in one call
    ([rev('a', 1), rev('b', 1)], {}, {}, [('a', 1), ('b', 1)]),
    ([rev('a', 3)], {'a': 3}, {('a', 3): rev('a', 3)}, []),                 # identical: no change
    ([rev('a', 2)], {'a': 3}, {('a', 2): rev('a', 2)}, []),                 # an older identical one too
    ([rev('a', 3, env={'X': 1})], {'a': 3}, {('a', 3): rev('a', 3, env={'X': '1'})}, []),  # values as strings
    ([rev('a', 3, secrets=['B', 'A'])], {'a': 3}, {('a', 3): rev('a', 3, secrets=['A', 'B'])}, []),
    ([rev('a', 1), rev('a', 1)], {}, {}, [('a', 1)]),                       # repeated in one call
])
def test_plan_revisions(requests, newest, existing, inserted):
    rows = plan_revisions(requests, newest, existing)
    assert [(r['deployment'], r['number']) for r in rows] == inserted
    for row in rows:
        assert set(row) == {'deployment', 'number', 'image', 'image_digest', 'env_fingerprint', 'env',
                            'secret_names', 'created_by'}


@pytest.mark.parametrize('requests, newest, existing, message', [
    ([rev('a', 2)], {}, {}, 'cannot record revision 2 of deployment a: its newest revision is 0, so the next one is 1'),
    ([rev('a', 5)], {'a': 3}, {}, 'its newest revision is 3, so the next one is 4'),
    ([rev('a', 4), rev('a', 4, 'reg/app:2')], {'a': 3}, {},
     'revision 4 of deployment a is already recorded with another image and env_fingerprint'),
    ([rev('a', 3, 'reg/app:2')], {'a': 3}, {('a', 3): rev('a', 3)}, 'record the new configuration as revision 4'),
    ([rev('a', 3, digest='sha256:1')], {'a': 3}, {('a', 3): rev('a', 3)}, 'another image_digest'),
    ([rev('a', 3, env={'X': '2'})], {'a': 3}, {('a', 3): rev('a', 3, env={'X': '1'})}, 'another env:'),
])
def test_plan_revisions_refuses(requests, newest, existing, message):
    with pytest.raises(StoreError, match=message):
        plan_revisions(requests, newest, existing)


# --- statuses -------------------------------------------------------------------------------------

def st(deployment, number, status, reason=None):
    return dict(deployment=deployment, number=number, status=status, reason=reason)


def row(status, reason=None):
    return dict(status=status, status_reason=reason)


def changes(updates):
    return [(u['deployment'], u['number'], u['status'], u['status_reason'], u['deployed_now']) for u in updates]


@pytest.mark.parametrize('requests, current, expected', [
    # the first deployed revision
    ([st('a', 1, 'deployed')], {('a', 1): row('created')}, [('a', 1, 'deployed', None, True)]),
    # a newer one supersedes the serving one (its reason stays)
    ([st('a', 2, 'deployed')], {('a', 1): row('deployed', 'ok'), ('a', 2): row('rolling_out')},
     [('a', 1, 'superseded', 'ok', False), ('a', 2, 'deployed', None, True)]),
    # a rollback: the newer serving one is rolled back
    ([st('a', 1, 'deployed')], {('a', 1): row('superseded'), ('a', 2): row('deployed')},
     [('a', 2, 'rolled_back', None, False), ('a', 1, 'deployed', None, True)]),
    # already so: no change; a reason omitted keeps the recorded one
    ([st('a', 1, 'deployed')], {('a', 1): row('deployed')}, []),
    ([st('a', 1, 'failed')], {('a', 1): row('failed', 'unhealthy')}, []),
    ([st('a', 1, 'failed', 'unhealthy')], {('a', 1): row('failed', 'unhealthy')}, []),
    ([st('a', 1, 'failed', 'pull error')], {('a', 1): row('failed', 'unhealthy')},
     [('a', 1, 'failed', 'pull error', False)]),
    # failing the roll-out leaves the serving revision alone
    ([st('a', 2, 'failed', 'not healthy')], {('a', 1): row('deployed'), ('a', 2): row('rolling_out')},
     [('a', 2, 'failed', 'not healthy', False)]),
    # in order: rolling_out then deployed is one change of that row
    ([st('a', 2, 'rolling_out'), st('a', 2, 'deployed')], {('a', 1): row('deployed'), ('a', 2): row('created')},
     [('a', 2, 'deployed', None, True), ('a', 1, 'superseded', None, False)]),
    # several deployments at once
    ([st('a', 1, 'rolling_out'), st('b', 3, 'deployed')], {('a', 1): row('created'), ('b', 3): row('created')},
     [('a', 1, 'rolling_out', None, False), ('b', 3, 'deployed', None, True)]),
])
def test_plan_statuses(requests, current, expected):
    assert changes(plan_statuses(requests, current)) == expected


@pytest.mark.parametrize('requests, current, message', [
    ([st('a', 9, 'deployed')], {('a', 1): row('deployed')}, 'deployment a has no revision 9'),
    ([st('a', 1, 'rolled_back')], {('a', 1): row('deployed')}, "status 'rolled_back' of revision 1 of deployment a"),
    ([st('a', 1, 'created')], {('a', 1): row('deployed')}, 'use one of rolling_out, deployed, failed, superseded'),
])
def test_plan_statuses_refuses(requests, current, message):
    with pytest.raises(StoreError, match=message):
        plan_statuses(requests, current)


def test_plan_statuses_does_not_change_its_input():
    current = {('a', 1): row('deployed'), ('a', 2): row('created')}
    plan_statuses([st('a', 2, 'deployed')], current)
    assert current == {('a', 1): row('deployed'), ('a', 2): row('created')}


# --- pins -----------------------------------------------------------------------------------------

def pin(deployment, postgres_host=None, redis_host=None, type=None):
    return dict(deployment=deployment, postgres_host=postgres_host, redis_host=redis_host, type=type)


def rec(postgres_host=None, redis_host=None, type=None):
    return dict(postgres_host=postgres_host, redis_host=redis_host, type=type)


@pytest.mark.parametrize('assignments, recorded, updates', [
    ([pin('a', 'pg1', 'redis1', 'production')], {},
     {'a': dict(postgres_host='pg1', redis_host='redis1', type='production')}),       # a new deployment
    ([pin('a', 'pg1', 'redis1')], {'a': rec()}, {'a': dict(postgres_host='pg1', redis_host='redis1')}),  # legacy row
    ([pin('a', 'pg1', 'redis1')], {'a': rec('pg1', 'redis1')}, {}),                  # the same again
    ([pin('a', 'pg1')], {'a': rec(None, 'redis2')}, {'a': dict(postgres_host='pg1')}),
    ([pin('a')], {'a': rec('pg1', 'redis1')}, {}),                                  # omitted: left alone
    ([pin('a', type='production')], {'a': rec('pg1', 'redis1', 'development')}, {'a': dict(type='production')}),
    ([pin('a', 'pg1'), pin('a', 'pg1')], {}, {'a': dict(postgres_host='pg1')}),
    ([pin('a', 'pg1'), pin('b', 'pg2')], {}, {'a': dict(postgres_host='pg1'), 'b': dict(postgres_host='pg2')}),
])
def test_plan_assignments(assignments, recorded, updates):
    assert plan_assignments(assignments, recorded) == updates


@pytest.mark.parametrize('assignments, recorded, message', [
    ([pin('a', 'pg2')], {'a': rec('pg1')}, 'deployment a is pinned to Postgres host pg1 .* cannot move to pg2'),
    ([pin('a', None, 'redis2')], {'a': rec('pg1', 'redis1')}, 'pinned to Redis host redis1'),
    ([pin('a', 'pg1'), pin('a', 'pg2')], {}, 'pinned to Postgres host pg1'),        # within one call too
])
def test_a_pin_never_changes(assignments, recorded, message):
    with pytest.raises(StoreError, match=message):
        plan_assignments(assignments, recorded)


@pytest.mark.parametrize('fields, text', [
    (dict(postgres_host='pg1', redis_host='redis1'), 'pin a to Postgres host pg1 and Redis host redis1'),
    (dict(redis_host='redis1', type='production'), 'pin a to Redis host redis1, type production'),
    (dict(type='development'), 'set the type of a to development'),
])
def test_describe_assignment(fields, text):
    assert describe_assignment('a', fields) == text


# --- scale events ---------------------------------------------------------------------------------

@pytest.mark.parametrize('requests, recorded, updates', [
    ([dict(deployment='a', decision_id=7, applied=3)], {7: dict(deployment='a', applied=None)},
     [dict(deployment='a', decision_id=7, applied=3)]),
    ([dict(deployment='a', decision_id=7, applied=3)], {7: dict(deployment='a', applied=3)}, []),
    ([dict(deployment='a', decision_id=7, applied=0)], {7: dict(deployment='a', applied=None)},
     [dict(deployment='a', decision_id=7, applied=0)]),
])
def test_plan_applied(requests, recorded, updates):
    assert plan_applied(requests, recorded) == updates


@pytest.mark.parametrize('recorded', [{}, {7: dict(deployment='b', applied=None)}])
def test_plan_applied_refuses_a_decision_of_another_deployment(recorded):
    with pytest.raises(StoreError, match='deployment a has no scale decision 7'):
        plan_applied([dict(deployment='a', decision_id=7, applied=1)], recorded)


@pytest.mark.parametrize('event, message', [
    (dict(deployment='a', desired=-1, reason='x'), 'desired must be 0 or more'),
    (dict(deployment='a', desired=1, reason=''), 'give the reason'),
])
def test_check_scale_events(event, message):
    with pytest.raises(StoreError, match=message):
        check_scale_events([event])
    check_scale_events([dict(deployment='a', desired=0, reason='idle')])


# --- desired replicas, hosts and the audit trail ------------------------------------------------------

def want(deployment, replicas):
    return dict(deployment=deployment, replicas=replicas)


@pytest.mark.parametrize('requests, recorded, updates', [
    ([], {}, {}),
    ([want('a', 2)], {}, {'a': 2}),                                   # not recorded yet
    ([want('a', 2)], {'a': dict(replicas=None)}, {'a': 2}),           # recorded before version 5
    ([want('a', 2)], {'a': dict(replicas=2)}, {}),                    # the same: no change
    ([want('a', 0)], {'a': dict(replicas=3)}, {'a': 0}),              # scaled to zero
    ([want('a', 1), want('a', 3)], {'a': dict(replicas=3)}, {}),      # the last entry counts
    ([want('a', 1), want('b', 4)], {'a': dict(replicas=1)}, {'b': 4}),
])
def test_plan_replicas(requests, recorded, updates):
    assert plan_replicas(requests, recorded) == updates


def test_plan_replicas_refuses_a_negative_count():
    with pytest.raises(StoreError, match='replicas of deployment a: the desired count must be 0 or more, not -1'):
        plan_replicas([want('a', -1)], {})


def host(name, up, problem=None):
    return dict(name=name, up=up, problem=problem)


def seen(down_since=None, problem=None):
    return dict(last_seen='2026-11-30T10:00:00+00:00', down_since=down_since, problem=problem)


@pytest.mark.parametrize('requests, recorded, rows, changes', [
    ([], {}, [], []),
    ([host('app1', True)], {}, [host('app1', True)], ['record host app1 up']),
    ([host('app1', True)], {'app1': seen()}, [host('app1', True)], []),            # last_seen moves: bookkeeping
    ([host('app1', True, 'ignored')], {'app1': seen()}, [host('app1', True)], []),  # an up host has no problem
    ([host('app2', False, 'unreachable')], {'app2': seen()}, [host('app2', False, 'unreachable')],
     ['record host app2 down: unreachable']),
    ([host('app2', False, 'unreachable')], {}, [host('app2', False, 'unreachable')],
     ['record host app2 down: unreachable']),                                      # never seen up
    ([host('app2', False, 'unreachable')], {'app2': seen('2026-11-30T10:01:00+00:00', 'unreachable')},
     [host('app2', False, 'unreachable')], []),                                    # still down, same problem
    ([host('app2', False, 'docker down')], {'app2': seen('2026-11-30T10:01:00+00:00', 'unreachable')},
     [host('app2', False, 'docker down')], ['record host app2 still down: docker down']),
    ([host('app2', True)], {'app2': seen('2026-11-30T10:01:00+00:00', 'unreachable')}, [host('app2', True)],
     ['record host app2 up again (down since 2026-11-30T10:01:00+00:00)']),
    ([host('b', True), host('a', False), host('b', False)], {'a': seen(), 'b': seen()},   # one row a name, last wins
     [host('a', False), host('b', False)], ['record host a down', 'record host b down']),
])
def test_plan_hosts(requests, recorded, rows, changes):
    assert plan_hosts(requests, recorded) == (rows, changes)


@pytest.mark.parametrize('hosts', [[host('', True)], [host('  ', False)]])
def test_check_hosts_needs_a_name(hosts):
    with pytest.raises(StoreError, match='inventory name of the host'):
        check_hosts(hosts)


@pytest.mark.parametrize('events, holder, message', [
    ([dict(deployment='a', action='deploy', details={})], None, 'holder is required with audit'),
    ([dict(deployment='a', action='', details={})], 'job-1', 'every event needs an action'),
    ([dict(deployment=None, action=' ', details={})], 'job-1', 'every event needs an action'),
])
def test_check_audit_refuses(events, holder, message):
    with pytest.raises(StoreError, match=message):
        check_audit(events, holder)


def test_check_audit_accepts():
    check_audit([], None)
    check_audit([dict(deployment=None, action='reconcile', details={})], 'job-1')


@pytest.mark.parametrize('event, text', [
    (dict(deployment='a', action='deploy'), 'record deploy in the audit trail of a'),
    (dict(deployment=None, action='reconcile'), 'record reconcile in the audit trail'),
])
def test_describe_audit(event, text):
    assert describe_audit(event) == text


# --- reading --------------------------------------------------------------------------------------

def test_an_unknown_deployment_reads_empty():
    assert deployment_view('a', None, None, None, None, None) == dict(
        type=None, postgres_host=None, redis_host=None, database=None, redis_db=None, redis_instance=None,
        revisions=[], serving=None, scale=None, replicas=None, taken_over=None)


def test_a_taken_over_lease_is_shown_without_the_computed_flag():
    view = deployment_view('a', dict(replicas=3), None, None, None, None, lock('dead', expired=True))
    assert view['replicas'] == 3
    assert view['taken_over'] == dict(holder='dead', purpose='deploy', since='2026-11-30T10:00:00+00:00',
                                      expires_at='2026-11-30T11:00:00+00:00')


def test_view_of_a_recorded_deployment():
    view = deployment_view('a', dict(type='production', postgres_host='pg1', redis_host='redis1',
                                     postgres_database='lg_a'),
                           [dict(number=2, status='created'), dict(number=1, status='deployed')], 1,
                           dict(redis_instance='10.0.0.5:6379', db_number=3), None)
    assert (view['database'], view['redis_db'], view['serving'], len(view['revisions'])) == ('lg_a', 3, 1, 2)
