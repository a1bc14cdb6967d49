# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.allocation import assign_redis_dbs
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.passwords import derived_password, derived_redis_password
from ansible_collections.selfhost.langgraph.plugins.module_utils.redis_store import expected_commands, password_hash
from ansible_collections.selfhost.langgraph.plugins.module_utils.store_batches import (
    admin_sslmode,
    group_by,
    index_servers,
    plan_record,
    plan_stores,
    plan_users,
    redis_instance,
    redis_port,
    store_uris,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import encode_password

PG = {'pg1': dict(host='pg1'), 'pg2': dict(host='pg2')}
REDIS = {'redis1': dict(host='redis1', address='10.0.0.12', port=6379)}


def d(name, postgres_host='pg1', redis_host='redis1', state='present', purge=False, password=None, type=None):
    return dict(name=name, postgres_host=postgres_host, redis_host=redis_host, state=state, purge=purge,
                postgres_password=password, type=type)


def test_plan_places_and_derives_passwords():
    entries, failed = plan_stores([d('a'), d('b', 'pg2', password='given')], PG, REDIS, {}, 'seed')
    assert failed == {}
    assert [(e['name'], e['postgres_host'], e['redis_host']) for e in entries] == [('a', 'pg1', 'redis1'),
                                                                                   ('b', 'pg2', 'redis1')]
    assert entries[0]['password'] == derived_password('seed', 'a')
    assert entries[1]['password'] == 'given'


@pytest.mark.parametrize('deployment, recorded, hosts', [
    (d('a', None, None), dict(postgres_host='pg2', redis_host='redis1'), ('pg2', 'redis1')),  # the pins
    (d('a', 'pg2', None), dict(postgres_host='pg2', redis_host='redis1'), ('pg2', 'redis1')),
    (d('a'), dict(postgres_host=None, redis_host=None), ('pg1', 'redis1')),                  # a legacy row
])
def test_hosts_come_from_the_entry_or_the_pin(deployment, recorded, hosts):
    entries, failed = plan_stores([deployment], PG, REDIS, {'a': recorded}, 'seed')
    assert not failed and (entries[0]['postgres_host'], entries[0]['redis_host']) == hosts


def test_a_deployment_asked_to_move_fails_alone():
    entries, failed = plan_stores([d('a', 'pg2'), d('b')], PG, REDIS, {'a': dict(postgres_host='pg1')}, 'seed')
    assert [e['name'] for e in entries] == ['b']
    assert failed == {'a': 'deployment a is pinned to Postgres host pg1 (its data lives there), not pg2'}


@pytest.mark.parametrize('deployments, seed, message', [
    ([d('a', state='absent')], 'seed', 'set purge: true to confirm'),
    ([d('a'), d('a')], 'seed', 'listed twice'),
    ([d('a', 'pg9')], 'seed', 'deployment a is on Postgres host pg9, which postgres_servers does not list'),
    ([d('a', redis_host='redis9')], 'seed', 'Redis host redis9, which redis_servers does not list'),
    ([d('a', None)], 'seed', 'deployment a has no Postgres host: give postgres_host'),
    ([d('a')], None, 'has no postgres_password and password_seed is not set'),
])
def test_bad_input_is_refused(deployments, seed, message):
    with pytest.raises(StoreError, match=message):
        plan_stores(deployments, PG, REDIS, {}, seed)


@pytest.mark.parametrize('recorded, allocated, hosts', [
    ({}, {}, (None, None)),                                                # nothing anywhere: nothing to do
    ({'a': dict(postgres_database=None)}, {'a': '10.0.0.12:6379'}, (None, 'redis1')),  # found by its allocation
    ({'a': dict(postgres_database='lg_a', postgres_host='pg2')}, {}, ('pg2', None)),
])
def test_removal_finds_the_stores_or_has_nothing_to_do(recorded, allocated, hosts):
    entries, failed = plan_stores([d('a', None, None, state='absent', purge=True)], PG, REDIS, recorded, None,
                                  allocated)
    assert not failed and (entries[0]['postgres_host'], entries[0]['redis_host']) == hosts


@pytest.mark.parametrize('recorded, allocated, message', [
    ({'a': dict(postgres_database='lg_a')}, {}, 'deployment a has no Postgres host'),   # a legacy database
    ({}, {'a': '10.9.9.9:6379'}, 'has a Redis database on 10.9.9.9:6379, which redis_servers does not list'),
])
def test_removal_without_a_host_for_what_exists_is_refused(recorded, allocated, message):
    with pytest.raises(StoreError, match=message):
        plan_stores([d('a', None, None, state='absent', purge=True)], PG, REDIS, recorded, None, allocated)


def test_a_new_deployment_needs_its_hosts():
    with pytest.raises(StoreError, match='deployment a has no Redis host'):
        plan_stores([d('a', 'pg1', None)], PG, REDIS, {}, 'seed', {})


def test_absent_needs_no_password():
    entries, _failed = plan_stores([d('a', state='absent', purge=True)], PG, REDIS, {}, None)
    assert entries[0]['password'] is None


def test_servers_are_listed_once():
    assert index_servers([dict(host='pg1'), dict(host='pg2')], 'postgres_servers') == PG
    with pytest.raises(StoreError, match='postgres_servers lists host pg1 twice'):
        index_servers([dict(host='pg1'), dict(host='pg1')], 'postgres_servers')


def test_batches_per_server_keep_the_order():
    entries = [dict(name='a', postgres_host='pg1'), dict(name='b', postgres_host='pg2'),
               dict(name='c', postgres_host='pg1')]
    assert group_by(entries, 'postgres_host') == {'pg1': [entries[0], entries[2]], 'pg2': [entries[1]]}


@pytest.mark.parametrize('sslmode, ca_cert, admin', [
    (None, None, 'prefer'), ('disable', None, 'prefer'), ('prefer', None, 'prefer'), ('require', None, 'require'),
    ('verify-ca', None, 'require'), ('verify-full', None, 'require'),
    # With the fleet's CA the admin verifies the certificate, not the host name (it may log in over loopback).
    ('verify-full', '/etc/selfhost-langgraph/tls/ca.crt', 'verify-ca'),
    ('require', '/etc/selfhost-langgraph/tls/ca.crt', 'verify-ca'),
    ('prefer', '/etc/selfhost-langgraph/tls/ca.crt', 'prefer'),
])
def test_admin_sslmode(sslmode, ca_cert, admin):
    assert admin_sslmode(sslmode, ca_cert) == admin


@pytest.mark.parametrize('server, port', [
    (dict(port=6379), 6379),
    (dict(port=6379, tls=False, tls_port=6380), 6379),
    (dict(port=6379, tls=True, tls_port=6380), 6380),
    (dict(port=6379, tls=True), 6379),  # TLS on the one port (deployment_redis's way)
])
def test_redis_port(server, port):
    assert redis_port(server) == port
    assert redis_instance(dict(server, address='10.0.0.12')) == '10.0.0.12:6379'  # allocations keep their key


ROW = dict(type='production', postgres_database='lg_a', postgres_role='lg_a', postgres_host='pg1',
           redis_host='redis1')
NEW = dict(name='a', state='present', type='production', postgres_host='pg1', redis_host='redis1')


@pytest.mark.parametrize('entry, recorded, postgres_done, redis_done, expected', [
    (NEW, None, True, True, ROW),                                      # a new deployment
    (NEW, ROW, True, True, None),                                      # as recorded: no write
    (NEW, dict(ROW, postgres_host=None, redis_host=None), True, True, ROW),  # a legacy row gets its pins
    (NEW, None, True, False, dict(ROW, redis_host=None)),              # Redis failed: only what is true
    (NEW, dict(ROW, postgres_host='pg0'), True, True, None),            # a pin is never changed here
    (dict(NEW, type=None), dict(ROW, type='development'), True, True, None),   # type omitted: kept
    (dict(NEW, type='development'), ROW, True, True, dict(ROW, type='development')),
    (dict(NEW, state='absent'), ROW, True, True,                        # purged: stores and pins cleared
     dict(ROW, postgres_database=None, postgres_role=None, postgres_host=None, redis_host=None)),
    (dict(NEW, state='absent'), None, True, True, None),                # nothing recorded, nothing to clear
    (dict(NEW, state='absent'), ROW, False, True, dict(ROW, redis_host=None)),
])
def test_plan_record(entry, recorded, postgres_done, redis_done, expected):
    assert plan_record(entry, recorded, postgres_done, redis_done) == expected


# --- Redis numbers for many deployments of one instance -------------------------------------------

@pytest.mark.parametrize('allocated, names, databases, numbers, failed', [
    ({}, ['a', 'b', 'c'], 16, {'a': (1, True), 'b': (2, True), 'c': (3, True)}, []),
    ({'b': 1}, ['a', 'b'], 16, {'a': (2, True), 'b': (1, False)}, []),     # b keeps its number
    ({'x': 2}, ['a', 'b'], 16, {'a': (1, True), 'b': (3, True)}, []),      # gaps are filled first
    ({}, ['a', 'b', 'c'], 3, {'a': (1, True), 'b': (2, True)}, ['c']),     # the rest fail alone
    ({'a': 7}, ['a'], 4, {}, ['a']),                                       # instance shrank
])
def test_assign_redis_dbs(allocated, names, databases, numbers, failed):
    got, refused = assign_redis_dbs(allocated, names, databases, '10.0.0.5:6379')
    assert got == numbers and sorted(refused) == failed


def test_exhaustion_message_names_instance_and_variable():
    _numbers, refused = assign_redis_dbs({'x': 1}, ['a'], 2, '10.0.0.5:6379')
    assert refused == {'a': 'Redis at 10.0.0.5:6379 has no free database: 1 of 1 are allocated; '
                            'raise redis_databases'}


def test_the_instance_key_is_the_address():
    assert redis_instance(dict(host='redis1', address='10.0.0.12', port=6379)) == '10.0.0.12:6379'


@pytest.mark.parametrize('password, redis_password, visible', [
    ('a-long-random-password-0123', 'another-long-random-one-456', None),   # depends on uris' encoding
    ('1', 'another-long-random-one-456', True),
    ('a-long-random-password-0123', '7', True),
])
def test_store_uris(password, redis_password, visible):
    pair = store_uris(dict(name='support-bot', password=password, redis_password=redis_password),
                      dict(address='10.0.0.11', port=5432, sslmode='require'),
                      dict(address='10.0.0.12', port=6379, password='redis-secret-pw', tls=True), 3)
    assert pair['database_uri_masked'] == 'postgresql://lg_support_bot:********@10.0.0.11:5432/lg_support_bot?sslmode=require'
    assert pair['redis_uri_masked'] == 'rediss://lg_support_bot:********@10.0.0.12:6379/3?ssl_cert_reqs=none'
    assert pair['database_uri'].startswith('postgresql://lg_support_bot:%s@' % encode_password(password))
    assert pair['redis_uri'] == ('rediss://lg_support_bot:%s@10.0.0.12:6379/3?ssl_cert_reqs=none'
                                 % encode_password(redis_password))
    assert 'redis-secret-pw' not in pair['redis_uri'] and encode_password('redis-secret-pw') not in pair['redis_uri']
    assert visible is None or pair['password_visible'] is visible


def test_store_uris_verify_with_the_fleet_ca():
    ca = '/etc/selfhost-langgraph/tls/ca.crt'
    pair = store_uris(dict(name='support-bot', password='a-long-random-password-0123', redis_password='another-456'),
                      dict(address='10.0.0.11', port=5432, sslmode='verify-full', ca_cert=ca),
                      dict(address='10.0.0.12', port=6379, tls=True, tls_port=6380, ca_cert=ca), 3)
    assert pair['database_uri_masked'] == ('postgresql://lg_support_bot:********@10.0.0.11:5432/lg_support_bot'
                                           '?sslmode=verify-full&sslrootcert=' + ca)
    assert pair['redis_uri_masked'] == ('rediss://lg_support_bot:********@10.0.0.12:6380/3'
                                        '?ssl_cert_reqs=required&ssl_ca_certs=%s&ssl_check_hostname=true' % ca)


def test_plan_derives_the_redis_user_password():
    entries, _failed = plan_stores([d('a'), d('b', password='given')], PG, REDIS, {}, 'seed')
    assert [e['redis_password'] for e in entries] == [derived_redis_password('seed', 'a'),
                                                      derived_redis_password('seed', 'b')]
    assert entries[0]['redis_password'] != entries[0]['password']


def test_a_redis_user_needs_the_seed():
    with pytest.raises(StoreError, match='deployment a needs password_seed: the password of its Redis user'):
        plan_stores([d('a', password='given')], PG, REDIS, {}, None)


def e(name, state='present', password='pw-' + 'x' * 20):
    return dict(name=name, state=state, redis_password=password if state == 'present' else None)


def _user(number, password, shown=None):
    return dict(flags=['on', 'sanitize-payload'], passwords=[password_hash(password)], keys='~*', channels='&*',
                selectors=[], commands=expected_commands(shown, number))


PW = 'pw-' + 'x' * 20


@pytest.mark.parametrize('entries, numbers, observed, changes', [
    # a new deployment, an old one without its user yet (the move from the shared password), one in order
    ([e('a'), e('b'), e('c')], {'a': (1, True), 'b': (2, False), 'c': (3, False)},
     {'lg_a': None, 'lg_b': None, 'lg_c': _user(3, PW)},
     [('create', 'lg_a', 1, PW), ('create', 'lg_b', 2, PW)]),
    # another number or password: set again
    ([e('a'), e('b')], {'a': (1, False), 'b': (2, False)}, {'lg_a': _user(5, PW), 'lg_b': _user(2, 'old-' + PW)},
     [('update', 'lg_a', 1, PW), ('update', 'lg_b', 2, PW)]),
    # no number (allocation failed): no user
    ([e('a')], {}, {'lg_a': None}, []),
    # removals: only users that exist
    ([e('a', 'absent'), e('b', 'absent')], {}, {'lg_a': _user(1, PW), 'lg_b': None}, [('delete', 'lg_a', None, None)]),
    # dashes become underscores, as in the Postgres role
    ([e('support-bot')], {'support-bot': (4, True)}, {}, [('create', 'lg_support_bot', 4, PW)]),
])
def test_plan_users(entries, numbers, observed, changes):
    assert plan_users(entries, numbers, observed, None) == changes
