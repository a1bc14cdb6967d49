# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two calls on lb1 at once, and a reload by something else while a call waits.

The bug these tests guard against: a deploy's haproxy_backends call had registered servers
at run time when another run's call (the reconcile tick) wrote its file and reloaded HAProxy;
the new worker loaded files that did not list the first call's servers, and they vanished.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from conftest import CONFIG_DIR, http_get
from test_haproxy_backends import DEAD_PORT, answers, entry, hold, ok, srv

LOCK_FILE = '/run/lock/selfhost-langgraph-haproxy.lock'


def wait_until_locked_by(lab, name, timeout=120):
    """Wait until a call on lb1 holds the lock for deployment name (the holder's line names it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = lab.lb_shell('cat %s 2>/dev/null || true' % LOCK_FILE)
        if name in holder:
            return holder
        time.sleep(0.2)
    raise AssertionError('no call took the load balancer lock for %s within %d s' % (name, timeout))


def file_servers(lab, name):
    text = lab.lb_shell('grep -h "^    server " %s/langgraph-%s.cfg || true' % (CONFIG_DIR, name))
    return sorted(line.split()[1] for line in text.splitlines() if line.strip())


def backends_call(lab, entries, **options):
    return lab.start_task('selfhost.langgraph.haproxy_backends', dict(options, backends=entries))


def test_a_call_waits_for_the_one_holding_the_lock_and_both_keep_their_servers(lab, fleet):
    """A switch of a (adds at run time, then drains a request in flight) and the creation of b (a reload)."""
    (a, port_a), (b, port_b) = fleet.new(2)
    app1, app2 = lab.apps[0][0], lab.apps[1][0]
    ok(lab.backends([entry(a, port_a, srv(lab, 0))], wait_healthy=True))
    slow = {}
    thread = hold(lab, port_a, 20, slow)
    time.sleep(1)

    first = backends_call(lab, [entry(a, port_a, srv(lab, 1, revision=2), srv(lab, 0, state='absent'))],
                          wait_healthy=True, drain_timeout=60)
    holder = wait_until_locked_by(lab, a)
    assert holder.startswith('pid ') and '(haproxy_backends of %s, since ' % a in holder, holder
    second = backends_call(lab, [entry(b, port_b, srv(lab, 0), srv(lab, 1))], wait_healthy=True)
    switched, created = ok(lab.finish(first)), ok(lab.finish(second))
    thread.join(60)

    print('\nlock: the switch waited %.1f s, the creation %.1f s (returned after %.1f s and %.1f s)'
          % (switched['lock_waited'], created['lock_waited'], switched['_seconds'], created['_seconds']))
    assert slow['answer'] == (200, app1 + '\n')
    assert switched['failures'] == {} and created['failures'] == {}, (switched, created)
    assert created['lock_waited'] >= 1.0  # it started while the switch drained the request in flight
    assert created['reloaded'] and not switched['reloaded']
    now = ok(lab.info())['backends']
    assert sorted(now[a]['servers']) == ['%s-r2-1' % app2] == file_servers(lab, a)
    assert sorted(now[b]['servers']) == sorted(['%s-r1-1' % app1, '%s-r1-1' % app2]) == file_servers(lab, b)
    assert answers(lab, port_a, 4) == set([app2]) and answers(lab, port_b, 6) == set([app1, app2])


def test_calls_started_together_for_different_deployments_both_succeed(lab, fleet):
    """What the fleet benchmark did: a roll-out of six deployments and, at the same moment, another run creating
    six more (a reload). Whichever goes first, every server of both is there afterwards."""
    made = fleet.new(12)
    rolling, creating = made[:6], made[6:]
    app1, app2 = lab.apps[0][0], lab.apps[1][0]
    ok(lab.backends([entry(name, port, srv(lab, 0)) for name, port in rolling], wait_healthy=True))

    calls = [
        backends_call(lab, [entry(name, port, srv(lab, 1, revision=2), srv(lab, 0, state='absent'))
                            for name, port in rolling], wait_healthy=True),
        backends_call(lab, [entry(name, port, srv(lab, 0), srv(lab, 1)) for name, port in creating],
                      wait_healthy=True),
    ]
    rolled, created = [ok(lab.finish(call)) for call in calls]
    print('\ntogether: the roll-out waited %.1f s for the lock, the creation %.1f s (returned after %.1f s and %.1f s)'
          % (rolled['lock_waited'], created['lock_waited'], rolled['_seconds'], created['_seconds']))
    assert rolled['failures'] == {} and created['failures'] == {}, (rolled, created)
    now = ok(lab.info())['backends']
    for name, _port in rolling:
        assert sorted(now[name]['servers']) == ['%s-r2-1' % app2] == file_servers(lab, name)
    for name, _port in creating:
        assert sorted(now[name]['servers']) == sorted(['%s-r1-1' % app1, '%s-r1-1' % app2]) == \
            file_servers(lab, name)
        assert set((s['status'], s['check_status']) for s in now[name]['servers'].values()) == set([('UP', 'L7OK')])
    assert answers(lab, rolling[0][1], 2) == set([app2])
    assert answers(lab, creating[-1][1], 4) == set([app1, app2])


def test_a_reload_by_something_else_during_the_waits_is_survived(lab, fleet):
    """x switches (its old server has a request in flight), y's new server never comes up, so the health wait lasts
    health_timeout; an operator reloads HAProxy in the middle of it. The servers the call added are in the files,
    so the new worker has them: x switches, y fails as unhealthy (not as vanished), the request finishes."""
    (x, port_x), (y, port_y) = fleet.new(2)
    app1, app2 = lab.apps[0][0], lab.apps[1][0]
    ok(lab.backends([entry(x, port_x, srv(lab, 0)), entry(y, port_y, srv(lab, 0))], wait_healthy=True))
    slow = {}
    thread = hold(lab, port_x, 30, slow)  # still running at the reload: it finishes in the old worker
    time.sleep(1)

    call = backends_call(lab, [entry(x, port_x, srv(lab, 1, revision=2), srv(lab, 0, state='absent')),
                               entry(y, port_y, srv(lab, 1, revision=2, port=DEAD_PORT),
                                     srv(lab, 0, state='absent'))],
                         wait_healthy=True, health_timeout=20, drain_timeout=60)
    wait_until_locked_by(lab, x)
    time.sleep(3)  # the adds are done and the call waits for y's server
    lab.lb_shell('systemctl reload haproxy')
    result = ok(lab.finish(call))
    thread.join(60)

    assert slow['answer'] == (200, app1 + '\n')
    assert list(result['failures']) == [y], result
    assert 'not healthy after 20 s: %s-r2-1 (DOWN' % app2 in result['failures'][y], result['failures'][y]
    assert 'vanished' not in result['failures'][y]
    assert sorted(result['backends'][x]['servers']) == ['%s-r2-1' % app2] == file_servers(lab, x)
    assert sorted(result['backends'][y]['servers']) == ['%s-r1-1' % app1] == file_servers(lab, y)
    assert answers(lab, port_x, 4) == set([app2]) and answers(lab, port_y, 4) == set([app1])


def test_a_server_lost_to_a_reload_by_something_else_fails_its_deployment_at_once(lab, fleet):
    """An operator takes z's new server out of its file and reloads while the call waits for it: z fails at once,
    saying so, instead of after health_timeout; w, in the same call, switches."""
    (z, port_z), (w, port_w) = fleet.new(2)
    app1, app2 = lab.apps[0][0], lab.apps[1][0]
    ok(lab.backends([entry(z, port_z, srv(lab, 0)), entry(w, port_w, srv(lab, 0))], wait_healthy=True))
    lost = '%s-r2-1' % app2

    call = backends_call(lab, [entry(z, port_z, srv(lab, 1, revision=2, port=DEAD_PORT), srv(lab, 0, state='absent')),
                               entry(w, port_w, srv(lab, 1, revision=2), srv(lab, 0, state='absent'))],
                         wait_healthy=True, health_timeout=120)
    wait_until_locked_by(lab, z)
    time.sleep(3)
    lab.lb_shell('sed -i "/server %s /d" %s/langgraph-%s.cfg && systemctl reload haproxy' % (lost, CONFIG_DIR, z))
    result = ok(lab.finish(call))

    reason = result['failures'].get(z, '')
    assert list(result['failures']) == [z], result
    assert reason.startswith('servers of be_%s vanished from HAProxy while this call waited for them to come up: '
                             '%s; HAProxy was reloaded by something else meanwhile (worker pid ' % (z, lost)), reason
    assert result['_seconds'] < 60  # not after health_timeout (120 s)
    assert sorted(result['backends'][z]['servers']) == ['%s-r1-1' % app1] == file_servers(lab, z)
    assert sorted(result['backends'][w]['servers']) == [lost] == file_servers(lab, w)
    assert answers(lab, port_z, 2) == set([app1]) and answers(lab, port_w, 2) == set([app2])
    assert http_get(lab.url(port_w, '/ok'))[0] == 200
