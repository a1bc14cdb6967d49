# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy locks and revision history in the control database.

AWX jobs are stateless, so who is rolling out what, and every revision of a
deployment, live in Postgres next to the allocations.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

try:
    from psycopg2.extensions import TransactionRollbackError
    from psycopg2.extras import execute_values
except ImportError:  # reported by connection.check_libraries()
    execute_values = None

    class TransactionRollbackError(Exception):
        pass


# --- one deployment's lock (the deploy_lock module) ---------------------------------------------

def ensure_deployment_row(cur, deployment):
    cur.execute("INSERT INTO deployments (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (deployment,))


def lock_holder(cur, deployment):
    cur.execute("SELECT holder, purpose, since, expires_at, expires_at < now() FROM deploy_locks "
                "WHERE deployment = %s", (deployment,))
    row = cur.fetchone()
    return None if row is None else _lock(row)


def try_lock(conn, deployment, holder, purpose, ttl):
    """One attempt: returns (acquired_now, current_lock). A lock whose
    expires_at passed (a job that died) is taken over."""
    with conn.cursor() as cur:
        ensure_deployment_row(cur, deployment)
        cur.execute(
            "INSERT INTO deploy_locks (deployment, holder, purpose, expires_at) "
            "VALUES (%s, %s, %s, now() + make_interval(secs => %s)) "
            "ON CONFLICT (deployment) DO UPDATE SET holder = EXCLUDED.holder, purpose = EXCLUDED.purpose, "
            "since = now(), expires_at = EXCLUDED.expires_at "
            "WHERE deploy_locks.expires_at < now() RETURNING holder",
            (deployment, holder, purpose, ttl))
        acquired = cur.fetchone() is not None
        current = lock_holder(cur, deployment)
    conn.commit()
    return acquired, current


def acquire_lock(conn, deployment, holder, purpose, ttl, wait, poll=1.0, clock=time):
    """Takes the deployment's lock for holder, waiting up to `wait` seconds.
    Returns True when taken now, False when holder already had it."""
    deadline = clock.time() + wait
    while True:
        acquired, current = try_lock(conn, deployment, holder, purpose, ttl)
        if acquired:
            return True
        if current and current['holder'] == holder:
            return False
        if clock.time() >= deadline:
            raise StoreError(
                "deployment %s is locked by %s since %s (%s); waited %d s. Let that job finish, or if it died, "
                "release the lock with selfhost.langgraph.deploy_lock state=absent force=true"
                % (deployment, current['holder'], current['since'], current['purpose'], wait))
        clock.sleep(poll)


def release_lock(conn, deployment, holder, force=False):
    """Releases the lock if holder has it (or any holder with force); True when released."""
    with conn.cursor() as cur:
        if force:
            cur.execute("DELETE FROM deploy_locks WHERE deployment = %s RETURNING holder", (deployment,))
        else:
            cur.execute("DELETE FROM deploy_locks WHERE deployment = %s AND holder = %s RETURNING holder",
                        (deployment, holder))
        released = cur.fetchone() is not None
    conn.commit()
    return released


# --- many deployments at once (the fleet control loop) ---------------------------------------------
#
# The functions below take a cursor (or a connection for a whole transaction)
# and a list of deployments, and run a fixed number of statements whatever
# the length of the list. `version` is the schema version the database is at:
# in check mode it may be behind, and a column it lacks reads as NULL.

PIN_VERSION = 4
HISTORY_VERSION = 2
ENV_VERSION = 3
FLEET_VERSION = 5   # deployments.replicas, fleet_hosts, audit_events
USAGE_VERSION = 7   # deployment_usage
REVISION_COLUMNS = ('number', 'image', 'image_digest', 'env_fingerprint', 'env', 'secret_names', 'status',
                    'status_reason', 'created_by', 'created_at', 'deployed_at')


def _lock(row):
    holder, purpose, since, expires_at, expired = row
    return dict(holder=holder, purpose=purpose, since=since.isoformat(),
                expires_at=expires_at.isoformat() if expires_at else None, expired=bool(expired))


def locks_of(cur, names, version=PIN_VERSION):
    """{name: lock} of the names that have a lock row (taken by anyone)."""
    if version < HISTORY_VERSION or not names:
        return {}
    cur.execute("SELECT deployment, holder, purpose, since, expires_at, coalesce(expires_at < now(), false) "
                "FROM deploy_locks WHERE deployment = ANY(%s)", (list(names),))
    return dict((row[0], _lock(row[1:])) for row in cur.fetchall())


def ensure_deployment_rows(cur, names):
    """A row for every name (locks, revisions and allocations refer to it);
    sorted, so that two jobs inserting the same names wait instead of deadlocking."""
    if names:
        cur.execute("INSERT INTO deployments (name) SELECT unnest(%s::text[]) ON CONFLICT (name) DO NOTHING",
                    (sorted(set(names)),))


def try_lock_many(conn, names, holder, purpose, ttl):
    """One attempt in one transaction: lock every free, expired or own (renewed)
    lock of names for holder. Returns (before, acquired): the locks as they
    were, and the set of names holder holds now."""
    names = sorted(set(names))
    with conn:
        cur = conn.cursor()
        before = locks_of(cur, names)
        ensure_deployment_rows(cur, names)
        cur.execute(
            "INSERT INTO deploy_locks AS l (deployment, holder, purpose, since, expires_at) "
            "SELECT d, %s, %s, now(), now() + make_interval(secs => %s) FROM unnest(%s::text[]) AS d "
            "ON CONFLICT (deployment) DO UPDATE SET holder = EXCLUDED.holder, purpose = EXCLUDED.purpose, "
            "since = CASE WHEN l.holder = EXCLUDED.holder THEN l.since ELSE EXCLUDED.since END, "
            "expires_at = EXCLUDED.expires_at "
            "WHERE l.holder = EXCLUDED.holder OR l.expires_at IS NULL OR l.expires_at < now() "
            "RETURNING deployment", (holder, purpose, ttl, names))
        acquired = set(row[0] for row in cur.fetchall())
    return before, acquired


def acquire_many(conn, names, holder, purpose, ttl, wait, poll=1.0, clock=time):
    """Lock names for holder, waiting up to `wait` seconds (polling) for those
    another job holds. Locks taken stay taken; those still held by others at
    the end come back in busy. Returns dict(locked, taken, taken_over, busy)."""
    pending = sorted(set(names))
    deadline = clock.time() + wait
    result = dict(locked=[], taken=[], taken_over={}, busy={})
    rollbacks = 0
    while pending:
        try:
            before, acquired = try_lock_many(conn, pending, holder, purpose, ttl)
        except TransactionRollbackError:
            # A deadlock or serialization failure with another job: the attempt
            # was rolled back, so trying again is safe.
            rollbacks += 1
            if rollbacks > 5:
                raise
            clock.sleep(0.05 * rollbacks)
            continue
        for name in sorted(acquired):
            result['locked'].append(name)
            previous = before.get(name)
            if previous is None or previous['holder'] != holder:
                result['taken'].append(name)
            if previous is not None and previous['holder'] != holder:
                result['taken_over'][name] = previous
        pending = [n for n in pending if n not in acquired]
        if not pending or clock.time() >= deadline:
            break
        clock.sleep(max(0.0, min(poll, deadline - clock.time())))
    if pending:
        with conn:
            held = locks_of(conn.cursor(), pending)
        result['busy'] = dict((n, held.get(n)) for n in pending)
    result['locked'].sort()
    return result


def renew_locks(cur, holder, ttl):
    """Extend every lease of holder to ttl seconds from now; returns their names.
    A lease is never shortened: a run that began with a longer one keeps it."""
    cur.execute("UPDATE deploy_locks SET expires_at = greatest(expires_at, now() + make_interval(secs => %s)) "
                "WHERE holder = %s RETURNING deployment", (ttl, holder))
    return sorted(row[0] for row in cur.fetchall())


def renew_or_read_locks(cur, holder, ttl, check_mode=False):
    """Extend every lease of holder (in check mode, only name them); returns their names."""
    if check_mode:
        cur.execute("SELECT deployment FROM deploy_locks WHERE holder = %s", (holder,))
        return sorted(row[0] for row in cur.fetchall())
    return renew_locks(cur, holder, ttl)


def release_locks(cur, names, check_mode=False, version=PIN_VERSION):
    """Release the locks of names whoever holds them (in check mode, only read
    them); returns {name: lock as it was}."""
    if version < HISTORY_VERSION or not names:
        return {}
    if check_mode:
        return locks_of(cur, names, version)
    cur.execute("DELETE FROM deploy_locks WHERE deployment = ANY(%s) "
                "RETURNING deployment, holder, purpose, since, expires_at, coalesce(expires_at < now(), false)",
                (sorted(set(names)),))
    return dict((row[0], _lock(row[1:])) for row in cur.fetchall())


def release_locks_of(cur, holder, check_mode=False, version=PIN_VERSION):
    """Release every lock holder has (in check mode, name them); returns the names."""
    if version < HISTORY_VERSION:
        return []
    if check_mode:
        cur.execute("SELECT deployment FROM deploy_locks WHERE holder = %s", (holder,))
    else:
        cur.execute("DELETE FROM deploy_locks WHERE holder = %s RETURNING deployment", (holder,))
    return sorted(row[0] for row in cur.fetchall())


def lock_revisions_of(cur, names):
    """Serialise revision numbering per deployment between jobs (an advisory
    lock each); in sorted order, so two jobs never wait on each other in a circle."""
    if names:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('selfhost.langgraph.revisions:' || d)) "
                    "FROM unnest(%s::text[]) AS d", (sorted(set(names)),))
        cur.fetchall()


