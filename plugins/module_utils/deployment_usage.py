# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""When each deployment was last used, recorded in the control database
(table deployment_usage) by every reconcile and autoscale tick and by the
reaper. One home for the concept: the reaper decides from it, status shows it.

Two signs of use:

- requests: a load balancer server's request counter (HAProxy's stot) grew,
  or a new server answered some, since the last look (the counters come from
  the load balancer observation the run makes anyway);
- runs: the newest run in the deployment's own database (a cron, or a client
  that reached a container without the load balancer).

Postgres cannot query across databases, so reading the newest run costs one
connection per deployment. To keep a tick bounded with hundreds of
deployments, one query per Postgres host first reads the write counters of
all its deployment databases (pg_stat_database: rows inserted, updated and
deleted); only the databases whose counter moved since the last look, and
whose requests did not already show use, are opened - at most run_checks per
tick, the longest idle first. A database left for later keeps its old counter
recorded, so a later tick opens it. An idle deployment writes nothing, so in a
quiet fleet a tick opens none.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.run_queues import read_databases

# The columns migration 8 added (last_run_at, db_writes).
RUNS_VERSION = 8

# One query per Postgres host: every deployment database's write counter.
WRITES_SQL = ('SELECT datname, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database '
              'WHERE datname = ANY(%s)')

# The newest run that is due (a delayed run counts from when it is due). The
# runs table has an index on (status, created_at) but none on created_at: a
# loose index scan over the few statuses, then the newest of each.
LATEST_RUN_SQL = """WITH RECURSIVE statuses AS (
    (SELECT status FROM runs ORDER BY status LIMIT 1)
    UNION ALL
    SELECT (SELECT r.status FROM runs r WHERE r.status > s.status ORDER BY r.status LIMIT 1)
    FROM statuses s WHERE s.status IS NOT NULL
)
SELECT extract(epoch FROM max(newest))::float8 FROM (
    SELECT (SELECT max(r.created_at) FROM runs r WHERE r.status = s.status AND r.created_at <= now()) AS newest
    FROM statuses s WHERE s.status IS NOT NULL
) AS per_status"""


def counters(load_balancers):
    """{deployment: {'<lb>/<server>': stot}} from haproxy_info's backends per load balancer."""
    found = {}
    for lb in sorted(load_balancers):
        for deployment, backend in sorted((load_balancers[lb] or {}).items()):
            mine = found.setdefault(deployment, {})
            for server, info in sorted(((backend or {}).get('servers') or {}).items()):
                mine['%s/%s' % (lb, server)] = int(info.get('stot') or 0)
    return found


def used(previous, current):
    """Did any server answer a request between the two readings of the counters?

    A counter that grew, or a new server that answered some, is use; a counter
    that went down (HAProxy reloaded, the server was replaced) counts from 0."""
    for key, value in current.items():
        before = previous.get(key)
        if before is None or value < before:
            if value > 0:
                return True
        elif value > before:
            return True
    return False


def to_check(recorded, writes, requested, limit):
    """The deployments whose newest run to read this tick, longest idle first, at most limit.

    recorded: {name: row or None}; writes: {name: write counter now} (those
    whose host answered); requested: names whose requests showed use already."""
    moved = [name for name, now in writes.items()
             if name not in requested and (recorded.get(name) or {}).get('db_writes') != now]
    moved.sort(key=lambda name: ((recorded.get(name) or {}).get('last_used_at') or 0, name))
    return moved[:max(0, limit)]


def next_row(row, now, observed, requested, writes, checked, latest_run):
    """The usage row after this look.

    row: as recorded ({last_used_at, last_run_at, db_writes, counters}) or None
    (first look: idle from now). observed: this look's request counters.
    requested: whether they show use. writes: the database's write counter now
    (None when its host did not answer). checked: whether its newest run was
    read, latest_run that run's time (None: no run). The counter is recorded
    only when nothing is left to read: a moved one that was not read stays old,
    so that a later tick reads it."""
    row = row or {}
    last_used = now if requested or not row else row['last_used_at']
    last_run = row.get('last_run_at')
    if checked and latest_run is not None:
        last_run = latest_run if last_run is None else max(last_run, latest_run)
        last_used = max(last_used, min(latest_run, now))
    keep_writes = writes is None or not (checked or requested or row.get('db_writes') == writes)
    return dict(last_used_at=last_used, last_run_at=last_run, counters=observed,
                db_writes=row.get('db_writes') if keep_writes else writes)


def how(row, new, requested):
    """What showed the last use: requests, runs, first look, or nothing new (None)."""
    if not row:
        return 'first look'
    if requested:
        return 'requests'
    if new['last_used_at'] > row['last_used_at']:
        return 'runs'
    return None


def placements(cur, names):
    """{name: (postgres_host or None, database)} of the names that have a database."""
    cur.execute('SELECT name, postgres_host, postgres_database FROM deployments '
                'WHERE name = ANY(%s) AND postgres_database IS NOT NULL', (list(names),))
    return dict((name, (host, database)) for name, host, database in cur.fetchall())


def read_rows(cur, names, version):
    """{name: row} as recorded (epoch times); columns the schema lacks read as None."""
    if version < 7 or not names:
        return {}
    extra = ('extract(epoch FROM last_run_at), db_writes' if version >= RUNS_VERSION else 'NULL, NULL')
    cur.execute('SELECT deployment, extract(epoch FROM last_used_at), counters, extract(epoch FROM notified_at), '
                '%s FROM deployment_usage WHERE deployment = ANY(%%s)' % extra, (list(names),))
    rows = {}
    for name, last_used, seen, notified, last_run, writes in cur.fetchall():
        rows[name] = dict(last_used_at=float(last_used), counters=seen or {},
                          notified_at=None if notified is None else float(notified),
                          last_run_at=None if last_run is None else float(last_run),
                          db_writes=None if writes is None else int(writes))
    return rows


