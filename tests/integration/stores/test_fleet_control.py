# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""control_state and deployment_stores (the control-database side of the fleet
control loop) against the real Postgres and Redis, through ansible-playbook.

Timings are printed (run with -s to see them).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import atexit
import datetime
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid

import psycopg2
import pytest

from conftest import LAB_INVENTORY, PG_PREFIX, PREFIX, REPO, _SNAPSHOT, _lab_target, _local_target, assert_hidden


def pg_name(name):
    return 'lg_' + name.replace('-', '_')


def new_holder():
    return 'it-cs-job-' + uuid.uuid4().hex[:8]


def control(target, step, check=False, no_log=False, **args):
    return target.module('control_state', dict(target.pg_args(), step=step, **args), check=check, no_log=no_log)


def timed_control(target, step, **args):
    started = time.time()
    result = control(target, step, **args)
    return result, time.time() - started


def revision(name, number, image='172.30.213.5:5000/langgraph-demo:v1', **extra):
    entry = dict(deployment=name, number=number, image=image, image_digest='sha256:%064d' % number,
                 env={'LOG_LEVEL': 'INFO', 'N': number}, secret_names=['LANGSMITH_API_KEY'],
                 env_fingerprint='fp-%s-%d' % (image, number), created_by='it-cs-test')
    entry.update(extra)
    return entry


def lock_rows(target, names):
    return dict((row[0], row[1:]) for row in target.query(
        'SELECT deployment, holder, purpose FROM deploy_locks WHERE deployment = ANY(%s)', (names,)))


def report(what, seconds):
    sys.stdout.write('\n[timing] %s: %.3f s\n' % (what, seconds))


# --- control_state ------------------------------------------------------------------------------

def test_begin_prepare_finish_round_trip(target, names):
    deployments = names(3)
    holder = new_holder()
    begun = control(target, 'begin', deployments=deployments, holder=holder, purpose='deploy')
    assert not begun.get('failed'), begun.get('msg')
    assert begun['locked'] == sorted(deployments) and begun['busy'] == {} and begun['changed']
    assert abs(begun['now'] - time.time()) < 60
    assert begun['schema']['version'] == begun['schema']['latest_version'] >= 4
    for name in deployments:
        assert begun['deployments'][name] == dict(type=None, postgres_host=None, redis_host=None, database=None,
                                                  redis_db=None, redis_instance=None, revisions=[], serving=None,
                                                  scale=None, replicas=None, taken_over=None)
    assert isinstance(begun['hosts'], dict)
    assert lock_rows(target, deployments) == dict((n, (holder, 'deploy')) for n in deployments)
    again = control(target, 'begin', deployments=deployments, holder=holder)
    assert not again['changed'] and again['locked'] == sorted(deployments)  # renewed, not taken again

    first, second, third = deployments
    prepared = control(target, 'prepare', holder=holder, assignments=[
        dict(deployment=n, type='production', postgres_host='it-cs-pg', redis_host='it-cs-redis') for n in deployments
    ], revisions=[revision(n, 1) for n in deployments], statuses=[
        dict(deployment=n, number=1, status='rolling_out') for n in deployments
    ], scale_events=[dict(deployment=third, inputs=dict(sessions=25), current=1, desired=3, reason='25 sessions',
                          low_since=None, scale_down_at=None)])
    assert not prepared.get('failed'), prepared.get('msg')
    assert prepared['changed'] and len(prepared['recorded_revisions']) == 3
    decision = prepared['scale_event_ids'][third]
    assert 'pin %s to Postgres host it-cs-pg and Redis host it-cs-redis, type production' % first \
        in prepared['actions']
    same = control(target, 'prepare', holder=holder, assignments=[
        dict(deployment=n, postgres_host='it-cs-pg') for n in deployments
    ], revisions=[revision(n, 1) for n in deployments], statuses=[
        dict(deployment=n, number=1, status='rolling_out') for n in deployments])
    assert not same['changed'] and same['actions'] == []

    finished = control(target, 'finish', holder=holder, statuses=[
        dict(deployment=first, number=1, status='deployed'), dict(deployment=second, number=1, status='deployed'),
        dict(deployment=third, number=1, status='failed', reason='not healthy')
    ], applied=[dict(deployment=third, decision_id=decision, applied=3)])
    assert not finished.get('failed'), finished.get('msg')
    assert finished['released'] == sorted(deployments) and finished['not_recorded'] == {}
    assert lock_rows(target, deployments) == {}
    again = control(target, 'finish', holder=holder, statuses=[dict(deployment=first, number=1, status='deployed')],
                    applied=[dict(deployment=third, decision_id=decision, applied=3)])
    assert not again['changed'] and again['released'] == []

    read = control(target, 'begin', deployments=deployments + [PREFIX + 'unknown'], lock=False)
    assert read['locked'] == [] and not read['changed']
    one = read['deployments'][first]
    assert (one['type'], one['postgres_host'], one['redis_host'], one['serving']) == \
        ('production', 'it-cs-pg', 'it-cs-redis', 1)
    assert one['revisions'][0]['env'] == {'LOG_LEVEL': 'INFO', 'N': '1'}
    assert one['revisions'][0]['secret_names'] == ['LANGSMITH_API_KEY']
    assert one['revisions'][0]['deployed_at'] is not None
    failed = read['deployments'][third]
    assert failed['serving'] is None and failed['revisions'][0]['status_reason'] == 'not healthy'
    assert failed['scale']['id'] == decision and failed['scale']['applied'] == 3
    assert isinstance(failed['scale']['decided_at'], float)
    assert read['deployments'][PREFIX + 'unknown']['revisions'] == []
    assert read['placement_counts']['postgres']['it-cs-pg'] >= 3

    # Next run: revision 2 supersedes 1; then a rollback to 1 marks 2 rolled back.
    holder = new_holder()
    control(target, 'begin', deployments=[first], holder=holder)
    control(target, 'prepare', holder=holder, revisions=[revision(first, 2, image='x/y:2')])
    control(target, 'finish', holder=holder, statuses=[dict(deployment=first, number=2, status='deployed')])
    statuses = dict(target.query('SELECT number, status FROM revisions WHERE deployment = %s', (first,)))
    assert statuses == {1: 'superseded', 2: 'deployed'}
    control(target, 'begin', deployments=[first], holder=holder)
    control(target, 'finish', holder=holder, statuses=[dict(deployment=first, number=1, status='deployed')])
    statuses = dict(target.query('SELECT number, status FROM revisions WHERE deployment = %s', (first,)))
    assert statuses == {1: 'deployed', 2: 'rolled_back'}
    history = control(target, 'begin', deployments=[first], lock=False, history=1)['deployments'][first]
    assert [r['number'] for r in history['revisions']] == [2] and history['serving'] == 1