DEPLOYMENT_COLUMNS = ('type', 'postgres_database', 'postgres_role', 'postgres_host', 'redis_host', 'replicas')


def recorded_deployments(cur, names, version=PIN_VERSION):
    """{name: {type, postgres_database, postgres_role, postgres_host, redis_host, replicas}} of the names recorded."""
    if version < 1 or not names:
        return {}
    pins = 'postgres_host, redis_host' if version >= PIN_VERSION else 'NULL::text, NULL::text'
    replicas = 'replicas' if version >= FLEET_VERSION else 'NULL::integer'
    cur.execute("SELECT name, type, postgres_database, postgres_role, %s, %s FROM deployments WHERE name = ANY(%%s)"
                % (pins, replicas), (list(names),))
    return dict((row[0], dict(zip(DEPLOYMENT_COLUMNS, row[1:]))) for row in cur.fetchall())


def update_deployments(cur, updates):
    """Write {name: {type?, postgres_host?, redis_host?}}: given fields only."""
    if not updates:
        return
    rows = [(name, fields.get('type'), fields.get('postgres_host'), fields.get('redis_host'))
            for name, fields in sorted(updates.items())]
    execute_values(
        cur,
        "UPDATE deployments d SET type = coalesce(v.type, d.type), "
        "postgres_host = coalesce(v.postgres_host, d.postgres_host), "
        "redis_host = coalesce(v.redis_host, d.redis_host), updated_at = now() "
        "FROM (VALUES %s) AS v(name, type, postgres_host, redis_host) WHERE d.name = v.name",
        rows, template='(%s, %s::text, %s::text, %s::text)')


