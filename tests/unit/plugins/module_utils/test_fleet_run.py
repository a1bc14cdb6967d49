# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run in progress: failures and lost hosts from step results, and what follows."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils import fleet_run as fr

from test_fleet_plan import app, container, control, deployments, in_place_fleet, run as plan_run, REG  # noqa: F401


def three_deployments_rolling_out():
    ds = deployments(dict(name='aaa', image=REG + 'aaa:2'), dict(name='bbb', image=REG + 'bbb:2'),
                     dict(name='ccc', image=REG + 'ccc:2'))
    apps = [app('app1', *[container(n, 1, port=20000 + i) for i, n in enumerate(('aaa', 'bbb', 'ccc'))]),
            app('app2')]
    old = {}
    for d in ds:
        first = dict(number=1, image=REG + d['name'] + ':1', env={}, secret_names=[], env_fingerprint='old',
                     status='deployed')
        old[d['name']] = dict(revisions=[first], serving=1, postgres_host='pg1', redis_host='redis1')
    return plan_run('deploy', ds, apps, ctl=control(old))


def test_one_of_three_failing_leaves_the_others_rolled_out():
    plan = three_deployments_rolling_out()
    run = fr.new_run()
    run = fr.after_pulls(plan, run, {'app1': dict(images={REG + 'aaa:2': {'digest': 'sha256:a'}}, failures={})})
    record = fr.record_arguments(plan, run)
    assert [r['image_digest'] for r in record['revisions']] == ['sha256:a', None, None]
    run = fr.after_start(plan, run, 0, {'app1': dict(started=[{}, {}], failures={'bbb': 'not healthy: exit 3'})})
    assert run['failed'] == {'bbb': 'on app1: not healthy: exit 3'} and run['started'] == 2
    run = fr.after_switch(plan, run, 0, {'lb1': dict(failures={})}, ['lb1'])
    assert run['switched'] == 2
    assert [b['deployment'] for b in fr.undo_backends(plan, run)] == ['bbb']
    assert fr.stop_lists(plan, run) == {'app1': ['lg-aaa-r1-1', 'lg-bbb-r2-1', 'lg-ccc-r1-1']}
    finish = fr.finish_arguments(plan, run)
    assert [(a['deployment'], a['details']['outcome']) for a in finish['audit']] == [
        ('aaa', 'done'), ('bbb', 'failed'), ('ccc', 'done')]
    assert [r['deployment'] for r in finish['replicas']] == ['aaa', 'ccc']
    statuses = finish['statuses']
    assert [(s['deployment'], s['status']) for s in statuses] == [
        ('aaa', 'deployed'), ('bbb', 'failed'), ('ccc', 'deployed')]
    message = fr.failure_message(plan, run)
    assert message.startswith('1 of 3 deployment(s) failed; 2 others completed')
    assert 'deploy of bbb revision 2 failed: on app1: not healthy: exit 3 (its serving revision keeps serving)' in message


def test_a_pull_failure_fails_its_deployment_before_anything_starts():
    plan = three_deployments_rolling_out()
    run = fr.after_pulls(plan, fr.new_run(), {'app1': dict(images={}, failures={REG + 'ccc:2': 'manifest unknown'})})
    assert run['failed'] == {'ccc': 'pulling %sccc:2 on app1 failed: manifest unknown' % REG}
    record = fr.record_arguments(plan, run)
    assert [(s['deployment'], s['status']) for s in record['statuses']] == [
        ('aaa', 'rolling_out'), ('bbb', 'rolling_out'), ('ccc', 'failed')]
    assert [s['name'] for s in fr.stores_arguments(plan, run)] == ['aaa', 'bbb']
    assert fr.undo_backends(plan, run) == []  # nothing of it started


