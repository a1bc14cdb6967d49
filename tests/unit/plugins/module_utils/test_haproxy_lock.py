# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import os

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_lock import (
    POLL,
    LoadBalancerLock,
    LockTimeout,
    NoLock,
    call_lock,
    holder_call,
    holder_line,
    timeout_message,
    validate_call_timeouts,
    validate_lock_timeout,
)


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class FakeFlock(object):
    """flock that is busy until a given time; records every call."""

    def __init__(self, clock, busy_until=0.0, error=errno.EAGAIN):
        self.clock = clock
        self.busy_until = busy_until
        self.error = error
        self.calls = []

    def __call__(self, fd, operation):
        self.calls.append(operation)
        if operation & fcntl.LOCK_EX and self.clock() < self.busy_until:
            raise OSError(self.error, os.strerror(self.error))


def lock(tmp_path, clock, flock, timeout=600, what='haproxy_backends of a-1'):
    return LoadBalancerLock(str(tmp_path / 'lb.lock'), timeout, what, flock=flock, clock=clock,
                            sleep=clock.sleep, pid=4242)


def test_free_lock_is_taken_at_once_and_names_its_holder(tmp_path):
    clock = Clock()
    flock = FakeFlock(clock)
    with lock(tmp_path, clock, flock) as held:
        assert held.waited == 0.0
        assert (tmp_path / 'lb.lock').read_text().startswith('pid 4242 (haproxy_backends of a-1, since ')
    assert flock.calls == [fcntl.LOCK_EX | fcntl.LOCK_NB, fcntl.LOCK_UN]
    assert (tmp_path / 'lb.lock').read_text() == ''  # released: no holder named


@pytest.mark.parametrize('busy_until, waited', [(0.0, 0.0), (0.1, POLL), (3.0, 3.0), (599.9, 600.0)])
def test_a_held_lock_is_waited_for_and_the_wait_is_reported(tmp_path, busy_until, waited):
    clock = Clock()
    with lock(tmp_path, clock, FakeFlock(clock, busy_until)) as held:
        assert held.waited == pytest.approx(waited)


@pytest.mark.parametrize('error', [errno.EAGAIN, errno.EACCES])
def test_a_lock_held_past_the_timeout_fails_naming_the_holder(tmp_path, error):
    clock = Clock()
    (tmp_path / 'lb.lock').write_text('pid 77 (haproxy_backends of bench-f-01, since 2024-11-30 11:22:06 UTC)\n')
    with pytest.raises(LockTimeout) as raised:
        lock(tmp_path, clock, FakeFlock(clock, 1e9, error), timeout=10).acquire()
    message = str(raised.value)
    assert message.startswith('the load balancer is busy: pid 77 (haproxy_backends of bench-f-01, since '
                              '2024-11-30 11:22:06 UTC) has held %s for more than 10 s' % (tmp_path / 'lb.lock'))
    assert 'changed nothing' in message and 'lock_timeout' in message
    assert 10.0 <= clock.now < 10.0 + 2 * POLL
    # The holder's line is left as it was.
    assert (tmp_path / 'lb.lock').read_text().startswith('pid 77 ')


def test_zero_timeout_tries_once(tmp_path):
    clock = Clock()
    flock = FakeFlock(clock, 1.0)
    with pytest.raises(LockTimeout, match='another process .it wrote no pid. has held'):
        lock(tmp_path, clock, flock, timeout=0).acquire()
    assert flock.calls == [fcntl.LOCK_EX | fcntl.LOCK_NB] and clock.now == 0.0


def test_other_flock_errors_are_not_waited_for(tmp_path):
    clock = Clock()
    with pytest.raises(HAProxyError, match='cannot lock .*lb.lock'):
        lock(tmp_path, clock, FakeFlock(clock, 1e9, errno.EBADF)).acquire()
    assert clock.now == 0.0