def write_rows(cur, rows):
    """Upsert {name: row}. last_used_at and last_run_at never go back: two runs that look at once both count."""
    for name, row in sorted(rows.items()):
        cur.execute("""INSERT INTO deployment_usage (deployment, last_used_at, counters, observed_at, last_run_at,
                                                     db_writes)
                       VALUES (%s, to_timestamp(%s), %s, now(), to_timestamp(%s), %s)
                       ON CONFLICT (deployment) DO UPDATE SET
                           last_used_at = GREATEST(deployment_usage.last_used_at, EXCLUDED.last_used_at),
                           last_run_at = GREATEST(deployment_usage.last_run_at, EXCLUDED.last_run_at),
                           counters = EXCLUDED.counters, observed_at = EXCLUDED.observed_at,
                           db_writes = EXCLUDED.db_writes""",
                    (name, row['last_used_at'], json.dumps(row['counters'], sort_keys=True), row['last_run_at'],
                     row['db_writes']))


def group_by_host(placed, control_host):
    """{host: {database: name}}; a deployment recorded without a host lives on the control host."""
    hosts = {}
    for name, (host, database) in sorted(placed.items()):
        hosts.setdefault(host or control_host, {})[database] = name
    return hosts


def read_writes(hosts, servers, connect):
    """({name: write counter}, {name: problem}): one connection and one query per Postgres host."""
    writes, problems = {}, {}
    for host, databases in sorted(hosts.items()):
        if host not in servers:
            for name in databases.values():
                problems[name] = 'its Postgres host %s is not among postgres_servers' % host
            continue
        try:
            conn = connect(servers[host], 'postgres')
        except StoreError as exc:
            for name in databases.values():
                problems[name] = str(exc)
            continue
        try:
            with conn.cursor() as cur:
                cur.execute(WRITES_SQL, (sorted(databases),))
                for database, count in cur.fetchall():
                    writes[databases[database]] = int(count or 0)
        finally:
            conn.rollback()
            conn.close()
    return writes, problems


def _latest_run(cur):
    """Epoch of the newest due run, None without runs (or before the server migrated its database)."""
    cur.execute("SELECT to_regclass('runs') IS NOT NULL")
    if not cur.fetchone()[0]:
        return None
    cur.execute(LATEST_RUN_SQL)
    return cur.fetchone()[0]


def read_latest_runs(todo, connect, parallel=8):
    """({name: epoch or None}, {name: problem}); todo: [(name, server, database)], a few at once."""
    return read_databases(todo, connect, _latest_run, 'cannot read its newest run', parallel)


# Serialises the recorders (ticks and the reaper) while they read and write the rows.
USAGE_LOCK_KEY = 7164839208


def record(conn, version, names, load_balancers, servers, connect, control_host, write=True, run_checks=50,
           parallel=8):
    """Look once and (with write) record. Returns (now, usage, problems).

    usage: {name: {last_used_at, last_run_at, used_by, notified_at, first_look}} of the names that have a
    database; problems: {name: why its runs could not be read} (its requests still count)."""
    cur = conn.cursor()
    placed = placements(cur, names)
    before = read_rows(cur, sorted(placed), version)
    observed = counters(load_balancers)
    requested = set(name for name in placed
                    if name in before and used(before[name]['counters'], observed.get(name, {})))
    hosts = group_by_host(placed, control_host)
    conn.rollback()
    # The remote reads happen outside the lock; the rows are read again under it.
    writes, problems = read_writes(hosts, servers, connect)
    chosen = to_check(dict((n, before.get(n)) for n in placed), writes, requested, run_checks)
    latest, failed = read_latest_runs([(n, servers[placed[n][0] or control_host], placed[n][1]) for n in chosen],
                                      connect, parallel)
    problems.update(failed)
    skipped = sorted(n for n in placed if n in writes and n not in chosen and n not in requested
                     and (before.get(n) or {}).get('db_writes') != writes[n])
    if write and version >= 7:
        cur.execute('SELECT pg_advisory_xact_lock(%s)', (USAGE_LOCK_KEY,))
        before = read_rows(cur, sorted(placed), version)
        requested = set(name for name in placed
                        if name in before and used(before[name]['counters'], observed.get(name, {})))
    cur.execute('SELECT extract(epoch FROM now())::float8')
    now = float(cur.fetchone()[0])
    rows, usage = {}, {}
    for name in sorted(placed):
        row = before.get(name)
        new = next_row(row, now, observed.get(name, {}), name in requested, writes.get(name),
                       name in latest, latest.get(name))
        rows[name] = new
        usage[name] = dict(last_used_at=new['last_used_at'], last_run_at=new['last_run_at'],
                           used_by=how(row, new, name in requested),
                           notified_at=(row or {}).get('notified_at'), first_look=row is None)
    if write and version >= RUNS_VERSION:
        write_rows(cur, rows)
        conn.commit()
    else:
        conn.rollback()
    for name in skipped:
        problems.setdefault(name, 'its newest run is read on a later tick (run_checks %d per tick)' % run_checks)
    return now, usage, problems
