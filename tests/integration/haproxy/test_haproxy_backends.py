# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""haproxy_backends and haproxy_info on the lab's lb1: many deployments per call, real backends on app1 and app2."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading
import time

import pytest

from conftest import CONFIG_DIR, http_get

DEAD_PORT = 18448  # nothing listens there on the app hosts


def srv(lab, index, revision=1, state='ready', port=None):
    """The server of app<index+1>'s backend process, named like a container's (<host>-r<revision>-1)."""
    host, address = lab.apps[index]
    return dict(name='%s-r%d-1' % (host, revision), address=address, port=port or lab.server(index)['port'],
                state=state)


def entry(name, port, *servers, **kw):
    return dict(kw, deployment=name, bind_port=port, servers=list(servers))


def answers(lab, port, count):
    """Hosts that answered count sequential requests (each must be 200)."""
    hosts = []
    for _i in range(count):
        status, body = http_get(lab.url(port))
        assert status == 200, (port, status, body)
        hosts.append(body.strip())
    return set(hosts)


def ok(result):
    assert not result.get('failed'), result.get('msg') or result
    return result


def file_exists(lab, name):
    return lab.lb_shell('test -e %s/langgraph-%s.cfg && echo yes || echo no' % (CONFIG_DIR, name)) == 'yes'


def hold(lab, port, seconds, into):
    """A request that stays open for seconds, in a thread; its answer and end time go into `into`."""
    def run():
        into['answer'] = http_get(lab.url(port, '/sleep/%d' % seconds), timeout=120)
        into['ended'] = time.monotonic()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_new_backends_in_one_call_then_nothing_to_do(lab, fleet):
    three = fleet.new(3)
    entries = [entry(name, port, srv(lab, 0), srv(lab, 1)) for name, port in three]
    first = ok(lab.backends(entries, wait_healthy=True, health_timeout=30))
    assert first['changed'] and first['reloaded'] and first['failures'] == {}, first
    for name, port in three:
        done = first['backends'][name]
        assert done['actions'][:2] == ['write %s/langgraph-%s.cfg' % (CONFIG_DIR, name),
                                       'reload HAProxy (load the frontend and backend of %s)' % name]
        assert sorted((s['status'], s['check_status']) for s in done['servers'].values()) == [('UP', 'L7OK')] * 2
        assert answers(lab, port, 6) == set(host for host, _a in lab.apps)

    again = ok(lab.backends(entries, wait_healthy=True))
    assert not again['changed'] and not again['reloaded'], again
    assert all(b['actions'] == [] for b in again['backends'].values())
    assert not ok(lab.backends(entries, check=True))['changed']


def test_switch_across_backends_lets_a_request_in_flight_finish(lab, fleet):
    (a, port_a), (b, port_b), (c, port_c), (d, port_d) = fleet.new(4)
    app1, app2 = lab.apps[0][0], lab.apps[1][0]
    ok(lab.backends([entry(a, port_a, srv(lab, 0)), entry(b, port_b, srv(lab, 0), srv(lab, 1)),
                     entry(c, port_c, srv(lab, 0), srv(lab, 1))], wait_healthy=True))
    slow = {}
    thread = hold(lab, port_a, 8, slow)
    time.sleep(1)  # the slow request is now on a's only server, app1

    # d is new: the call reloads HAProxy, so the slow request finishes in the old worker.
    switch = ok(lab.backends([
        entry(a, port_a, srv(lab, 1, revision=2), srv(lab, 0, state='absent')),
        entry(b, port_b, srv(lab, 1, state='drain')),
        entry(c, port_c, srv(lab, 0, state='absent')),
        entry(d, port_d, srv(lab, 0)),
    ], wait_healthy=True, drain_timeout=60))
    returned = time.monotonic()
    thread.join(60)
    assert slow['answer'] == (200, app1 + '\n')  # the request in flight finished on its server
    assert returned >= slow['ended'] - 1  # the call returned only once it had
    assert switch['reloaded'] and switch['failures'] == {} and switch['drain_timed_out'] == {}, switch
    servers = dict((name, switch['backends'][name]['servers']) for name in (a, b, c, d))
    assert sorted(servers[a]) == ['%s-r2-1' % app2]
    assert servers[b]['%s-r1-1' % app2]['state'] == 'drain' and servers[b]['%s-r1-1' % app2]['status'] == 'DRAIN'
    assert sorted(servers[c]) == ['%s-r1-1' % app2] and sorted(servers[d]) == ['%s-r1-1' % app1]
    assert answers(lab, port_a, 4) == set([app2])
    assert answers(lab, port_b, 4) == set([app1])
    assert answers(lab, port_c, 4) == set([app2])
    assert answers(lab, port_d, 2) == set([app1])
    assert lab.lb_shell('grep -h "^    server " %s/langgraph-%s.cfg' % (CONFIG_DIR, b)).count('weight 0') == 1


