# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status table: containers with health and sessions, and hosts that do not answer."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_status import status_lines

from test_fleet_plan import app, container, deployments, lb, backend, revision


def test_status_shows_health_sessions_and_a_down_host_with_when_it_was_last_seen():
    d = deployments(dict(name='bot', min_replicas=2))[0]
    up = app('app1', dict(container('bot', 3), health=200))
    down = dict(app('app2'), reachable=False, problem='ssh: connect to host app2: No route to host')
    lbs = [lb(backends={'bot': backend(8100, ('app1-r3-1', '10.0.0.1', 20000), scur=2)}),
           dict(lb('lb2'), reachable=False, problem='unreachable')]
    control = dict(deployments={'bot': dict(revisions=[revision(3, d)], serving=3)},
                   hosts={'app2': dict(last_seen='2026-11-30T10:00:00+00:00')})
    text = '\n'.join(status_lines([d], [up, down], lbs, control))
    assert 'bot (production, lb port 8100): serving revision 3' in text
    assert 'lg-bot-r3-1' in text and '200' in text and 'lb1 UP 2' in text
    assert 'app2       down: ssh: connect to host app2: No route to host (last seen 2026-11-30T10:00:00+00:00)' in text
    assert 'lb2 down: unreachable (last seen never)' in text