def _revision(row):
    revision = dict(zip(REVISION_COLUMNS, row))
    for key in ('created_at', 'deployed_at'):
        if revision[key] is not None:
            revision[key] = revision[key].isoformat()
    return revision


def _revision_select(version):
    columns = list(REVISION_COLUMNS)
    if version < ENV_VERSION:
        columns[columns.index('env')] = "'{}'::jsonb"
        columns[columns.index('secret_names')] = "'[]'::jsonb"
    return ', '.join(columns)


def histories(cur, names, limit, version=PIN_VERSION):
    """{name: [newest `limit` revisions, newest first]} of names (only those with any)."""
    if version < HISTORY_VERSION or not names or limit < 1:
        return {}
    cur.execute("SELECT deployment, %s FROM (SELECT *, row_number() OVER (PARTITION BY deployment "
                "ORDER BY number DESC) AS newest FROM revisions WHERE deployment = ANY(%%s)) AS r "
                "WHERE newest <= %%s ORDER BY deployment, number DESC" % _revision_select(version),
                (list(names), limit))
    result = {}
    for row in cur.fetchall():
        result.setdefault(row[0], []).append(_revision(row[1:]))
    return result


def serving_numbers(cur, names, version=PIN_VERSION):
    """{name: number of its deployed revision} (also when older than the history read)."""
    if version < HISTORY_VERSION or not names:
        return {}
    cur.execute("SELECT DISTINCT ON (deployment) deployment, number FROM revisions "
                "WHERE deployment = ANY(%s) AND status = 'deployed' ORDER BY deployment, number DESC",
                (list(names),))
    return dict(cur.fetchall())


