# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""haproxy_backends and haproxy_backend hold the load balancer's lock around every read and change of a call,
except in check mode, and say how long they waited for it."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError, render
from ansible_collections.selfhost.langgraph.plugins.module_utils import haproxy_lock
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_lock import LockTimeout
from ansible_collections.selfhost.langgraph.plugins.modules import haproxy_backend, haproxy_backends


class FakeLock(object):
    """LoadBalancerLock that records when it is held; waits `wait` seconds or times out."""

    def __init__(self, events, wait=0.0, timeout=False):
        self.events = events
        self.wait = wait
        self.timeout = timeout
        self.waited = 0.0

    def __call__(self, path, timeout, what):
        self.args = (path, timeout, what)
        return self

    def __enter__(self):
        if self.timeout:
            raise LockTimeout('the load balancer is busy: pid 77 (haproxy_backends of x-1, since ...) has held it')
        self.waited = self.wait
        self.events.append('lock')
        return self

    def __exit__(self, *exc):
        self.events.append('unlock')
        return False


class FakeAPI(object):
    """A runtime API with one live backend, app-1 (server s1); records each read."""

    def __init__(self, events):
        self.events = events
        self.log = []

    def __call__(self, path):
        return self

    def ping(self):
        self.events.append('ping')
        return 'Name: HAProxy\nPid: 1\n'

    def fleet(self, addresses=True):
        self.events.append('fleet')
        return {'app-1': dict(frontend=True, backend=True, queue=0, servers={'s1': dict(
            name='s1', address='10.0.0.1', port=8000, status='UP', raw_status='UP', check_status='L7OK', weight=1,
            scur=0, stot=0, qcur=0, admin_state=0)})}


class FakeModule(object):
    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.warnings = []

    def run_command(self, args):
        return 0, '', ''

    def warn(self, text):
        self.warnings.append(text)


COMMON = dict(socket='/run/haproxy/admin.sock', main_config='/etc/haproxy/haproxy.cfg', service='haproxy',
              master_socket='', lock_file='/run/lock/selfhost-langgraph-haproxy.lock', lock_timeout=600,
              wait_healthy=False, health_timeout=60, drain_timeout=300)


def backends_params(tmp_path, **given):
    (tmp_path / 'langgraph-app-1.cfg').write_text(
        render('app-1', 8101, '*', '/ok', [dict(name='s1', address='10.0.0.1', port=8000, state='ready')]))
    p = dict(COMMON, config_dir=str(tmp_path), skip=[],
             backends=[dict(deployment='app-1', state='present', bind_port=8101, bind_address='*', health_path='/ok',
                            servers=None, purge=False)])
    p.update(given)
    return p


def backend_params(tmp_path, **given):
    p = backends_params(tmp_path)
    del p['backends'], p['skip']
    p.update(deployment='app-1', state='present', bind_port=8101, bind_address='*', health_path='/ok', servers=None,
             purge=False)
    p.update(given)
    return p


@pytest.fixture
def fakes(monkeypatch):
    events = []
    lock = FakeLock(events)
    api = FakeAPI(events)
    # Both modules take the lock through haproxy_lock.call_lock.
    monkeypatch.setattr(haproxy_lock, 'LoadBalancerLock', lock)
    for module in (haproxy_backends, haproxy_backend):
        monkeypatch.setattr(module, 'RuntimeAPI', api)
    return events, lock


@pytest.mark.parametrize('module, params', [(haproxy_backends, backends_params), (haproxy_backend, backend_params)])
def test_every_read_and_change_happens_while_the_lock_is_held(tmp_path, fakes, module, params):
    events, lock = fakes
    lock.wait = 12.34
    result = module.run(FakeModule(params(tmp_path)))
    assert events[0] == 'lock' and events[-1] == 'unlock' and events.count('lock') == 1
    assert 'ping' in events and 'fleet' in events
    assert result['lock_waited'] == 12.3
    assert lock.args[0] == '/run/lock/selfhost-langgraph-haproxy.lock' and lock.args[1] == 600
    assert lock.args[2] == '%s of app-1' % module.__name__.rsplit('.', 1)[-1]


@pytest.mark.parametrize('module, params', [(haproxy_backends, backends_params), (haproxy_backend, backend_params)])
def test_check_mode_takes_no_lock(tmp_path, fakes, module, params):
    events, _lock = fakes
    result = module.run(FakeModule(params(tmp_path), check_mode=True))
    assert 'lock' not in events and 'fleet' in events and result['lock_waited'] == 0.0


@pytest.mark.parametrize('module, params', [(haproxy_backends, backends_params), (haproxy_backend, backend_params)])
def test_a_lock_never_freed_fails_before_anything_is_read(tmp_path, fakes, module, params):
    events, lock = fakes
    lock.timeout = True
    with pytest.raises(LockTimeout, match='pid 77'):
        module.run(FakeModule(params(tmp_path)))
    assert events == []


@pytest.mark.parametrize('module, params', [(haproxy_backends, backends_params), (haproxy_backend, backend_params)])
def test_bad_lock_timeout_is_refused_before_locking(tmp_path, fakes, module, params):
    events, _lock = fakes
    with pytest.raises(HAProxyError, match='lock_timeout must be from 0 to 86400 seconds, not -1'):
        module.run(FakeModule(params(tmp_path, lock_timeout=-1)))
    assert events == []


def test_the_lock_is_released_when_the_call_fails(tmp_path, fakes):
    events, _lock = fakes

    def unreachable():
        events.append('ping')
        raise HAProxyError('cannot talk to the HAProxy runtime API')
    FakeAPI.ping, original = staticmethod(unreachable), FakeAPI.ping
    try:
        with pytest.raises(HAProxyError):
            haproxy_backends.run(FakeModule(backends_params(tmp_path)))
    finally:
        FakeAPI.ping = original
    assert events == ['lock', 'ping', 'unlock']