def test_a_deployment_whose_server_never_comes_up_fails_alone(lab, fleet):
    (a, port_a), (b, port_b) = fleet.new(2)
    app1, app2 = lab.apps[0][0], lab.apps[1][0]
    ok(lab.backends([entry(a, port_a, srv(lab, 0)), entry(b, port_b, srv(lab, 0))], wait_healthy=True))
    result = ok(lab.backends([
        entry(a, port_a, srv(lab, 1, revision=2), srv(lab, 0, state='absent')),
        entry(b, port_b, srv(lab, 1, revision=2, port=DEAD_PORT), srv(lab, 0, state='absent')),
    ], wait_healthy=True, health_timeout=5))
    assert list(result['failures']) == [b], result
    reason = result['failures'][b]
    assert 'not healthy after 5 s: %s-r2-1 (DOWN' % app2 in reason, reason
    assert reason.endswith('removed the servers this call added: %s-r2-1' % app2)
    assert sorted(result['backends'][b]['servers']) == ['%s-r1-1' % app1]  # its old server was never drained
    assert sorted(result['backends'][a]['servers']) == ['%s-r2-1' % app2]
    assert answers(lab, port_b, 4) == set([app1]) and answers(lab, port_a, 4) == set([app2])
    assert lab.lb_shell('grep -c "^    server " %s/langgraph-%s.cfg' % (CONFIG_DIR, b)) == '1'


def test_a_reload_keeps_the_servers_of_the_other_deployments(lab, fleet):
    """A drained server comes back from a reload with weight 0: readying it then restores its weight."""
    (a, port_a), (b, port_b) = fleet.new(2)
    app1, app2 = lab.apps[0][0], lab.apps[1][0]
    ok(lab.backends([entry(a, port_a, srv(lab, 0), srv(lab, 1))], wait_healthy=True))
    ok(lab.backends([entry(a, port_a, srv(lab, 1, state='drain'))]))  # drained at run time: weight 1 there
    result = ok(lab.backends([entry(a, port_a, srv(lab, 0), srv(lab, 1)), entry(b, port_b, srv(lab, 0))],
                             wait_healthy=True))
    assert result['reloaded'] and result['failures'] == {}, result
    assert result['backends'][a]['actions'] == ['set server %s-r1-1 ready at run time' % app2,
                                                'write %s/langgraph-%s.cfg' % (CONFIG_DIR, a)]
    assert sorted((s['status'], s['state']) for s in result['backends'][a]['servers'].values()) == \
        [('UP', 'ready'), ('UP', 'ready')]
    assert answers(lab, port_a, 8) == set([app1, app2])


def test_purge_then_remove_several_deployments(lab, fleet):
    made = fleet.new(3)
    (a, port_a) = made[0]
    app2 = lab.apps[1][0]
    ok(lab.backends([entry(name, port, srv(lab, 0), srv(lab, 1)) for name, port in made], wait_healthy=True))

    purged = ok(lab.backends([entry(a, port_a, srv(lab, 1), purge=True)]))
    assert sorted(purged['backends'][a]['servers']) == ['%s-r1-1' % app2] and not purged['reloaded']
    assert purged['backends'][a]['actions'][0].startswith('drain and remove server %s-r1-1' % lab.apps[0][0])
    assert answers(lab, port_a, 4) == set([app2])

    gone = ok(lab.backends([dict(deployment=name, state='absent') for name, _port in made]))
    assert gone['changed'] and gone['reloaded'] and gone['failures'] == {}, gone
    assert all(b['servers'] == {} for b in gone['backends'].values())
    for name, port in made:
        assert not file_exists(lab, name)
        assert http_get(lab.url(port), timeout=5)[0] is None  # nothing listens any more
    again = ok(lab.backends([dict(deployment=name, state='absent') for name, _port in made]))
    assert not again['changed'] and not again['reloaded']


