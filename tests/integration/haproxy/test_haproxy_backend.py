# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""haproxy_backend on the lab's lb1 with real backends on app1 and app2."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading
import time

import pytest

from conftest import http_get


def by_name(result):
    return dict((s['name'], s) for s in result['servers'])


def answers(lab, port, count):
    """Names of the servers that answered count sequential requests (status must be 200)."""
    names = []
    for _i in range(count):
        status, body = http_get(lab.url(port))
        assert status == 200, (status, body)
        names.append(body.strip())
    return names


def test_add_with_health_checks_and_idempotence(lab, deployment):
    name, port = deployment
    args = dict(deployment=name, bind_port=port, wait_healthy=True, health_timeout=30,
                servers=[lab.server(0), lab.server(1)])
    first = lab.module(args, diff=True)
    assert not first.get('failed'), first
    assert first['changed'] and first['reloaded']
    assert '    server %s %s:' % (lab.apps[0][0], lab.apps[0][1]) in first['diff']['after']
    servers = by_name(first)
    assert [servers[h]['status'] for h, _a in lab.apps] == ['UP', 'UP']
    assert [servers[h]['check_status'] for h, _a in lab.apps] == ['L7OK', 'L7OK']
    assert set(answers(lab, port, 8)) == set(h for h, _a in lab.apps)

    again = lab.module(args)
    assert not again['changed'] and again['actions'] == [] and not again['reloaded'], again
    checked = lab.module(args, check=True)
    assert not checked['changed']


def test_check_mode_changes_nothing(lab, deployment):
    name, port = deployment
    result = lab.module(dict(deployment=name, bind_port=port, servers=[lab.server(0)]), check=True, diff=True)
    assert result['changed'] and not result['reloaded'] and result['commands'] == []
    assert 'reload HAProxy (load the frontend and backend of %s)' % name in result['actions']
    assert result['diff']['before'] == '' and 'frontend fe_%s' % name in result['diff']['after']
    assert lab.lb_shell('test -e /etc/haproxy/conf.d/langgraph-%s.cfg && echo yes || echo no' % name) == 'no'
    assert http_get(lab.url(port), timeout=5)[0] is None  # nothing listens

    # On a running backend: a planned drain is reported, not done.
    lab.module(dict(deployment=name, bind_port=port, servers=[lab.server(0)], wait_healthy=True))
    planned = lab.module(dict(deployment=name, bind_port=port, servers=[lab.server(0, state='drain')]), check=True)
    assert planned['changed'] and planned['actions'][0] == 'drain server %s at run time' % lab.apps[0][0]
    assert by_name(planned)[lab.apps[0][0]]['status'] == 'UP'
    assert answers(lab, port, 2) == [lab.apps[0][0]] * 2


def test_unhealthy_server_gets_no_requests(lab, deployment):
    name, port = deployment
    dead = lab.server(1, name='dead', port=18299)  # nothing listens there
    result = lab.module(dict(deployment=name, bind_port=port, servers=[lab.server(0), dead],
                             wait_healthy=True, health_timeout=5))
    assert result.get('failed') and 'not healthy after 5 s: dead (DOWN' in result['msg'], result
    assert set(answers(lab, port, 6)) == set([lab.apps[0][0]])


def test_drain_waits_for_requests_in_flight(lab, deployment):
    name, port = deployment
    first, second = lab.apps[0][0], lab.apps[1][0]
    lab.module(dict(deployment=name, bind_port=port, servers=[lab.server(0)], wait_healthy=True))

    slow = {}

    def hold():
        slow['started'] = time.monotonic()
        slow['answer'] = http_get(lab.url(port, '/sleep/8'), timeout=60)
        slow['ended'] = time.monotonic()
    thread = threading.Thread(target=hold)
    thread.start()
    time.sleep(1)  # the slow request is now on the first server

    switched = lab.module(dict(deployment=name, bind_port=port, wait_healthy=True,
                               servers=[lab.server(1), lab.server(0, state='drain')]))
    assert not switched['reloaded'], switched
    assert by_name(switched)[first]['status'] == 'DRAIN' and by_name(switched)[first]['scur'] == 1
    assert set(answers(lab, port, 6)) == set([second])  # no new request goes to the draining server

    removal = lab.start_module(dict(deployment=name, bind_port=port, drain_timeout=60,
                                    servers=[lab.server(0, state='absent')]))
    during = answers(lab, port, 4)
    removed = lab.finish(removal)
    thread.join(60)
    assert slow['answer'] == (200, first + '\n')  # the request in flight finished on its server
    assert set(during) == set([second])
    assert not removed.get('failed'), removed
    assert removed['drain_timed_out'] == [] and not removed['reloaded']
    assert removed['_seconds'] >= 2  # it waited for the slow request
    assert sorted(by_name(removed)) == [second]
    assert lab.lb_shell('grep -c "server " /etc/haproxy/conf.d/langgraph-%s.cfg' % name) == '1'


