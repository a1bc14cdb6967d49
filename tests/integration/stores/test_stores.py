# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The store modules against real Postgres and Redis, through ansible-playbook."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os

import psycopg2
import pytest
import redis
import yaml

from conftest import PASSWORD_SEED, PREFIX, REPO, assert_hidden

# Passwords with every character that needs care in a URI, and unicode.
PASSWORDS = ['pw-@:/%#?&-\u00e4\u00df-' + str(i) for i in range(40)]
# Where the hosts and the deployments' containers have the fleet's CA certificate (module_utils/uris.py CA_FILE).
FLEET_CA_FILE = '/etc/selfhost-langgraph/tls/ca.crt'


def derived_redis_password(seed, name):
    """passwords.derived_redis_password, the password of a deployment's Redis user."""
    return hashlib.sha256(('%s:redis:%s' % (seed, name)).encode('utf-8')).hexdigest()


def pg_name(name):
    return 'lg_' + name.replace('-', '_')


def pg_args(target, name, password=PASSWORDS[0], **extra):
    args = dict(target.pg_args(), name=name, password=password, uri_host=target.pg_address)
    args.update(extra)
    return args


def redis_args(target, name, **extra):
    args = dict(target.redis_args(), name=name)
    args.update(extra)
    return args


def role_exists(target, role):
    return bool(target.query('SELECT 1 FROM pg_roles WHERE rolname = %s', (role,), database='postgres'))


def database_exists(target, database):
    return bool(target.query('SELECT 1 FROM pg_database WHERE datname = %s', (database,), database='postgres'))


def allocation(target, name, instance=None):
    rows = target.query('SELECT db_number FROM redis_allocations WHERE redis_instance = %s AND deployment = %s',
                        (instance or target.instance, name))
    return rows[0][0] if rows else None


# --- control database ---------------------------------------------------------------------------

