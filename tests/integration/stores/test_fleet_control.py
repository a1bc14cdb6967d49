# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""control_state and deployment_stores (the control-database side of the fleet
control loop) against the real Postgres and Redis, through ansible-playbook.

Timings are printed (run with -s to see them).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys
import tempfile
import time
import uuid

import psycopg2
import pytest

from conftest import PG_PREFIX, PREFIX, REPO, assert_hidden


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
    sys.stdout.write('\n[timing] %s: %.2f s\n' % (what, seconds))


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
                                                  scale=None)
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


def collection_tree():
    """This checkout importable as ansible_collections.selfhost.langgraph."""
    tree = tempfile.mkdtemp(prefix='it-cs-tree-')
    os.makedirs(os.path.join(tree, 'ansible_collections', 'selfhost'))
    os.symlink(REPO, os.path.join(tree, 'ansible_collections', 'selfhost', 'langgraph'))
    if tree not in sys.path:
        sys.path.insert(0, tree)
    return tree


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
