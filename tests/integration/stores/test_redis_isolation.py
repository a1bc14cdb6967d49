# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each deployment's Redis ACL user, against the real Redis: with A's
REDIS_URI, B's database cannot be read, written, flushed or selected, and the
server's commands are refused; the modules are idempotent, check mode changes
nothing and a release removes the user."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import uuid

import pytest
import redis

from conftest import PASSWORD_SEED, PREFIX, forms

# What A's user tries against B's database or the server, each refused by the ACL.
REFUSED = [
    ('select B', lambda b: ('SELECT', b)),
    ('select 0', lambda b: ('SELECT', 0)),
    ('swapdb', lambda b: ('SWAPDB', 0, b)),
    ('move to B', lambda b: ('MOVE', 'a-key', b)),
    ('copy to B', lambda b: ('COPY', 'a-key', 'a-copy', 'DB', b)),
    ('flushall', lambda b: ('FLUSHALL',)),
    ('migrate', lambda b: ('MIGRATE', '127.0.0.1', 6379, 'a-key', b, 1000)),
    ('config get', lambda b: ('CONFIG', 'GET', 'requirepass')),
    ('config set', lambda b: ('CONFIG', 'SET', 'maxmemory', '1')),
    ('acl list', lambda b: ('ACL', 'LIST')),
    ('acl setuser', lambda b: ('ACL', 'SETUSER', 'default', 'nopass')),
    ('acl whoami', lambda b: ('ACL', 'WHOAMI')),
    ('debug', lambda b: ('DEBUG', 'OBJECT', 'a-key')),
    ('module list', lambda b: ('MODULE', 'LIST')),
    ('shutdown', lambda b: ('SHUTDOWN', 'NOSAVE')),
    ('failover', lambda b: ('FAILOVER', 'ABORT')),
    ('replicaof', lambda b: ('REPLICAOF', 'NO', 'ONE')),
    ('client list', lambda b: ('CLIENT', 'LIST')),
    ('client kill', lambda b: ('CLIENT', 'KILL', 'TYPE', 'normal')),
    ('info (every database\'s key count)', lambda b: ('INFO', 'keyspace')),
    ('keys', lambda b: ('KEYS', '*')),
    ('pubsub channels', lambda b: ('PUBSUB', 'CHANNELS')),
    ('function flush', lambda b: ('FUNCTION', 'FLUSH')),
    ('script flush', lambda b: ('SCRIPT', 'FLUSH')),
    ('eval select B', lambda b: ('EVAL', "return redis.call('SELECT', ARGV[1])", 0, b)),
    ('eval flushall', lambda b: ('EVAL', "return redis.call('FLUSHALL')", 0)),
]


def redis_args(target, name, **extra):
    args = dict(target.redis_args(), name=name)
    args.update(extra)
    return args


def allocate(target, name):
    result = target.module('deployment_redis', redis_args(target, name), no_log=True)
    assert not result.get('failed'), result
    return result


@pytest.fixture(scope='module')
def two(target):
    tag = uuid.uuid4().hex[:6]
    a_name, b_name = ['%s%s-%d' % (PREFIX, tag, i) for i in (1, 2)]
    a, b = allocate(target, a_name), allocate(target, b_name)
    clients = [redis.Redis.from_url(a['redis_uri'], socket_connect_timeout=5),
               redis.Redis.from_url(b['redis_uri'], socket_connect_timeout=5)]
    yield a, b, clients
    for client in clients:
        client.close()
    for name in (a_name, b_name):
        target.module('deployment_redis', redis_args(target, name, state='absent'))


def test_the_uri_carries_the_deployments_user(target, two):
    a, b, _clients = two
    assert a['user'] == 'lg_' + a['deployment'].replace('-', '_') and a['user'] != b['user']
    assert a['db'] != b['db']
    assert a['redis_uri'].startswith('redis://%s:' % a['user']) and a['redis_uri'].endswith('/%d' % a['db'])
    assert a['redis_uri_masked'] == 'redis://%s:********@%s/%d' % (a['user'], target.instance, a['db'])
    # the shared password is not in it, in any form
    assert not any(form in a['redis_uri'] for form in forms(target.redis_password))
    admin = target.redis()
    assert admin.execute_command('ACL', 'GETUSER', a['user']) is not None
    admin.close()


def test_a_cannot_reach_b_or_the_server(target, two):
    a, b, (ca, cb) = two
    ca.set('a-key', 'a')
    cb.set('b-key', 'b')
    admin = target.redis()
    refusals = []
    for what, command in REFUSED:
        args = command(b['db'])
        with pytest.raises(redis.exceptions.ResponseError) as refused:
            ca.execute_command(*args)
        refusals.append('%s: %s' % (what, refused.value))
        # Refused by the ACL itself (DEBUG is also refused earlier, by enable-debug-command)
        if not args[0] == 'EVAL':
            verdict = admin.execute_command('ACL', 'DRYRUN', a['user'], *args)
            assert verdict != b'OK' and b'no permissions' in verdict, (what, verdict)
    print('\n'.join(refusals))
    admin.close()
    # B's data and A's own are as they were; A is still in its own database
    assert cb.get('b-key') == b'b' and cb.dbsize() == 1
    assert ca.get('a-key') == b'a' and ca.get('b-key') is None


