# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_isolation: instance - memory sizes, ports, the mode of a recorded
allocation, the instance's files and what to do on the host."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ssl

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils import redis_instance as ri
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.passwords import derived_redis_password
from ansible_collections.selfhost.langgraph.plugins.module_utils.store_batches import (
    instance_spec,
    plan_stores,
    store_uris,
)

MB = 1024 ** 2


@pytest.mark.parametrize('value, size', [
    ('256mb', 256 * MB), ('256MB', 256 * MB), ('1gb', 1024 * MB), ('500m', 500 * 1000 ** 2),
    ('2g', 2 * 1000 ** 3), ('16384kb', 16 * MB), (' 64mb ', 64 * MB), (8 * MB, 8 * MB), ('8388608', 8 * MB),
])
def test_memory_sizes_in_redis_units(value, size):
    assert ri.parse_memory(value) == size


@pytest.mark.parametrize('value, words', [
    ('lots', 'must be a memory size such as 256mb'), ('1.5gb', 'must be a memory size'), ('', 'memory size'),
    ('64 tb', 'memory size'), (True, 'memory size'), (None, 'memory size'), ('-1mb', 'memory size'),
    ('1mb', 'at least 8mb'), (1024, 'at least 8mb'),
])
def test_bad_memory_sizes_say_what_to_write(value, words):
    with pytest.raises(ValueError, match=words):
        ri.parse_memory(value)


@pytest.mark.parametrize('value, bounds', [('6400-6499', (6400, 6499)), (' 7000 - 7000 ', (7000, 7000))])
def test_port_ranges(value, bounds):
    assert ri.parse_port_range(value) == bounds


@pytest.mark.parametrize('value', ['6400', '6499-6400', '80-90', '6400-70000', 'a-b', None])
def test_bad_port_ranges(value):
    with pytest.raises(ValueError, match='instance_ports must be'):
        ri.parse_port_range(value)


@pytest.mark.parametrize('allocated, names, reserved, ports, failed', [
    ({}, ['a', 'b'], [], {'a': (6400, True), 'b': (6401, True)}, []),
    ({'a': 6401}, ['a', 'b'], [], {'a': (6401, False), 'b': (6400, True)}, []),    # a keeps its port, b the gap
    ({}, ['a'], [6400], {'a': (6401, True)}, []),                                   # the shared port is skipped
    ({'x': 6400, 'y': 6401}, ['a', 'x'], [], {'x': (6400, False), 'a': (6402, True)}, []),
    ({'x': 6400, 'y': 6401, 'z': 6402}, ['a', 'z'], [], {'z': (6402, False)}, ['a']),  # full: only a fails
    ({}, ['a', 'b', 'c', 'd'], [], {'a': (6400, True), 'b': (6401, True), 'c': (6402, True)}, ['d']),
])
def test_port_assignment(allocated, names, reserved, ports, failed):
    got, refused = ri.assign_ports(allocated, names, (6400, 6402), reserved, 'redis1')
    assert got == ports and sorted(refused) == failed


def test_a_full_host_says_what_to_raise():
    _ports, refused = ri.assign_ports({'x': 6400}, ['a'], (6400, 6400), (), 'redis1')
    assert refused == {'a': 'Redis host redis1 has no free port for a dedicated instance: 1 of the 1 ports '
                            '6400-6400 are allocated; widen instance_ports (redis_instance_ports) or put the '
                            'deployment on another Redis host'}


SHARED = {'10.0.0.12:6379'}
DEDICATED = {'10.0.0.12:6400', '10.0.0.12:6401'}


@pytest.mark.parametrize('key, wanted, has, problem', [
    (None, 'instance', None, None),                   # new: either mode
    (None, 'shared', None, None),
    ('10.0.0.12:6379', 'shared', 'shared', None),
    ('10.0.0.12:6400', 'instance', 'instance', None),
    ('10.0.0.12:6379', 'instance', 'shared', 'has redis_isolation: shared (its Redis data is there) and cannot move '
                                             'to instance while it exists'),
    ('10.0.0.12:6401', 'shared', 'instance', 'has redis_isolation: instance (its Redis data is there) and cannot '
                                             'move to shared'),
    ('10.9.9.9:6379', 'instance', None, None),         # a server not listed: plan_stores says so
])
def test_moving_between_the_modes_is_refused(key, wanted, has, problem):
    assert ri.recorded_isolation(key, SHARED, DEDICATED) == has
    found = ri.isolation_problem('bot', wanted, has)
    assert (found is None) if problem is None else (problem in found and 'delete it with purge' in found)


