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

from ansible_collections.selfhost.langgraph.plugins.module_utils.allocation import choose_redis_db
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


def allocations(conn, instance):
    """{deployment: number} of instance (for reports and tests)."""
    with conn:
        cur = conn.cursor()
        if not _tables_exist(cur):
            return {}
        cur.execute('SELECT deployment, db_number FROM redis_allocations WHERE redis_instance = %s',
                    (instance,))
        return dict(cur.fetchall())
