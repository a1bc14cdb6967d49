# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis database numbers, allocated in the control database.

The allocation lives in Postgres (table redis_allocations), so it survives a
Redis restart and is shared by every job. Its UNIQUE constraints are the
guarantee that two deployments never share a number; a per-instance advisory
lock makes parallel jobs take turns instead of failing on them.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils.allocation import assign_redis_dbs, choose_redis_db
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

try:
    import redis
except ImportError:  # reported by connection.check_libraries()
    redis = None

# Advisory lock class (first key) for allocations; second key hashtext(instance).
REDIS_LOCK_CLASS = 716483922


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