def test_busy_locks_wait_and_are_taken_over_after_expiry(target, names):
    deployments = names(3)
    mine, theirs = new_holder(), new_holder()
    ttl = 15  # long enough for the calls below (a few seconds each through ansible-playbook)
    started = time.time()
    taken = control(target, 'begin', deployments=deployments[:2], holder=theirs, purpose='autoscale', lock_ttl=ttl)
    assert taken['locked'] == sorted(deployments[:2])
    asked = time.time()
    busy = control(target, 'begin', deployments=deployments, holder=mine, lock_wait=1)
    waited = time.time() - asked
    assert busy['locked'] == [deployments[2]]           # the free one is taken: the run goes on with it
    assert sorted(busy['busy']) == sorted(deployments[:2])
    assert busy['busy'][deployments[0]]['holder'] == theirs and busy['busy'][deployments[0]]['purpose'] == 'autoscale'
    assert set(busy['busy'][deployments[0]]) == {'holder', 'purpose', 'since', 'expires_at'}
    assert waited >= 1
    # Recording for a deployment another job holds is refused.
    refused = control(target, 'prepare', holder=mine, revisions=[revision(deployments[0], 1)])
    assert refused['failed'] and 'locked by %s' % theirs in refused['msg']
    assert not target.query('SELECT 1 FROM revisions WHERE deployment = %s', (deployments[0],))
    # A status run sees them as busy without taking anything.
    status = control(target, 'begin', deployments=deployments, lock=False)
    assert sorted(status['busy']) == sorted(deployments) and status['locked'] == []

    time.sleep(max(0, ttl + 0.5 - (time.time() - started)))   # their lease has expired
    over = control(target, 'begin', deployments=deployments, holder=mine)
    assert over['locked'] == sorted(deployments) and over['busy'] == {}
    assert any('taken over from %s' % theirs in a for a in over['actions'])
    assert over['deployments'][deployments[0]]['taken_over']['holder'] == theirs
    assert over['deployments'][deployments[2]]['taken_over'] is None   # it was ours already
    assert lock_rows(target, deployments) == dict((n, (mine, 'deploy')) for n in deployments)
    # The job whose lease expired ends: it records nothing for what it lost, releases nothing of ours.
    late = control(target, 'finish', holder=theirs, statuses=[])
    assert late['released'] == [] and not late['changed']
    control(target, 'prepare', holder=mine, revisions=[revision(deployments[0], 1)])
    lost = target.module('control_state', dict(target.pg_args(), step='finish', holder=theirs, statuses=[
        dict(deployment=deployments[0], number=1, status='failed', reason='lost')]))
    assert lost['not_recorded'] == {deployments[0]: lost['not_recorded'][deployments[0]]}
    assert lost['not_recorded'][deployments[0]]['holder'] == mine and not lost['changed']
    assert target.query('SELECT status FROM revisions WHERE deployment = %s', (deployments[0],)) == [('created',)]
    done = control(target, 'finish', holder=mine)
    assert done['released'] == sorted(deployments)


def test_begin_50_deployments_in_one_call(target, names):
    deployments = names(50)
    holder = new_holder()
    begun, seconds = timed_control(target, 'begin', deployments=deployments, holder=holder)
    report('control_state begin, 50 new deployments, lock (whole ansible-playbook run)', seconds)
    assert begun['locked'] == sorted(deployments)
    prepared = control(target, 'prepare', holder=holder, revisions=[revision(n, 1) for n in deployments],
                       assignments=[dict(deployment=n, postgres_host='it-cs-pg', redis_host='it-cs-redis')
                                    for n in deployments])
    assert len(prepared['recorded_revisions']) == 50
    again, seconds = timed_control(target, 'begin', deployments=deployments, holder=holder)
    report('control_state begin, 50 deployments with history, lock renewed', seconds)
    assert all(len(again['deployments'][n]['revisions']) == 1 for n in deployments)
    finished = control(target, 'finish', holder=holder, statuses=[
        dict(deployment=n, number=1, status='deployed') for n in deployments])
    assert finished['released'] == sorted(deployments) and len(finished['actions']) == 100


def test_begin_500_deployments_made_with_sql(target):
    """500 recorded deployments with 12 revisions and 3 scale decisions each."""
    prefix = PREFIX + 'bench-'
    deployments = ['%s%03d' % (prefix, i) for i in range(500)]
    target.query("INSERT INTO deployments (name, type, postgres_database, postgres_role, postgres_host, redis_host) "
                 "SELECT d, 'production', 'lg_' || replace(d, '-', '_'), 'lg_' || replace(d, '-', '_'), "
                 "'it-cs-pg', 'it-cs-redis' FROM unnest(%s::text[]) AS d", (deployments,))
    try:
        target.query("INSERT INTO redis_allocations (redis_instance, db_number, deployment) "
                     "SELECT 'it-cs-bench:0', n, d FROM unnest(%s::text[]) WITH ORDINALITY AS t(d, n)", (deployments,))
        target.query("INSERT INTO revisions (deployment, number, image, env_fingerprint, env, status) "
                     "SELECT d, n, 'reg/app:' || n, 'fp' || n, '{\"LOG_LEVEL\": \"INFO\"}'::jsonb, "
                     "CASE WHEN n = 12 THEN 'deployed' ELSE 'superseded' END "
                     "FROM unnest(%s::text[]) AS d, generate_series(1, 12) AS n", (deployments,))
        target.query("INSERT INTO scale_events (deployment, inputs, desired, reason, decided_at) "
                     "SELECT d, '{}'::jsonb, n, 'bench', now() - n * interval '1 minute' "
                     "FROM unnest(%s::text[]) AS d, generate_series(1, 3) AS n", (deployments,))
        holder = new_holder()
        empty, baseline = timed_control(target, 'begin', deployments=[], holder=holder)
        report('control_state begin, no deployment (the cost of one ansible-playbook run)', baseline)
        begun, seconds = timed_control(target, 'begin', deployments=deployments, holder=holder)
        report('control_state begin, 500 recorded deployments, lock + history 10', seconds)
        assert begun['locked'] == deployments and begun['busy'] == {}
        one = begun['deployments'][deployments[7]]
        assert len(one['revisions']) == 10 and one['revisions'][0]['number'] == 12 and one['serving'] == 12
        assert one['scale']['desired'] == 1 and one['redis_db'] == 8
        assert begun['placement_counts']['postgres']['it-cs-pg'] >= 500
        read, seconds = timed_control(target, 'begin', deployments=deployments, lock=False)
        report('control_state begin, 500 recorded deployments, read only', seconds)
        finished, seconds = timed_control(target, 'finish', holder=holder)
        report('control_state finish, releasing 500 locks', seconds)
        assert len(finished['released']) == 500
        # The same from Python on the test host, without Ansible around it.
        inner = module_utils_timing(target, deployments)
        report('control_steps.begin in Python (500, lock + read, no Ansible)', inner)
    finally:
        target.forget(prefix + '%')
    assert not target.query('SELECT 1 FROM deployments WHERE name LIKE %s', (prefix + '%',))


_TREE = []


def collection_tree():
    """This checkout importable as ansible_collections.selfhost.langgraph (one
    symlink tree per test run, removed at its end)."""
    if not _TREE:
        tree = tempfile.mkdtemp(prefix='it-cs-tree-')
        os.makedirs(os.path.join(tree, 'ansible_collections', 'selfhost'))
        os.symlink(REPO, os.path.join(tree, 'ansible_collections', 'selfhost', 'langgraph'))
        sys.path.insert(0, tree)
        atexit.register(shutil.rmtree, tree, True)
        _TREE.append(tree)
    return _TREE[0]