def test_check_mode_and_skip(lab, fleet):
    (a, port_a), (b, port_b), (c, port_c) = fleet.new(3)
    app1, app2 = lab.apps[0][0], lab.apps[1][0]
    ok(lab.backends([entry(a, port_a, srv(lab, 0)), entry(b, port_b, srv(lab, 0))], wait_healthy=True))
    switch = [entry(name, port, srv(lab, 1, revision=2), srv(lab, 0, state='absent'))
              for name, port in ((a, port_a), (b, port_b))] + [entry(c, port_c, srv(lab, 0))]
    before = ok(lab.info())['backends']

    checked = ok(lab.backends(switch, check=True, wait_healthy=True))
    assert checked['changed'] and not checked['reloaded'] and checked['failures'] == {}
    assert checked['backends'][a]['actions'] == [
        'add server %s-r2-1 (%s:%d, ready) at run time' % (app2, lab.apps[1][1], lab.server(1)['port']),
        'drain and remove server %s-r1-1 (%s:%d) at run time' % (app1, lab.apps[0][1], lab.server(0)['port']),
        'write %s/langgraph-%s.cfg' % (CONFIG_DIR, a)]
    assert checked['backends'][c]['actions'][1] == 'reload HAProxy (load the frontend and backend of %s)' % c
    after = ok(lab.info())['backends']
    for name in (a, b):
        assert sorted(after[name]['servers']) == sorted(before[name]['servers']) == ['%s-r1-1' % app1]
    assert c not in after and not file_exists(lab, c)

    skipped = ok(lab.backends(switch, skip=[b], wait_healthy=True))
    assert sorted(skipped['backends']) == sorted([a, c]) and skipped['failures'] == {}
    now = ok(lab.info())['backends']
    assert sorted(now[a]['servers']) == ['%s-r2-1' % app2]
    assert sorted(now[b]['servers']) == ['%s-r1-1' % app1]  # left alone
    assert sorted(now[c]['servers']) == ['%s-r1-1' % app1]


def test_info_sees_every_backend_and_its_sessions(lab, fleet):
    (a, port_a), (b, port_b) = fleet.new(2)
    app1, app2 = lab.apps[0][0], lab.apps[1][0]
    ok(lab.backends([entry(a, port_a, srv(lab, 0)),
                     entry(b, port_b, srv(lab, 0), srv(lab, 1, state='drain'), health_path='/ok?probe=1')],
                    wait_healthy=True))
    held = [{}, {}]
    threads = [hold(lab, port_a, 10, into) for into in held]
    time.sleep(1)
    started = time.monotonic()
    result = ok(lab.info(samples=3, window=2))
    took = time.monotonic() - started
    for thread in threads:
        thread.join(60)
    assert [h['answer'] for h in held] == [(200, app1 + '\n')] * 2
    assert result['samples'] == 3 and result['window'] == 2 and not result['changed'] and took >= 2
    assert 'stats' not in result['backends']  # only deployments' frontends and backends
    seen = result['backends'][a]
    assert (seen['frontend'], seen['backend'], seen['file']) == (True, True, True)
    assert (seen['bind_port'], seen['bind_address'], seen['health_path']) == (port_a, '*', '/ok')
    server = seen['servers']['%s-r1-1' % app1]
    assert server['scur'] == 2.0 and server['scur_max'] == 2 and seen['total'] == 2.0, seen
    assert (server['address'], server['port'], server['state'], server['status']) == \
        (lab.apps[0][1], lab.server(0)['port'], 'ready', 'UP')
    other = result['backends'][b]
    assert other['health_path'] == '/ok?probe=1' and other['total'] == 0.0
    assert (other['servers']['%s-r1-1' % app2]['state'], other['servers']['%s-r1-1' % app2]['status']) == \
        ('drain', 'DRAIN')

    instant = ok(lab.info())
    assert instant['samples'] == 1 and instant['window'] == 0
    assert instant['backends'][a]['servers']['%s-r1-1' % app1]['scur'] == 0.0


