# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis database numbers, allocated in the control database, and each
deployment's ACL user, allowed only its own number.

The allocation lives in Postgres (table redis_allocations), so it survives a
Redis restart and is shared by every job. Its UNIQUE constraints are the
guarantee that two deployments never share a number; a per-instance advisory
lock makes parallel jobs take turns instead of failing on them.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import hashlib
import os
import re

from ansible_collections.selfhost.langgraph.plugins.module_utils.allocation import assign_redis_dbs, choose_redis_db
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

try:
    import redis
except ImportError:  # reported by connection.check_libraries()
    redis = None

# Advisory lock class (first key) for allocations; second key hashtext(instance).
REDIS_LOCK_CLASS = 716483922

# First-argument rules (+select|3), which keep a user in its database, exist from Redis 7.0.
ACL_MIN_VERSION = (7, 0)

# What a deployment's user may run: every command but the server's
# (@admin: CONFIG, ACL, DEBUG, MODULE, SHUTDOWN, FAILOVER, MONITOR, CLIENT
# KILL ...) and the dangerous ones (@dangerous: FLUSHALL, SWAPDB, MIGRATE,
# KEYS, INFO ...); SELECT only of its own number; and none of the commands
# that reach another database or what every deployment shares: MOVE and COPY
# (COPY ... DB n), FUNCTION (libraries are global), SCRIPT FLUSH and KILL,
# PUBSUB (lists every deployment's channels).
ACL_DENIED_COMMANDS = ('move', 'copy', 'swapdb', 'flushall', 'migrate', 'acl', 'config', 'function',
                       'script|flush', 'script|kill', 'pubsub')


def read_databases(client, fallback, where):
    """The instance's `databases` setting, from CONFIG GET or else the fallback.

    Returns (count, source)."""
    try:
        value = client.config_get('databases')
        return int(value['databases']), 'CONFIG GET databases'
    except (redis.exceptions.ResponseError, KeyError, TypeError, ValueError) as e:
        if fallback:
            return fallback, 'the databases option (CONFIG GET failed: %s)' % e
        raise StoreError(
            "cannot read the databases setting of Redis at %s with CONFIG GET (%s): set the "
            "databases option to the instance's configured value (redis_databases)" % (where, e))


def _find(cur, instance, deployment):
    cur.execute('SELECT db_number FROM redis_allocations WHERE redis_instance = %s AND deployment = %s',
                (instance, deployment))
    row = cur.fetchone()
    return row[0] if row else None


def _tables_exist(cur):
    cur.execute("SELECT to_regclass('redis_allocations') IS NOT NULL")
    return cur.fetchone()[0]


def allocate(conn, instance, deployment, databases, check_mode=False, who=None):
    """The deployment's number on instance, allocating one if it has none.

    Returns (number, newly_allocated). In check mode nothing is written and
    the number is the one that would be allocated now.
    """
    with conn:
        cur = conn.cursor()
        exists = _tables_exist(cur)
        existing = _find(cur, instance, deployment) if exists else None
        if existing is None and not check_mode:
            cur.execute('SELECT pg_advisory_xact_lock(%s, hashtext(%s))', (REDIS_LOCK_CLASS, instance))
            existing = _find(cur, instance, deployment)
        if existing is not None:
            if existing >= databases:
                raise StoreError(
                    "deployment %s has Redis database %d on %s, but the instance has only %d "
                    "databases (0..%d): raise redis_databases to at least %d"
                    % (deployment, existing, instance, databases, databases - 1, existing + 1))
            return existing, False
        taken = []
        if exists:
            cur.execute('SELECT db_number FROM redis_allocations WHERE redis_instance = %s', (instance,))
            taken = [row[0] for row in cur.fetchall()]
        number = choose_redis_db(taken, databases, instance)
        if not check_mode:
            cur.execute('INSERT INTO deployments (name) VALUES (%s) ON CONFLICT (name) DO NOTHING',
                        (deployment,))
            cur.execute("""INSERT INTO redis_allocations (redis_instance, db_number, deployment, allocated_by)
                           VALUES (%s, %s, %s, %s)""", (instance, number, deployment, who))
    return number, True


def release(conn, instance, deployment, flush, check_mode=False):
    """Flush the deployment's database (flush(number)) and free its number.

    Returns the number that was (or would be) released, or None. The number
    is freed in the same transaction, after the flush, while the instance is
    locked, so nobody gets it before it is empty."""
    with conn:
        cur = conn.cursor()
        if not _tables_exist(cur):
            return None
        if not check_mode:
            cur.execute('SELECT pg_advisory_xact_lock(%s, hashtext(%s))', (REDIS_LOCK_CLASS, instance))
        number = _find(cur, instance, deployment)
        if number is None or check_mode:
            return number
        flush(number)
        cur.execute('DELETE FROM redis_allocations WHERE redis_instance = %s AND deployment = %s',
                    (instance, deployment))
    return number


