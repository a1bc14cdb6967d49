# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The control database's record of backups: read, reserve ids, record, forget."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import json

from ansible_collections.selfhost.langgraph.plugins.module_utils.control_schema import migrate
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import postgres_name

BACKUP_COLUMNS = ('id', 'deployment', 'host', 'path', 'database', 'size', 'sha256', 'created_at', 'created_by')


def _epoch(value):
    return None if value is None else calendar.timegm(value.utctimetuple()) + value.microsecond / 1e6


def ensure_schema(conn, check_mode):
    """Migrate (in check mode, read): returns (version, whether the backups table exists)."""
    before, after, pending = migrate(conn, check_mode)
    has_table = after >= 6 and not (check_mode and any(m.version == 6 for m in pending))
    return (before if check_mode else after), has_table, pending


def read(conn, names=None, has_table=True):
    """(recorded, backups, now): recorded {name: {database, role, postgres_host, serving}} of the
    deployments that have a database (names, or all), backups {name: [rows newest first]}."""
    cur = conn.cursor()
    cur.execute('SELECT extract(epoch FROM now())')
    now = float(cur.fetchone()[0])
    where, args = '', ()
    if names:
        where, args = 'WHERE d.name = ANY(%s)', (list(names),)
    cur.execute("""SELECT d.name, d.postgres_database, d.postgres_role, d.postgres_host,
                          EXISTS (SELECT 1 FROM revisions r WHERE r.deployment = d.name AND r.status = 'deployed')
                   FROM deployments d %s ORDER BY d.name""" % where, args)
    recorded = {}
    for name, database, role, host, serving in cur.fetchall():
        if database is None:
            continue  # a purged deployment keeps its row without a database
        recorded[name] = dict(database=database or postgres_name(name), role=role or postgres_name(name),
                              postgres_host=host, serving=bool(serving))
    backups = {}
    if has_table:
        where = 'WHERE deployment = ANY(%s)' if names else ''
        cur.execute('SELECT %s FROM backups %s ORDER BY deployment, created_at DESC, id DESC'
                    % (', '.join(BACKUP_COLUMNS), where), args)
        for row in cur.fetchall():
            item = dict(zip(BACKUP_COLUMNS, row))
            item['created_at'] = _epoch(item['created_at'])
            backups.setdefault(item['deployment'], []).append(item)
    conn.rollback()
    return recorded, backups, now


def reserve(conn, count):
    """count new backup ids (consumed even when the dump fails: ids are never reused)."""
    cur = conn.cursor()
    cur.execute("SELECT nextval('backups_id_seq') FROM generate_series(1, %s)", (count,))
    ids = [row[0] for row in cur.fetchall()]
    conn.commit()
    return ids


def record(conn, rows, forget, who):
    """Insert rows (dumps made) and delete the ids in forget (dumps removed), in one transaction."""
    cur = conn.cursor()
    for row in rows:
        cur.execute("""INSERT INTO backups (id, deployment, host, path, database, size, sha256, created_by)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (id) DO NOTHING""",
                    (row['id'], row['deployment'], row['host'], row['path'], row['database'], row['size'],
                     row['sha256'], who))
    forgotten = []
    if forget:
        cur.execute('DELETE FROM backups WHERE id = ANY(%s) RETURNING id', ([int(i) for i in forget],))
        forgotten = sorted(r[0] for r in cur.fetchall())
    for row in rows:
        cur.execute("INSERT INTO audit_events (who, action, deployment, details) VALUES (%s, 'backup', %s, %s)",
                    (who, row['deployment'], json.dumps(dict(id=row['id'], host=row['host'], path=row['path'],
                                                             size=row['size']))))
    conn.commit()
    return forgotten