def test_a_host_that_stops_answering_fails_what_it_was_starting_and_is_down_after():
    plan = three_deployments_rolling_out()
    run = fr.after_start(plan, fr.new_run(), 0, {'app1': dict(unreachable=True, msg='ssh: connection refused')})
    assert sorted(run['failed']) == ['aaa', 'bbb', 'ccc'] and 'app1' in run['down']
    hosts = fr.finish_arguments(plan, run)['hosts']
    assert [(h['name'], h['up']) for h in hosts] == [('app1', False), ('app2', True), ('lb1', True)]
    assert fr.stop_lists(plan, run) == {}  # app1 is down: nothing to stop there


def test_a_load_balancer_that_fails_is_down_and_the_others_serve():
    plan = three_deployments_rolling_out()
    run = fr.after_start(plan, fr.new_run(), 0, {'app1': dict(started=[{}, {}, {}], failures={})})
    run = fr.after_switch(plan, run, 0, {'lb1': dict(failed=True, msg='socket gone'), 'lb2': dict(failures={})},
                          ['lb1', 'lb2'])
    assert run['failed'] == {} and list(run['down']) == ['lb1']


def test_migration_failure():
    ds = deployments(dict(name='bot', migrate_command=['migrate']))
    plan = plan_run('deploy', ds, [app('app1')])
    run = fr.after_migrations(plan, fr.new_run(), {'app1': dict(failures={'bot': 'exit 1: no such table'})})
    assert run['failed'] == {'bot': 'the migration of revision 1 failed on app1: exit 1: no such table'}


def test_applied_counts_only_for_applied_decisions():
    d = deployments(dict(name='bot', autoscale_queue=False))[0]
    apps, lbs, ctl = in_place_fleet(d)
    lbs[0]['backends']['bot']['total'] = 50.0
    plan = plan_run('autoscale', [d], apps, lbs, ctl)
    assert fr.applied_counts(plan, fr.new_run(), {'bot': 17}) == [dict(deployment='bot', decision_id=17, applied=5)]
    assert fr.failure_message(plan, fr.new_run()) is None


def test_a_container_moved_to_another_port_is_switched_on_that_port():
    plan = three_deployments_rolling_out()
    run = fr.after_start(plan, fr.new_run(), 0, {'app1': dict(
        started=[{}, {}, {}], failures={}, moved_ports={'lg-bbb-r2-1': dict(planned=20003, port=20099)})})
    run = fr.refresh(plan, run)
    ports = dict((b['deployment'], [(s['name'], s['port'], s['state']) for s in b['servers']])
                 for b in run['waves_lb'][0])
    assert ('app1-r2-1', 20099, 'ready') in ports['bbb']
    assert all(port != 20099 for name, port, state in ports['aaa'] + ports['ccc'])


def test_undo_leaves_out_the_servers_of_a_host_that_went_down():
    d = deployments(dict(name='bot', min_replicas=2, image=REG + 'bot:2'))[0]
    apps, lbs, ctl = in_place_fleet(deployments(dict(name='bot', min_replicas=2))[0])
    plan = plan_run('deploy', [d], apps, lbs, ctl)
    results = {'app1': dict(started=[{}], failures={}), 'app2': dict(unreachable=True, msg='connection refused')}
    run = fr.after_start(plan, fr.new_run(), 0, results)
    servers = [(s['name'], s['state']) for s in fr.undo_backends(plan, run)[0]['servers']]
    assert servers == [('app1-r3-1', 'ready'), ('app1-r4-1', 'absent')]


def test_a_new_revision_starts_by_the_digest_its_pull_reported():
    plan = three_deployments_rolling_out()
    pinned = REG + 'aaa@sha256:' + 'd' * 64
    run = fr.after_pulls(plan, fr.new_run(), {'app1': dict(
        images={REG + 'aaa:2': dict(digest='sha256:' + 'd' * 64, pinned=pinned)}, failures={})})
    run = fr.refresh(plan, run)
    images = dict((e['deployment'], e['image']) for e in run['waves_start'][0]['app1'])
    assert images == {'aaa': pinned, 'bbb': REG + 'bbb:2', 'ccc': REG + 'ccc:2'}
    assert fr.record_arguments(plan, run)['revisions'][0]['image_digest'] == 'sha256:' + 'd' * 64