def test_config_holds_no_password_and_keeps_nothing_on_disk():
    config = ri.render_config('bot', 6400, ['127.0.0.1', '10.0.0.12'], 64 * MB)
    lines = config.splitlines()
    for line in ('port 6400', 'bind 127.0.0.1 10.0.0.12', 'maxmemory 67108864', 'maxmemory-policy noeviction',
                 'save ""', 'appendonly no', 'dir /var/lib/redis/langgraph/bot', 'aclfile /etc/redis/langgraph/bot.acl',
                 'supervised systemd', 'protected-mode yes', 'enable-debug-command no', 'enable-module-command no'):
        assert line in lines
    assert not [line for line in lines if line.startswith(('requirepass', 'user ', 'masterauth'))]
    assert ri.maxmemory_of(config) == '67108864'


def test_acl_file_holds_hashes_and_keeps_the_user_off_the_server():
    acl = ri.render_acl('support-bot', 'userpw', 'adminpw')
    assert acl == ('user default on #%s ~* &* +@all\n'
                   'user lg_support_bot on #%s ~* &* +@all -@admin\n'
                   % (ri.password_hash('adminpw'), ri.password_hash('userpw')))
    assert 'userpw' not in acl and 'adminpw' not in acl


DESIRED = dict(config=ri.render_config('bot', 6400, ['127.0.0.1'], 64 * MB), acl='acl v1\n')


def observed(config=DESIRED['config'], acl=DESIRED['acl'], active=True, enabled=True, data=True):
    return dict(config=config, acl=acl, active=active, enabled=enabled, data=data)


@pytest.mark.parametrize('desired, seen, actions', [
    (DESIRED, observed(), []),                                                           # as it should be
    (DESIRED, observed(config=None, acl=None, active=False, enabled=False, data=False),
     ['write config', 'write acl', 'start']),                                            # new
    (DESIRED, observed(active=False), ['start']),                                        # stopped
    (DESIRED, observed(enabled=False), ['start']),                                       # not enabled at boot
    (DESIRED, observed(config=ri.render_config('bot', 6400, ['127.0.0.1'], 32 * MB)),
     ['write config', 'set maxmemory']),                                                 # live, no restart
    (DESIRED, observed(acl='acl v0\n'), ['write acl', 'load acl']),                      # new password, live
    (DESIRED, observed(config=ri.render_config('bot', 6401, ['127.0.0.1'], 64 * MB)),
     ['write config', 'restart']),                                                       # another port
    (DESIRED, observed(config=ri.render_config('bot', 6400, ['127.0.0.1'], 32 * MB), acl='old\n'),
     ['write config', 'write acl', 'set maxmemory', 'load acl']),
    (None, observed(), ['stop', 'remove files']),
    (None, observed(active=False, enabled=False), ['remove files']),
    (None, observed(config=None, acl=None, active=False, enabled=False, data=False), []),  # nothing there
])
def test_what_to_do_on_the_host(desired, seen, actions):
    assert ri.plan_instance(desired, seen) == actions


SERVERS = {'redis1': dict(host='redis1', address='10.0.0.12', port=6379)}
PG = {'pg1': dict(host='pg1', address='10.0.0.11', port=5432)}


def entry(name, **over):
    base = dict(name=name, postgres_host='pg1', redis_host='redis1', state='present', purge=False,
                postgres_password=None, type=None, redis_isolation='instance', redis_maxmemory='64mb')
    base.update(over)
    return base


def test_plan_stores_carries_the_mode_and_the_limit():
    entries, failed = plan_stores([entry('a'), entry('b', redis_isolation='shared', redis_maxmemory=None)],
                                  PG, SERVERS, {}, 'seed')
    assert failed == {}
    found = [(e['redis_isolation'], e.get('redis_maxmemory')) for e in entries]
    assert found == [('instance', 64 * MB), ('shared', None)]


def test_plan_stores_refuses_a_move_alone_and_finds_a_dedicated_instance_for_removal():
    entries, failed = plan_stores([entry('a'), entry('b')], PG, SERVERS, {}, 'seed', {'a': '10.0.0.12:6379'})
    assert [e['name'] for e in entries] == ['b'] and 'cannot move to instance' in failed['a']
    entries, failed = plan_stores([entry('a', state='absent', purge=True, postgres_host=None, redis_host=None)],
                                  PG, SERVERS, {'a': dict(postgres_database=None)}, None, {'a': '10.0.0.12:6400'})
    assert not failed and (entries[0]['redis_host'], entries[0]['redis_isolation']) == ('redis1', 'instance')


@pytest.mark.parametrize('over, servers, words', [
    ({'redis_maxmemory': 'huge'}, SERVERS, 'redis_maxmemory of deployment a must be a memory size'),
    ({}, {'redis1': dict(SERVERS['redis1'], instance_ports='9-1')}, 'instance_ports of Redis host redis1 must be'),
])
def test_plan_stores_bad_input(over, servers, words):
    with pytest.raises(StoreError, match=words):
        plan_stores([entry('a', **over)], PG, servers, {}, 'seed')


