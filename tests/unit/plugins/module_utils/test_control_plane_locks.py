# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""acquire_many(): the waiting around the one-transaction lock attempts."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils import control_plane


class Clock(object):
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


class Conn(object):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def cursor(self):
        return None


def lock(holder, expired=False):
    return dict(holder=holder, purpose='deploy', since='s', expires_at='e', expired=expired)


def fake_attempts(monkeypatch, holders_per_attempt, holder='me'):
    """Attempt i finds holders_per_attempt[i] ({name: holder}) and takes what is
    free, expired (holder ending in '!') or its own."""
    attempts = []

    def try_lock_many(conn, names, who, purpose, ttl):
        current = holders_per_attempt[min(len(attempts), len(holders_per_attempt) - 1)]
        attempts.append(sorted(names))
        before = dict((n, lock(current[n].rstrip('!'), current[n].endswith('!'))) for n in names if n in current)
        acquired = set(n for n in names if n not in current or current[n] == who or current[n].endswith('!'))
        return before, acquired

    def locks_of(cur, names, version=4):
        current = holders_per_attempt[min(len(attempts), len(holders_per_attempt)) - 1]
        return dict((n, lock(current[n])) for n in names if n in current)

    monkeypatch.setattr(control_plane, 'try_lock_many', try_lock_many)
    monkeypatch.setattr(control_plane, 'locks_of', locks_of)
    return attempts


@pytest.mark.parametrize('holders, wait, locked, taken, busy, attempts', [
    # all free: one attempt, no wait
    ([{}], 10, ['a', 'b'], ['a', 'b'], [], 1),
    # ours already: renewed, not taken again
    ([{'a': 'me'}], 10, ['a', 'b'], ['b'], [], 1),
    # a dead job's lock is taken over at once
    ([{'a': 'dead!'}], 0, ['a', 'b'], ['a', 'b'], [], 1),
    # held, no wait: the free one is locked, the other busy
    ([{'a': 'job'}], 0, ['b'], ['b'], ['a'], 1),
    # released during the wait: the second attempt asks only for it
    ([{'a': 'job'}, {}], 5, ['a', 'b'], ['b', 'a'], [], 2),
    # still held after the wait: busy, the rest stays locked
    ([{'a': 'job'}], 2.5, ['b'], ['b'], ['a'], 4),
])
def test_acquire_many(monkeypatch, holders, wait, locked, taken, busy, attempts):
    calls = fake_attempts(monkeypatch, holders)
    clock = Clock()
    result = control_plane.acquire_many(Conn(), ['b', 'a', 'b'], 'me', 'deploy', 60, wait, poll=1.0, clock=clock)
    assert result['locked'] == locked and result['taken'] == taken and sorted(result['busy']) == busy
    assert len(calls) == attempts and calls[0] == ['a', 'b']
    assert all(call == ['a'] for call in calls[1:])
    assert sum(clock.slept) <= wait


def test_taken_over_names_the_previous_holder(monkeypatch):
    fake_attempts(monkeypatch, [{'a': 'dead!'}])
    result = control_plane.acquire_many(Conn(), ['a'], 'me', 'deploy', 60, 0, clock=Clock())
    assert result['taken_over']['a']['holder'] == 'dead'


def test_a_deadlock_is_retried_then_raised(monkeypatch):
    failures = []

    def try_lock_many(conn, names, who, purpose, ttl):
        failures.append(1)
        raise control_plane.TransactionRollbackError('deadlock detected')

    monkeypatch.setattr(control_plane, 'try_lock_many', try_lock_many)
    with pytest.raises(control_plane.TransactionRollbackError):
        control_plane.acquire_many(Conn(), ['a'], 'me', 'deploy', 60, 0, clock=Clock())
    assert len(failures) == 6
