# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_apply import (
    Executor,
    check_port_free,
    healthy,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import (
    HAProxyError,
    parse_servers,
    render,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_plan import plan


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class FakeAPI(object):
    """Runtime API of one backend; scur of a server drops to 0 at a given time."""

    def __init__(self, clock, servers, backend=True, pid='1'):
        self.clock = clock
        self.servers = dict((s['name'], dict(s)) for s in servers)
        self.backend = backend
        self.pid = pid
        self.busy_until = {}
        self.idle_until = {}
        self.calls = []
        self.fail_on = None

    def _call(self, *args):
        self.calls.append(args)
        if self.fail_on and args[0] == self.fail_on:
            raise HAProxyError('refused %s' % (args,))

    def ping(self):
        return 'Name: HAProxy\nPid: %s\n' % self.pid

    def view(self, frontend, backend):
        for name, s in self.servers.items():
            s['scur'] = 1 if self.clock() < self.busy_until.get(name, 0) else 0
        return dict(frontend=self.backend, backend=self.backend,
                    servers=dict((n, dict(s)) for n, s in self.servers.items()) if self.backend else {})

    def add_server(self, backend, name, address, port, keywords):
        self._call('add', name, ' '.join(keywords))
        self.servers[name] = dict(name=name, address=address, port=port, status='MAINT', raw_status='MAINT',
                                  check_status='', weight=0 if 'weight' in keywords else 1, scur=0, stot=0,
                                  qcur=0, admin_state=1)

    def enable_health(self, backend, name):
        self._call('enable_health', name)

    def enable_server(self, backend, name):
        self._call('enable_server', name)
        s = self.servers[name]
        s['status'] = 'DRAIN' if s['weight'] == 0 else 'UP'

    def set_state(self, backend, name, state):
        self._call('set_state', name, state)
        self.servers[name]['status'] = {'ready': 'UP', 'drain': 'DRAIN', 'maint': 'MAINT'}[state]

    def set_weight(self, backend, name, weight):
        self._call('set_weight', name, weight)
        self.servers[name]['weight'] = weight

    def shutdown_sessions(self, backend, name):
        self._call('shutdown', name)
        self.busy_until[name] = 0

    def del_server(self, backend, name):
        if self.clock() < self.idle_until.get(name, 0):
            return False
        self._call('del', name)
        del self.servers[name]
        return True


def live(name, status='UP', weight=1):
    return dict(name=name, address='10.0.0.1', port=8000, status=status, raw_status=status, check_status='L7OK',
                weight=weight, scur=0, stot=0, qcur=0, admin_state=0)


def want(name, state='ready'):
    return dict(name=name, address='10.0.0.1', port=8000, state=state)


class Runner(object):
    def __init__(self, api, rc=0):
        self.api = api
        self.rc = rc
        self.commands = []

    def __call__(self, args):
        self.commands.append(args)
        if args[:2] == ['systemctl', 'reload']:
            self.api.pid = str(int(self.api.pid) + 1)
            self.api.backend = True
            self.api.servers.update(dict((s['name'], live(s['name'])) for s in self.reload_servers))
            return 0, '', ''
        return self.rc, '', 'line 3: unknown keyword' if self.rc else ''


@pytest.fixture
def setup(tmp_path):
    def make(servers, backend=True, in_file=None, rc=0):
        clock = Clock()
        api = FakeAPI(clock, servers, backend)
        runner = Runner(api, rc)
        runner.reload_servers = []
        conf = tmp_path / 'conf.d'
        conf.mkdir()
        path = conf / 'langgraph-app.cfg'
        if in_file is not None:
            path.write_text(render('app', 8101, '*', '/ok', in_file))
        ex = Executor(api, 'app', str(path), '/etc/haproxy/haproxy.cfg', str(conf), 'haproxy', runner,
                      dict(bind_port=8101, bind_address='*', health_path='/ok'),
                      sleep=clock.sleep, clock=clock)
        return ex, api, runner, clock, path
    return make


def run_plan(ex, api, path, desired, drain_timeout=30, **kw):
    old = path.read_text() if path.exists() else None
    p = plan('app', 'present', desired, api.view('fe_app', 'be_app'), old, 8101, '*', '/ok', **kw)
    return ex.apply(p, drain_timeout=drain_timeout)


def test_add_enables_health_and_server_and_writes_file(setup):
    ex, api, runner, _clock, path = setup([live('a')], in_file=[want('a')])
    run_plan(ex, api, path, [want('b'), want('c', 'drain')])
    assert api.calls == [('add', 'b', 'check inter 1s fall 2 rise 1'), ('enable_health', 'b'), ('enable_server', 'b'),
                         ('add', 'c', 'check inter 1s fall 2 rise 1 weight 0'), ('enable_health', 'c'),
                         ('enable_server', 'c')]
    assert [(s['name'], s['state']) for s in parse_servers(path.read_text())] == \
        [('a', 'ready'), ('b', 'ready'), ('c', 'drain')]
    assert runner.commands[0][:3] == ['haproxy', '-c', '-q'] and not ex.reloaded
    assert not list(path.parent.glob('.*.tmp'))


def test_remove_waits_for_sessions_then_deletes(setup):
    ex, api, _runner, clock, path = setup([live('a'), live('b')], in_file=[want('a'), want('b')])
    api.busy_until['a'] = 7.0
    api.idle_until['a'] = 9.0   # idle keep-alive connections outlive the sessions
    run_plan(ex, api, path, [want('a', 'absent')])
    assert api.calls == [('set_state', 'a', 'drain'), ('set_state', 'a', 'maint'), ('del', 'a')]
    assert 7.0 <= clock.now < 10.0
    assert ex.drain_timed_out == []
    assert [s['name'] for s in parse_servers(path.read_text())] == ['b']


def test_remove_cuts_sessions_after_drain_timeout(setup):
    ex, api, _runner, clock, path = setup([live('a')], in_file=[want('a')])
    api.busy_until['a'] = 1000.0
    run_plan(ex, api, path, [want('a', 'absent')], drain_timeout=5)
    assert ('shutdown', 'a') in api.calls and ex.drain_timed_out == ['a']
    assert 5.0 <= clock.now < 6.0


class FakeMaster(object):
    """Old workers after a reload: a's last session there ends at a given time."""

    def __init__(self, clock, until):
        self.clock = clock
        self.until = until

    def old_sessions(self, backend, names):
        return dict((n, 1 if n == 'a' and self.clock() < self.until else 0) for n in names)


def test_remove_waits_for_old_workers_too(setup):
    ex, api, _runner, clock, path = setup([live('a')], in_file=[want('a')])
    ex.master = FakeMaster(clock, 12.0)
    run_plan(ex, api, path, [want('a', 'absent')])
    assert 12.0 <= clock.now < 13.0 and ex.drain_timed_out == []
    assert ('shutdown', 'a') not in api.calls


def test_old_worker_sessions_after_drain_timeout_are_reported(setup):
    ex, api, _runner, clock, path = setup([live('a')], in_file=[want('a')])
    ex.master = FakeMaster(clock, 1000.0)
    run_plan(ex, api, path, [want('a', 'absent')], drain_timeout=3)
    assert ex.drain_timed_out == ['a'] and ('shutdown', 'a') not in api.calls and ('del', 'a') in api.calls


def test_unreachable_master_socket_is_ignored(setup):
    ex, api, _runner, _clock, path = setup([live('a')], in_file=[want('a')])

    class Broken(object):
        def old_sessions(self, backend, names):
            raise HAProxyError('cannot talk to the master')
    ex.master = Broken()
    run_plan(ex, api, path, [want('a', 'absent')])
    assert ('del', 'a') in api.calls


def test_removals_drain_together(setup):
    ex, api, _runner, clock, path = setup([live('a'), live('b')], in_file=[want('a'), want('b')])
    api.busy_until.update(a=4.0, b=4.0)
    run_plan(ex, api, path, [want('a', 'absent'), want('b', 'absent')])
    assert api.calls[:2] == [('set_state', 'a', 'drain'), ('set_state', 'b', 'drain')]
    assert clock.now < 5.0  # not 8: one wait for both


def test_delete_that_never_succeeds_is_an_error_and_file_follows_runtime(setup):
    ex, api, _runner, _clock, path = setup([live('a'), live('b')], in_file=[want('a'), want('b')])
    api.idle_until['a'] = 1000.0
    with pytest.raises(HAProxyError, match='kept connections to a'):
        run_plan(ex, api, path, [want('a', 'absent')])
    # a is in maintenance at run time; the file says so too.
    assert [(s['name'], s['state']) for s in parse_servers(path.read_text())] == [('a', 'maint'), ('b', 'ready')]


def test_failed_runtime_step_resyncs_file(setup):
    ex, api, _runner, _clock, path = setup([live('a')], in_file=[want('a')])
    api.fail_on = 'enable_server'
    with pytest.raises(HAProxyError):
        run_plan(ex, api, path, [want('b')])
    assert [(s['name'], s['state']) for s in parse_servers(path.read_text())] == [('a', 'ready'), ('b', 'maint')]


def test_ready_from_weight_zero(setup):
    ex, api, _runner, _clock, path = setup([live('a', 'DRAIN', weight=0)], in_file=[want('a', 'drain')])
    run_plan(ex, api, path, [want('a')])
    assert api.calls == [('set_weight', 'a', 1), ('set_state', 'a', 'ready'), ('enable_health', 'a')]


def test_new_deployment_reloads_and_waits_for_new_worker(setup):
    ex, api, runner, _clock, path = setup([], backend=False)
    runner.reload_servers = [want('a')]
    view = run_plan(ex, api, path, [want('a')])
    assert ex.reloaded and api.calls == [] and sorted(view['servers']) == ['a']
    assert runner.commands[-1] == ['systemctl', 'reload', 'haproxy']
    assert path.exists()


def test_reload_that_never_shows_the_backend_times_out(setup):
    ex, api, runner, clock, path = setup([], backend=False)
    runner.reload_servers = []

    def no_backend(args):
        if args[:2] == ['systemctl', 'reload']:
            return 0, '', ''  # the old worker keeps answering
        return 0, '', ''
    ex.run_command = no_backend
    with pytest.raises(HAProxyError, match='did not load the new configuration of app within 30 s'):
        run_plan(ex, api, path, [want('a')])
    assert clock.now >= 30


def test_invalid_configuration_is_not_written(setup):
    ex, api, _runner, _clock, path = setup([live('a')], in_file=[want('a')], rc=1)
    before = path.read_text()
    with pytest.raises(HAProxyError, match='does not pass "haproxy -c".*unknown keyword'):
        run_plan(ex, api, path, [want('a', 'drain')])
    assert path.read_text() == before and not list(path.parent.glob('.*.tmp'))


def test_wait_healthy(setup):
    ex, api, _runner, clock, _path = setup([live('a'), live('b', 'DOWN')])
    with pytest.raises(HAProxyError, match=r'not healthy after 3 s: b \(DOWN, check L7OK\)'):
        ex.wait_healthy(['a', 'b'], 3)
    api.servers['b']['status'] = 'UP'
    assert sorted(ex.wait_healthy(['a', 'b'], 3)['servers']) == ['a', 'b']


@pytest.mark.parametrize('server, ok', [
    (dict(status='UP', check_status='L7OK'), True),
    (dict(status='UP', check_status='INI'), False),
    (dict(status='DRAIN', check_status='L7OK'), False),
    (None, False),
])
def test_healthy(server, ok):
    assert healthy(server) == ok


def test_check_port_free(tmp_path):
    main = tmp_path / 'haproxy.cfg'
    main.write_text('frontend stats\n    bind 127.0.0.1:8404\n')
    other = tmp_path / 'langgraph-other.cfg'
    other.write_text(render('other', 8101, '*', '/ok', []))
    check_port_free(8102, 'app', [str(main), str(other)])
    for port, where in ((8404, 'haproxy.cfg'), (8101, 'langgraph-other.cfg')):
        with pytest.raises(HAProxyError, match='bind_port %d of app is already bound in .*%s' % (port, where)):
            check_port_free(port, 'app', [str(main), str(other)])
