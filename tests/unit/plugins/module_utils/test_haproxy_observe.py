# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError, render
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_observe import (
    deployment_of_file,
    observe,
    read_config_files,
    sample_stat,
    summarise,
    summarise_backends,
    validate_sampling,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_runtime import (
    parse_servers_state,
    parse_show_stat,
)

HEADER = '# pxname,svname,qcur,scur,stot,status,weight,check_status,addr,\n'
STATE = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord\n"
    "4 be_bot 1 app1-r1-1 172.30.213.21 2 0 1 1 2 15 3 2 6 0 0 0 - 20001 -\n")


def stat(servers, queue=0, backend='be_bot', frontend=True):
    """servers: {name: (scur, raw status, weight)}."""
    lines = ['stats,FRONTEND,,1,1,OPEN,,,,', 'be_x,s,0,9,9,UP,1,L7OK,1.1.1.1:1,', 'be_x,BACKEND,0,9,9,UP,1,,,']
    if frontend:
        lines.append('fe_%s,FRONTEND,,0,0,OPEN,,,,' % backend[3:])
    lines += ['%s,%s,0,%d,%d,%s,%d,L7OK,10.0.0.1:2000,' % (backend, name, scur, 100 + scur, status, weight)
              for name, (scur, status, weight) in sorted(servers.items())]
    lines.append('%s,BACKEND,%d,0,0,UP,1,,,' % (backend, queue))
    return parse_show_stat(HEADER + '\n'.join(lines) + '\n')


def test_averages_over_the_window_for_every_backend():
    samples = [
        stat({'app1-r1-1': (30, 'UP', 1), 'app2-r1-1': (4, 'UP', 1)}) + stat({'web-1': (1, 'UP', 1)}, backend='be_web')[3:],
        stat({'app1-r1-1': (40, 'UP', 1), 'app2-r1-1': (6, 'UP', 1)}, queue=3),
        stat({'app1-r1-1': (35, 'UP', 1)}) + stat({'web-1': (2, 'DOWN', 1)}, backend='be_web')[3:],
    ]
    files = {'bot': render('bot', 8101, '*', '/ok?check_db=1', []), 'gone': render('gone', 8102, '*', '/ok', [])}
    backends = summarise_backends(samples, parse_servers_state(STATE), files)
    assert sorted(backends) == ['bot', 'gone', 'web']
    bot = backends['bot']
    assert (bot['frontend'], bot['backend'], bot['file']) == (True, True, True)
    assert (bot['bind_address'], bot['bind_port'], bot['health_path']) == ('*', 8101, '/ok?check_db=1')
    assert sorted(bot['servers']) == ['app1-r1-1']  # app2-r1-1 left during the window
    assert bot['servers']['app1-r1-1'] == dict(address='172.30.213.21', port=20001, state='ready', status='UP',
                                               check_status='L7OK', scur=35.0, scur_max=40, stot=135, qcur=0)
    assert bot['queue_average'] == 1.0
    assert bot['total'] == pytest.approx(35 + 10 / 3.0 + 1, abs=0.001)  # app2's load counts
    web = backends['web']
    assert web['servers']['web-1']['scur'] == 1.0 and web['servers']['web-1']['status'] == 'DOWN'
    assert web['file'] is False and web['bind_port'] is None
    assert backends['gone'] == dict(frontend=False, backend=False, file=True, bind_address='*', bind_port=8102,
                                    health_path='/ok', servers={}, queue_average=0.0, total=0.0, old_sessions=0)


def test_summarise_averages_each_server_and_adds_the_queue():
    result = summarise([({'a': 30, 'b': 4}, 0), ({'a': 40, 'b': 6}, 2), ({'a': 35, 'b': 5}, 0)])
    assert result['servers'] == {'a': dict(average=35.0, max=40), 'b': dict(average=5.0, max=6)}
    assert result['queue_average'] == 0.667
    assert result['total'] == pytest.approx(35 + 5 + 2 / 3.0, abs=0.001)


def test_summarise_counts_a_server_added_during_the_window_zero_before():
    result = summarise([({'a': 10}, 0), ({'a': 10, 'b': 4}, 0)])
    assert result['servers']['b'] == dict(average=2.0, max=4)
    assert result['total'] == 12.0


@pytest.mark.parametrize('raw, weight, state, status', [
    ('UP', 1, 'ready', 'UP'),
    ('UP', 0, 'drain', 'DRAIN'),
    ('DRAIN', 1, 'drain', 'DRAIN'),
    ('MAINT', 1, 'maint', 'MAINT'),
    ('DOWN', 1, 'ready', 'DOWN'),
])
def test_server_state_in_the_files_terms(raw, weight, state, status):
    server = summarise_backends([stat({'s': (0, raw, weight)})], [], {})['bot']['servers']['s']
    assert (server['state'], server['status']) == (state, status)