def newest_numbers(cur, names, version=PIN_VERSION):
    if version < HISTORY_VERSION or not names:
        return {}
    cur.execute("SELECT deployment, max(number) FROM revisions WHERE deployment = ANY(%s) GROUP BY deployment",
                (list(names),))
    return dict(cur.fetchall())


def revisions_at(cur, pairs, version=PIN_VERSION):
    """{(deployment, number): revision} of the pairs that exist."""
    pairs = sorted(set(pairs))
    if version < HISTORY_VERSION or not pairs:
        return {}
    cur.execute("SELECT deployment, %s FROM revisions WHERE (deployment, number) IN "
                "(SELECT * FROM unnest(%%s::text[], %%s::int[]))" % _revision_select(version),
                ([p[0] for p in pairs], [p[1] for p in pairs]))
    return dict(((row[0], row[1]), _revision(row[1:])) for row in cur.fetchall())


def statuses_for(cur, pairs, version=PIN_VERSION):
    """{(deployment, number): {status, status_reason}} of the pairs that exist
    and of every deployed revision of their deployments."""
    pairs = sorted(set(pairs))
    if version < HISTORY_VERSION or not pairs:
        return {}
    cur.execute("SELECT deployment, number, status, status_reason FROM revisions "
                "WHERE (deployment, number) IN (SELECT * FROM unnest(%s::text[], %s::int[])) "
                "OR (deployment = ANY(%s) AND status = 'deployed')",
                ([p[0] for p in pairs], [p[1] for p in pairs], sorted(set(p[0] for p in pairs))))
    return dict(((row[0], row[1]), dict(status=row[2], status_reason=row[3])) for row in cur.fetchall())


def insert_revisions(cur, rows):
    if not rows:
        return
    execute_values(
        cur,
        "INSERT INTO revisions (deployment, number, image, image_digest, env_fingerprint, env, secret_names, "
        "created_by) VALUES %s",
        [(r['deployment'], r['number'], r['image'], r['image_digest'], r['env_fingerprint'],
          json.dumps(r['env'], sort_keys=True), json.dumps(sorted(r['secret_names'])), r['created_by'])
         for r in rows],
        template='(%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s)')


def update_statuses(cur, updates):
    """Write control_decisions.plan_statuses() rows in one statement."""
    if not updates:
        return
    execute_values(
        cur,
        "UPDATE revisions r SET status = v.status, status_reason = v.reason, "
        "deployed_at = CASE WHEN v.deployed_now THEN now() ELSE r.deployed_at END "
        "FROM (VALUES %s) AS v(deployment, number, status, reason, deployed_now) "
        "WHERE r.deployment = v.deployment AND r.number = v.number",
        [(u['deployment'], u['number'], u['status'], u['status_reason'], u['deployed_now']) for u in updates],
        template='(%s::text, %s::int, %s::text, %s::text, %s::boolean)')


def allocations_of(cur, names, version=PIN_VERSION):
    """{name: {redis_instance, db_number}}: each name's Redis number (the newest
    allocation, should one deployment have numbers on several instances)."""
    if version < 1 or not names:
        return {}
    cur.execute("SELECT DISTINCT ON (deployment) deployment, redis_instance, db_number FROM redis_allocations "
                "WHERE deployment = ANY(%s) ORDER BY deployment, allocated_at DESC", (list(names),))
    return dict((row[0], dict(redis_instance=row[1], db_number=row[2])) for row in cur.fetchall())