def two_waves_second_failing(on_failure):
    """bot rolls out from revision 3 to 4 one host at a time; app1 switches, app2's new container fails."""
    d = deployments(dict(name='bot', min_replicas=2, image=REG + 'bot:2'))[0]
    apps, lbs, ctl = in_place_fleet(deployments(dict(name='bot', min_replicas=2))[0])
    plan = plan_run('deploy', [d], apps, lbs, ctl, batch_size='1', on_failure=on_failure)
    assert len(plan['waves']) == 2
    run = fr.after_start(plan, fr.new_run(), 0, {'app1': dict(started=[{}], failures={}), 'app2': dict(started=[])})
    run = fr.after_switch(plan, run, 0, {'lb1': dict(failures={})}, ['lb1'])
    run = fr.after_start(plan, run, 1, {'app1': dict(started=[]),
                                        'app2': dict(started=[], failures={'bot': 'not healthy: exit 3'})})
    return plan, run


def test_a_failure_after_a_switch_is_undone_by_default():
    plan, run = two_waves_second_failing('undo')
    assert run['switched_deployments'] == ['bot'] and fr.kept(plan, run) == []
    assert [b['deployment'] for b in fr.undo_backends(plan, run)] == ['bot']
    assert fr.stop_lists(plan, run) == {'app1': ['lg-bot-r4-1'], 'app2': ['lg-bot-r4-1']}
    assert '(its serving revision keeps serving)' in fr.failure_message(plan, run)


def test_keep_leaves_a_failure_after_a_switch_as_it_failed():
    plan, run = two_waves_second_failing('keep')
    assert fr.kept(plan, run) == ['bot']
    assert fr.undo_backends(plan, run) == [] and fr.stop_lists(plan, run) == {}
    assert 'kept as it failed, as deploy_on_failure=keep asks' in fr.failure_message(plan, run)
    assert [s['status'] for s in fr.finish_arguments(plan, run)['statuses']] == ['failed']


def test_keep_still_undoes_a_failure_before_any_switch():
    d = deployments(dict(name='bot', min_replicas=2, image=REG + 'bot:2'))[0]
    apps, lbs, ctl = in_place_fleet(deployments(dict(name='bot', min_replicas=2))[0])
    plan = plan_run('deploy', [d], apps, lbs, ctl, on_failure='keep')
    run = fr.after_start(plan, fr.new_run(), 0, {'app1': dict(started=[{}], failures={'bot': 'not healthy'}),
                                                 'app2': dict(started=[{}], failures={})})
    assert fr.kept(plan, run) == [] and [b['deployment'] for b in fr.undo_backends(plan, run)] == ['bot']


def test_a_redis_host_whose_instances_fail_fails_only_its_deployments():
    plan = three_deployments_rolling_out()
    result = dict(results=[
        dict(item=dict(key='redis1', value=[dict(name='aaa', port=6400)]), failed=True,
             msg='the dedicated Redis of aaa: could not start langgraph-redis@aaa.service: exit 1'),
        dict(item=dict(key='redis2', value=[dict(name='bbb', port=6400)]), unreachable=True, msg='ssh: timed out'),
        dict(item=dict(key='redis3', value=[dict(name='ccc', port=6401)]), changed=True, actions=[]),
    ])
    run = fr.after_instances(plan, fr.new_run(), result)
    assert run['failed'] == {
        'aaa': 'its dedicated Redis on redis1 failed: the dedicated Redis of aaa: could not start '
               'langgraph-redis@aaa.service: exit 1',
        'bbb': 'its dedicated Redis on redis2 did not answer (ssh: timed out)'}
    assert fr.after_instances(plan, fr.new_run(), None)['failed'] == {}   # skipped: no instance in the run
