# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One load balancer, one changing call at a time: an exclusive flock held for a whole call.

Two runs of the control loop may act on the same load balancer at once (a deploy of one
deployment and the reconcile timer's tick for another). Interleaved, one run's reload loads
files that do not yet list the servers the other just added at run time, and those servers
vanish. haproxy_backends and haproxy_backend therefore hold this lock from the first read to
the last file written. The kernel releases a flock when its holder exits, however it exits,
so a lock is never left behind; waiting for one is bounded and the error names the holder.
Check mode and haproxy_info only read and do not take it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import os
import time

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError

LOCK_FILE = '/run/lock/selfhost-langgraph-haproxy.lock'
LOCK_TIMEOUT = 600
POLL = 0.25


class LockTimeout(HAProxyError):
    """Another call held the load balancer's lock for longer than the caller would wait."""


def holder_call(module, deployments, shown=3):
    """The call in a few words: the module and the first deployments it acts on."""
    names = sorted(deployments)
    if not names:
        return module
    more = ' and %d more' % (len(names) - shown) if len(names) > shown else ''
    return '%s of %s%s' % (module, ', '.join(names[:shown]), more)


def holder_line(pid, what, since):
    """What the holder writes into the lock file, for the error of those who wait for it."""
    return 'pid %d (%s, since %s)' % (pid, what, time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(since)))


def timeout_message(path, timeout, holder):
    who = holder or 'another process (it wrote no pid)'
    return ('the load balancer is busy: %s has held %s for more than %d s, so this call changed nothing; let that '
            'call finish (or check "ps -p <pid>"), then run again, or raise lock_timeout'
            % (who, path, timeout))


def validate_lock_timeout(timeout):
    if not 0 <= timeout <= 86400:
        raise HAProxyError('lock_timeout must be from 0 to 86400 seconds, not %d' % timeout)
    return timeout


def _busy(error):
    return error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)


class LoadBalancerLock(object):
    """`with LoadBalancerLock(path, timeout, what):` holds the lock for the block; `waited` says for how long
    the call waited for it (seconds). flock, clock and sleep are replaceable for unit tests."""

    def __init__(self, path=LOCK_FILE, timeout=LOCK_TIMEOUT, what='haproxy_backends', flock=fcntl.flock,
                 clock=time.monotonic, sleep=time.sleep, pid=None):
        self.path = path
        self.timeout = timeout
        self.what = what
        self.flock = flock
        self.clock = clock
        self.sleep = sleep
        self.pid = pid or os.getpid()
        self.file = None
        self.waited = 0.0

    def _open(self):
        directory = os.path.dirname(self.path)
        try:
            if directory and not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            # 'a+' creates the file without emptying what the holder wrote.
            return open(self.path, 'a+')
        except (IOError, OSError) as e:
            raise HAProxyError('cannot open the load balancer lock file %s (%s): run the module as root '
                               '(become: true) or set lock_file to a writable path' % (self.path, e))

    def holder(self):
        """The holder's line from the lock file ('' if none was written)."""
        try:
            with open(self.path) as f:
                return f.read().strip()
        except (IOError, OSError):
            return ''

    def acquire(self):
        self.file = self._open()
        started = self.clock()
        deadline = started + self.timeout
        while True:
            try:
                self.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as e:
                if not _busy(e):
                    self.file.close()
                    self.file = None
                    raise HAProxyError('cannot lock %s: %s' % (self.path, e))
            if self.clock() >= deadline:
                self.file.close()
                self.file = None
                raise LockTimeout(timeout_message(self.path, self.timeout, self.holder()))
            self.sleep(POLL)
        self.waited = self.clock() - started
        self.file.seek(0)
        self.file.truncate()
        self.file.write(holder_line(self.pid, self.what, time.time()) + '\n')
        self.file.flush()
        return self

    def release(self):
        if self.file is None:
            return
        try:
            self.file.seek(0)
            self.file.truncate()
            self.file.flush()
            self.flock(self.file.fileno(), fcntl.LOCK_UN)
        finally:
            self.file.close()
            self.file = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


class NoLock(object):
    """Stands in for LoadBalancerLock where nothing changes (check mode)."""

    waited = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def validate_call_timeouts(params):
    """The timeouts every changing call of ours takes: drain, health and lock."""
    if not 0 <= params['drain_timeout'] <= 86400:
        raise HAProxyError('drain_timeout must be from 0 to 86400 seconds, not %d' % params['drain_timeout'])
    if not 1 <= params['health_timeout'] <= 3600:
        raise HAProxyError('health_timeout must be from 1 to 3600 seconds, not %d' % params['health_timeout'])
    validate_lock_timeout(params['lock_timeout'])


def call_lock(check_mode, params, module, deployments):
    """The load balancer's lock for one call of module on deployments; none in check mode, which changes nothing."""
    if check_mode:
        return NoLock()
    return LoadBalancerLock(params['lock_file'], params['lock_timeout'], holder_call(module, deployments))