def module_utils_timing(target, deployments):
    collection_tree()
    from ansible_collections.selfhost.langgraph.plugins.module_utils import control_steps
    conn = target.pg('langgraph_control')
    conn.autocommit = False
    holder = new_holder()
    try:
        started = time.time()
        result = control_steps.begin(conn, deployments, holder)
        seconds = time.time() - started
        assert len(result['locked']) == len(deployments)
        control_steps.finish(conn, holder)
    finally:
        conn.close()
    return seconds


def test_revision_numbers_are_checked(target, names):
    name, other = names(2)
    holder = new_holder()
    control(target, 'begin', deployments=[name, other], holder=holder)
    control(target, 'prepare', holder=holder, revisions=[revision(name, 1), revision(name, 2, image='x/y:2')])
    skipped = control(target, 'prepare', holder=holder, revisions=[revision(name, 4)])
    assert skipped['failed'] and skipped['msg'] == (
        'cannot record revision 4 of deployment %s: its newest revision is 2, so the next one is 3 (another job '
        'may have recorded one meanwhile: read the history again with step=begin)' % name)
    changed = control(target, 'prepare', holder=holder, revisions=[revision(name, 2, image='x/y:3')])
    assert changed['failed'] and 'revision 2 of deployment %s is already recorded with another image' % name \
        in changed['msg'] and 'record the new configuration as revision 3' in changed['msg']
    # One transaction: a refused item leaves the call's valid ones unrecorded too.
    mixed = control(target, 'prepare', holder=holder, revisions=[revision(other, 1), revision(name, 9)],
                    assignments=[dict(deployment=other, postgres_host='it-cs-pg')])
    assert mixed['failed']
    assert not target.query('SELECT 1 FROM revisions WHERE deployment = %s', (other,))
    assert target.query('SELECT postgres_host FROM deployments WHERE name = %s', (other,)) == [(None,)]
    unknown = control(target, 'finish', holder=holder, statuses=[dict(deployment=name, number=7, status='deployed')])
    assert unknown['failed'] and 'has no revision 7' in unknown['msg']
    assert lock_rows(target, [name]), 'a refused finish changes nothing, the locks stay'
    control(target, 'finish', holder=holder)


def test_a_pin_never_changes(target, names):
    name = names(1)[0]
    holder = new_holder()
    control(target, 'begin', deployments=[name], holder=holder)
    pins = dict(deployment=name, postgres_host='it-cs-pg', redis_host='it-cs-redis')
    control(target, 'prepare', holder=holder, assignments=[pins])
    moved = control(target, 'prepare', holder=holder, assignments=[dict(deployment=name, postgres_host='it-cs-pg2')])
    assert moved['failed'] and moved['msg'].startswith(
        'deployment %s is pinned to Postgres host it-cs-pg (its data lives there) and cannot move to it-cs-pg2' % name)
    same = control(target, 'prepare', holder=holder, assignments=[dict(deployment=name, postgres_host='it-cs-pg',
                                                                       type='development')])
    assert same['changed'] and same['actions'] == ['set the type of %s to development' % name]
    assert target.query('SELECT postgres_host, redis_host, type FROM deployments WHERE name = %s', (name,)) == [
        ('it-cs-pg', 'it-cs-redis', 'development')]
    control(target, 'finish', holder=holder)


def test_check_mode_changes_nothing(target, names):
    name = names(1)[0]
    holder = new_holder()
    begun = control(target, 'begin', check=True, deployments=[name], holder=holder)
    assert begun['locked'] == [name] and begun['changed'] and not lock_rows(target, [name])
    assert not target.query('SELECT 1 FROM deployments WHERE name = %s', (name,))
    prepared = control(target, 'prepare', check=True, holder=holder, revisions=[revision(name, 1)],
                       statuses=[dict(deployment=name, number=1, status='rolling_out')],
                       assignments=[dict(deployment=name, postgres_host='it-cs-pg')],
                       scale_events=[dict(deployment=name, desired=1, reason='check')])
    assert prepared['changed'] and prepared['scale_event_ids'] == {}
    assert 'record revision 1 of %s (172.30.213.5:5000/langgraph-demo:v1)' % name in prepared['actions']
    assert not target.query('SELECT 1 FROM deployments WHERE name = %s', (name,))
    wrong = control(target, 'prepare', check=True, revisions=[revision(name, 2)])
    assert wrong['failed'] and 'the next one is 1' in wrong['msg']   # check mode refuses what the run would
    control(target, 'begin', deployments=[name], holder=holder)
    finished = control(target, 'finish', check=True, holder=holder)
    assert finished['released'] == [name] and finished['changed'] and lock_rows(target, [name])
    control(target, 'finish', holder=holder)


@pytest.fixture
def behind(target):
    """A control database of this test at schema version 3 (as before the fleet
    control loop), with one recorded deployment."""
    collection_tree()
    from ansible_collections.selfhost.langgraph.plugins.module_utils.control_schema import MIGRATIONS, migrate
    database = PG_PREFIX + 'control_v3_' + uuid.uuid4().hex[:6]
    admin = target.pg()
    admin.cursor().execute('CREATE DATABASE "%s"' % database)
    admin.close()
    conn = target.pg(database)
    conn.autocommit = False
    migrate(conn, migrations=MIGRATIONS[:3])
    with conn:
        conn.cursor().execute("INSERT INTO deployments (name, type, postgres_database, postgres_role) "
                              "VALUES ('it-cs-old', 'production', 'lg_it_cs_old', 'lg_it_cs_old')")
        conn.cursor().execute("INSERT INTO revisions (deployment, number, image, env_fingerprint, status) "
                              "VALUES ('it-cs-old', 1, 'reg/app:1', 'fp', 'deployed')")
    conn.close()
    yield database
    admin = target.pg()
    admin.cursor().execute('DROP DATABASE "%s" WITH (FORCE)' % database)
    admin.close()


def test_check_mode_reads_a_schema_that_is_behind(target, behind):
    args = dict(control_database=behind)
    begun = control(target, 'begin', check=True, deployments=['it-cs-old', 'it-cs-new'], holder=new_holder(), **args)
    assert not begun.get('failed'), begun.get('msg')
    assert begun['schema']['version'] == 3 and begun['schema']['migrated'][-1]['version'] >= 4
    old = begun['deployments']['it-cs-old']
    assert (old['type'], old['database'], old['postgres_host'], old['serving']) == ('production', 'lg_it_cs_old',
                                                                                    None, 1)
    assert old['revisions'][0]['env'] == {}
    prepared = control(target, 'prepare', check=True, revisions=[revision('it-cs-old', 2)],
                       assignments=[dict(deployment='it-cs-old', postgres_host=target.pg_host)], **args)
    assert not prepared.get('failed'), prepared.get('msg')
    stores = target.module('deployment_stores', dict(
        target.pg_args(), control_database=behind, password_seed='seed',
        deployments=[dict(name='it-cs-old', postgres_host=target.pg_host, redis_host=target.redis_host)],
        postgres_servers=[target.postgres_server()], redis_servers=[target.redis_server()]), check=True)
    assert not stores.get('failed'), stores.get('msg')
    version = target.query('SELECT max(version) FROM schema_version', database=behind)
    assert version == [(3,)], 'check mode migrated nothing'