def per_database(client, numbers, command):
    """Run command (FLUSHDB, DBSIZE) in each of the database numbers over the
    client's one connection; returns {number: reply}. The connection selects
    its own database again at the end (or is dropped if that failed)."""
    numbers = list(numbers)
    if not numbers:
        return {}
    pipe = client.pipeline(transaction=False)
    for number in numbers:
        pipe.execute_command('SELECT', number)
        pipe.execute_command(command)
    pipe.execute_command('SELECT', client.connection_pool.connection_kwargs.get('db', 0))
    try:
        replies = pipe.execute()
    except redis.exceptions.RedisError:
        client.connection_pool.disconnect()
        raise
    return dict(zip(numbers, replies[1::2]))


def _allocated(cur, instance, names=None):
    if names is None:
        cur.execute('SELECT deployment, db_number FROM redis_allocations WHERE redis_instance = %s', (instance,))
    else:
        cur.execute('SELECT deployment, db_number FROM redis_allocations WHERE redis_instance = %s '
                    'AND deployment = ANY(%s)', (instance, list(names)))
    return dict(cur.fetchall())


def allocate_many(conn, instance, names, databases, check_mode=False, who=None):
    """allocate() for many deployments of one instance, in one transaction.

    Returns (numbers, failed) as allocation.assign_redis_dbs() does; in check
    mode nothing is written and the numbers are those that would be allocated."""
    with conn:
        cur = conn.cursor()
        if not _tables_exist(cur):
            return assign_redis_dbs({}, names, databases, instance)
        if not check_mode:
            cur.execute('SELECT pg_advisory_xact_lock(%s, hashtext(%s))', (REDIS_LOCK_CLASS, instance))
        numbers, failed = assign_redis_dbs(_allocated(cur, instance), names, databases, instance)
        new = sorted((name, number) for name, (number, is_new) in numbers.items() if is_new)
        if new and not check_mode:
            cur.execute('INSERT INTO deployments (name) SELECT unnest(%s::text[]) ON CONFLICT (name) DO NOTHING',
                        ([name for name, _number in new],))
            cur.execute('INSERT INTO redis_allocations (redis_instance, db_number, deployment, allocated_by) '
                        'SELECT %s, n, d, %s FROM unnest(%s::text[], %s::int[]) AS t(d, n)',
                        (instance, who, [name for name, _number in new], [number for _name, number in new]))
    return numbers, failed


def release_many(conn, instance, names, flush_many, check_mode=False):
    """release() for many deployments of one instance: flush_many(numbers)
    empties their databases, then the numbers are freed in the same
    transaction, under the instance's lock. Returns {name: number released}
    (in check mode, that would be)."""
    with conn:
        cur = conn.cursor()
        if not _tables_exist(cur):
            return {}
        if not check_mode:
            cur.execute('SELECT pg_advisory_xact_lock(%s, hashtext(%s))', (REDIS_LOCK_CLASS, instance))
        released = _allocated(cur, instance, names)
        if check_mode or not released:
            return released
        flush_many(sorted(released.values()))
        cur.execute('DELETE FROM redis_allocations WHERE redis_instance = %s AND deployment = ANY(%s)',
                    (instance, sorted(released)))
    return released


# --- ACL users (decisions are pure) ----------------------------------------------------------------

def password_hash(password):
    """What Redis keeps of an ACL password (ACL SETUSER name #<hash>)."""
    return hashlib.sha256(password.encode('utf-8')).hexdigest()


def acl_command_rules(number):
    """The command rules of a deployment's user with database number, in the
    order Redis applies (and, from 7.0, shows) them."""
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise ValueError('a deployment user needs its database number (1 or more), not %r' % (number,))
    return ['+@all', '-@admin', '-@dangerous', '-select', '+select|%d' % number] + \
        ['-' + command for command in ACL_DENIED_COMMANDS]


def acl_rules(number, password):
    """The whole ACL SETUSER rule list of a deployment's user: from a clean
    slate, enabled, one password (its hash), every key and channel of its
    database, the command rules. The password is sent hashed."""
    return ['reset', 'on', '#' + password_hash(password), '~*', '&*'] + acl_command_rules(number)


def parse_redis_version(text):
    """(major, minor) of an INFO server redis_version such as 7.0.15; None if unreadable."""
    match = re.match(r'\A\s*(\d+)\.(\d+)', text or '')
    return (int(match.group(1)), int(match.group(2))) if match else None