def test_uri_points_at_the_instance_and_the_spec_holds_no_secret():
    entries, _failed = plan_stores([entry('a')], PG, SERVERS, {}, 'seed')
    e = dict(entries[0], redis_port=6400)
    pair = store_uris(e, PG['pg1'], SERVERS['redis1'], ri.DB_NUMBER)
    assert pair['redis_uri_masked'] == 'redis://lg_a:********@10.0.0.12:6400/1'
    spec = instance_spec(e, SERVERS['redis1'])
    assert spec == dict(name='a', port=6400, maxmemory=64 * MB, bind=['10.0.0.12', '127.0.0.1'])
    assert derived_redis_password('seed', 'a') == e['redis_password']


TLS = dict(cert_file='/etc/redis/tls/server.crt', key_file='/etc/redis/tls/server.key')
TLS_LINES = ['port 0', 'tls-port 6400', 'tls-cert-file /etc/redis/tls/server.crt',
             'tls-key-file /etc/redis/tls/server.key', 'tls-auth-clients no', 'tls-protocols "TLSv1.2 TLSv1.3"']


@pytest.mark.parametrize('tls, present, absent', [
    (None, ['port 6400'], TLS_LINES[1:]),
    (TLS, TLS_LINES, ['port 6400']),  # TLS only on the instance's port, with the host's certificate
])
def test_config_listens_plain_or_tls_only(tls, present, absent):
    lines = ri.render_config('bot', 6400, ['127.0.0.1'], 64 * MB, tls=tls).splitlines()
    assert [line for line in present if line not in lines] == []
    assert [line for line in absent if line in lines] == []
    assert len([line for line in lines if line.startswith('port ')]) == 1


TLS_CONFIG = ri.render_config('bot', 6400, ['127.0.0.1'], 64 * MB, tls=TLS)


@pytest.mark.parametrize('desired, seen, actions', [
    # A plain instance of before turns TLS: the listener changes, so that instance restarts.
    (dict(DESIRED, config=TLS_CONFIG), observed(), ['write config', 'restart']),
    (dict(DESIRED, config=TLS_CONFIG), observed(config=TLS_CONFIG), []),
    (dict(DESIRED, config=ri.render_config('bot', 6400, ['127.0.0.1'], 32 * MB, tls=TLS)),
     observed(config=TLS_CONFIG), ['write config', 'set maxmemory']),  # still live with TLS
    (DESIRED, observed(config=TLS_CONFIG), ['write config', 'restart']),  # TLS turned off again
])
def test_turning_tls_on_restarts_only_a_changed_instance(desired, seen, actions):
    assert ri.plan_instance(desired, seen) == actions


def test_client_context():
    assert ri.client_context(False, '/ca.crt') is None
    unverified = ri.client_context(True)
    assert (unverified.verify_mode, unverified.check_hostname) == (ssl.CERT_NONE, False)


TLS_SERVERS = {'redis1': dict(host='redis1', address='10.0.0.12', port=6379, tls=True, tls_port=6380,
                              ca_cert='/etc/selfhost-langgraph/tls/ca.crt', tls_cert_file='/etc/redis/tls/server.crt',
                              tls_key_file='/etc/redis/tls/server.key')}


@pytest.mark.parametrize('servers, uri, tls_spec', [
    (SERVERS, 'redis://lg_a:********@10.0.0.12:6400/1', {}),
    (TLS_SERVERS, 'rediss://lg_a:********@10.0.0.12:6400/1?ssl_cert_reqs=required'
                  '&ssl_ca_certs=/etc/selfhost-langgraph/tls/ca.crt&ssl_check_hostname=true',
     dict(tls_cert_file='/etc/redis/tls/server.crt', tls_key_file='/etc/redis/tls/server.key',
          ca_cert='/etc/selfhost-langgraph/tls/ca.crt')),
    (dict(redis1=dict(TLS_SERVERS['redis1'], ca_cert=None)),  # self-signed: encrypted, not verified
     'rediss://lg_a:********@10.0.0.12:6400/1?ssl_cert_reqs=none',
     dict(tls_cert_file='/etc/redis/tls/server.crt', tls_key_file='/etc/redis/tls/server.key', ca_cert=None)),
])
def test_instance_uri_and_spec_follow_the_hosts_tls(servers, uri, tls_spec):
    entries, failed = plan_stores([entry('a')], PG, servers, {}, 'seed')
    assert failed == {}
    e = dict(entries[0], redis_port=6400)
    assert store_uris(e, PG['pg1'], servers['redis1'], ri.DB_NUMBER)['redis_uri_masked'] == uri
    assert instance_spec(e, servers['redis1']) == dict(name='a', port=6400, maxmemory=64 * MB,
                                                       bind=['10.0.0.12', '127.0.0.1'], **tls_spec)