def test_an_unusable_lock_path_says_what_to_do(tmp_path):
    (tmp_path / 'file').write_text('')
    held = LoadBalancerLock(str(tmp_path / 'file' / 'lb.lock'), 5, 'x')
    with pytest.raises(HAProxyError, match='cannot open the load balancer lock file .*: run the module as root'):
        held.acquire()


def test_the_lock_is_released_when_the_block_raises(tmp_path):
    clock = Clock()
    flock = FakeFlock(clock)
    with pytest.raises(RuntimeError):
        with lock(tmp_path, clock, flock):
            raise RuntimeError('boom')
    assert flock.calls[-1] == fcntl.LOCK_UN


def test_real_flock_excludes_a_second_holder_until_the_first_releases(tmp_path):
    """Two opens of the file conflict even in one process, as two module processes do."""
    path = str(tmp_path / 'lb.lock')
    first = LoadBalancerLock(path, 5, 'first', pid=1).acquire()
    clock = Clock()
    with pytest.raises(LockTimeout, match=r'pid 1 \(first, since '):
        LoadBalancerLock(path, 1, 'second', clock=clock, sleep=clock.sleep, pid=2).acquire()
    first.release()
    second = LoadBalancerLock(path, 1, 'second', pid=2).acquire()
    assert second.waited < 1 and open(path).read().startswith('pid 2 (second')
    second.release()


def test_no_lock_waits_for_nothing():
    with NoLock() as held:
        assert held.waited == 0.0


@pytest.mark.parametrize('deployments, words', [
    ([], 'haproxy_backends'),
    (['b-2', 'a-1'], 'haproxy_backends of a-1, b-2'),
    (['d-4', 'c-3', 'b-2', 'a-1', 'e-5'], 'haproxy_backends of a-1, b-2, c-3 and 2 more'),
])
def test_holder_call(deployments, words):
    assert holder_call('haproxy_backends', deployments) == words


def test_holder_line_and_message():
    line = holder_line(12, 'haproxy_backend of a-1', 0)
    assert line.startswith('pid 12 (haproxy_backend of a-1, since 19')
    assert timeout_message('/run/lock/x.lock', 600, line).startswith(
        'the load balancer is busy: %s has held /run/lock/x.lock for more than 600 s' % line)


@pytest.mark.parametrize('timeout, ok', [(0, True), (600, True), (86400, True), (-1, False), (86401, False)])
def test_validate_lock_timeout(timeout, ok):
    if ok:
        assert validate_lock_timeout(timeout) == timeout
    else:
        with pytest.raises(HAProxyError, match='lock_timeout must be from 0 to 86400 seconds, not %d' % timeout):
            validate_lock_timeout(timeout)


@pytest.mark.parametrize('change, message', [
    (dict(drain_timeout=-1), 'drain_timeout must be from 0 to 86400 seconds, not -1'),
    (dict(drain_timeout=86401), 'drain_timeout must be from 0 to 86400 seconds, not 86401'),
    (dict(health_timeout=0), 'health_timeout must be from 1 to 3600 seconds, not 0'),
    (dict(health_timeout=3601), 'health_timeout must be from 1 to 3600 seconds, not 3601'),
    (dict(lock_timeout=-1), 'lock_timeout must be from 0 to 86400 seconds, not -1'),
])
def test_validate_call_timeouts(change, message):
    params = dict(dict(drain_timeout=300, health_timeout=90, lock_timeout=600), **change)
    with pytest.raises(HAProxyError, match=message):
        validate_call_timeouts(params)


def test_call_lock_is_none_in_check_mode(tmp_path):
    params = dict(lock_file=str(tmp_path / 'lb.lock'), lock_timeout=5)
    assert isinstance(call_lock(True, params, 'haproxy_backends', ['bot']), NoLock)
    with call_lock(False, params, 'haproxy_backends', ['bot']) as held:
        assert held.waited >= 0 and 'haproxy_backends of bot' in (tmp_path / 'lb.lock').read_text()
