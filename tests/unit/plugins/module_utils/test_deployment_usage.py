# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Last use: which databases a tick opens, and what it records."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.filter.lb_backends import lb_backends
from ansible_collections.selfhost.langgraph.plugins.module_utils.control_schema import MIGRATIONS
from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment_usage import (
    group_by_host,
    how,
    next_row,
    read_latest_runs,
    read_writes,
    to_check,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


def row(last_used, writes=None, last_run=None, seen=None):
    return dict(last_used_at=last_used, db_writes=writes, last_run_at=last_run, counters=seen or {}, notified_at=None)


@pytest.mark.parametrize('recorded, writes, requested, limit, expected', [
    ({}, {}, set(), 50, []),
    # only the databases whose write counter moved, and whose requests did not show use already
    ({'a': row(10, 5), 'b': row(20, 7)}, {'a': 5, 'b': 8}, set(), 50, ['b']),
    ({'a': row(10, 5), 'b': row(20, 7)}, {'a': 6, 'b': 8}, {'a'}, 50, ['b']),
    # a first look has no counter: it is read
    ({'a': None}, {'a': 0}, set(), 50, ['a']),
    # longest idle first, at most limit
    ({'a': row(30, 1), 'b': row(10, 1), 'c': row(20, 1)}, {'a': 2, 'b': 2, 'c': 2}, set(), 2, ['b', 'c']),
    ({'a': row(30, 1)}, {'a': 2}, set(), 0, []),
    # a counter that went down (stats reset, a restore) moved too
    ({'a': row(10, 9)}, {'a': 3}, set(), 50, ['a']),
    # a host that did not answer gives no counter: nothing to read
    ({'a': row(10, 1)}, {}, set(), 50, []),
])
def test_to_check(recorded, writes, requested, limit, expected):
    assert to_check(recorded, writes, requested, limit) == expected


NOW = 1000.0


@pytest.mark.parametrize('before, requested, writes, checked, latest, expected', [
    # first look: idle from now; the counter is kept only once read
    (None, False, 4, False, None, dict(last_used_at=NOW, last_run_at=None, db_writes=None)),
    (None, False, 4, True, 400.0, dict(last_used_at=NOW, last_run_at=400.0, db_writes=4)),
    # a request: used now; the counter is recorded (no need to read the runs)
    (row(100, 3), True, 4, False, None, dict(last_used_at=NOW, last_run_at=None, db_writes=4)),
    # nothing new
    (row(100, 3, 90.0), False, 3, False, None, dict(last_used_at=100, last_run_at=90.0, db_writes=3)),
    # the database wrote, and holds a newer run: used when that run was
    (row(100, 3, 90.0), False, 5, True, 700.0, dict(last_used_at=700.0, last_run_at=700.0, db_writes=5)),
    # it wrote, but no newer run (a sweep, a TTL): not use; the counter moves on
    (row(100, 3, 90.0), False, 5, True, 90.0, dict(last_used_at=100, last_run_at=90.0, db_writes=5)),
    (row(100, 3), False, 5, True, None, dict(last_used_at=100, last_run_at=None, db_writes=5)),
    # it wrote but was left for a later tick: the old counter stays, so that tick reads it
    (row(100, 3), False, 5, False, None, dict(last_used_at=100, last_run_at=None, db_writes=3)),
    # its host did not answer: the old counter stays
    (row(100, 3), False, None, False, None, dict(last_used_at=100, last_run_at=None, db_writes=3)),
    # a run due later than the look (clocks apart) counts as now, never later
    (row(100, 3), False, 5, True, NOW + 50, dict(last_used_at=NOW, last_run_at=NOW + 50, db_writes=5)),
])
def test_next_row(before, requested, writes, checked, latest, expected):
    new = next_row(before, NOW, {'lb1/s': 1}, requested, writes, checked, latest)
    assert dict((k, new[k]) for k in expected) == expected
    assert new['counters'] == {'lb1/s': 1}


@pytest.mark.parametrize('before, last_used, requested, expected', [
    (None, NOW, False, 'first look'),
    (row(100), NOW, True, 'requests'),
    (row(100), 700.0, False, 'runs'),
    (row(100), 100, False, None),
])
def test_how(before, last_used, requested, expected):
    assert how(before, dict(last_used_at=last_used), requested) == expected


def test_group_by_host_puts_unpinned_deployments_on_the_control_host():
    placed = {'a': ('pg1', 'lg_a'), 'b': ('pg2', 'lg_b'), 'c': (None, 'lg_c')}
    assert group_by_host(placed, 'pg1') == {'pg1': {'lg_a': 'a', 'lg_c': 'c'}, 'pg2': {'lg_b': 'b'}}


class Cursor(object):
    def __init__(self, db, log):
        self.db, self.log, self.rows = db, log, []

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False

    def execute(self, sql, args=None):
        self.log.append((self.db['name'], sql.split()[0], args))
        if 'pg_stat_database' in sql:
            self.rows = [(d, self.db['writes'][d]) for d in args[0] if d in self.db['writes']]
        elif 'to_regclass' in sql:
            self.rows = [(self.db.get('runs') is not None,)]
        else:
            if self.db.get('runs') == 'broken':
                raise ValueError('relation "runs" is broken')
            self.rows = [(self.db['runs'],)]

    def fetchone(self):
        return self.rows[0]

    def fetchall(self):
        return self.rows


class Connection(object):
    def __init__(self, db, log):
        self.db, self.log = db, log

    def cursor(self):
        return Cursor(self.db, self.log)

    def rollback(self):
        pass

    def close(self):
        self.log.append((self.db['name'], 'close', None))


def test_read_writes_is_one_connection_and_one_query_per_host():
    log = []
    databases = dict(('lg_d%d' % i, i) for i in range(500))

    def connect(server, database):
        if server['host'] == 'pg2':
            raise StoreError('cannot connect to Postgres at pg2')
        return Connection(dict(name=server['host'], writes=databases), log)

    hosts = {'pg1': dict(('lg_d%d' % i, 'd%d' % i) for i in range(500)), 'pg2': {'lg_x': 'x'}, 'pg3': {'lg_y': 'y'}}
    writes, problems = read_writes(hosts, {'pg1': {'host': 'pg1'}, 'pg2': {'host': 'pg2'}}, connect)
    assert len(writes) == 500 and writes['d7'] == 7
    assert [entry for entry in log if entry[1] == 'SELECT'] == [('pg1', 'SELECT', (sorted(hosts['pg1']),))]
    assert problems == {'x': 'cannot connect to Postgres at pg2',
                        'y': 'its Postgres host pg3 is not among postgres_servers'}


def test_read_latest_runs_reports_each_failure_alone():
    def connect(server, database):
        if database == 'lg_down':
            raise StoreError('cannot connect')
        return Connection(dict(name=database, runs={'lg_a': 123.0, 'lg_new': None, 'lg_bad': 'broken',
                                                    'lg_none': None}.get(database) if database != 'lg_unmigrated'
                               else None), [])

    found, problems = read_latest_runs([(n, {}, 'lg_' + n) for n in ('a', 'down', 'bad', 'unmigrated')], connect)
    assert found == {'a': 123.0, 'unmigrated': None}
    assert problems == {'down': 'cannot connect', 'bad': 'cannot read its newest run: relation "runs" is broken'}


def test_lb_backends_takes_the_first_result_of_the_load_balancers_that_answered():
    hostvars = {'lb1': {'__sampled': {'backends': {'a': {'servers': {}}}}, '__instant': {'skipped': True}},
                'lb2': {'__sampled': {'skipped': True}, '__instant': {'backends': {'b': {}}}},
                'lb3': {'__sampled': {'unreachable': True, 'msg': 'no route'}},
                'lb4': {}}
    assert lb_backends(['lb1', 'lb2', 'lb3', 'lb4'], hostvars, ['__sampled', '__instant']) == {
        'lb1': {'a': {'servers': {}}}, 'lb2': {'b': {}}}


def test_version_8_adds_the_run_columns_only():
    eight = MIGRATIONS[7]
    assert eight.version == 8
    sql = ' '.join(eight.statements)
    assert 'ADD COLUMN last_run_at timestamptz' in sql and 'ADD COLUMN db_writes bigint' in sql
    assert 'DROP' not in sql.upper() and 'RENAME' not in sql.upper()