def test_info_counts_the_sessions_old_workers_still_serve_after_a_reload(lab, fleet):
    """The autoscaler must not undercount after a reload: requests the old worker finishes are load too."""
    (a, port_a), = fleet.new(1)
    ok(lab.backends([entry(a, port_a, srv(lab, 0))], wait_healthy=True))
    held = [{}, {}]
    threads = [hold(lab, port_a, 30, into) for into in held]  # long enough to outlast a slow module start
    time.sleep(1)
    lab.lb_shell('systemctl reload haproxy')
    time.sleep(1)
    result = ok(lab.info())
    for thread in threads:
        thread.join(60)
    assert [h['answer'][0] for h in held] == [200, 200]
    seen = result['backends'][a]
    assert result['old_workers_counted'] and seen['old_sessions'] == 2, seen
    assert seen['total'] == 2.0 and seen['servers']['%s-r1-1' % lab.apps[0][0]]['scur'] == 2.0, seen


@pytest.mark.parametrize('args, message', [
    (dict(backends=[dict(deployment='Bad_Name', bind_port=18449)]), 'backends[0] (Bad_Name): invalid deployment name'),
    (dict(backends=[dict(deployment='it-hb-bad', bind_port=18449), dict(deployment='it-hb-bad', state='absent')]),
     'deployment it-hb-bad is listed twice'),
    (dict(backends=[dict(deployment='it-hb-bad', bind_port=18449), dict(deployment='it-hb-bad2', bind_port=18449)]),
     'bind_port 18449 is also the port of it-hb-bad'),
    (dict(backends=[dict(deployment='it-hb-bad', bind_port=0)]), 'bind_port must be a TCP port'),
    (dict(backends=[dict(deployment='it-hb-bad', bind_port=18449)], socket='/run/haproxy/none.sock'),
     'cannot talk to the HAProxy runtime API at /run/haproxy/none.sock'),
])
def test_bad_input_fails_the_task_and_changes_nothing(lab, args, message):
    result = lab.task('selfhost.langgraph.haproxy_backends', args)
    assert result.get('failed') and message in result['msg'], result
    assert not file_exists(lab, 'it-hb-bad')


def test_port_bound_elsewhere_is_that_deployment_s_failure(lab, fleet):
    (a, port_a), = fleet.new(1)
    result = ok(lab.backends([entry(a, port_a, srv(lab, 0)), entry('it-hb-bad', 8404, srv(lab, 0))]))
    assert list(result['failures']) == ['it-hb-bad'] and 'bind_port 8404 of it-hb-bad is already bound' in \
        result['failures']['it-hb-bad']
    assert result['reloaded'] and not file_exists(lab, 'it-hb-bad') and file_exists(lab, a)


def test_forty_deployments_switch_in_one_call(lab, fleet):
    """The cost of a call does not grow with the number of deployments: one reload, one wait per phase."""
    made = fleet.new(40)
    app2 = lab.apps[1][0]
    timings = {}
    started = time.monotonic()
    created = ok(lab.backends([entry(name, port, srv(lab, 0)) for name, port in made], wait_healthy=True))
    timings['create 40 (one reload, 40 servers)'] = time.monotonic() - started
    assert created['reloaded'] and created['failures'] == {}
    started = time.monotonic()
    switched = ok(lab.backends([entry(name, port, srv(lab, 1, revision=2), srv(lab, 0, state='absent'))
                                for name, port in made], wait_healthy=True))
    timings['switch 40 (add 40, wait, drain and remove 40)'] = time.monotonic() - started
    assert not switched['reloaded'] and switched['failures'] == {} and switched['changed']
    assert all(sorted(b['servers']) == ['%s-r2-1' % app2] for b in switched['backends'].values())
    assert answers(lab, made[-1][1], 2) == set([app2])
    started = time.monotonic()
    lab.remove_deployments(set(name for name, _port in made))
    timings['remove 40 (one reload)'] = time.monotonic() - started
    print('\nhaproxy_backends with 40 deployments: %s' % ', '.join('%s %.1f s' % kv for kv in timings.items()))
    assert timings['switch 40 (add 40, wait, drain and remove 40)'] < 60
