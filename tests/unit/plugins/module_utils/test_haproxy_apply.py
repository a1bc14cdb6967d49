# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_apply import (
    ConfigFiles,
    Executor,
    healthy,
    unlisted_files,
    vanished_reason,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_backends_plan import (
    plan_backends,
    validate_backends,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import (
    HAProxyError,
    bound_ports,
    has_frontend,
    parse_servers,
    render,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_runtime import (
    CommandRefused,
    RuntimeUnreachable,
)

DEAD = '10.0.0.99'  # health checks of servers at this address never pass


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def live(name, status='UP', weight=1, address='10.0.0.1', port=8000):
    return dict(name=name, address=address, port=port, status=status, raw_status=status, check_status='L7OK',
                weight=weight, scur=0, stot=0, qcur=0, admin_state=0)


def want(name, state='ready', address='10.0.0.1', port=8000):
    return dict(name=name, address=address, port=port, state=state)


class FakeAPI(object):
    """The runtime API of a whole HAProxy: backends by deployment; sessions end at given times."""

    def __init__(self, clock, backends):
        self.clock = clock
        self.backends = dict((d, dict((s['name'], dict(s)) for s in servers)) for d, servers in backends.items())
        self.frontends = set(self.backends)  # deployments with a frontend of their own
        self.pid = '1'
        self.busy_until = {}   # (deployment, server): time its last session ends
        self.idle_until = {}   # (deployment, server): time its idle connections close
        self.added_at = {}
        self.calls = []
        self.log = []
        self.fleet_calls = 0
        self.fail_on = None
        self.unreachable = False

    def _call(self, *args):
        if self.unreachable:
            raise RuntimeUnreachable('cannot talk to the HAProxy runtime API')
        if self.fail_on == args[:2]:
            raise CommandRefused('HAProxy refused %s' % (args,))
        self.calls.append(args)
        self.log.append(' '.join(str(a) for a in args))

    def ping(self):
        return 'Name: HAProxy\nPid: %s\n' % self.pid

    def _refresh(self, deployment, server):
        server['scur'] = 1 if self.clock() < self.busy_until.get((deployment, server['name']), 0) else 0
        since = self.added_at.get((deployment, server['name']))
        if since is not None and server['status'] == 'UP':
            if server['address'] == DEAD:
                server['check_status'] = 'L4CON'
                if self.clock() >= since + 2:
                    server['status'] = 'DOWN'
            elif self.clock() >= since + 1:
                server['check_status'] = 'L7OK'

    def fleet(self, addresses=True):
        self.fleet_calls += 1
        views = {}
        for d, servers in self.backends.items():
            for s in servers.values():
                self._refresh(d, s)
            views[d] = dict(frontend=d in self.frontends, backend=True, queue=0,
                            servers=dict((n, dict(s)) for n, s in servers.items()))
        return views

    @staticmethod
    def _d(backend):
        assert backend.startswith('be_')
        return backend[3:]

    def add_server(self, backend, name, address, port, keywords):
        d = self._d(backend)
        self._call('add', d, name, ' '.join(keywords))
        self.backends[d][name] = dict(live(name, 'MAINT', 0 if 'weight' in keywords else 1, address, port),
                                      check_status='')
        self.added_at[(d, name)] = self.clock()

    def enable_health(self, backend, name):
        self._call('enable_health', self._d(backend), name)

    def enable_server(self, backend, name):
        d = self._d(backend)
        self._call('enable_server', d, name)
        s = self.backends[d][name]
        s['status'] = 'DRAIN' if s['weight'] == 0 else 'UP'

    def set_state(self, backend, name, state):
        d = self._d(backend)
        self._call('set_state', d, name, state)
        self.backends[d][name]['status'] = {'ready': 'UP', 'drain': 'DRAIN', 'maint': 'MAINT'}[state]

    def set_weight(self, backend, name, weight):
        d = self._d(backend)
        self._call('set_weight', d, name, weight)
        self.backends[d][name]['weight'] = weight

    def shutdown_sessions(self, backend, name):
        d = self._d(backend)
        self._call('shutdown', d, name)
        self.busy_until[(d, name)] = 0

    def del_server(self, backend, name):
        d = self._d(backend)
        if self.clock() < self.idle_until.get((d, name), 0):
            return False
        self._call('del', d, name)
        del self.backends[d][name]
        return True

    def load_files(self, config_dir):
        """What a new worker serves: the files' backends and servers, sessions gone to the old worker."""
        self.backends = {}
        self.frontends = set()
        for base in sorted(os.listdir(config_dir)):
            if base.startswith('langgraph-') and base.endswith('.cfg'):
                with open(os.path.join(config_dir, base)) as f:
                    text = f.read()
                servers = parse_servers(text)
                if has_frontend(text):
                    self.frontends.add(base[len('langgraph-'):-4])
                status = dict(ready='UP', drain='DRAIN', maint='MAINT')
                self.backends[base[len('langgraph-'):-4]] = dict(
                    (s['name'], live(s['name'], status[s['state']], 0 if s['state'] == 'drain' else 1,
                                     s['address'], s['port']))
                    for s in servers)
        self.busy_until = {}


class Runner(object):
    """run_command: `haproxy -c` rejects files binding a port of reject_ports; `systemctl reload` loads the files."""

    def __init__(self, api, config_dir):
        self.api = api
        self.config_dir = config_dir
        self.commands = []
        self.reject_ports = set()
        self.reload_loads = True

    def __call__(self, args):
        self.commands.append(args)
        if args[:2] == ['systemctl', 'reload']:
            if self.reload_loads:
                self.api.pid = str(int(self.api.pid) + 1)
                self.api.load_files(self.config_dir)
            return 0, '', ''
        files = [args[i + 1] for i, a in enumerate(args) if a == '-f'][1:]
        for name in files:
            with open(name) as f:
                if bound_ports(f.read()) & self.reject_ports:
                    return 1, '', '[ALERT] parsing [%s:5] : cannot bind' % name
        return 0, '', ''

    def checks(self):
        return [c for c in self.commands if c[:2] == ['haproxy', '-c']]

    def reloads(self):
        return [c for c in self.commands if c[:2] == ['systemctl', 'reload']]


class FakeMaster(object):
    """Old workers after a reload: sessions of given servers end at given times."""

    def __init__(self, clock, until):
        self.clock = clock
        self.until = until  # {(backend, name): time}
        self.calls = 0

    def old_sessions(self, servers):
        self.calls += 1
        return dict((s, 1 if self.clock() < self.until.get(s, 0) else 0) for s in servers)


class Setup(object):
    def __init__(self, tmp_path, backends, files=None):
        self.clock = Clock()
        self.api = FakeAPI(self.clock, backends)
        self.dir = tmp_path / 'conf.d'
        self.dir.mkdir()
        self.main = tmp_path / 'haproxy.cfg'
        self.main.write_text('frontend stats\n    bind 127.0.0.1:8404\n')
        for d, (port, servers) in (files or {}).items():
            (self.dir / ('langgraph-%s.cfg' % d)).write_text(render(d, port, '*', '/ok', servers))
        self.runner = Runner(self.api, str(self.dir))
        self.files = ConfigFiles(str(self.dir), str(self.main), self.runner)
        self.executor = Executor(self.api, self.files, 'haproxy', self.runner, sleep=self.clock.sleep,
                                 clock=self.clock)

    def run(self, entries, **kw):
        entries = validate_backends(entries, kw.pop('skip', ()))
        views = self.api.fleet()
        self.api.fleet_calls = 0
        plans = plan_backends(entries, views, self.files.texts(), str(self.dir))
        return self.executor.apply(plans, views, **kw)

    def file_servers(self, d):
        path = self.dir / ('langgraph-%s.cfg' % d)
        return [(s['name'], s['state']) for s in parse_servers(path.read_text())] if path.exists() else None

    def calls(self, *actions):
        return [c for c in self.api.calls if c[0] in actions]


def entry(d, port, *servers, **kw):
    return dict(dict(deployment=d, bind_port=port, servers=list(servers)), **kw)


def test_new_backends_one_check_one_reload_then_runtime_adds(tmp_path):
    s = Setup(tmp_path, {})
    views = s.run([entry('app', 8101, want('a1'), want('a2')), entry('bot', 8102, want('b1')),
                   entry('cat', 8103, want('c1', 'drain'))], wait_healthy=True)
    assert len(s.runner.reloads()) == 1
    assert len(s.runner.checks()) == 2  # the new files together, then the final rewrite together
    assert [c[1:3] for c in s.calls('add')] == [('app', 'a1'), ('app', 'a2'), ('bot', 'b1'), ('cat', 'c1')]
    assert s.executor.failed == {} and s.executor.reloaded and s.executor.changed
    assert s.file_servers('app') == [('a1', 'ready'), ('a2', 'ready')]
    assert s.file_servers('cat') == [('c1', 'drain')]
    assert views['app']['servers']['a1']['check_status'] == 'L7OK'
    assert 1.0 <= s.clock.now < 2.0  # one wait for all
    assert not list(s.dir.glob('.*.tmp'))


def test_fifty_backends_cost_one_reload_and_one_show_stat_per_round(tmp_path):
    s = Setup(tmp_path, {})
    s.run([entry('d%02d' % i, 8100 + i, want('s1'), want('s2')) for i in range(50)], wait_healthy=True)
    assert len(s.runner.reloads()) == 1 and len(s.runner.checks()) == 2
    assert s.clock.now < 2.0
    rounds = s.clock.now / 0.25 + 1
    assert s.api.fleet_calls <= rounds + 3  # reload wait, health rounds, final view
    assert len(list(s.dir.glob('langgraph-*.cfg'))) == 50


def test_phases_across_backends_adds_first_then_one_drain_wait(tmp_path):
    s = Setup(tmp_path, {'app': [live('o')], 'bot': [live('x'), live('y')], 'cat': [live('y'), live('z')]},
              {'app': (8101, [want('o')]), 'bot': (8102, [want('x'), want('y')]), 'cat': (8103, [want('y'), want('z')])})
    s.api.busy_until.update({('app', 'o'): 7.0, ('cat', 'y'): 4.0})
    s.run([entry('app', 8101, want('n'), want('o', 'absent')), entry('bot', 8102, want('x', 'drain')),
           entry('cat', 8103, want('y', 'absent'))], wait_healthy=True)
    kinds = [c[0] for c in s.api.calls]
    assert kinds.index('set_state') > max(i for i, k in enumerate(kinds) if k in ('add', 'enable_server'))
    assert s.calls('set_state')[:3] == [('set_state', 'app', 'o', 'drain'), ('set_state', 'bot', 'x', 'drain'),
                                        ('set_state', 'cat', 'y', 'drain')]
    assert s.calls('del') == [('del', 'app', 'o'), ('del', 'cat', 'y')]
    assert 7.0 <= s.clock.now < 8.0  # 1 s health, then one drain wait of 7 s: not 1 + 7 + 4
    assert s.executor.drain_timed_out == {} and not s.executor.reloaded
    assert s.file_servers('app') == [('n', 'ready')]
    assert s.file_servers('bot') == [('x', 'drain'), ('y', 'ready')]
    assert s.file_servers('cat') == [('z', 'ready')]
    # The files follow after the adds, after the drains and at the end: each time one check for all of them.
    assert len(s.runner.checks()) == 3


def test_unhealthy_deployment_loses_its_additions_and_keeps_its_old_servers(tmp_path):
    s = Setup(tmp_path, {'app': [live('old')], 'bot': [live('old')]},
              {'app': (8101, [want('old')]), 'bot': (8102, [want('old')])})
    s.run([entry('app', 8101, want('new'), want('old', 'absent')),
           entry('bot', 8102, want('new'), want('dead', address=DEAD), want('old', 'absent'))],
          wait_healthy=True, health_timeout=5)
    reason = s.executor.failed['bot']
    assert 'servers of be_bot not healthy after 5 s: dead (DOWN, check L4CON); check that they answer GET /ok' in reason
    assert reason.endswith('removed the servers this call added: new, dead')
    assert list(s.executor.failed) == ['bot']
    assert ('set_state', 'bot', 'old', 'drain') not in s.api.calls
    assert s.calls('del') == [('del', 'app', 'old'), ('del', 'bot', 'new'), ('del', 'bot', 'dead')]
    assert s.file_servers('app') == [('new', 'ready')]
    assert s.file_servers('bot') == [('old', 'ready')]


def test_without_rollback_unhealthy_servers_stay_and_nothing_is_drained(tmp_path):
    s = Setup(tmp_path, {'bot': [live('old')]}, {'bot': (8102, [want('old')])})
    s.run([entry('bot', 8102, want('good'), want('dead', address=DEAD), want('old', 'drain'))],
          wait_healthy=True, health_timeout=5, wait_for={'bot': ['good', 'dead']}, rollback=False)
    assert 'dead (DOWN' in s.executor.failed['bot'] and 'removed' not in s.executor.failed['bot']
    assert s.calls('del', 'set_state') == []
    assert s.file_servers('bot') == [('dead', 'ready'), ('good', 'ready'), ('old', 'ready')]


def test_absent_backends_go_with_one_reload(tmp_path):
    s = Setup(tmp_path, {'app': [live('x')], 'bot': [live('y')], 'cat': [live('z')]},
              {'app': (8101, [want('x')]), 'bot': (8102, [want('y')]), 'cat': (8103, [want('z')])})
    views = s.run([dict(deployment='app', state='absent'), dict(deployment='bot', state='absent')])
    assert sorted(views) == ['cat'] and len(s.runner.reloads()) == 1
    assert sorted(p.name for p in s.dir.iterdir()) == ['langgraph-cat.cfg']
    assert s.runner.checks() == []  # removing files needs no check; nothing else changed


def test_reload_keeps_live_servers_then_changes_them_at_run_time(tmp_path):
    s = Setup(tmp_path, {'app': [live('r'), live('d', 'DRAIN'), live('m', 'MAINT')]},
              {'app': (8101, [want('r'), want('d', 'drain'), want('m', 'maint')])})
    reloaded_with = []
    original = s.api.load_files

    def load(config_dir):
        reloaded_with.append(s.file_servers('app'))
        original(config_dir)
    s.api.load_files = load
    s.run([entry('app', 8102, want('r', 'absent'), want('d'), want('n'), want('m', 'drain'))], wait_healthy=True)
    assert reloaded_with == [[('d', 'drain'), ('m', 'maint'), ('r', 'ready')]]
    assert s.calls('add', 'set_weight', 'set_state', 'del') == [
        ('add', 'app', 'n', 'check inter 1s fall 2 rise 1'),
        ('set_weight', 'app', 'd', 1), ('set_state', 'app', 'd', 'ready'),  # weight 0 after the reload: restored
        ('set_state', 'app', 'r', 'drain'), ('set_state', 'app', 'r', 'maint'), ('del', 'app', 'r')]
    assert s.file_servers('app') == [('d', 'ready'), ('m', 'maint'), ('n', 'ready')]
    assert bound_ports((s.dir / 'langgraph-app.cfg').read_text()) == set([8102])


def test_dropping_the_port_removes_the_frontend_with_one_reload_and_keeps_the_servers(tmp_path):
    s = Setup(tmp_path, {'app': [live('a')]}, {'app': (8101, [want('a')])})
    s.run([entry('app', None, want('a'))], wait_healthy=True)
    text = (s.dir / 'langgraph-app.cfg').read_text()
    assert len(s.runner.reloads()) == 1 and s.executor.failed == {}
    assert not has_frontend(text) and bound_ports(text) == set() and s.file_servers('app') == [('a', 'ready')]
    assert s.calls('add', 'set_state', 'del') == []  # the reload kept the server: nothing at run time
    assert s.api.fleet()['app']['frontend'] is False
    # In shape: nothing to do; then the port back: the frontend comes back with one reload.
    s.run([entry('app', None, want('a'))], wait_healthy=True)
    assert len(s.runner.reloads()) == 1
    s.run([entry('app', 8102, want('a'))], wait_healthy=True)
    assert len(s.runner.reloads()) == 2 and s.api.fleet()['app']['frontend'] is True
    assert bound_ports((s.dir / 'langgraph-app.cfg').read_text()) == set([8102])


def test_unlisted_backend_without_frontend_keeps_its_servers_through_a_reload(tmp_path):
    s = Setup(tmp_path, {'edge': [live('e1'), live('e2')]}, {'edge': (None, [want('e1')])})
    s.api.frontends.discard('edge')
    s.run([entry('app', 8101, want('a'))], wait_healthy=True)
    assert s.file_servers('edge') == [('e1', 'ready'), ('e2', 'ready')]
    assert not has_frontend((s.dir / 'langgraph-edge.cfg').read_text())
    assert s.executor.failed == {}


def test_a_reload_for_one_deployment_keeps_the_others_and_they_are_planned_again(tmp_path):
    # app: s drained at run time (weight 1 there, weight 0 once reloaded), the file missing the server
    # 'extra' that runs; bot is new and makes the call reload.
    s = Setup(tmp_path, {'app': [live('s', 'DRAIN'), live('extra')]}, {'app': (8101, [want('s', 'drain')])})
    s.run([entry('app', 8101, want('s')), entry('bot', 8102, want('b'))], wait_healthy=True)
    assert len(s.runner.reloads()) == 1 and s.executor.failed == {}
    assert sorted(s.api.backends['app']) == ['extra', 's']  # kept through the reload
    assert s.calls('set_weight', 'set_state') == [('set_weight', 'app', 's', 1), ('set_state', 'app', 's', 'ready')]
    assert s.api.backends['app']['s']['weight'] == 1
    assert s.file_servers('app') == [('extra', 'ready'), ('s', 'ready')]


def test_removal_waits_for_old_workers_after_the_reload(tmp_path):
    s = Setup(tmp_path, {'app': [live('o'), live('p')]}, {'app': (8101, [want('o'), want('p')])})
    s.executor.master = FakeMaster(s.clock, {('be_app', 'o'): 12.0})
    s.run([entry('app', 8101, want('o', 'absent')), entry('new', 8102, want('n'))])
    assert s.executor.reloaded and 12.0 <= s.clock.now < 13.0
    assert s.executor.drain_timed_out == {} and ('del', 'app', 'o') in s.api.calls


def test_drain_timeout_cuts_sessions_and_reports_them(tmp_path):
    s = Setup(tmp_path, {'app': [live('o')]}, {'app': (8101, [want('o')])})
    s.api.busy_until[('app', 'o')] = 1000.0
    s.executor.master = FakeMaster(s.clock, {})
    s.run([entry('app', 8101, want('o', 'absent'))], drain_timeout=5)
    assert ('shutdown', 'app', 'o') in s.api.calls and s.executor.drain_timed_out == {'app': ['o']}
    assert 5.0 <= s.clock.now < 6.0 and s.executor.failed == {}


def test_old_worker_sessions_after_drain_timeout_are_reported_not_cut(tmp_path):
    s = Setup(tmp_path, {'app': [live('o')]}, {'app': (8101, [want('o')])})
    s.executor.master = FakeMaster(s.clock, {('be_app', 'o'): 1000.0})
    s.run([entry('app', 8101, want('o', 'absent'))], drain_timeout=3)
    assert s.executor.drain_timed_out == {'app': ['o']} and not s.calls('shutdown') and s.calls('del')


def test_unreachable_master_socket_is_ignored(tmp_path):
    s = Setup(tmp_path, {'app': [live('o')]}, {'app': (8101, [want('o')])})

    class Broken(object):
        def old_sessions(self, servers):
            raise RuntimeUnreachable('cannot talk to the master')
    s.executor.master = Broken()
    s.run([entry('app', 8101, want('o', 'absent'))])
    assert s.calls('del') == [('del', 'app', 'o')]


def test_delete_that_never_succeeds_fails_that_deployment_only(tmp_path):
    s = Setup(tmp_path, {'app': [live('o'), live('k')], 'bot': [live('o')]},
              {'app': (8101, [want('o'), want('k')]), 'bot': (8102, [want('o')])})
    s.api.idle_until[('app', 'o')] = 1000.0
    s.run([entry('app', 8101, want('o', 'absent')), entry('bot', 8102, want('o', 'absent'))])
    assert list(s.executor.failed) == ['app'] and 'kept connections to o of be_app' in s.executor.failed['app']
    assert s.file_servers('app') == [('k', 'ready'), ('o', 'maint')]  # the file says what runs
    assert s.file_servers('bot') == []


def test_refused_command_fails_that_deployment_only_and_its_file_follows(tmp_path):
    s = Setup(tmp_path, {'app': [live('o')], 'bot': [live('o')]}, {'app': (8101, [want('o')]), 'bot': (8102, [want('o')])})
    s.api.fail_on = ('enable_server', 'app')
    s.run([entry('app', 8101, want('n'), want('o', 'absent')), entry('bot', 8102, want('n'), want('o', 'absent'))])
    assert list(s.executor.failed) == ['app'] and 'refused' in s.executor.failed['app']
    assert ('set_state', 'app', 'o', 'drain') not in s.api.calls and ('del', 'bot', 'o') in s.api.calls
    assert s.file_servers('app') == [('n', 'maint'), ('o', 'ready')]
    assert s.file_servers('bot') == [('n', 'ready')]


def test_unreachable_socket_fails_the_call(tmp_path):
    s = Setup(tmp_path, {'app': [live('o')]}, {'app': (8101, [want('o')])})
    s.api.unreachable = True
    with pytest.raises(RuntimeUnreachable):
        s.run([entry('app', 8101, want('n'))])


def test_file_that_haproxy_rejects_fails_that_deployment_only(tmp_path):
    s = Setup(tmp_path, {})
    s.runner.reject_ports = set([8199])
    s.run([entry('good', 8101, want('g')), entry('bad', 8199, want('bot'))])
    assert list(s.executor.failed) == ['bad']
    assert 'the configuration of bad does not pass "haproxy -c" and was not written: [ALERT]' in \
        s.executor.failed['bad']
    assert s.file_servers('bad') is None and s.file_servers('good') == [('g', 'ready')]
    assert sorted(s.api.backends) == ['good'] and not list(s.dir.glob('.*.tmp'))


def test_port_bound_elsewhere_leaves_the_deployment_alone(tmp_path):
    s = Setup(tmp_path, {})
    s.run([entry('app', 8404, want('x')), entry('bot', 8102, want('y'))])
    expected = 'bind_port 8404 of app is already bound in %s: choose a free port for the deployment' % s.main
    assert s.executor.failed == {'app': expected}
    assert sorted(s.api.backends) == ['bot']


def test_same_name_at_a_new_address_is_removed_before_it_is_added(tmp_path):
    s = Setup(tmp_path, {'app': [live('s')]}, {'app': (8101, [want('s')])})
    s.run([entry('app', 8101, want('s', port=9000))])
    assert [c[:3] for c in s.calls('set_state', 'del', 'add')] == [
        ('set_state', 'app', 's'), ('set_state', 'app', 's'), ('del', 'app', 's'), ('add', 'app', 's')]
    assert s.api.backends['app']['s']['port'] == 9000


def test_reload_that_never_shows_the_backend_fails_the_call(tmp_path):
    s = Setup(tmp_path, {})
    s.runner.reload_loads = False
    with pytest.raises(HAProxyError, match='HAProxy did not load the new configuration within 30 s'):
        s.run([entry('app', 8101, want('x'))])
    assert s.clock.now >= 30


def test_nothing_to_do_changes_nothing(tmp_path):
    s = Setup(tmp_path, {'app': [live('o')]}, {'app': (8101, [want('o')])})
    s.run([entry('app', 8101, want('o'))], wait_healthy=True)
    assert not s.executor.changed and s.api.calls == [] and s.runner.commands == []
    assert s.api.fleet_calls == 1  # the final view


def test_skipped_deployment_is_left_alone(tmp_path):
    s = Setup(tmp_path, {'app': [live('o')], 'bot': [live('o')]}, {'app': (8101, [want('o')]), 'bot': (8102, [want('o')])})
    s.run([entry('app', 8101, want('o', 'absent')), entry('bot', 8102, want('o', 'absent'))], skip=['bot'])
    assert s.calls('del') == [('del', 'app', 'o')] and s.file_servers('bot') == [('o', 'ready')]


@pytest.mark.parametrize('server, ok', [
    (dict(status='UP', check_status='L7OK'), True),
    (dict(status='UP', check_status='INI'), False),
    (dict(status='DRAIN', check_status='L7OK'), False),
    (None, False),
])
def test_healthy(server, ok):
    assert healthy(server) == ok


# --- two runs, or an operator, on one load balancer ---------------------------------------------------------

def operator_reload(s):
    """`systemctl reload haproxy` by something else: a new worker loads the files as they are now."""
    s.api.pid = str(int(s.api.pid) + 1)
    s.api.load_files(str(s.dir))


def on_first_wait_round(s, action):
    """Run action once, at the first `show stat` of a polling loop (fleet without addresses)."""
    original = s.api.fleet
    done = []

    def fleet(addresses=True):
        if not addresses and not done:
            done.append(True)
            action()
        return original(addresses)
    s.api.fleet = fleet


def test_files_list_added_servers_before_the_health_wait_so_a_reload_then_keeps_them(tmp_path):
    s = Setup(tmp_path, {'app': [live('old')]}, {'app': (8101, [want('old')])})
    seen = []
    on_first_wait_round(s, lambda: (seen.append(s.file_servers('app')), operator_reload(s)))
    s.run([entry('app', 8101, want('new'), want('old', 'absent'))], wait_healthy=True, health_timeout=30)
    assert seen == [[('new', 'ready'), ('old', 'ready')]]
    assert s.executor.failed == {} and sorted(s.api.backends['app']) == ['new']
    assert s.file_servers('app') == [('new', 'ready')]


def test_servers_lost_to_a_reload_by_something_else_fail_their_deployment_at_once(tmp_path):
    # The reload comes between app's runtime add and the file that lists it; bot's add comes after it.
    s = Setup(tmp_path, {'app': [live('old')], 'bot': [live('old')]},
              {'app': (8101, [want('old')]), 'bot': (8102, [want('old')])})
    original = s.api.enable_server

    def enable_server(backend, name):
        original(backend, name)
        if backend == 'be_app':
            operator_reload(s)
    s.api.enable_server = enable_server
    s.run([entry('app', 8101, want('new'), want('old', 'absent')), entry('bot', 8102, want('new'), want('old', 'absent'))],
          wait_healthy=True, health_timeout=150)
    assert s.executor.failed == {'app': (
        'servers of be_app vanished from HAProxy while this call waited for them to come up: new; HAProxy was '
        'reloaded by something else meanwhile (worker pid 1, now 2) from files that did not list them; reload '
        'HAProxy only through these modules while they run (see "journalctl -u haproxy")')}
    assert s.clock.now < 2.0  # not after health_timeout
    assert ('set_state', 'app', 'old', 'drain') not in s.api.calls  # its old server keeps serving
    assert ('del', 'bot', 'old') in s.api.calls and sorted(s.api.backends['bot']) == ['new']
    assert s.file_servers('app') == [('old', 'ready')] and s.file_servers('bot') == [('new', 'ready')]


def test_servers_deleted_by_something_else_fail_their_deployment_at_once(tmp_path):
    s = Setup(tmp_path, {'app': [live('old')]}, {'app': (8101, [want('old')])})
    on_first_wait_round(s, lambda: s.api.backends['app'].pop('new'))
    s.run([entry('app', 8101, want('new'), want('old', 'absent'))], wait_healthy=True, health_timeout=150)
    assert s.executor.failed == {'app': 'servers of be_app vanished from HAProxy while this call waited for them to '
                                        'come up: new; something else deleted them through the runtime API'}
    assert s.clock.now < 1.0 and s.calls('del', 'set_state') == []
    assert s.file_servers('app') == [('old', 'ready')]


def test_without_rollback_a_vanished_server_is_reported_too(tmp_path):
    s = Setup(tmp_path, {'bot': [live('old')]}, {'bot': (8102, [want('old')])})
    on_first_wait_round(s, lambda: s.api.backends['bot'].pop('good'))
    s.run([entry('bot', 8102, want('good'), want('old'))], wait_healthy=True, health_timeout=60,
          wait_for={'bot': ['good', 'old']}, rollback=False)
    assert s.executor.failed['bot'].startswith('servers of be_bot vanished from HAProxy while this call waited for '
                                               'them to come up: good;')
    assert s.clock.now < 1.0


def test_drained_servers_stay_drained_through_a_reload_during_the_drain_wait(tmp_path):
    s = Setup(tmp_path, {'app': [live('o'), live('p')]}, {'app': (8101, [want('o'), want('p')])})
    s.api.busy_until[('app', 'o')] = 30.0
    seen = []
    on_first_wait_round(s, lambda: (seen.append(s.file_servers('app')), operator_reload(s)))
    s.run([entry('app', 8101, want('o', 'absent'))], drain_timeout=300)
    assert seen == [[('o', 'drain'), ('p', 'ready')]]
    assert s.executor.failed == {} and sorted(s.api.backends['app']) == ['p']
    assert s.clock.now < 1.0  # the reload moved its sessions to the old worker (no master socket here)


def test_our_reload_keeps_the_runtime_servers_of_deployments_the_call_does_not_list(tmp_path):
    # other: x2 was registered at run time by a call that ended before its file listed it.
    s = Setup(tmp_path, {'other': [live('x'), live('x2', port=9002)]}, {'other': (8101, [want('x')])})
    reloaded_with = []
    original = s.api.load_files

    def load(config_dir):
        reloaded_with.append(s.file_servers('other'))
        original(config_dir)
    s.api.load_files = load
    s.run([entry('bot', 8102, want('b'))], wait_healthy=True)
    assert reloaded_with == [[('x', 'ready'), ('x2', 'ready')]]
    assert sorted(s.api.backends['other']) == ['x', 'x2'] and s.executor.failed == {}


def test_unlisted_files():
    views = {
        'same': dict(backend=True, servers={'a': live('a'), 'b': live('b')}),
        'more': dict(backend=True, servers={'a': live('a'), 'n': live('n', 'DRAIN', 0)}),
        'listed': dict(backend=True, servers={'a': live('a'), 'n': live('n')}),
        'nofile': dict(backend=True, servers={'a': live('a')}),
        'gone': dict(backend=False, servers={}),
    }
    texts = dict(('/c/langgraph-%s.cfg' % d, render(d, 8101, '*', '/ok?x=1', [want('b'), want('a')]))
                 for d in ('same', 'more', 'listed', 'gone'))
    changes = unlisted_files(views, texts, '/c', listed=['listed'])
    assert sorted(changes) == ['/c/langgraph-more.cfg']
    assert changes['/c/langgraph-more.cfg'] == render('more', 8101, '*', '/ok?x=1', [want('a'), want('n', 'drain')])


@pytest.mark.parametrize('before, now, words', [
    ('1', '2', 'HAProxy was reloaded by something else meanwhile (worker pid 1, now 2)'),
    ('1', '1', 'something else deleted them through the runtime API'),
    (None, '2', 'something else deleted them through the runtime API'),
])
def test_vanished_reason(before, now, words):
    reason = vanished_reason('app', ['a', 'b'], before, now, 'haproxy')
    assert reason.startswith('servers of be_app vanished from HAProxy while this call waited for them to come up: '
                             'a, b; ') and words in reason