# --- deployment_stores --------------------------------------------------------------------------

def stores_args(target, entries, **extra):
    args = dict(target.pg_args(), deployments=entries, password_seed='it-cs-seed-@:/%#?&-\u00e4',
                postgres_servers=[target.postgres_server(),
                                  target.postgres_server('it-cs-pg-net', login_host=None)],
                redis_servers=[target.redis_server()])
    args.update(extra)
    return args


def test_stores_of_5_deployments_in_one_call(target, names):
    deployments = names(5)
    # Three on the Postgres host itself (admin over loopback), two on the same
    # server known by another host name, whose admin logs in over the network.
    entries = [dict(name=n, type='production', postgres_host=target.pg_host if i < 3 else 'it-cs-pg-net',
                    redis_host=target.redis_host) for i, n in enumerate(deployments)]
    entries[0]['postgres_password'] = 'own-pw-@:/%#?&-\u00e4'
    predicted = target.module('deployment_stores', stores_args(target, entries), check=True, no_log=True)
    assert not predicted.get('failed') and predicted['failures'] == {}, predicted
    assert not target.query('SELECT 1 FROM pg_roles WHERE rolname = %s', (pg_name(deployments[0]),), database='postgres')
    started = time.time()
    made = target.module('deployment_stores', stores_args(target, entries), no_log=True)
    report('deployment_stores, 5 new deployments (whole ansible-playbook run)', time.time() - started)
    assert not made.get('failed') and made['failures'] == {} and made['changed'], made
    assert sorted(made['uris']) == sorted(deployments)
    numbers = [made['stores'][n]['redis_db'] for n in deployments]
    assert len(set(numbers)) == 5 and 0 not in numbers
    assert numbers == [predicted['stores'][n]['redis_db'] for n in deployments]  # check mode predicted them
    for name in deployments:
        store = made['stores'][name]
        assert store['database'] == pg_name(name) and store['recorded']
        assert store['database_uri_masked'].startswith('postgresql://%s:********@%s:' % (pg_name(name),
                                                                                         target.pg_address))
        assert '********' in store['redis_uri_masked']
    # Each role logs in to its own database with the URI as given, and never to another's.
    for name in deployments:
        psycopg2.connect(made['uris'][name]['database_uri']).close()
    first, second = deployments[0], deployments[3]
    with pytest.raises(psycopg2.OperationalError, match='permission denied for database'):
        psycopg2.connect(made['uris'][first]['database_uri'].rsplit('/', 1)[0] + '/' + pg_name(second))
    with pytest.raises(psycopg2.OperationalError, match='permission denied for database'):
        psycopg2.connect(made['uris'][second]['database_uri'].rsplit('/', 1)[0] + '/' + pg_name(first))
    client = __import__('redis').Redis.from_url(made['uris'][first]['redis_uri'])
    client.set('it-cs-key', '1')
    assert target.redis(numbers[0]).get('it-cs-key') == b'1'
    recorded = target.query('SELECT name, postgres_database, postgres_host, redis_host FROM deployments '
                            'WHERE name = ANY(%s) ORDER BY name', (deployments,))
    assert recorded == sorted((e['name'], pg_name(e['name']), e['postgres_host'], e['redis_host']) for e in entries)
    allocations = dict(target.query('SELECT deployment, db_number FROM redis_allocations WHERE redis_instance = %s '
                                    'AND deployment = ANY(%s)', (target.instance, deployments)))
    assert allocations == dict(zip(deployments, numbers))

    started = time.time()
    again = target.module('deployment_stores', stores_args(target, entries), no_log=True)
    report('deployment_stores, the same 5 again (no change; 5 role logins to verify passwords)', time.time() - started)
    assert not again['changed'] and again['actions'] == [] and again['uris'] == made['uris']
    # A deployment asked to move fails alone; the others are fine.
    moved = [dict(e) for e in entries]
    moved[1]['postgres_host'] = 'it-cs-pg-net'
    partly = target.module('deployment_stores', stores_args(target, moved))
    assert not partly['changed'] and list(partly['failures']) == [deployments[1]]
    assert 'pinned to Postgres host %s' % target.pg_host in partly['failures'][deployments[1]]
    assert 'uris' not in partly and len(partly['stores']) == 4

    # Purge: refused without purge: true, then everything goes, and again is no change.
    gone = [dict(name=n, state='absent') for n in deployments]
    refused = target.module('deployment_stores', stores_args(target, gone))
    assert refused['failed'] and 'set purge: true' in refused['msg']
    for entry in gone:
        entry['purge'] = True
    predicted = target.module('deployment_stores', stores_args(target, gone), check=True)
    assert predicted['changed'] and target.query('SELECT 1 FROM pg_database WHERE datname = %s',
                                                 (pg_name(first),), database='postgres')
    purged = target.module('deployment_stores', stores_args(target, gone))
    assert purged['changed'] and purged['failures'] == {}, purged
    assert not target.query('SELECT 1 FROM pg_database WHERE datname = ANY(%s)',
                            ([pg_name(n) for n in deployments],), database='postgres')
    assert not target.query('SELECT 1 FROM pg_roles WHERE rolname = ANY(%s)',
                            ([pg_name(n) for n in deployments],), database='postgres')
    assert target.redis(numbers[0]).dbsize() == 0
    assert not target.query('SELECT 1 FROM redis_allocations WHERE deployment = ANY(%s)', (deployments,))
    assert target.query('SELECT DISTINCT postgres_database, postgres_host, redis_host FROM deployments '
                        'WHERE name = ANY(%s)', (deployments,)) == [(None, None, None)]
    again = target.module('deployment_stores', stores_args(target, gone))
    assert not again['changed'] and again['failures'] == {}


def test_stores_failures_are_per_deployment(target, names):
    good, bad = names(2)
    broken = dict(target.postgres_server('it-cs-pg-down', login_host=None), port=1)
    entries = [dict(name=good, postgres_host=target.pg_host, redis_host=target.redis_host),
               dict(name=bad, postgres_host='it-cs-pg-down', redis_host=target.redis_host)]
    result = target.module('deployment_stores', stores_args(
        target, entries, postgres_servers=[target.postgres_server(), broken]))
    assert not result.get('msg') and list(result['stores']) == [good]
    assert 'cannot connect to Postgres' in result['failures'][bad]
    assert not target.query('SELECT 1 FROM redis_allocations WHERE deployment = %s', (bad,))
    # Bad input fails the task before anything is touched.
    for entries, message in (
            ([dict(name='Bad_Name')], 'invalid deployment name'),
            ([dict(name=names(1)[0], postgres_host='it-cs-nowhere', redis_host=target.redis_host)],
             'which postgres_servers does not list'),
    ):
        refused = target.module('deployment_stores', stores_args(target, entries))
        assert refused['failed'] and message in refused['msg'], refused['msg']


