# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The idle reaper: what counts as use, and what happens after how many idle days."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.backup import DAY, BackupError
from ansible_collections.selfhost.langgraph.plugins.module_utils.backup_reap import decide, message, validate_days
from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment_usage import counters, used
from ansible_collections.selfhost.langgraph.plugins.module_utils.control_schema import MIGRATIONS


def test_counters_per_load_balancer_and_server():
    lbs = {'lb1': {'bot': {'servers': {'app1-r1-1': {'stot': 5}, 'app2-r1-1': {'stot': 0}}}},
           'lb2': {'bot': {'servers': {'app1-r1-1': {'stot': 2}}}, 'other': {'servers': {}}}}
    assert counters(lbs) == {'bot': {'lb1/app1-r1-1': 5, 'lb1/app2-r1-1': 0, 'lb2/app1-r1-1': 2}, 'other': {}}


@pytest.mark.parametrize('before, after, expected', [
    ({}, {}, False),
    ({'a': 3}, {'a': 3}, False),
    ({'a': 3}, {'a': 4}, True),
    ({'a': 3}, {'a': 3, 'b': 0}, False),       # a new server that answered nothing (a roll-out)
    ({'a': 3}, {'b': 1}, True),                # a new server that answered
    ({'a': 3}, {'a': 0}, False),               # reset by a reload, nothing since
    ({'a': 3}, {'a': 1}, True),                # reset, then a request
    ({'a': 3}, {}, False),                     # servers gone (stopped)
])
def test_used(before, after, expected):
    assert used(before, after) is expected


NOW = 100 * DAY


def usage(idle_days, notified_days_ago=None):
    return dict(last_used_at=NOW - idle_days * DAY,
                notified_at=None if notified_days_ago is None else NOW - notified_days_ago * DAY)


@pytest.mark.parametrize('idle, notified, keep, reap_delete, action', [
    (1, None, False, False, 'none'),
    (7, None, False, False, 'notify'),
    (8, 1, False, False, 'none'),            # told once this idle period
    (8, 9, False, False, 'notify'),          # told in an earlier idle period: used since
    (30, None, False, False, 'notify'),      # past delete_days without reap_delete: only told
    (30, 2, False, False, 'none'),
    (30, 2, False, True, 'delete'),
    (30, None, True, True, 'keep'),
    (10, None, True, False, 'keep'),
])
def test_decide(idle, notified, keep, reap_delete, action):
    found, reason = decide(usage(idle, notified), keep, NOW, 7, 28, reap_delete)
    assert found == action and 'unused for' in reason


def test_short_days_for_tests_count_in_seconds():
    assert decide(dict(last_used_at=NOW - 20, notified_at=None), False, NOW, 10.0 / DAY, 30.0 / DAY, True)[0] == 'notify'
    assert decide(dict(last_used_at=NOW - 31, notified_at=None), False, NOW, 10.0 / DAY, 30.0 / DAY, True)[0] == 'delete'


@pytest.mark.parametrize('notify, delete', [(0, 28), (7, 0), (8, 7)])
def test_validate_days(notify, delete):
    with pytest.raises(BackupError):
        validate_days(notify, delete)


def test_message_is_plain_text_naming_the_deployment():
    text = message('bot', 'notify', 'unused for 7.0 days', 28, False)
    assert text.startswith('LangGraph deployment bot is idle') and 'nothing is deleted' in text
    assert 'deleted' in message('bot', 'delete', 'unused for 28.0 days', 28, True)


def test_version_7_usage():
    seven = MIGRATIONS[6]
    assert seven.version == 7
    sql = ' '.join(seven.statements)
    assert 'CREATE TABLE deployment_usage (' in sql and 'REFERENCES' not in sql
    assert 'DROP' not in sql.upper() and 'RENAME' not in sql.upper()