@pytest.mark.parametrize('path, deployment', [
    ('/etc/haproxy/conf.d/langgraph-support-bot.cfg', 'support-bot'),
    ('/etc/haproxy/conf.d/langgraph-ab.cfg', None),
    ('/etc/haproxy/conf.d/langgraph-Bad.cfg', None),
    ('/etc/haproxy/conf.d/other.cfg', None),
    ('/etc/haproxy/conf.d/langgraph-bot.cfg.tmp', None),
])
def test_deployment_of_file(path, deployment):
    assert deployment_of_file('/etc/haproxy/conf.d', path) == deployment


def test_read_config_files(tmp_path):
    (tmp_path / 'langgraph-bot.cfg').write_text('bot')
    (tmp_path / 'langgraph-x.cfg').write_text('not a deployment name')
    (tmp_path / 'other.cfg').write_text('not ours')
    (tmp_path / '.langgraph-bot.cfg.tmp').write_text('being written')
    assert read_config_files(str(tmp_path)) == {'bot': 'bot'}
    assert read_config_files(str(tmp_path / 'missing')) == {}


class FakeAPI(object):
    path = '/run/haproxy/admin.sock'

    def __init__(self, answers):
        self.answers = list(answers)
        self.commands = []

    def ping(self):
        self.commands.append('show info')

    def show_stat(self):
        self.commands.append('show stat')
        return self.answers.pop(0)

    def show_servers_state(self):
        self.commands.append('show servers state')
        return parse_servers_state(STATE)


class FakeClock(object):
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_samples_spread_over_the_window():
    clock = FakeClock()
    taken, at = sample_stat(FakeAPI([1, 2, 3]), 3, 4, clock)
    assert taken == [1, 2, 3] and clock.slept == [2.0, 2.0] and at == 1004.0


def test_one_sample_is_taken_at_once():
    clock = FakeClock()
    assert sample_stat(FakeAPI([1]), 1, 5, clock) == ([1], 1000.0) and clock.slept == []


def test_observe_reads_each_sample_once_for_all_backends(tmp_path):
    (tmp_path / 'langgraph-bot.cfg').write_text(render('bot', 8101, '*', '/ok', []))
    api = FakeAPI([stat({'app1-r1-1': (2, 'UP', 1)}), stat({'app1-r1-1': (4, 'UP', 1)})])
    result = observe(api, str(tmp_path), samples=2, window=1, clock=FakeClock())
    assert api.commands == ['show info', 'show stat', 'show stat', 'show servers state']
    assert result['samples'] == 2 and result['window'] == 1 and result['sampled_at'] == 1001.0
    assert result['backends']['bot']['total'] == 3.0 and result['backends']['bot']['bind_port'] == 8101


@pytest.mark.parametrize('samples, window, message', [
    (0, 0, 'samples must be from 1 to 100'),
    (101, 0, 'samples must be from 1 to 100'),
    (True, 0, 'samples must be from 1 to 100'),
    (5, -1, 'window must be from 0 to 300 seconds'),
    (5, 301, 'window must be from 0 to 300 seconds'),
])
def test_validate_sampling(samples, window, message):
    with pytest.raises(HAProxyError, match=message):
        validate_sampling(samples, window)


def test_the_old_workers_sessions_count_on_their_servers():
    samples = [stat({'app1-r1-1': (2, 'UP', 1)}), stat({'app1-r1-1': (4, 'UP', 1)})]
    old = {('be_bot', 'app1-r1-1'): 5, ('be_bot', 'app2-r0-1'): 2, ('be_web', 'web-1'): 0}
    bot = summarise_backends(samples, [], {}, old)['bot']
    # A server only the old workers still use (it left the new ones' view) counts in the total.
    assert bot['servers']['app1-r1-1']['scur'] == 8.0 and bot['servers']['app1-r1-1']['scur_max'] == 9
    assert bot['old_sessions'] == 7 and bot['total'] == 8.0 + 2
    assert summarise_backends(samples, [], {})['bot']['old_sessions'] == 0


class FakeMaster(object):
    def __init__(self, sessions):
        self.sessions = sessions
        self.asked = None

    def old_sessions(self, servers):
        self.asked = servers
        return dict((server, self.sessions.get(server, 0)) for server in servers)


def test_observe_asks_the_master_once_for_the_servers_of_our_backends(tmp_path):
    master = FakeMaster({('be_bot', 'app1-r1-1'): 3})
    api = FakeAPI([stat({'app1-r1-1': (1, 'UP', 1), 'app2-r1-1': (0, 'UP', 1)})])
    result = observe(api, str(tmp_path), master=master)
    assert master.asked == [('be_bot', 'app1-r1-1'), ('be_bot', 'app2-r1-1')]  # not be_x: no deployment of ours
    assert result['old_workers_counted'] and result['backends']['bot']['total'] == 4.0
    assert observe(FakeAPI([stat({})]), str(tmp_path))['old_workers_counted'] is False