def test_no_password_in_vvv_output(target, names):
    name = names(1)[0]
    entries = [dict(name=name, postgres_host=target.pg_host, redis_host=target.redis_host,
                    postgres_password='vvv-Secret-@:/%#?&-\u00e4-' + name)]
    outputs = []
    for no_log in (False, True):
        for check in (True, False):
            result, output = target.module_output('deployment_stores', stores_args(target, entries), check=check,
                                                  no_log=no_log, verbosity=3)
            assert not result.get('msg'), output
            outputs.append(output)
    whole = '\n'.join(outputs)
    assert 'database_uri_masked' in whole
    assert_hidden(whole, [entries[0]['postgres_password'], target.admin_password, target.redis_password,
                          'it-cs-seed-@:/%#?&-\u00e4'])


# --- leases, unlock, desired replicas, hosts and the audit trail (schema version 5) ----------------
#
# These run against a private control database on the same Postgres server
# (lg_it_cs5_control_<tag>, dropped at the end), so that they neither migrate
# nor write the shared langgraph_control while other runs use it. Deployment
# and host names start with it-cs5-.

CS5 = 'it-cs5-'
CS5_PG = 'lg_it_cs5_'


@pytest.fixture(scope='session')
def cs5():
    """A target whose control_state calls use a private control database."""
    default = 'lab' if os.path.exists(os.path.join(LAB_INVENTORY, 'hosts.yml')) else 'local'
    tgt, stop = (_lab_target if os.environ.get('STORES_TARGET', default) == 'lab' else _local_target)()
    tgt.control_database = CS5_PG + 'control_' + uuid.uuid4().hex[:6]
    try:
        made = tgt.module('control_db', dict(tgt.pg_args(), control_database=tgt.control_database))
        assert not made.get('failed'), made.get('msg')
        assert made['version'] >= 5
        yield tgt
    finally:
        drop_database(tgt, tgt.control_database)
        stop()
        shutil.rmtree(tgt.workdir, ignore_errors=True)
        for path in _SNAPSHOT:
            shutil.rmtree(path, ignore_errors=True)


def drop_database(target, name):
    admin = target.pg()
    try:
        admin.cursor().execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    finally:
        admin.close()


def cs5_names(count):
    tag = uuid.uuid4().hex[:6]
    return ['%s%s-%d' % (CS5, tag, i) for i in range(1, count + 1)]


def cs5_holder():
    return CS5 + 'job-' + uuid.uuid4().hex[:8]


def cs5_args(target, step, **args):
    """control_state's options, on the private control database unless args name another."""
    options = dict(target.pg_args(), control_database=target.control_database, step=step)
    options.update(args)
    return options


def cs5_control(target, step, check=False, **args):
    return target.module('control_state', cs5_args(target, step, **args), check=check)


def cs5_query(target, sql, args=None):
    return target.query(sql, args, database=target.control_database)


def seconds_left(target, names):
    """Seconds until the last of the names' leases ends, by the database clock."""
    return cs5_query(target, 'SELECT extract(epoch FROM max(expires_at) - now())::float8 FROM deploy_locks '
                             'WHERE deployment = ANY(%s)', (names,))[0][0]


def columns(target, database):
    return set(target.query("SELECT table_name, column_name, data_type, is_nullable, column_default "
                            "FROM information_schema.columns WHERE table_schema = 'public'", database=database))


def test_cs5_migration_from_the_lab_schema_to_5(cs5):
    """A control database at version 4 (as the lab's is now) migrates to 5,
    keeping its records, and a second run finds nothing to do."""
    collection_tree()
    from ansible_collections.selfhost.langgraph.plugins.module_utils.control_schema import MIGRATIONS, migrate
    latest = MIGRATIONS[-1].version  # later migrations ride along with 5
    database = CS5_PG + 'v4_' + uuid.uuid4().hex[:6]
    admin = cs5.pg()
    admin.cursor().execute('CREATE DATABASE "%s"' % database)
    admin.close()
    try:
        conn = cs5.pg(database)
        conn.autocommit = False
        migrate(conn, migrations=MIGRATIONS[:4])
        conn.close()
        shared = cs5.query("SELECT 1 FROM pg_database WHERE datname = 'langgraph_control'", database='postgres')
        lab = cs5.query("SELECT coalesce(max(version), 0) FROM schema_version")[0][0] if shared else 0
        if lab == 4:  # the shared database is what MIGRATIONS[:4] makes, column for column
            assert columns(cs5, 'langgraph_control') == columns(cs5, database)
        else:
            sys.stdout.write('\n[note] the lab control database is at version %d, not 4\n' % lab)
        old, holder = CS5 + 'old', cs5_holder()
        rows = [
            "INSERT INTO deployments (name, type, postgres_database, postgres_role, postgres_host, redis_host) "
            "VALUES ('%s', 'production', 'lg_it_cs5_old', 'lg_it_cs5_old', 'pg1', 'redis1')" % old,
            "INSERT INTO revisions (deployment, number, image, env_fingerprint, status) "
            "VALUES ('%s', 1, 'reg/app:1', 'fp', 'deployed')" % old,
            "INSERT INTO deploy_locks (deployment, holder, purpose, expires_at) "
            "VALUES ('%s', '%s', 'deploy', now() + interval '1 hour')" % (old, holder),
        ]
        for sql in rows:
            cs5.query(sql, database=database)
        args = dict(control_database=database)
        # Check mode reads version 4 as it is, and predicts the version 5 records without writing them.
        looked = cs5_control(cs5, 'begin', check=True, deployments=[old], lock=False, **args)
        assert not looked.get('failed'), looked.get('msg')
        assert looked['schema']['version'] == 4 and [m['version'] for m in looked['schema']['migrated']] == list(range(5, latest + 1))
        assert looked['hosts'] == {} and looked['deployments'][old]['replicas'] is None
        predicted = cs5_control(cs5, 'finish', check=True, holder=holder, replicas=[dict(deployment=old, replicas=2)],
                                hosts=[dict(name=CS5 + 'app1', up=True)],
                                audit=[dict(deployment=old, action='deploy', details={})], **args)
        assert not predicted.get('failed'), predicted.get('msg')
        assert 'record 2 desired replicas of %s' % old in predicted['actions']
        assert 'record host %sapp1 up' % CS5 in predicted['actions']
        assert cs5.query('SELECT max(version) FROM schema_version', database=database) == [(4,)]

        started = time.time()
        migrated = cs5_control(cs5, 'begin', deployments=[old], lock=False, **args)
        report('control_state begin migrating a control database from 4 to 5', time.time() - started)
        assert not migrated.get('failed'), migrated.get('msg')
        assert migrated['changed'] and migrated['schema']['version'] == latest
        assert [m['version'] for m in migrated['schema']['migrated']] == list(range(5, latest + 1))
        one = migrated['deployments'][old]
        assert (one['serving'], one['postgres_host'], one['replicas'], one['taken_over']) == (1, 'pg1', None, None)
        assert migrated['busy'][old]['holder'] == holder and migrated['hosts'] == {}
        assert cs5.query('SELECT max(version) FROM schema_version', database=database) == [(latest,)]
        after = columns(cs5, database)
        assert ('deployments', 'replicas', 'integer', 'YES', None) in after
        assert set(c[:2] for c in after if c[0] in ('fleet_hosts', 'audit_events')) == {
            ('fleet_hosts', 'name'), ('fleet_hosts', 'last_seen'), ('fleet_hosts', 'down_since'),
            ('fleet_hosts', 'problem'), ('audit_events', 'id'), ('audit_events', 'at'), ('audit_events', 'who'),
            ('audit_events', 'action'), ('audit_events', 'deployment'), ('audit_events', 'details')}
        assert cs5.query("SELECT indexdef FROM pg_indexes WHERE indexname = 'audit_events_deployment_at'",
                         database=database) == [
            ('CREATE INDEX audit_events_deployment_at ON public.audit_events USING btree (deployment, at DESC)',)]
        assert not cs5.query("SELECT 1 FROM pg_constraint WHERE conrelid = 'audit_events'::regclass AND contype = 'f'",
                             database=database), 'an audit row outlives a purge: no foreign key'
        with pytest.raises(psycopg2.IntegrityError, match='deployments_replicas_check'):
            cs5.query("UPDATE deployments SET replicas = -1 WHERE name = %s", (old,), database=database)
        # Idempotent: nothing more to migrate, by control_state or control_db.
        again = cs5_control(cs5, 'begin', deployments=[old], lock=False, **args)
        assert not again['changed'] and again['schema']['migrated'] == [] and again['schema']['version'] == latest
        db = cs5.module('control_db', dict(cs5.pg_args(), control_database=database))
        assert not db['changed'] and db['version'] == latest and db['applied'] == []
    finally:
        drop_database(cs5, database)