def acl_version_problem(version, where):
    """Why per-deployment users cannot be made on this Redis, or None."""
    parsed = parse_redis_version(version)
    if parsed is None:
        return 'cannot read the version of Redis at %s (INFO server gave %r)' % (where, version)
    if parsed < ACL_MIN_VERSION:
        return ('Redis at %s is %s: each deployment gets an ACL user limited to its own database, which needs '
                'Redis %d.%d or later (first-argument rules such as +select|3); upgrade Redis'
                % (where, version, ACL_MIN_VERSION[0], ACL_MIN_VERSION[1]))
    return None


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    if isinstance(value, (list, tuple)):
        return [_text(v) for v in value]
    return value


def parse_getuser(reply):
    """The raw ACL GETUSER reply (flat key/value list, RESP2) as a dict of
    str values; None for a user that does not exist."""
    if not reply:
        return None
    if isinstance(reply, dict):  # redis-py 5 parses it: keys text, commands a list
        return dict((_text(k), _text(v)) for k, v in reply.items())
    reply = _text(reply)
    return dict(zip(reply[0::2], reply[1::2]))


def expected_commands(shown_for_one, number):
    """How Redis shows the command rules of a user with database number,
    given how it showed them for database 1 (Redis rewrites the rules into
    its own order, the same for every number)."""
    if shown_for_one is None:
        return ' '.join(acl_command_rules(number))
    return ' '.join('+select|%d' % number if token == '+select|1' else token for token in shown_for_one.split())


def _commands_text(commands):
    return ' '.join(commands) if isinstance(commands, list) else commands


def user_matches(observed, number, password, shown_for_one=None):
    """True when the observed user (parse_getuser) is exactly the one
    acl_rules(number, password) makes; shown_for_one as expected_commands."""
    if observed is None:
        return False
    flags = observed.get('flags') or []
    return ('on' in flags and 'off' not in flags and 'nopass' not in flags
            and list(observed.get('passwords') or []) == [password_hash(password)]
            and observed.get('keys') == '~*' and observed.get('channels') == '&*'
            and not observed.get('selectors')
            and _commands_text(observed.get('commands')) == expected_commands(shown_for_one, number))


def plan_user(observed, state, number=None, password=None, shown_for_one=None):
    """'create', 'update', 'delete' or None (nothing to do) for a user."""
    if state == 'absent':
        return 'delete' if observed is not None else None
    if observed is None:
        return 'create'
    return None if user_matches(observed, number, password, shown_for_one) else 'update'


def describe_user(action, user, number, where):
    if action == 'delete':
        return 'remove Redis user %s on %s' % (user, where)
    return '%s Redis user %s on %s, allowed only database %d' % (action, user, where, number)


def observe_users(client, users):
    """{user: parse_getuser reply} over the one connection (pipelined)."""
    users = list(users)
    if not users:
        return {}
    pipe = client.pipeline(transaction=False)
    for user in users:
        pipe.execute_command('ACL', 'GETUSER', user)
    return dict(zip(users, [parse_getuser(reply) for reply in pipe.execute()]))


def shown_rules(client):
    """How this Redis shows acl_command_rules(1): a scratch user, disabled and
    without password (nobody can log in as it), made and removed at once."""
    probe = 'lg__rules_probe_%s' % binascii.hexlify(os.urandom(6)).decode()
    client.execute_command('ACL', 'SETUSER', probe, 'reset', 'off', *acl_command_rules(1))
    try:
        shown = parse_getuser(client.execute_command('ACL', 'GETUSER', probe))
    finally:
        client.execute_command('ACL', 'DELUSER', probe)
    return _commands_text(shown['commands'])


def redis_version(client):
    """redis_version of INFO server, as text."""
    return str(client.info('server').get('redis_version', ''))


def apply_users(client, changes):
    """Carry out [(action, user, number, password)]: ACL SETUSER with
    acl_rules, or ACL DELUSER (which also closes that user's connections).
    Then ACL SAVE when the instance has an aclfile. Returns whether the users
    were saved to an aclfile."""
    if not changes:
        return None
    for action, user, number, password in changes:
        if action == 'delete':
            client.execute_command('ACL', 'DELUSER', user)
        else:
            client.execute_command('ACL', 'SETUSER', user, *acl_rules(number, password))
    return save_users(client)


def save_users(client):
    """ACL SAVE when the instance keeps its users in an aclfile; False when it
    has none (the users live in memory until Redis restarts)."""
    try:
        aclfile = _text(client.config_get('aclfile').get('aclfile') or '')
    except redis.exceptions.ResponseError:
        aclfile = ''
    if not aclfile:
        return False
    client.execute_command('ACL', 'SAVE')
    return True