def placement_counts(cur, version=PIN_VERSION):
    """{postgres: {host: n}, redis: {host: n}} over every deployment pinned to a host."""
    counts = dict(postgres={}, redis={})
    if version < PIN_VERSION:
        return counts
    cur.execute("SELECT 'postgres', postgres_host, count(*) FROM deployments WHERE postgres_host IS NOT NULL "
                "GROUP BY postgres_host UNION ALL "
                "SELECT 'redis', redis_host, count(*) FROM deployments WHERE redis_host IS NOT NULL "
                "GROUP BY redis_host")
    for kind, host, count in cur.fetchall():
        counts[kind][host] = int(count)
    return counts


def write_deployments(cur, rows):
    """Write whole deployments rows {name: {type, postgres_database,
    postgres_role, postgres_host, redis_host}}, creating missing ones."""
    if not rows:
        return
    execute_values(
        cur,
        "INSERT INTO deployments AS d (name, type, postgres_database, postgres_role, postgres_host, redis_host) "
        "VALUES %s ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type, "
        "postgres_database = EXCLUDED.postgres_database, postgres_role = EXCLUDED.postgres_role, "
        "postgres_host = EXCLUDED.postgres_host, redis_host = EXCLUDED.redis_host, updated_at = now()",
        [(name, r['type'], r['postgres_database'], r['postgres_role'], r['postgres_host'], r['redis_host'])
         for name, r in sorted(rows.items())],
        template='(%s, %s::text, %s::text, %s::text, %s::text, %s::text)')


# --- desired replicas, fleet hosts and the audit trail (schema version 5) ----------------------------

def _iso(value):
    return None if value is None else value.isoformat()


def fleet_hosts(cur, version=PIN_VERSION):
    """{name: {last_seen, down_since, problem}} of every recorded host, ISO timestamps."""
    if version < FLEET_VERSION:
        return {}
    cur.execute("SELECT name, last_seen, down_since, problem FROM fleet_hosts")
    return dict((row[0], dict(last_seen=_iso(row[1]), down_since=_iso(row[2]), problem=row[3]))
                for row in cur.fetchall())


def write_replicas(cur, counts):
    """Record {name: desired replicas} (the rows exist) in one statement."""
    if not counts:
        return
    names = sorted(counts)
    cur.execute("UPDATE deployments d SET replicas = v.replicas, updated_at = now() "
                "FROM unnest(%s::text[], %s::int[]) AS v(name, replicas) WHERE d.name = v.name",
                (names, [counts[n] for n in names]))


def write_hosts(cur, hosts):
    """Record hosts [{name, up, problem}] (names unique) in one statement: an up
    host was seen now and has no problem; a down one keeps the time it went down."""
    if not hosts:
        return
    cur.execute(
        "INSERT INTO fleet_hosts AS h (name, last_seen, down_since, problem) "
        "SELECT name, CASE WHEN up THEN now() END, CASE WHEN up THEN NULL ELSE now() END, "
        "CASE WHEN up THEN NULL ELSE problem END "
        "FROM unnest(%s::text[], %s::boolean[], %s::text[]) AS v(name, up, problem) "
        "ON CONFLICT (name) DO UPDATE SET "
        "last_seen = CASE WHEN EXCLUDED.down_since IS NULL THEN now() ELSE h.last_seen END, "
        "down_since = CASE WHEN EXCLUDED.down_since IS NULL THEN NULL ELSE coalesce(h.down_since, now()) END, "
        "problem = EXCLUDED.problem",
        ([h['name'] for h in hosts], [bool(h['up']) for h in hosts], [h.get('problem') for h in hosts]))


def insert_audit_events(cur, who, events):
    """Append events [{deployment, action, details}] by who, in one statement."""
    if not events:
        return
    cur.execute("INSERT INTO audit_events (who, action, deployment, details) "
                "SELECT %s, action, deployment, details::jsonb "
                "FROM unnest(%s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS v(action, deployment, details, n) "
                "ORDER BY n",
                (who, [e['action'] for e in events], [e.get('deployment') for e in events],
                 [json.dumps(e.get('details') or {}, sort_keys=True) for e in events]))
