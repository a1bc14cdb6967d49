# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Queue depths of many deployments: which can be counted, and one failure never hides the others."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.run_queues import count_all, targets

SERVERS = {'pg1': {'host': 'pg1'}, 'pg2': {'host': 'pg2'}}


def test_targets():
    todo, problems = targets({'aaa': {'postgres_host': 'pg1', 'database': 'lg_aaa'},
                              'bbb': {'postgres_host': 'pg2', 'database': 'lg_bbb'},
                              'new': {'postgres_host': None, 'database': None},
                              'odd': {'postgres_host': 'pg9', 'database': 'lg_odd'}}, SERVERS)
    assert [(n, s['host'], d) for n, s, d in todo] == [('aaa', 'pg1', 'lg_aaa'), ('bbb', 'pg2', 'lg_bbb')]
    assert problems == {'new': 'it has no database yet', 'odd': 'its Postgres host pg9 is not among postgres_servers'}


class Cursor(object):
    def __init__(self, answers):
        self.answers = answers

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query, args=None):
        self.last = query

    def fetchone(self):
        return self.answers.pop(0)


class Conn(object):
    def __init__(self, answers):
        self.answers = answers
        self.closed = False

    def cursor(self):
        return Cursor(self.answers)

    def rollback(self):
        pass

    def close(self):
        self.closed = True


def test_count_all_keeps_going_past_a_failure():
    conns = {}

    def connect(server, database):
        if database == 'lg_down':
            raise StoreError('cannot connect to Postgres at pg2')
        if database == 'lg_young':
            conns[database] = Conn([(False,)])  # no runs table yet
        else:
            conns[database] = Conn([(True,), (3, 2)])
        return conns[database]

    queues, problems = count_all([('aaa', SERVERS['pg1'], 'lg_aaa'), ('down', SERVERS['pg2'], 'lg_down'),
                                  ('young', SERVERS['pg1'], 'lg_young')], connect, parallel=2)
    assert queues == {'aaa': {'pending': 3, 'running': 2}}
    assert problems['down'] == 'cannot connect to Postgres at pg2'
    assert 'has no table runs' in problems['young']
    assert all(c.closed for c in conns.values())
