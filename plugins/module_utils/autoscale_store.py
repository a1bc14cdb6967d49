# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Autoscaler decisions in the control database (table scale_events) and the
queue depth in a deployment's own database (table runs of the LangGraph server)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

try:
    from psycopg2.extras import execute_values
except ImportError:  # reported by connection.check_libraries()
    execute_values = None

EVENT_COLUMNS = ('id', 'decided_at', 'inputs', 'current_replicas', 'desired', 'applied', 'reason',
                 'low_since', 'scale_down_at')


def _epoch(value):
    return None if value is None else value.timestamp()


def db_now(cur):
    """The database's clock, epoch seconds: every timer is on this one clock."""
    cur.execute('SELECT extract(epoch FROM now())::float8')
    return cur.fetchone()[0]


def queue_depth(cur):
    """Pending (due) and running runs of a LangGraph server's database."""
    cur.execute("SELECT to_regclass('runs') IS NOT NULL")
    if not cur.fetchone()[0]:
        raise StoreError('the deployment database has no table runs: has the server migrated it?')
    cur.execute("SELECT count(*) FILTER (WHERE status = 'pending' AND created_at <= now()), "
                "count(*) FILTER (WHERE status = 'running') FROM runs WHERE status IN ('pending', 'running')")
    pending, running = cur.fetchone()
    return int(pending), int(running)


def _event(row):
    event = dict(zip(EVENT_COLUMNS, row))
    for key in ('decided_at', 'low_since', 'scale_down_at'):
        event[key] = _epoch(event[key])
    return event


def last_events(cur, names):
    """{name: newest decision, with epoch timestamps} of the names that have one."""
    if not names:
        return {}
    cur.execute('SELECT DISTINCT ON (deployment) deployment, %s FROM scale_events WHERE deployment = ANY(%%s) '
                'ORDER BY deployment, decided_at DESC, id DESC' % ', '.join(EVENT_COLUMNS), (list(names),))
    return dict((row[0], _event(row[1:])) for row in cur.fetchall())


def record_many(cur, events):
    """Insert events [{deployment, inputs, current, desired, reason, low_since,
    scale_down_at}] (times in epoch seconds); returns their ids in order."""
    if not events:
        return []
    rows = execute_values(
        cur,
        'INSERT INTO scale_events (deployment, inputs, current_replicas, desired, reason, low_since, '
        'scale_down_at) VALUES %s RETURNING id',
        [(e['deployment'], json.dumps(e.get('inputs') or {}, sort_keys=True), e.get('current'), e['desired'],
          e['reason'], e.get('low_since'), e.get('scale_down_at')) for e in events],
        template='(%s, %s::jsonb, %s, %s, %s, to_timestamp(%s), to_timestamp(%s))', fetch=True)
    return [row[0] for row in rows]


def applied_of(cur, ids):
    """{id: {deployment, applied}} of the decisions that exist."""
    if not ids:
        return {}
    cur.execute('SELECT id, deployment, applied FROM scale_events WHERE id = ANY(%s)', (sorted(set(ids)),))
    return dict((row[0], dict(deployment=row[1], applied=row[2])) for row in cur.fetchall())


def update_applied(cur, updates):
    """Write [{decision_id, applied}] in one statement."""
    if not updates:
        return
    execute_values(cur, 'UPDATE scale_events s SET applied = v.applied FROM (VALUES %s) AS v(id, applied) '
                        'WHERE s.id = v.id',
                   [(u['decision_id'], u['applied']) for u in updates], template='(%s::bigint, %s::int)')