def test_a_works_in_its_own_database(target, two):
    a, _b, (ca, cb) = two
    ca.set('k', '1')
    assert ca.incr('k') == 2
    ca.xadd('stream', {'f': 'v'})
    assert len(ca.xrange('stream')) == 1
    assert ca.execute_command('SELECT', a['db'])
    assert ca.eval("return redis.call('GET', KEYS[1])", 1, 'k') == b'2'
    sub = ca.pubsub()
    sub.subscribe('run:x:stream')
    sub.get_message(timeout=2)
    assert cb.publish('run:x:stream', 'hello') == 1   # channels are global: see docs/redis-isolation.md
    assert sub.get_message(timeout=2)['data'] == b'hello'
    sub.close()
    assert cb.get('k') is None


def test_modules_are_idempotent_and_check_mode_changes_nothing(target, names):
    name = names(1)[0]
    user = 'lg_' + name.replace('-', '_')
    admin = target.redis()
    try:
        predicted = target.module('deployment_redis', redis_args(target, name), check=True)
        assert predicted['changed'] and any(a.startswith('create Redis user %s' % user) for a in predicted['actions'])
        assert admin.execute_command('ACL', 'GETUSER', user) is None
        first = allocate(target, name)
        assert first['changed'] and 'create Redis user %s on %s, allowed only database %d' % (
            user, target.instance, first['db']) in first['actions']
        again = allocate(target, name)
        assert not again['changed'] and again['actions'] == [] and again['redis_uri'] == first['redis_uri']
        # a user changed behind our back is set right again
        admin.execute_command('ACL', 'SETUSER', user, '+@all')
        fixed = allocate(target, name)
        assert fixed['changed'] and fixed['actions'] == [
            'update Redis user %s on %s, allowed only database %d' % (user, target.instance, first['db'])]
        assert not allocate(target, name)['changed']
        # an explicit password wins over the seed
        explicit = target.module('deployment_redis', redis_args(target, name, user_password='x' * 40), no_log=True)
        assert explicit['changed']
        assert redis.Redis.from_url(explicit['redis_uri']).ping()
        allocate(target, name)
        # release: check mode predicts, the real run removes the user and closes its connections
        client = redis.Redis.from_url(first['redis_uri'])
        client.set('k', 'v')
        release_check = target.module('deployment_redis', redis_args(target, name, state='absent'), check=True)
        assert 'remove Redis user %s on %s' % (user, target.instance) in release_check['actions']
        assert admin.execute_command('ACL', 'GETUSER', user) is not None and client.get('k') == b'v'
        released = target.module('deployment_redis', redis_args(target, name, state='absent'))
        assert released['actions'][0] == 'remove Redis user %s on %s' % (user, target.instance)
        assert admin.execute_command('ACL', 'GETUSER', user) is None
        with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ResponseError,
                            redis.exceptions.ConnectionError)):
            redis.Redis.from_url(first['redis_uri']).ping()
        assert not target.module('deployment_redis', redis_args(target, name, state='absent'))['changed']
        client.close()
    finally:
        admin.close()


def test_no_password_no_user(target, names):
    args = redis_args(target, names(1)[0])
    args.pop('password_seed')
    result = target.module('deployment_redis', args)
    assert result['failed'] and 'needs the password of its Redis user: give user_password or password_seed' in \
        result['msg']


def test_deployment_stores_makes_and_removes_the_users(target, names):
    a_name, b_name = names(2)
    servers = dict(postgres_servers=[target.postgres_server()], redis_servers=[target.redis_server()])
    entries = [dict(name=n, postgres_host=target.pg_host, redis_host=target.redis_host) for n in (a_name, b_name)]
    args = dict(target.pg_args(), deployments=entries, password_seed=PASSWORD_SEED, **servers)
    predicted = target.module('deployment_stores', args, check=True)
    assert sum('create Redis user' in a for a in predicted['actions']) == 2
    made = target.module('deployment_stores', args, no_log=True)
    assert not made['failures'], made['failures']
    uri_a = made['uris'][a_name]['redis_uri']
    assert uri_a.startswith('redis://lg_%s:' % a_name.replace('-', '_'))
    client = redis.Redis.from_url(uri_a)
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.execute_command('SELECT', made['stores'][b_name]['redis_db'])
    client.close()
    assert not target.module('deployment_stores', args)['changed']
    gone = [dict(name=n, state='absent', purge=True) for n in (a_name, b_name)]
    removed = target.module('deployment_stores', dict(args, deployments=gone))
    assert not removed['failures']
    admin = target.redis()
    for name in (a_name, b_name):
        assert admin.execute_command('ACL', 'GETUSER', 'lg_' + name.replace('-', '_')) is None
    admin.close()
