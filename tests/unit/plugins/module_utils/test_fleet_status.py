# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status table: containers with health and sessions, and hosts that do not answer."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

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


def test_status_data_has_the_same_facts_as_the_table_and_is_json():
    import json
    from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_status import status_data
    d = deployments(dict(name='bot', min_replicas=2))[0]
    up = app('app1', dict(container('bot', 3), health=200), dict(container('bot', 2, replica=1, running=False)))
    down = dict(app('app2'), reachable=False, problem='ssh: connect to host app2: No route to host')
    lbs = [lb(backends={'bot': backend(8100, ('app1-r3-1', '10.0.0.1', 20000), scur=2)}),
           dict(lb('lb2'), reachable=False, problem='unreachable')]
    lock = dict(holder='awx-job-7', since='2026-11-30T10:00:00+00:00', purpose='deploy', expires_at='x', pid=1)
    control = dict(deployments={'bot': dict(revisions=[dict(revision(3, d), deployed_at='2026-11-30T09:00:00'),
                                                       revision(2, d, status='superseded')],
                                            serving=3, replicas=2, lock=lock,
                                            scale=dict(desired=2, reason='load 12 over target 10'))},
                   hosts={'app2': dict(last_seen='2026-11-30T10:00:00+00:00')})
    data = json.loads(json.dumps(status_data([d], [up, down], lbs, control)))
    assert data['version'] == 1
    [bot] = data['deployments']
    assert (bot['name'], bot['type'], bot['lb_port'], bot['serving_revision']) == ('bot', 'production', 8100, 3)
    assert bot['deployed_at'] == '2026-11-30T09:00:00'
    assert (bot['desired_replicas'], bot['running_replicas'], bot['unobserved_hosts']) == (2, 1, ['app2'])
    assert bot['lock'] == dict(holder='awx-job-7', since='2026-11-30T10:00:00+00:00', purpose='deploy', expires_at='x')
    assert bot['last_scale'] == dict(desired=2, reason='load 12 over target 10')
    assert bot['tracing']['tracing'] is False
    assert [(r['number'], r['status']) for r in bot['revisions']] == [(3, 'deployed'), (2, 'superseded')]
    stopped, running = bot['containers']  # by revision
    assert (stopped['name'], stopped['running'], stopped['health']) == ('lg-bot-r2-1', False, None)
    assert (running['name'], running['host'], running['health'], running['port']) == ('lg-bot-r3-1', 'app1', 200, 20000)
    assert running['load_balancers'] == [dict(load_balancer='lb1', status='UP', sessions=2)]
    assert data['hosts_down'] == [
        dict(name='app2', problem='ssh: connect to host app2: No route to host', last_seen='2026-11-30T10:00:00+00:00'),
        dict(name='lb2', problem='unreachable', last_seen=None)]


def test_status_data_of_a_deployment_never_deployed():
    from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_status import status_data
    d = deployments(dict(name='new'))[0]
    data = status_data([d], [app('app1')], [], dict(deployments={}))
    [new] = data['deployments']
    assert (new['serving_revision'], new['deployed_at'], new['lock'], new['containers'], new['revisions']) == \
        (None, None, None, [], [])
    assert data['hosts_down'] == []


def test_status_shows_when_each_deployment_was_last_used():
    from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_status import status_data
    bot, new = deployments(dict(name='bot'), dict(name='new'))
    now = 1764500000.0  # 2025-11-30T10:53:20Z
    control = dict(now=now, deployments={
        'bot': dict(usage=dict(last_used_at=now - 3 * 86400 - 60, last_run_at=now - 3 * 86400 - 60, used_by=None,
                               notified_at=None)),
        'new': dict(usage=dict(last_used_at=now, last_run_at=None, used_by='first look', notified_at=None,
                               first_look=True))})
    text = '\n'.join(status_lines([bot, new], [app('app1')], [], control))
    assert '  last used: 2025-11-27T10:52:20Z (3 d ago); newest run: 2025-11-27T10:52:20Z' in text
    assert '  last used: not recorded yet (the next reconcile or autoscale tick records it)' in text
    data = status_data([bot, new], [app('app1')], [], control)
    assert data['deployments'][0]['last_used'] == dict(at='2025-11-27T10:52:20Z', idle_seconds=3 * 86400 + 60,
                                                       by=None, last_run_at='2025-11-27T10:52:20Z', notified_at=None)
    assert data['deployments'][1]['last_used'] is None


@pytest.mark.parametrize('usage, expected', [
    (dict(last_used_at=1764500000.0, last_run_at=None, used_by='requests', notified_at=None),
     'last used: 2025-11-30T10:53:20Z (0 s ago, requests); newest run: none seen'),
    (dict(last_used_at=1764500000.0 - 7200, last_run_at=None, used_by=None, notified_at=1764500000.0 - 60),
     'last used: 2025-11-30T08:53:20Z (2 h ago); newest run: none seen; told idle at 2025-11-30T10:52:20Z'),
    (dict(error='the control database could not be read'),
     'last used: unknown (the control database could not be read)'),
    (None, 'last used: not recorded yet (the next reconcile or autoscale tick records it)'),
])
def test_last_used_text(usage, expected):
    from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_status import last_used_text
    assert last_used_text(usage, 1764500000.0) == expected


def test_status_shows_the_host_name_and_each_load_balancers_certificates():
    from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_status import status_data
    d = dict(deployments(dict(name='bot'))[0], hostname='bot.agents.example.com')
    certs = [dict(file='99-fleet.pem', names=['*.agents.example.com'], not_after='2027-11-30T00:00:00Z')]
    lbs = [dict(lb(backends={}), certificates=certs), dict(lb('lb2'), certificates=[]),
           dict(lb('lb3'), reachable=False, problem='unreachable')]
    control = dict(deployments={'bot': dict(revisions=[revision(3, d)], serving=3)})
    text = '\n'.join(status_lines([d], [app('app1')], lbs, control))
    assert 'bot (production, lb port 8100, https://bot.agents.example.com): serving revision 3' in text
    assert 'lb1 HTTPS certificates: *.agents.example.com until 2027-11-30T00:00:00Z' in text
    assert 'lb2 HTTPS' not in text
    data = status_data([d], [app('app1')], lbs, control)
    assert data['deployments'][0]['hostname'] == 'bot.agents.example.com'
    assert data['edge_certificates'] == [dict(load_balancer='lb1', certificates=certs),
                                         dict(load_balancer='lb2', certificates=[])]


@pytest.mark.parametrize('over, words', [
    (dict(lb_port=8100), 'lb port 8100'),
    (dict(lb_port=8100, hostname='bot.example.org'), 'lb port 8100, https://bot.example.org'),
    (dict(lb_port=None, hostname='bot.example.org'), 'lb port -, https://bot.example.org'),
])
def test_addresses_text(over, words):
    from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_status import addresses_text
    assert addresses_text(dict(name='bot', **over)) == words


def test_status_of_a_deployment_served_by_host_name_only():
    d = dict(deployments(dict(name='bot'))[0], lb_port=None, hostname='bot.agents.example.com')
    control = dict(deployments={'bot': dict(revisions=[revision(3, d)], serving=3)})
    text = '\n'.join(status_lines([d], [app('app1')], [lb(backends={})], control))
    assert 'bot (production, lb port -, https://bot.agents.example.com): serving revision 3' in text