def test_drain_timeout_cuts_what_is_left(lab, deployment):
    name, port = deployment
    lab.module(dict(deployment=name, bind_port=port, servers=[lab.server(0)], wait_healthy=True))
    slow = {}
    thread = threading.Thread(target=lambda: slow.update(answer=http_get(lab.url(port, '/sleep/30'), timeout=60)))
    thread.start()
    time.sleep(1)
    removed = lab.module(dict(deployment=name, bind_port=port, drain_timeout=2,
                              servers=[lab.server(0, state='absent')]))
    thread.join(60)
    assert removed['drain_timed_out'] == [lab.apps[0][0]] and removed['servers'] == [], removed
    assert slow['answer'][0] != 200


def test_reload_keeps_runtime_changes(lab, deployment):
    name, port = deployment
    first, second = lab.apps[0][0], lab.apps[1][0]
    lab.module(dict(deployment=name, bind_port=port, servers=[lab.server(0)], wait_healthy=True))
    changed = lab.module(dict(deployment=name, bind_port=port, wait_healthy=True,
                              servers=[lab.server(1), lab.server(0, state='drain')]))
    assert not changed['reloaded'] and changed['commands'], changed

    lab.lb_shell('systemctl reload haproxy')
    deadline = time.monotonic() + 20
    while True:
        report = lab.module(dict(deployment=name, bind_port=port), check=True)
        if sorted(by_name(report)) == sorted([first, second]) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not report['changed'], report  # file and runtime agree
    assert by_name(report)[first]['status'] == 'DRAIN' and by_name(report)[second]['status'] == 'UP'
    assert set(answers(lab, port, 6)) == set([second])

    # Back into rotation after the reload: weight and state restored at run time.
    ready = lab.module(dict(deployment=name, bind_port=port, wait_healthy=True,
                            servers=[lab.server(0), lab.server(1)]))
    assert ready['changed'] and not ready['reloaded']
    assert set(answers(lab, port, 8)) == set([first, second])


def test_remove_all_then_delete_deployment(lab, deployment, spare_port):
    name, port = deployment
    lab.module(dict(deployment=name, bind_port=port, servers=[lab.server(0)], wait_healthy=True))
    gone = lab.module(dict(deployment=name, bind_port=port, servers=[lab.server(0, state='absent')]))
    assert gone['servers'] == [] and not gone['reloaded']
    assert http_get(lab.url(port))[0] == 503

    moved = lab.module(dict(deployment=name, bind_port=spare_port, servers=[lab.server(1)], wait_healthy=True))
    assert moved['reloaded'] and http_get(lab.url(spare_port))[0] == 200
    assert http_get(lab.url(port), timeout=5)[0] is None

    absent = lab.module(dict(deployment=name, state='absent'))
    assert absent['changed'] and absent['reloaded']
    assert http_get(lab.url(spare_port), timeout=5)[0] is None
    assert not lab.module(dict(deployment=name, state='absent'))['changed']


@pytest.mark.parametrize('args, message', [
    (dict(deployment='Bad_Name', bind_port=18390), 'invalid deployment name'),
    (dict(deployment='it-hx-bad', bind_port=70000), 'bind_port must be a TCP port'),
    (dict(deployment='it-hx-bad', bind_port=18390,
          servers=[dict(name='a', address='172.30.213.21', port=1), dict(name='a', address='172.30.213.22', port=1)]),
     'duplicate server name'),
    (dict(deployment='it-hx-bad', bind_port=18390, servers=[dict(name='a', address='app1', port=1)]),
     'not an IP address'),
    (dict(deployment='it-hx-bad', bind_port=18390, socket='/run/haproxy/none.sock'),
     'cannot talk to the HAProxy runtime API at /run/haproxy/none.sock'),
    (dict(deployment='it-hx-bad', bind_port=8404), 'bind_port 8404 of it-hx-bad is already bound'),
])
def test_bad_input_changes_nothing(lab, args, message):
    result = lab.module(args)
    assert result.get('failed') and message in result['msg'], result
    assert lab.lb_shell('test -e /etc/haproxy/conf.d/langgraph-it-hx-bad.cfg && echo yes || echo no') == 'no'


def test_removal_waits_for_old_workers_after_a_reload(lab, deployment):
    """A reload (say, another deployment added) while a request runs: it finishes in the old worker."""
    name, port = deployment
    first, second = lab.apps[0][0], lab.apps[1][0]
    lab.module(dict(deployment=name, bind_port=port, servers=[lab.server(0), lab.server(1, state='drain')],
                    wait_healthy=True))
    slow = {}
    thread = threading.Thread(target=lambda: slow.update(answer=http_get(lab.url(port, '/sleep/10'), timeout=60),
                                                         ended=time.monotonic()))
    thread.start()
    time.sleep(1)
    lab.lb_shell('systemctl reload haproxy')
    removed = lab.module(dict(deployment=name, bind_port=port, drain_timeout=60,
                              servers=[lab.server(1), lab.server(0, state='absent')]))
    finished = time.monotonic()
    thread.join(60)
    assert slow['answer'] == (200, first + '\n')
    assert removed['drain_timed_out'] == [] and sorted(by_name(removed)) == [second], removed
    assert finished >= slow['ended'] - 1  # the module returned only once the request had finished
