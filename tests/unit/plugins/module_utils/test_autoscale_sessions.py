# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.autoscale_sessions import sample, summarise
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError

HEADER = '# pxname,svname,qcur,scur,weight,status,addr\n'


def stat(servers, queue=0, backend='be_bot'):
    lines = ['fe_bot,FRONTEND,,9,,OPEN,']
    lines += ['%s,%s,0,%d,%d,%s,10.0.0.1:2000' % (backend, name, scur, 0 if status == 'DRAIN' else 1,
                                                  'UP' if status == 'DRAIN' else status)
              for name, (scur, status) in servers.items()]
    lines.append('%s,BACKEND,%d,%d,2,UP,' % (backend, queue, sum(v[0] for v in servers.values())))
    return HEADER + '\n'.join(lines) + '\n'


class FakeAPI(object):
    path = '/run/haproxy/admin.sock'

    def __init__(self, answers):
        self.answers = list(answers)

    def execute(self, command):
        assert command == 'show stat'
        return self.answers.pop(0)


class FakeClock(object):
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_averages_over_the_window():
    answers = [stat({'a-r1-1': (30, 'UP'), 'b-r1-1': (4, 'UP')}),
               stat({'a-r1-1': (40, 'UP'), 'b-r1-1': (6, 'UP')}, queue=2),
               stat({'a-r1-1': (35, 'UP'), 'b-r1-1': (5, 'DRAIN')})]
    clock = FakeClock()
    result = sample(FakeAPI(answers), 'bot', samples=3, window=4, clock=clock)
    assert result['servers'] == {'a-r1-1': {'average': 35.0, 'max': 40, 'status': 'UP'},
                                 'b-r1-1': {'average': 5.0, 'max': 6, 'status': 'DRAIN'}}
    assert result['total'] == pytest.approx(35 + 5 + 2 / 3.0, abs=0.001)
    assert result['total_max'] == 48
    assert clock.slept == [2.0, 2.0]
    assert result['sampled_at'] == 1004.0 and result['samples'] == 3


def test_a_server_added_during_the_window_counts_zero_before():
    result = summarise([({'a': (10, 'UP')}, 0), ({'a': (10, 'UP'), 'b': (4, 'UP')}, 0)])
    assert result['servers']['b']['average'] == 2.0
    assert result['total'] == 12.0


def test_one_sample_takes_no_time():
    clock = FakeClock()
    result = sample(FakeAPI([stat({'a': (3, 'UP')})]), 'bot', samples=1, window=5, clock=clock)
    assert result['total'] == 3.0 and clock.slept == []


def test_missing_backend_is_a_clear_error():
    with pytest.raises(HAProxyError, match='no backend be_other.*deployed'):
        sample(FakeAPI([stat({'a': (3, 'UP')})]), 'other', samples=1, window=0, clock=FakeClock())


@pytest.mark.parametrize('samples, window', [(0, 5), (3, -1)])
def test_bad_sampling(samples, window):
    with pytest.raises(HAProxyError):
        sample(FakeAPI([]), 'bot', samples=samples, window=window, clock=FakeClock())