def test_control_db_is_migrated_and_idempotent(target):
    result = target.module('control_db', target.pg_args())
    assert not result['changed'] and result['applied'] == []
    assert result['version'] == result['latest_version'] >= 2
    checked = target.module('control_db', target.pg_args(), check=True)
    assert not checked['changed']
    tables = {r[0] for r in target.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {'schema_version', 'deployments', 'redis_allocations', 'revisions', 'deploy_locks',
            'scale_events'} <= tables


# --- Redis allocation -----------------------------------------------------------------------

def test_30_parallel_allocations_get_30_distinct_numbers(target, names):
    deployments = names(30)
    handles = [target.start_module('deployment_redis', redis_args(target, n)) for n in deployments]
    results = [target.finish(h)[0] for h in handles]
    failed = [r.get('msg') for r in results if r.get('failed')]
    assert not failed
    numbers = [r['db'] for r in results]
    assert len(set(numbers)) == 30 and 0 not in numbers
    assert all(r['changed'] for r in results)
    recorded = dict(target.query('SELECT deployment, db_number FROM redis_allocations WHERE deployment = ANY(%s)',
                                 (deployments,)))
    assert recorded == dict(zip(deployments, numbers))


def test_same_deployment_from_parallel_jobs_gets_one_number(target, names):
    name = names(1)[0]
    handles = [target.start_module('deployment_redis', redis_args(target, name)) for _job in range(8)]
    results = [target.finish(h)[0] for h in handles]
    assert not [r.get('msg') for r in results if r.get('failed')]
    assert len({r['db'] for r in results}) == 1
    assert sum(1 for r in results if r['changed']) == 1  # one allocated, seven found it
    again = target.module('deployment_redis', redis_args(target, name))
    assert not again['changed'] and again['db'] == results[0]['db']


def test_exhaustion_is_a_clear_error(target, names):
    # A separate instance key on the same server: its numbers are filled in the
    # control database, so no real deployment's database is touched. The first
    # allocation takes 1, the fillers 2 .. databases-2, the next one databases-1.
    instance = 'exhaustion-test'
    first = target.module('deployment_redis', redis_args(target, names(1)[0], redis_instance=instance))
    databases = first['databases']['count']
    fillers = ['%sfill-%d' % (PREFIX, i) for i in range(databases - 3)]
    target.query('INSERT INTO deployments (name) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING', (fillers,))
    target.query("""INSERT INTO redis_allocations (redis_instance, db_number, deployment)
                    SELECT %s, n + 1, unnest FROM unnest(%s::text[]) WITH ORDINALITY AS t(unnest, n)""",
                 (instance, fillers))
    try:
        last = target.module('deployment_redis', redis_args(target, names(1)[0], redis_instance=instance))
        assert not last.get('failed') and last['db'] == databases - 1
        over_name = names(1)[0]
        over = target.module('deployment_redis', redis_args(target, over_name, redis_instance=instance))
        assert over['failed']
        assert over['msg'] == ('Redis at %s has no free database: %d of %d are allocated; raise redis_databases'
                               % (instance, databases - 1, databases - 1))
        assert allocation(target, over_name, instance) is None
        # Check mode predicts the same error.
        checked = target.module('deployment_redis', redis_args(target, over_name, redis_instance=instance),
                                check=True)
        assert checked['failed'] and 'no free database' in checked['msg']
    finally:
        target.query('DELETE FROM redis_allocations WHERE redis_instance = %s', (instance,))
        target.query('DELETE FROM deployments WHERE name = ANY(%s)', (fillers,))


def test_release_flushes_and_the_number_is_reused(target, names):
    first, second = names(2)
    allocated = target.module('deployment_redis', redis_args(target, first))
    number = allocated['db']
    target.redis(number).set('it-key', 'value')
    released = target.module('deployment_redis', redis_args(target, first, state='absent'))
    assert released['changed'] and released['db'] == number
    assert target.redis(number).dbsize() == 0
    assert allocation(target, first) is None
    again = target.module('deployment_redis', redis_args(target, first, state='absent'))
    assert not again['changed'] and again['db'] is None
    reused = target.module('deployment_redis', redis_args(target, second))
    assert reused['db'] == number


def test_allocations_survive_a_redis_restart(target, names):
    name = names(1)[0]
    before = target.module('deployment_redis', redis_args(target, name))
    target.restart_redis()
    after = target.module('deployment_redis', redis_args(target, name))
    assert after['db'] == before['db']
    # Without an aclfile, Redis forgets the deployment's user: the next run makes it again.
    assert after['actions'] in ([], ['create Redis user %s on %s, allowed only database %d'
                                     % (after['user'], target.instance, after['db'])])


# --- Postgres database and role ---------------------------------------------------------------

def test_database_and_role_are_created_once(target, names):
    name = names(1)[0]
    role = pg_name(name)
    created = target.module('deployment_postgres', pg_args(target, name))
    assert created['changed'] and created['database'] == role and created['user'] == role
    again = target.module('deployment_postgres', pg_args(target, name))
    assert not again['changed'] and again['actions'] == [] and again['queries'] == []
    attrs = target.query('SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles '
                         'WHERE rolname = %s', (role,), database='postgres')
    assert attrs == [(False, False, False, True)]
    public = target.query("SELECT has_database_privilege('public', %s, 'CONNECT')", (role,), database='postgres')
    assert public == [(False,)]
    recorded = target.query('SELECT postgres_database, postgres_role FROM deployments WHERE name = %s', (name,))
    assert recorded == [(role, role)]


def test_password_change_is_detected(target, names):
    name = names(1)[0]
    target.module('deployment_postgres', pg_args(target, name, PASSWORDS[1]))
    changed = target.module('deployment_postgres', pg_args(target, name, PASSWORDS[2]))
    assert changed['changed'] and changed['actions'] == ['set the password of role %s' % pg_name(name)]
    assert "'********'" in changed['queries'][0]
    same = target.module('deployment_postgres', pg_args(target, name, PASSWORDS[2]))
    assert not same['changed']
    target.pg(pg_name(name), pg_name(name), PASSWORDS[2]).close()
    on_create = target.module('deployment_postgres', pg_args(target, name, PASSWORDS[3],
                                                             update_password='on_create'))
    assert not on_create['changed']


def test_a_role_connects_to_its_own_database_only(target, names):
    first, second = names(2)
    uris = {}
    for name, password in ((first, PASSWORDS[4]), (second, PASSWORDS[5])):
        result = target.module('deployment_postgres', pg_args(target, name, password), no_log=True)
        uris[name] = result['database_uri']
    # The returned URI works as is (libpq decodes the percent-encoded password).
    conn = psycopg2.connect(uris[first])
    conn.close()
    with pytest.raises(psycopg2.OperationalError, match='permission denied for database'):
        target.pg(pg_name(second), pg_name(first), PASSWORDS[4])
    with pytest.raises(psycopg2.OperationalError, match='permission denied for database'):
        target.pg(pg_name(first), pg_name(second), PASSWORDS[5])


def test_purge_guard(target, names):
    name = names(1)[0]
    target.module('deployment_postgres', pg_args(target, name))
    refused = target.module('deployment_postgres', pg_args(target, name, state='absent'))
    assert refused['failed'] and 'purge: true' in refused['msg']
    assert database_exists(target, pg_name(name)) and role_exists(target, pg_name(name))
    # A connection open while purging is terminated.
    conn = target.pg(pg_name(name), pg_name(name), PASSWORDS[0])
    purged = target.module('deployment_postgres', pg_args(target, name, state='absent', purge=True))
    assert purged['changed'], purged.get('msg')
    assert not database_exists(target, pg_name(name)) and not role_exists(target, pg_name(name))
    with pytest.raises(psycopg2.Error):
        conn.cursor().execute('SELECT 1')
    again = target.module('deployment_postgres', pg_args(target, name, state='absent', purge=True))
    assert not again['changed']


def test_check_mode_changes_nothing(target, names):
    name = names(1)[0]
    role = pg_name(name)
    predicted_pg = target.module('deployment_postgres', pg_args(target, name), check=True)
    predicted_redis = target.module('deployment_redis', redis_args(target, name), check=True)
    assert predicted_pg['changed'] and 'create database %s owned by %s' % (role, role) in predicted_pg['actions']
    assert predicted_redis['changed']
    assert not role_exists(target, role) and not database_exists(target, role)
    assert allocation(target, name) is None
    assert not target.query('SELECT 1 FROM deployments WHERE name = %s', (name,))
    real = target.module('deployment_redis', redis_args(target, name))
    assert real['db'] == predicted_redis['db']
    target.module('deployment_postgres', pg_args(target, name))
    purge_check = target.module('deployment_postgres', pg_args(target, name, state='absent', purge=True), check=True)
    release_check = target.module('deployment_redis', redis_args(target, name, state='absent'), check=True)
    assert purge_check['changed'] and release_check['changed']
    assert database_exists(target, role) and allocation(target, name) == real['db']


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize('name, message', [
    ('Bad_Name', 'invalid deployment name'),
    ('x', 'invalid deployment name'),
    ('postgres', 'is reserved'),
    ('template1', 'is reserved'),
])
def test_bad_names_touch_nothing(target, name, message):
    for module, args in (('deployment_postgres', pg_args(target, name)), ('deployment_redis', redis_args(target, name))):
        result = target.module(module, args)
        assert result['failed'] and message in result['msg']
    assert not role_exists(target, pg_name(name))


def test_control_database_name_is_reserved(target):
    result = target.module('deployment_postgres', pg_args(target, 'it-ctl', control_database='lg_it_ctl'))
    assert result['failed'] and 'reserved' in result['msg']


@pytest.mark.parametrize('change, message', [
    (dict(login_password='wrong-password'), 'password authentication failed'),
    (dict(login_port=1), 'cannot connect to Postgres'),
])
def test_bad_postgres_connection_touches_nothing(target, names, change, message):
    name = names(1)[0]
    for module, args in (('deployment_postgres', pg_args(target, name, **change)),
                         ('deployment_redis', redis_args(target, name, **change)),
                         ('control_db', dict(target.pg_args(), **change))):
        result = target.module(module, args)
        assert result['failed'] and message in result['msg'], result['msg']
    assert not role_exists(target, pg_name(name)) and allocation(target, name) is None


@pytest.mark.parametrize('change, message', [
    (dict(redis_password='wrong-password'), 'check redis_password'),
    (dict(redis_port=1), 'cannot connect to Redis'),
])
def test_bad_redis_connection_touches_nothing(target, names, change, message):
    name = names(1)[0]
    result = target.module('deployment_redis', redis_args(target, name, **change))
    assert result['failed'] and message in result['msg'], result['msg']
    assert allocation(target, name) is None


# --- secrets -------------------------------------------------------------------------------------

def test_no_password_in_vvv_output(target, names):
    name = names(1)[0]
    password = 'vvv-Secret-@:/%#?&-\u00e4-' + name
    outputs = []
    for no_log in (False, True):
        for check in (True, False):
            result, output = target.module_output('deployment_postgres', pg_args(target, name, password),
                                                  check=check, no_log=no_log, verbosity=3)
            assert not result.get('failed'), output
            outputs.append(output)
            result, output = target.module_output('deployment_redis', redis_args(target, name),
                                                  check=check, no_log=no_log, verbosity=3)
            outputs.append(output)
    # A wrong admin password in the failure message path, too.
    result, output = target.module_output('deployment_postgres',
                                          pg_args(target, name, password, login_password=password), verbosity=3)
    assert result['failed']
    outputs.append(output)
    whole = '\n'.join(outputs)
    assert 'database_uri_masked' in whole and '********' in whole
    assert_hidden(whole, [password, target.admin_password, target.redis_password, PASSWORD_SEED,
                          derived_redis_password(PASSWORD_SEED, name)])


# --- the role and playbook -----------------------------------------------------------------------

def deployments_vars(target, deployments):
    """Extra vars replacing the target's langgraph_deployments (group_vars would
    win over a second inventory, so they are passed with -e @file)."""
    path = os.path.join(target.workdir, 'deployments-%d.json' % len(os.listdir(target.workdir)))
    with open(path, 'w') as f:
        json.dump({'langgraph_deployments': deployments}, f)
    return ['-e', '@' + path]


def test_playbook_allocates_every_deployment_and_is_idempotent(target, names):
    deployments = [dict(name=n, type='production', postgres_password='role-pw-@:/%#?&-' + n) for n in names(3)]
    playbook = os.path.join(REPO, 'playbooks', 'stores.yml')
    extra_vars = deployments_vars(target, deployments)
    rc, output = target.playbook(playbook, verbosity=3, extra=extra_vars)
    assert rc == 0, output
    assert_hidden(output, [d['postgres_password'] for d in deployments] + [target.admin_password,
                                                                           target.redis_password])
    for d in deployments:
        assert database_exists(target, pg_name(d['name'])) and allocation(target, d['name']) is not None
        assert '%s: postgresql://%s:********@' % (d['name'], pg_name(d['name'])) in output
    rc, output = target.playbook(playbook, extra=extra_vars)
    assert rc == 0 and 'changed=0' in output, output
    # One deployment only, with -e deployment=NAME.
    rc, output = target.playbook(playbook, extra=extra_vars + ['-e', 'deployment=' + deployments[1]['name']])
    assert rc == 0 and deployments[1]['name'] + ':' in output and deployments[0]['name'] + ':' not in output
    rc, output = target.playbook(playbook, extra=extra_vars + ['-e', 'deployment=it-nowhere'])
    assert rc != 0 and 'deployment it-nowhere is not in langgraph_deployments' in output


def test_playbook_rejects_bad_names_before_touching_anything(target, names):
    good = names(1)[0]
    extra = deployments_vars(target, [dict(name=good), dict(name='Bad_Name')])
    rc, output = target.playbook(os.path.join(REPO, 'playbooks', 'stores.yml'), extra=extra)
    assert rc != 0 and "invalid deployment name 'Bad_Name'" in output
    assert not role_exists(target, pg_name(good)) and allocation(target, good) is None


def test_uris_from_the_role_work(target, names):
    """stores_uris: DATABASE_URI and REDIS_URI usable by psycopg2 and redis-py as given."""
    name = names(1)[0]
    extra = deployments_vars(target, [dict(name=name, postgres_password='uri-pw-@:/%#?&-\u00e4')])
    result_path = os.path.join(target.workdir, 'uris.json')
    play = os.path.join(target.workdir, 'uris.yml')
    with open(play, 'w') as f:
        yaml.safe_dump([{
            'name': 'Allocate and save the URIs', 'hosts': target.pg_host, 'gather_facts': False,
            'roles': [{'role': 'selfhost.langgraph.stores'}],
            'tasks': [{'name': 'Save', 'ansible.builtin.copy': {
                'content': '{{ stores_uris | to_json }}', 'dest': result_path, 'mode': '0600'},
                'delegate_to': 'localhost', 'no_log': True}]}], f)
    rc, output = target.playbook(play, extra=extra)
    assert rc == 0, output
    with open(result_path) as f:
        uris = json.load(f)[name]
    # With TLS on (the lab), the URIs name the fleet CA where the hosts and containers have it; this
    # machine has the same CA where the lab keeps it.
    lab_ca = os.path.join(os.environ.get('LAB_STATE_DIR') or '/var/lib/selfhost-langgraph-lab', 'tls', 'ca.crt')
    psycopg2.connect(uris['database_uri'].replace(FLEET_CA_FILE, lab_ca)).close()
    client = redis.Redis.from_url(uris['redis_uri'].replace(FLEET_CA_FILE, lab_ca))
    client.set('it-uri', '1')
    assert client.connection_pool.connection_kwargs['db'] == uris['redis_db'] == allocation(target, name)
    assert target.redis(uris['redis_db']).get('it-uri') == b'1'