class Renewer(object):
    """A heartbeat: control_steps.renew of holder's leases every `every`
    seconds from this process, on its own connection (one ansible-playbook
    run takes longer than a 3 s lease on a loaded lab; the module's renew is
    tested on its own below)."""

    def __init__(self, target, holder, names, ttl, every=0.5):
        collection_tree()
        from ansible_collections.selfhost.langgraph.plugins.module_utils import control_steps
        self.renew = control_steps.renew
        self.target, self.holder, self.names, self.ttl, self.every = target, holder, names, ttl, every
        self.results, self.errors = [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        conn = self.target.pg(self.target.control_database)
        conn.autocommit = False
        try:
            while not self.stop.is_set():
                try:
                    self.results.append((time.time(), self.renew(conn, self.holder, self.names, self.ttl)))
                except Exception as e:  # pylint: disable=broad-except
                    self.errors.append(repr(e))
                self.stop.wait(self.every)
        finally:
            conn.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        return False


def test_cs5_a_renewed_lease_lives_on_and_an_unrenewed_one_is_taken_over(cs5):
    kept, dead = cs5_names(2)
    keeper, dying, next_job = cs5_holder(), cs5_holder(), cs5_holder()
    ttl = 3
    first = cs5_control(cs5, 'begin', deployments=[dead], holder=dying, lock_ttl=ttl)
    assert first['locked'] == [dead]
    since, expires_at = cs5_query(cs5, 'SELECT since, expires_at FROM deploy_locks WHERE deployment = %s', (dead,))[0]
    with Renewer(cs5, keeper, [kept], ttl) as renewer:
        begun = cs5_control(cs5, 'begin', deployments=[kept], holder=keeper, lock_ttl=ttl)
        assert begun['locked'] == [kept]
        first_expiry = cs5_query(cs5, 'SELECT expires_at FROM deploy_locks WHERE deployment = %s', (kept,))[0][0]
        # Past the first lease of both (by the database clock), plus a margin.
        time.sleep(max(0.0, seconds_left(cs5, [dead])) + 1.0)
        while cs5_query(cs5, 'SELECT now() < %s', (first_expiry,))[0][0]:
            time.sleep(0.2)
        time.sleep(1.0)
        asked = time.time()
        over = cs5_control(cs5, 'begin', deployments=[kept, dead], holder=next_job, lock_ttl=60)
        report('control_state begin taking over an expired lease (whole ansible-playbook run)', time.time() - asked)
        assert over['locked'] == [dead], over
        assert over['busy'] == {kept: over['busy'][kept]} and over['busy'][kept]['holder'] == keeper
        assert over['deployments'][kept]['taken_over'] is None
        taken = over['deployments'][dead]['taken_over']
        assert taken['holder'] == dying and taken['purpose'] == 'deploy'
        assert set(taken) == {'holder', 'purpose', 'since', 'expires_at'}
        assert (instant(taken['since']), instant(taken['expires_at'])) == (since, expires_at)
        assert any('taken over from %s' % dying in a for a in over['actions'])
    assert renewer.errors == []
    assert not any(r['changed'] for _at, r in renewer.results)
    # (the first ones may come before the keeper's begin: they renew nothing and say kept is not held)
    kept_alive = [at for at, r in renewer.results if r['renewed'] == [kept] and r['lost'] == {}]
    assert len(kept_alive) >= 3 and max(b - a for a, b in zip(kept_alive, kept_alive[1:])) < ttl
    lease_end = cs5_query(cs5, 'SELECT expires_at FROM deploy_locks WHERE deployment = %s', (kept,))[0][0]
    assert lease_end > first_expiry and lock_holders(cs5, [kept]) == {kept: keeper}
    # The dead job, back: it holds nothing, and says which lock it lost to whom.
    late = cs5_control(cs5, 'renew', holder=dying, deployments=[dead], lock_ttl=ttl)
    assert late['renewed'] == [] and not late['changed']
    assert late['lost'][dead]['holder'] == next_job
    assert any('lost the lock of %s' % dead in w for w in late.get('warnings', []))
    mine = cs5_control(cs5, 'renew', holder=keeper, deployments=[kept, dead, CS5 + 'never'], lock_ttl=ttl)
    assert mine['renewed'] == [kept] and mine['lost'] == {dead: late['lost'][dead], CS5 + 'never': None}
    predicted = cs5_control(cs5, 'renew', check=True, holder=keeper, lock_ttl=ttl)
    assert predicted['renewed'] == [kept] and not predicted['changed']
    for holder in (keeper, next_job):
        cs5_control(cs5, 'finish', holder=holder)
    assert lock_holders(cs5, [kept, dead]) == {}


def instant(text):
    return datetime.datetime.fromisoformat(text)


def lock_holders(target, names):
    return dict(cs5_query(target, 'SELECT deployment, holder FROM deploy_locks WHERE deployment = ANY(%s)',
                          (names,)))


def audit_rows(target, names):
    return cs5_query(target, 'SELECT who, action, deployment, details FROM audit_events '
                             'WHERE deployment = ANY(%s) ORDER BY id', (names,))


def test_cs5_unlock_releases_another_jobs_lock_and_records_who(cs5):
    held, other, free = cs5_names(3)
    job, operator = cs5_holder(), CS5 + 'alice@laptop'
    cs5_control(cs5, 'begin', deployments=[held, other], holder=job, purpose='deploy')
    leases = cs5_query(cs5, 'SELECT expires_at FROM deploy_locks WHERE deployment = %s', (held,))
    shorter = cs5_control(cs5, 'renew', holder=job, lock_ttl=5)   # a renewal never shortens a lease
    assert shorter['renewed'] == sorted([held, other]) and shorter['lost'] == {}
    assert cs5_query(cs5, 'SELECT expires_at FROM deploy_locks WHERE deployment = %s', (held,)) == leases
    predicted = cs5_control(cs5, 'unlock', check=True, deployments=[held, free], holder=operator)
    assert not predicted.get('failed'), predicted.get('msg')
    assert predicted['changed'] and list(predicted['released']) == [held]
    assert lock_holders(cs5, [held]) == {held: job} and audit_rows(cs5, [held]) == []
    released = cs5_control(cs5, 'unlock', deployments=[held, free], holder=operator)
    assert released['changed'] and list(released['released']) == [held]
    lock = released['released'][held]
    assert (lock['holder'], lock['purpose']) == (job, 'deploy')
    assert set(lock) == {'holder', 'purpose', 'since', 'expires_at'}
    assert any(a.startswith('release the lock of %s (held by %s' % (held, job)) for a in released['actions'])
    assert lock_holders(cs5, [held, other]) == {other: job}
    assert audit_rows(cs5, [held, free]) == [(operator, 'unlock', held, lock)]
    when = cs5_query(cs5, 'SELECT extract(epoch FROM now() - at) FROM audit_events WHERE deployment = %s', (held,))
    assert 0 <= when[0][0] < 60
    again = cs5_control(cs5, 'unlock', deployments=[held], holder=operator)
    assert not again['changed'] and again['released'] == {} and len(audit_rows(cs5, [held])) == 1
    # The job whose lock went ends normally, releasing what it still has.
    ended = cs5_control(cs5, 'finish', holder=job)
    assert ended['released'] == [other]
    refused = cs5_control(cs5, 'unlock', deployments=[held])
    assert refused['failed'] and 'holder is required with step=unlock' in refused['msg']
    refused = cs5_control(cs5, 'unlock', holder=operator)
    assert refused['failed'] and 'step=unlock needs deployments' in refused['msg']


def host_rows(target, names):
    return dict((row[0], row[1:]) for row in cs5_query(
        target, 'SELECT name, last_seen, down_since, problem FROM fleet_hosts WHERE name = ANY(%s)', (names,)))


def test_cs5_finish_records_replicas_hosts_and_audit(cs5):
    first, second, theirs = cs5_names(3)
    app1, app2 = CS5 + uuid.uuid4().hex[:4] + '-app1', CS5 + uuid.uuid4().hex[:4] + '-app2'
    holder, other = cs5_holder(), cs5_holder()
    cs5_control(cs5, 'begin', deployments=[first, second], holder=holder)
    cs5_control(cs5, 'begin', deployments=[theirs], holder=other)
    prepared = cs5_control(cs5, 'prepare', holder=holder, revisions=[revision(first, 1)],
                           audit=[dict(deployment=first, action='deploy', details=dict(revision=1, phase='start'))])
    assert not prepared.get('failed'), prepared.get('msg')
    assert 'record deploy in the audit trail of %s' % first in prepared['actions']
    # Recording for a deployment another job holds is refused, audit events too.
    refused = cs5_control(cs5, 'prepare', holder=holder, audit=[dict(deployment=theirs, action='deploy')])
    assert refused['failed'] and 'locked by %s' % other in refused['msg']
    refused = cs5_control(cs5, 'prepare', audit=[dict(deployment=first, action='deploy')])
    assert refused['failed'] and 'holder is required with audit' in refused['msg']

    fields = dict(
        replicas=[dict(deployment=first, replicas=3), dict(deployment=second, replicas=0),
                  dict(deployment=theirs, replicas=5)],
        hosts=[dict(name=app1, up=True), dict(name=app2, up=False, problem='unreachable')],
        audit=[dict(deployment=first, action='deploy', details=dict(revision=1, phase='done')),
               dict(deployment=theirs, action='scale', details={}),
               dict(action='reconcile', details=dict(hosts_down=[app2]))])
    predicted = cs5_control(cs5, 'finish', check=True, holder=holder, **fields)
    assert predicted['changed'] and not host_rows(cs5, [app1, app2])
    assert cs5_query(cs5, 'SELECT replicas FROM deployments WHERE name = %s', (first,)) == [(None,)]
    started = time.time()
    finished = cs5_control(cs5, 'finish', holder=holder,
                           statuses=[dict(deployment=first, number=1, status='deployed')], **fields)
    report('control_state finish with replicas, hosts and audit (whole ansible-playbook run)', time.time() - started)
    assert not finished.get('failed'), finished.get('msg')
    assert finished['changed'] and finished['released'] == sorted([first, second])
    assert list(finished['not_recorded']) == [theirs] and finished['not_recorded'][theirs]['holder'] == other
    assert predicted['actions'] == [a for a in finished['actions'] if not a.startswith('mark revision')]
    for action in ('record 3 desired replicas of %s' % first, 'record 0 desired replicas of %s' % second,
                   'record host %s up' % app1, 'record host %s down: unreachable' % app2,
                   'record deploy in the audit trail of %s' % first, 'record reconcile in the audit trail'):
        assert action in finished['actions']
    assert not any(theirs in a for a in finished['actions'] if not a.startswith('release'))
    replicas = dict(cs5_query(cs5, 'SELECT name, replicas FROM deployments WHERE name = ANY(%s)',
                              ([first, second, theirs],)))
    assert replicas == {first: 3, second: 0, theirs: None}
    hosts = host_rows(cs5, [app1, app2])
    assert hosts[app1][0] is not None and hosts[app1][1:] == (None, None)
    assert hosts[app2][0] is None and hosts[app2][1] is not None and hosts[app2][2] == 'unreachable'
    went_down = hosts[app2][1]
    assert audit_rows(cs5, [first, second, theirs]) == [
        (holder, 'deploy', first, dict(revision=1, phase='start')),
        (holder, 'deploy', first, dict(revision=1, phase='done'))]
    assert cs5_query(cs5, "SELECT who, details FROM audit_events WHERE action = 'reconcile' AND details @> %s::jsonb",
                     (json.dumps(dict(hosts_down=[app2])),)) == [(holder, dict(hosts_down=[app2]))]

    read = cs5_control(cs5, 'begin', deployments=[first, second, theirs], lock=False)
    assert [read['deployments'][n]['replicas'] for n in (first, second, theirs)] == [3, 0, None]
    assert read['hosts'][app1]['down_since'] is None and read['hosts'][app1]['last_seen'] is not None
    assert read['hosts'][app2]['last_seen'] is None and read['hosts'][app2]['problem'] == 'unreachable'
    assert instant(read['hosts'][app2]['down_since']) == went_down

    # Down again, another problem: still down since the first time. The same again: no change.
    later = cs5_holder()
    down_again = cs5_control(cs5, 'finish', holder=later, hosts=[dict(name=app1, up=True),
                                                                 dict(name=app2, up=False, problem='ssh timeout')])
    assert down_again['changed'] and down_again['actions'] == ['record host %s still down: ssh timeout' % app2]
    hosts_again = host_rows(cs5, [app1, app2])
    assert hosts_again[app2][1:] == (went_down, 'ssh timeout')
    assert hosts_again[app1][0] > hosts[app1][0]                  # seen again, bookkeeping
    same = cs5_control(cs5, 'finish', holder=later, hosts=[dict(name=app2, up=False, problem='ssh timeout')],
                       replicas=[dict(deployment=first, replicas=3)])
    assert not same['changed'] and same['actions'] == []
    assert host_rows(cs5, [app2])[app2][1] == went_down
    back = cs5_control(cs5, 'finish', holder=later, hosts=[dict(name=app2, up=True)])
    assert back['changed'] and back['actions'] == ['record host %s up again (down since %s)'
                                                   % (app2, read['hosts'][app2]['down_since'])]
    last_seen, down_since, problem = host_rows(cs5, [app2])[app2]
    assert last_seen is not None and (down_since, problem) == (None, None)
    cs5_control(cs5, 'finish', holder=other)


def test_cs5_500_deployments_renew_begin_finish(cs5):
    """500 recorded deployments (12 revisions, 3 scale decisions, a desired
    count each), 100 hosts and 1500 audit rows, made with SQL."""
    prefix = CS5 + 'bench-'
    deployments = ['%s%03d' % (prefix, i) for i in range(500)]
    hosts = ['%shost-%03d' % (CS5, i) for i in range(100)]
    statements = [
        ("INSERT INTO deployments (name, type, postgres_database, postgres_role, postgres_host, redis_host, replicas) "
         "SELECT d, 'production', 'lg_' || replace(d, '-', '_'), 'lg_' || replace(d, '-', '_'), 'pg1', 'redis1', 2 "
         "FROM unnest(%s::text[]) AS d", (deployments,)),
        ("INSERT INTO redis_allocations (redis_instance, db_number, deployment) "
         "SELECT 'it-cs5-bench:0', n, d FROM unnest(%s::text[]) WITH ORDINALITY AS t(d, n)", (deployments,)),
        ("INSERT INTO revisions (deployment, number, image, env_fingerprint, env, status) "
         "SELECT d, n, 'reg/app:' || n, 'fp' || n, '{\"LOG_LEVEL\": \"INFO\"}'::jsonb, "
         "CASE WHEN n = 12 THEN 'deployed' ELSE 'superseded' END "
         "FROM unnest(%s::text[]) AS d, generate_series(1, 12) AS n", (deployments,)),
        ("INSERT INTO scale_events (deployment, inputs, desired, reason, decided_at) "
         "SELECT d, '{}'::jsonb, n, 'bench', now() - n * interval '1 minute' "
         "FROM unnest(%s::text[]) AS d, generate_series(1, 3) AS n", (deployments,)),
        ("INSERT INTO fleet_hosts (name, last_seen) SELECT h, now() FROM unnest(%s::text[]) AS h", (hosts,)),
        ("INSERT INTO audit_events (who, action, deployment, details) "
         "SELECT 'it-cs5-bench', 'deploy', d, jsonb_build_object('revision', n) "
         "FROM unnest(%s::text[]) AS d, generate_series(1, 3) AS n", (deployments,)),
    ]
    for sql, args in statements:
        cs5_query(cs5, sql, args)
    try:
        holder = cs5_holder()
        begun, seconds = timed(cs5_control, cs5, 'begin', deployments=deployments, holder=holder)
        report('control_state begin, 500 recorded deployments + 100 hosts, lock + history 10', seconds)
        assert begun['locked'] == deployments and len(begun['hosts']) >= 100
        one = begun['deployments'][deployments[7]]
        assert one['replicas'] == 2 and one['taken_over'] is None and len(one['revisions']) == 10
        renewed, seconds = timed(cs5_control, cs5, 'renew', holder=holder, deployments=deployments)
        report('control_state renew, 500 leases (whole ansible-playbook run)', seconds)
        assert renewed['renewed'] == deployments and renewed['lost'] == {} and not renewed['changed']
        finished, seconds = timed(cs5_control, cs5, 'finish', holder=holder, statuses=[
            dict(deployment=n, number=12, status='deployed') for n in deployments
        ], replicas=[dict(deployment=n, replicas=3) for n in deployments],
            hosts=[dict(name=h, up=i % 10 != 0, problem=None if i % 10 else 'unreachable')
                   for i, h in enumerate(hosts)],
            audit=[dict(deployment=n, action='scale', details=dict(replicas=3)) for n in deployments])
        report('control_state finish, 500 replicas + 100 hosts + 500 audit events, releasing 500 locks', seconds)
        assert not finished.get('failed'), finished.get('msg')
        assert len(finished['released']) == 500 and finished['not_recorded'] == {}
        assert cs5_query(cs5, 'SELECT count(*) FROM deployments WHERE name = ANY(%s) AND replicas = 3',
                         (deployments,)) == [(500,)]
        assert cs5_query(cs5, 'SELECT count(*) FROM fleet_hosts WHERE name = ANY(%s) AND down_since IS NOT NULL',
                         (hosts,)) == [(10,)]
        assert cs5_query(cs5, "SELECT count(*) FROM audit_events WHERE deployment = ANY(%s) AND action = 'scale'",
                         (deployments,)) == [(500,)]
        for what, seconds in python_timings(cs5, deployments, hosts):
            report(what, seconds)
    finally:
        for table, column in (('audit_events', 'deployment'), ('scale_events', 'deployment'),
                              ('deploy_locks', 'deployment'), ('revisions', 'deployment'),
                              ('redis_allocations', 'deployment'), ('deployments', 'name')):
            cs5_query(cs5, 'DELETE FROM %s WHERE %s LIKE %%s' % (table, column), (prefix + '%',))
        cs5_query(cs5, 'DELETE FROM fleet_hosts WHERE name = ANY(%s)', (hosts,))
    assert not cs5_query(cs5, 'SELECT 1 FROM deployments WHERE name LIKE %s', (prefix + '%',))


def timed(function, *args, **kwargs):
    started = time.time()
    result = function(*args, **kwargs)
    return result, time.time() - started


def python_timings(target, deployments, hosts):
    """The steps from Python on the test host, without Ansible around them."""
    collection_tree()
    from ansible_collections.selfhost.langgraph.plugins.module_utils import control_steps
    conn = target.pg(target.control_database)
    conn.autocommit = False
    holder = cs5_holder()
    timings = []
    try:
        result, seconds = timed(control_steps.begin, conn, deployments, holder)
        assert len(result['locked']) == 500
        timings.append(('control_steps.begin in Python (500, lock + read + hosts)', seconds))
        result, seconds = timed(control_steps.renew, conn, holder, deployments, 120)
        assert len(result['renewed']) == 500
        timings.append(('control_steps.renew in Python (500 leases)', seconds))
        result, seconds = timed(control_steps.renew, conn, holder, [], 120)
        timings.append(('control_steps.renew in Python (500 leases, no lost check)', seconds))
        result, seconds = timed(
            control_steps.finish, conn, holder, replicas=[dict(deployment=n, replicas=4) for n in deployments],
            hosts=[dict(name=h, up=True, problem=None) for h in hosts],
            audit=[dict(deployment=n, action='scale', details=dict(replicas=4)) for n in deployments])
        assert len(result['released']) == 500
        timings.append(('control_steps.finish in Python (500 replicas + 100 hosts + 500 audit, release 500)',
                        seconds))
    finally:
        conn.close()
    return timings
