# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's plan from desired and observed state: tables of fleets."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment import parse_deployments
from ansible_collections.selfhost.langgraph.plugins.module_utils import fleet_plan as fp

REG = 'registry.example.com/'


def deployments(*entries):
    full = []
    for index, e in enumerate(entries):
        e = dict(e)
        e.setdefault('image', REG + e['name'] + ':1')
        e.setdefault('lb_port', 8100 + index)
        full.append(e)
    return parse_deployments(full, {'image_required': False})


def container(d, revision, replica=1, port=20000, running=True, image=None, fingerprint=None):
    return dict(name='lg-%s-r%d-%d' % (d, revision, replica), deployment=d, revision=revision, replica=replica,
                port=port, running=running, image=image or REG + d + ':1', fingerprint=fingerprint)


def app(name, *containers, **kw):
    return dict(name=name, reachable=kw.get('reachable', True), address='10.0.0.%s' % name[-1],
                drain=kw.get('drain', False), capacity=kw.get('capacity', (30.0, 31744.0)),
                containers=list(containers), used_ports=kw.get('used_ports', []), images=kw.get('images', []))


def revision(number, deployment, status='deployed', image=None, **kw):
    d = deployment
    r = dict(number=number, image=image or d['image'], env=d['env'], secret_names=d['secret_names'],
             env_fingerprint=kw.get('fingerprint', d['fingerprint']), status=status, image_digest=None)
    return r


def control(states=None, locked=None, busy=None, counts=None):
    states = states or {}
    return dict(now=1000.0, locked=list(locked if locked is not None else states), busy=busy or {},
                deployments=states, placement_counts=counts or {})


def lb(name='lb1', backends=None, reachable=True):
    return dict(name=name, reachable=reachable, backends=backends or {})


def backend(port, *servers, **kw):
    return dict(frontend=True, backend=True, file=True, bind_port=port, total=kw.get('total'),
                sampled_at=kw.get('sampled_at', 1000.0),
                servers=dict((s[0], dict(address=s[1], port=s[2], state=kw.get('state', 'ready'),
                                         status='UP', scur=kw.get('scur', 0))) for s in servers))


def run(action, ds, apps, lbs=None, ctl=None, **options):
    options.setdefault('postgres_hosts', ['pg1'])
    options.setdefault('redis_hosts', ['redis1'])
    options.setdefault('control_host', 'pg1')
    options.setdefault('holder', 'tester run x')
    return fp.plan_run(dict(action=action, deployments=ds, all_deployments=ds, app_hosts=apps,
                            lb_hosts=lbs if lbs is not None else [lb()],
                            control=ctl if ctl is not None else control(dict((d['name'], {}) for d in ds)),
                            options=options))


def starts(plan, wave=0):
    return dict((h, sorted('%s r%d.%d :%d' % (e['deployment'], e['revision'], e['replica'], e['port'])
                           for e in entries)) for h, entries in plan['waves'][wave]['start'].items())


# --- small decisions ----------------------------------------------------------------------

@pytest.mark.parametrize('value, replicas, expected', [
    ('100%', 2, 2), ('50%', 2, 1), ('50%', 3, 2), ('25%', 10, 3), (1, 5, 1), ('3', 2, 3), ('1%', 10, 1),
])
def test_chunk_size(value, replicas, expected):
    assert fp.chunk_size(fp.parse_batch_size(value), replicas) == expected


@pytest.mark.parametrize('value', ['0', '0%', '150%', 'half', -1])
def test_bad_batch_size(value):
    with pytest.raises(ValueError):
        fp.parse_batch_size(value)


@pytest.mark.parametrize('old, waves, expected', [(2, 1, [2]), (2, 2, [1, 2]), (1, 2, [0, 1]), (3, 2, [1, 3]),
                                                  (0, 3, [0, 0, 0])])
def test_old_removed_by_wave(old, waves, expected):
    assert fp.old_removed_by_wave(old, waves) == expected


def test_rollout_target_table():
    d = deployments(dict(name='bot'))[0]
    other = dict(d, image=REG + 'bot:2', fingerprint='f2')
    cases = [
        ([], None, (1, True)),                                                   # first deploy
        ([revision(3, d)], 3, (3, False)),                                       # re-run: in place
        ([revision(4, d, 'failed'), revision(3, d)], 3, (3, False)),             # serving matches
        ([revision(4, d, 'failed')], None, (5, True)),                           # a failed one is not reused
        ([revision(4, d, 'rolling_out'), revision(3, other)], 3, (4, False)),    # resume a run that died
        ([revision(4, other, 'rolled_back'), revision(3, other)], 3, (5, True)),  # new image
    ]
    for history, serving, expected in cases:
        target, new = fp.rollout_target(d, history, serving)
        assert (target['number'], new) == expected, (history, serving)


def test_rollback_target_table():
    d = deployments(dict(name='bot'))[0]
    history = [revision(4, d), revision(3, d, 'failed'), revision(2, d, 'superseded'), revision(1, d, 'superseded')]
    assert fp.rollback_target('bot', history, 4)[0]['number'] == 2
    assert fp.rollback_target('bot', history, 4, 1)[0]['number'] == 1
    assert 'has no revision 9' in fp.rollback_target('bot', history, 4, 9)[1]
    assert 'no earlier deployed revision' in fp.rollback_target('bot', history[:1], 4)[1]
    assert 'deploy it first' in fp.rollback_target('bot', [], None)[1]


# --- whole runs ---------------------------------------------------------------------------

def test_first_deploy_of_six_single_replica_deployments_spreads_them():
    ds = deployments(*[dict(name='dev-%d' % i, type='development') for i in range(6)])
    plan = run('deploy', ds, [app('app1'), app('app2')])
    per_host = dict((h, len(v)) for h, v in plan['waves'][0]['start'].items())
    assert per_host == {'app1': 3, 'app2': 3}
    assert len(plan['waves']) == 1
    assert [r['number'] for r in plan['record']['revisions']] == [1] * 6
    assert plan['pulls']['app1'][0]['always'] is True
    assert len(plan['stores']) == 6 and len(plan['record']['assignments']) == 6
    assert plan['stop'] == {} and plan['finish']['statuses'][0]['status'] == 'deployed'


def test_first_deploy_two_replicas_ports_names_migration_and_lb():
    ds = deployments(dict(name='bot', min_replicas=2, migrate_command=['migrate']))
    plan = run('deploy', ds, [app('app1', used_ports=[20000]), app('app2')])
    assert starts(plan) == {'app1': ['bot r1.1 :20001'], 'app2': ['bot r1.1 :20000']}
    assert plan['migrations'] == {'app1': [dict(deployment='bot', revision=1, image=REG + 'bot:1',
                                                command=['migrate'], env={})]}
    backend = plan['waves'][0]['lb'][0]
    assert backend['bind_port'] == 8100 and backend['purge'] is True
    assert [(s['name'], s['address'], s['port'], s['state']) for s in backend['servers']] == [
        ('app1-r1-1', '10.0.0.1', 20001, 'ready'), ('app2-r1-1', '10.0.0.2', 20000, 'ready')]


def in_place_fleet(d, serving=3, lb_ok=True):
    apps = [app('app1', container('bot', serving, fingerprint=d['fingerprint'])),
            app('app2', container('bot', serving, fingerprint=d['fingerprint']))]
    servers = [('app1-r%d-1' % serving, '10.0.0.1', 20000), ('app2-r%d-1' % serving, '10.0.0.2', 20000)]
    lbs = [lb(backends={'bot': backend(8100, *(servers if lb_ok else servers[:1]))})]
    ctl = control({'bot': dict(revisions=[revision(serving, d)], serving=serving, database='lg_bot',
                               postgres_host='pg1', redis_host='redis1')})
    return apps, lbs, ctl


def test_rerun_in_place_changes_nothing():
    ds = deployments(dict(name='bot', min_replicas=2))
    apps, lbs, ctl = in_place_fleet(ds[0])
    plan = run('deploy', ds, apps, lbs, ctl)
    assert plan['deployments']['bot']['kind'] == 'unchanged'
    assert plan['waves'] == [] and plan['stop'] == {} and plan['record']['revisions'] == [] \
        and plan['stores'] == [] and plan['pulls'] == {}


def test_rerun_repairs_a_load_balancer_that_lost_a_server():
    ds = deployments(dict(name='bot', min_replicas=2))
    apps, lbs, ctl = in_place_fleet(ds[0], lb_ok=False)
    plan = run('deploy', ds, apps, lbs, ctl)
    assert plan['deployments']['bot']['kind'] == 'repair'
    assert plan['waves'][0]['start'] == {} and len(plan['waves'][0]['lb'][0]['servers']) == 2


def test_new_image_rolls_out_beside_the_old_and_stops_them_after():
    ds = deployments(dict(name='bot', min_replicas=2))
    apps, lbs, ctl = in_place_fleet(ds[0])
    new = deployments(dict(name='bot', min_replicas=2, image=REG + 'bot:2'))
    plan = run('deploy', new, apps, lbs, ctl)
    assert plan['deployments']['bot']['kind'] == 'roll-out'
    assert starts(plan) == {'app1': ['bot r4.1 :20001'], 'app2': ['bot r4.1 :20001']}
    assert [(s['name'], s['state']) for s in plan['waves'][0]['lb'][0]['servers']] == [
        ('app1-r3-1', 'absent'), ('app1-r4-1', 'ready'), ('app2-r3-1', 'absent'), ('app2-r4-1', 'ready')]
    assert plan['stop'] == {'app1': ['lg-bot-r3-1'], 'app2': ['lg-bot-r3-1']}
    assert plan['record']['revisions'][0]['number'] == 4
    assert plan['record']['assignments'] == []  # already pinned
    undo = plan['undo']['bot']
    assert undo['stop'] == {'app1': ['lg-bot-r4-1'], 'app2': ['lg-bot-r4-1']}
    assert [(s['name'], s['state']) for s in undo['lb']['servers']] == [
        ('app1-r3-1', 'ready'), ('app1-r4-1', 'absent'), ('app2-r3-1', 'ready'), ('app2-r4-1', 'absent')]


def test_batch_of_one_switches_one_host_per_wave():
    new = deployments(dict(name='bot', min_replicas=2, image=REG + 'bot:2'))
    apps, lbs, ctl = in_place_fleet(deployments(dict(name='bot', min_replicas=2))[0])
    plan = run('deploy', new, apps, lbs, ctl, batch_size=1)
    assert len(plan['waves']) == 2
    assert starts(plan, 0) == {'app1': ['bot r4.1 :20001']} and starts(plan, 1) == {'app2': ['bot r4.1 :20001']}
    first, second = plan['waves'][0]['lb'][0], plan['waves'][1]['lb'][0]
    # Servers not listed stay as they are until the last wave, which purges.
    assert [(s['name'], s['state']) for s in first['servers']] == [('app1-r3-1', 'absent'), ('app1-r4-1', 'ready')]
    assert first['purge'] is False and second['purge'] is True
    assert [(s['name'], s['state']) for s in second['servers']] == [
        ('app1-r4-1', 'ready'), ('app2-r3-1', 'absent'), ('app2-r4-1', 'ready')]


def test_rollback_to_the_previous_revision_needs_no_new_record():
    d = deployments(dict(name='bot', min_replicas=2))[0]
    apps, lbs, ctl = in_place_fleet(d, serving=4)
    ctl['deployments']['bot']['revisions'] = [revision(4, d, image=REG + 'bot:2'), revision(3, d, 'superseded')]
    plan = run('rollback', [d], apps, lbs, ctl)
    assert plan['deployments']['bot']['revision'] == 3 and plan['record']['revisions'] == []
    assert plan['record']['statuses'] == [dict(deployment='bot', number=3, status='rolling_out', reason=None)]
    assert plan['pulls']['app1'] == [dict(image=REG + 'bot:1', always=False)]
    assert plan['migrations'] == {}  # revision 3 migrated when it was first deployed


def test_rollback_without_a_target_refuses_the_run():
    d = deployments(dict(name='bot'))[0]
    with pytest.raises(fp.PlanError, match='no earlier deployed revision'):
        run('rollback', [d], [app('app1')], ctl=control({'bot': dict(revisions=[revision(1, d)], serving=1)}))


def test_deploy_keeps_the_count_the_autoscaler_chose():
    d = deployments(dict(name='bot', min_replicas=1, max_replicas=6))[0]
    apps = [app('app1', container('bot', 3, 1), container('bot', 3, 2, 20001)),
            app('app2', container('bot', 3, 1))]
    ctl = control({'bot': dict(revisions=[revision(3, d, image=REG + 'bot:0')], serving=3)})
    plan = run('deploy', [d], apps, ctl=ctl)
    assert plan['deployments']['bot']['replicas'] == 3
    assert sum(len(v) for v in plan['waves'][0]['start'].values()) == 3


@pytest.mark.parametrize('replicas, started, stopped', [
    (4, {'app1': ['bot r3.2 :20001'], 'app2': ['bot r3.2 :20001']}, {}),
    (1, {}, {'app2': ['lg-bot-r3-1']}),
])
def test_scale_up_and_down(replicas, started, stopped):
    d = deployments(dict(name='bot', min_replicas=1))[0]
    apps, lbs, ctl = in_place_fleet(d)
    plan = run('scale', [d], apps, lbs, ctl, replicas=replicas)
    assert plan['deployments']['bot']['kind'] == 'scale'
    assert (starts(plan) if plan['waves'] else {}) == started and plan['stop'] == stopped
    assert plan['record']['revisions'] == [] and plan['record']['statuses'] == []


def test_scale_out_of_bounds_refuses():
    d = deployments(dict(name='bot', max_replicas=3))[0]
    apps, lbs, ctl = in_place_fleet(d)
    with pytest.raises(fp.PlanError, match='cannot run 5 container'):
        run('scale', [d], apps, lbs, ctl, replicas=5)


def test_drained_host_moves_its_containers_off():
    d = deployments(dict(name='bot', min_replicas=2))[0]
    apps, lbs, ctl = in_place_fleet(d)
    apps[0]['drain'] = True
    apps.append(app('app3'))
    plan = run('reconcile', [d], apps, lbs, ctl)
    assert starts(plan) == {'app3': ['bot r3.1 :20000']}
    assert plan['stop'] == {'app1': ['lg-bot-r3-1']}


def test_a_down_host_gets_nothing_and_its_replicas_are_placed_elsewhere():
    d = deployments(dict(name='bot', min_replicas=2))[0]
    apps, lbs, ctl = in_place_fleet(d)
    apps[1]['reachable'] = False
    apps.append(app('app3'))
    plan = run('reconcile', [d], apps, lbs, ctl)
    assert starts(plan) == {'app3': ['bot r3.1 :20000']}
    assert 'app2' not in plan['stop']


def test_full_fleet_refuses_naming_who_does_not_fit():
    ds = deployments(dict(name='big', min_replicas=3), dict(name='small', type='development'))
    apps = [app('app1', capacity=(2.0, 2048.0)), app('app2', capacity=(2.0, 2048.0))]
    with pytest.raises(fp.PlanError) as caught:
        run('deploy', ds, apps)
    message = str(caught.value)
    assert 'big does not fit: 1 of its 3 production containers (2 CPU, 2048 MB each) have no room' in message
    assert 'small does not fit' in message and 'nothing was changed' in message


def test_autoscale_caps_at_capacity_and_says_so():
    d = deployments(dict(name='bot', max_replicas=10, autoscale_queue=False))[0]
    apps = [app('app1', container('bot', 3), capacity=(4.0, 4096.0))]
    lbs = [lb(backends={'bot': backend(8100, ('app1-r3-1', '10.0.0.1', 20000), total=80.0)})]
    ctl = control({'bot': dict(revisions=[revision(3, d)], serving=3)})
    plan = run('autoscale', [d], apps, lbs, ctl)
    event = plan['record']['scale_events'][0]
    assert event['desired'] == 2 and 'capacity' in event['reason'] and event['apply'] is True
    assert starts(plan) == {'app1': ['bot r3.2 :20001']}


def test_autoscale_holds_and_applies_only_changes():
    d = deployments(dict(name='bot', autoscale_queue=False, min_replicas=2))[0]
    apps, lbs, ctl = in_place_fleet(d)
    for view in lbs[0]['backends'].values():
        view['total'] = 20.0
    plan = run('autoscale', [d], apps, lbs, ctl)
    assert plan['deployments']['bot']['kind'] == 'unchanged' and plan['waves'] == []
    assert plan['record']['scale_events'][0]['apply'] is False


def test_several_store_hosts_fewest_first_and_pins_kept():
    ds = deployments(dict(name='aaa'), dict(name='bbb'), dict(name='ccc', postgres_host='pg1'), dict(name='ddd'))
    ctl = control({'aaa': {}, 'bbb': {}, 'ccc': {}, 'ddd': dict(postgres_host='pg2', redis_host='r1')},
                  counts={'postgres': {'pg1': 5, 'pg2': 4}, 'redis': {'r1': 1, 'r2': 0}})
    plan = run('deploy', ds, [app('app1'), app('app2')], ctl=ctl, postgres_hosts=['pg1', 'pg2'],
               redis_hosts=['r1', 'r2'])
    pins = dict((a['deployment'], (a['postgres_host'], a['redis_host'])) for a in plan['record']['assignments'])
    assert pins == {'aaa': ('pg2', 'r2'), 'bbb': ('pg1', 'r1'), 'ccc': ('pg1', 'r2')}
    assert dict((s['name'], s['postgres_host']) for s in plan['stores'])['ddd'] == 'pg2'


def test_a_pinned_deployment_cannot_move():
    ds = deployments(dict(name='aaa', postgres_host='pg2'))
    ctl = control({'aaa': dict(postgres_host='pg1', redis_host='r1')})
    with pytest.raises(fp.PlanError, match='aaa lives on postgres pg1; moving it to pg2 is not supported'):
        run('deploy', ds, [app('app1')], ctl=ctl, postgres_hosts=['pg1', 'pg2'], redis_hosts=['r1'])


def test_busy_deployments_are_left_alone():
    ds = deployments(dict(name='aaa'), dict(name='bbb'))
    ctl = control({'aaa': {}, 'bbb': {}}, locked=['aaa'], busy={'bbb': dict(holder='job 7', since='t', purpose='deploy')})
    plan = run('deploy', ds, [app('app1')], ctl=ctl)
    assert plan['deployments']['bbb']['kind'] == 'busy' and 'job 7' in plan['deployments']['bbb']['reason']
    assert [e['deployment'] for e in plan['waves'][0]['start']['app1']] == ['aaa']


def test_delete_drains_removes_the_backend_and_stops_everything():
    d = deployments(dict(name='bot', min_replicas=2))[0]
    apps, lbs, ctl = in_place_fleet(d)
    plan = run('delete', [d], apps, lbs, ctl, purge=True)
    assert plan['waves'][0]['lb'] == [dict(deployment='bot', state='absent', bind_port=8100, servers=[], purge=True)]
    assert plan['stop'] == {'app1': ['lg-bot-r3-1'], 'app2': ['lg-bot-r3-1']}
    assert plan['stores'] == [] and plan['purge'] == [dict(
        name='bot', type='production', postgres_host='pg1', redis_host='redis1', state='absent', purge=True)]


def test_prune_keeps_the_newest_images_and_those_in_use():
    d = deployments(dict(name='bot', image=REG + 'bot:5'))[0]
    history = [revision(4, d, image=REG + 'bot:4', fingerprint='x4'), revision(3, d, 'superseded', image=REG + 'bot:3'),
               revision(2, d, 'superseded', image=REG + 'bot:2'), revision(1, d, 'superseded', image=REG + 'bot:1')]
    apps = [app('app1', container('bot', 4, image=REG + 'bot:4'), container('other', 1, image=REG + 'bot:1'),
                images=[REG + 'bot:%d' % i for i in range(1, 5)])]
    plan = run('deploy', [d], apps, ctl=control({'bot': dict(revisions=history, serving=4)}), keep_images=3)
    # kept: 5 (new), 4, 3; bot:1 is used by another container
    assert plan['prune'] == {'app1': [REG + 'bot:2']}


def test_summary_says_what_happens_per_deployment_and_wave():
    ds = deployments(dict(name='bot', min_replicas=2))
    plan = run('deploy', ds, [app('app1'), app('app2')])
    assert plan['summary'][0] == ('bot: roll out revision 1 (new) (serving: none); 2 container(s) on app1 1, app2 1; '
                                  'start app1 lg-bot-r1-1:20000, app2 lg-bot-r1-1:20000; every load balancer adds '
                                  'app1-r1-1, app2-r1-1 and drains nothing')
    assert plan['summary'][-1] == ('wave 1/1: start 2 container(s) on 2 host(s); 1 backend(s) switched on every '
                                   'load balancer')


def test_a_revision_left_rolling_out_by_a_run_that_is_gone_is_failed_and_a_new_one_rolls_out():
    d = deployments(dict(name='bot', min_replicas=2))[0]
    apps, lbs, ctl = in_place_fleet(d, serving=4)
    dead = dict(revision(4, d, 'rolling_out'), created_by='alice run 1')
    ctl['deployments']['bot'].update(
        revisions=[dead, revision(3, d, image=REG + 'bot:0')], serving=3,
        taken_over=dict(holder='alice run 1', purpose='deploy', since='t0', expires_at='t1'))
    plan = run('deploy', [d], apps, lbs, ctl)
    entry = plan['deployments']['bot']
    assert (entry['kind'], entry['revision'], entry['new_revision']) == ('roll-out', 5, True)
    failed = plan['record']['statuses'][0]
    assert (failed['number'], failed['status']) == (4, 'failed')
    assert 'its run (alice run 1) ended before it finished' in failed['reason'] and 'expired at t1' in failed['reason']
    assert 'took over the lock of alice run 1 (deploy) whose lease expired at t1' in plan['summary'][0]
    # The dead run's containers are the old ones now: drained and stopped after the switch.
    assert plan['stop'] == {'app1': ['lg-bot-r4-1'], 'app2': ['lg-bot-r4-1']}


def test_check_mode_fails_nothing():
    d = deployments(dict(name='bot', min_replicas=2))[0]
    apps, lbs, ctl = in_place_fleet(d, serving=4)
    ctl['deployments']['bot']['revisions'] = [revision(4, d, 'rolling_out')]
    plan = run('deploy', [d], apps, lbs, ctl, check_mode=True)
    assert plan['record']['statuses'] == [] or all(s['status'] != 'failed' for s in plan['record']['statuses'])


@pytest.mark.parametrize('recorded, observed, low, high, expected', [
    (None, 0, 1, 10, 1),      # first deploy: min_replicas
    (None, 3, 1, 10, 3),      # what runs, before counts were recorded
    (4, 2, 1, 10, 4),         # a host is down: the recorded count holds
    (12, 3, 1, 10, 10),       # bounds lowered
    (0, 0, 2, 10, 2),         # deleted then deployed again
])
def test_desired_count(recorded, observed, low, high, expected):
    assert fp.desired_count(recorded, observed, low, high) == expected


def test_a_down_host_never_lowers_the_count_and_its_replicas_go_elsewhere():
    d = deployments(dict(name='bot', min_replicas=1))[0]
    apps, lbs, ctl = in_place_fleet(d)
    apps[1]['reachable'] = False
    ctl['deployments']['bot']['replicas'] = 2
    plan = run('reconcile', [d], apps, lbs, ctl)
    assert plan['deployments']['bot']['replicas'] == 2
    assert starts(plan) == {'app1': ['bot r3.2 :20001']}
    assert plan['deployments']['bot']['drift'] == ['1 container(s) missing']
    # app2's server leaves every load balancer: when app2 comes back nothing of it serves before a reconcile.
    assert [(s['name'], s['state']) for s in plan['waves'][0]['lb'][0]['servers']] == [
        ('app1-r3-1', 'ready'), ('app1-r3-2', 'ready')]
    assert plan['waves'][0]['lb'][0]['purge'] is True


def test_bookkeeping_records_counts_hosts_and_audit():
    d = deployments(dict(name='bot', min_replicas=1))[0]
    apps, lbs, ctl = in_place_fleet(d)
    plan = run('scale', [d], apps, lbs, ctl, replicas=3)
    assert plan['finish']['replicas'] == [dict(deployment='bot', replicas=3)]
    assert plan['audit'][0]['action'] == 'scale' and plan['audit'][0]['details']['replicas'] == 3
    assert plan['hosts'] == ['app1', 'app2', 'lb1']


def test_delete_retires_the_serving_revision():
    d = deployments(dict(name='bot', min_replicas=2))[0]
    apps, lbs, ctl = in_place_fleet(d)
    plan = run('delete', [d], apps, lbs, ctl)
    assert plan['finish']['statuses'] == [dict(deployment='bot', number=3, status='superseded',
                                               reason='the deployment was deleted')]


def test_a_revision_starting_on_a_database_made_anew_is_migrated():
    d = deployments(dict(name='bot', min_replicas=1, migrate_command=['migrate']))[0]
    ctl = control({'bot': dict(revisions=[revision(3, d)], serving=3, database=None)})
    plan = run('reconcile', [d], [app('app1'), app('app2')], ctl=ctl)
    assert plan['deployments']['bot']['kind'] == 'repair'
    assert [m['revision'] for ms in plan['migrations'].values() for m in ms] == [3]
    ctl['deployments']['bot']['database'] = 'lg_bot'
    plan = run('reconcile', [d], [app('app1'), app('app2')], ctl=ctl)
    assert plan['migrations'] == {}


def test_containers_count_by_their_own_size_labels():
    ds = deployments(dict(name='new-bot', type='development'))
    # Another deployment's container says it takes 4 CPU and 30000 MB: app1 is full for a development one.
    big = dict(container('other', 1), cpus=4.0, memory_mb=30000)
    plan = run('deploy', ds, [app('app1', big), app('app2', capacity=(30.0, 31744.0))])
    assert list(plan['waves'][0]['start']) == ['app2']


@pytest.mark.parametrize('digest, expected', [
    (None, REG + 'bot:1'),
    ('sha256:' + 'a' * 64, REG + 'bot@sha256:' + 'a' * 64),
    (REG + 'bot@sha256:' + 'b' * 64, REG + 'bot@sha256:' + 'b' * 64),  # recorded whole by earlier versions
])
def test_pinned(digest, expected):
    assert fp.pinned(dict(image=REG + 'bot:1', image_digest=digest)) == expected


def test_a_rollback_runs_the_digest_its_revision_recorded_not_the_tag():
    d = deployments(dict(name='bot', min_replicas=2))[0]
    apps, lbs, ctl = in_place_fleet(d, serving=4)
    digest = 'sha256:' + 'c' * 64
    ctl['deployments']['bot']['revisions'] = [revision(4, d, image=REG + 'bot:2'),
                                              dict(revision(3, d, 'superseded'), image_digest=digest)]
    plan = run('rollback', [d], apps, lbs, ctl)
    assert {e['image'] for es in plan['waves'][0]['start'].values() for e in es} == {REG + 'bot@' + digest}
    assert plan['pulls']['app1'] == [dict(image=REG + 'bot@' + digest, always=False)]


def test_an_unknown_on_failure_is_refused_before_anything_changes():
    ds = deployments(dict(name='bot'))
    with pytest.raises(fp.PlanError, match="deploy_on_failure must be one of undo, keep, not 'ignore'"):
        run('deploy', ds, [app('app1')], on_failure='ignore')


def bot_with_token(value):
    return parse_deployments([dict(name='bot', image=REG + 'bot:1', lb_port=8100, min_replicas=2,
                                   secrets={'API_TOKEN': value})], {'secrets_key': 'fleet key'})[0]


def test_rollback_revision_table():
    then = bot_with_token('old value')
    target = dict(revision(3, then, 'superseded'), image_digest='sha256:' + 'a' * 64)
    history = [revision(4, then, image=REG + 'bot:2'), target]
    assert fp.rollback_revision(bot_with_token('old value'), target, history) == (target, False)
    new, is_new = fp.rollback_revision(bot_with_token('rotated'), target, history)
    assert is_new and new['number'] == 5 and new['rollback_of'] == 3
    assert (new['image'], new['image_digest'], new['env']) == (target['image'], target['image_digest'], target['env'])
    assert new['env_fingerprint'] == bot_with_token('rotated')['fingerprint'] != target['env_fingerprint']


def test_rollback_after_a_secret_changed_runs_a_new_revision_of_the_old_image_by_its_digest():
    then, today = bot_with_token('old value'), bot_with_token('rotated')
    apps, lbs, ctl = in_place_fleet(today, serving=4)
    digest = 'sha256:' + 'b' * 64
    ctl['deployments']['bot']['revisions'] = [revision(4, today, image=REG + 'bot:2'),
                                              dict(revision(3, then, 'superseded'), image_digest=digest)]
    plan = run('rollback', [today], apps, lbs, ctl)
    assert [(r['number'], r['image_digest']) for r in plan['record']['revisions']] == [(5, digest)]
    assert plan['pulls']['app1'] == [dict(image=REG + 'bot@' + digest, always=False)]
    assert plan['migrations'] == {}  # revision 3's image migrated when it was first deployed
    assert "roll out revision 5 (new: the image and environment of revision 3 with today's secret values and " \
        "tracing)" in '\n'.join(plan['summary'])


def test_a_rollback_to_a_revision_before_tracing_runs_with_today_s_tracing_settings():
    tracing = dict(tracing=True, api_key='key', endpoint='https://smith.example.com')
    entry = dict(name='bot', image=REG + 'bot:1', lb_port=8100, env={'LOG_LEVEL': 'INFO'})
    then = parse_deployments([entry], {'secrets_key': 'fleet key'})[0]
    today = parse_deployments([entry], {'secrets_key': 'fleet key', 'tracing': tracing})[0]
    target = revision(3, then, 'superseded')
    new, is_new = fp.rollback_revision(today, target, [revision(4, today), target])
    assert is_new and new['env']['LOG_LEVEL'] == 'INFO'
    assert (new['env']['LANGSMITH_TRACING'], new['env']['LANGSMITH_PROJECT'], new['env']['LANGSMITH_ENDPOINT']) == \
        ('true', 'bot', 'https://smith.example.com')
    assert new['secret_names'] == today['secret_names'] and 'LANGSMITH_API_KEY' in new['secret_names']
    # Back on a revision made with today's settings, the rollback is that revision itself.
    assert fp.rollback_revision(today, revision(2, today, 'superseded'), [revision(4, today)]) == \
        (revision(2, today, 'superseded'), False)


# --- a deployment served by host name only (no lb_port): a backend without frontend --------------

def host_only(**over):
    return deployments(dict(dict(name='bot', min_replicas=2, lb_port=None, hostname='bot.example.org'), **over))


def test_host_name_only_gets_a_backend_without_port():
    plan = run('deploy', host_only(), [app('app1'), app('app2')])
    backend_entry = plan['waves'][0]['lb'][0]
    assert backend_entry['bind_port'] is None and backend_entry['state'] == 'present'
    assert len(backend_entry['servers']) == 2


@pytest.mark.parametrize('lb_port, frontend, bind_port, kind', [
    (None, False, None, 'unchanged'),    # host name only, in shape
    (None, True, 8100, 'repair'),        # lb_port dropped: the frontend must go
    (8100, False, None, 'repair'),       # lb_port given (back): the frontend must come
    (8100, True, 8100, 'unchanged'),
    (8101, True, 8100, 'repair'),        # another port
])
def test_frontend_follows_lb_port(lb_port, frontend, bind_port, kind):
    ds = host_only(lb_port=lb_port)
    apps, lbs, ctl = in_place_fleet(ds[0])
    lbs[0]['backends']['bot'].update(frontend=frontend, bind_port=bind_port)
    plan = run('deploy', ds, apps, lbs, ctl)
    assert plan['deployments']['bot']['kind'] == kind
    if kind == 'repair':
        assert plan['waves'][0]['start'] == {} and plan['waves'][0]['lb'][0]['bind_port'] == lb_port


def test_delete_of_a_host_name_only_deployment():
    ds = host_only()
    apps, lbs, ctl = in_place_fleet(ds[0])
    lbs[0]['backends']['bot'].update(frontend=False, bind_port=None)
    plan = run('delete', ds, apps, lbs, ctl)
    assert plan['waves'][0]['lb'] == [dict(deployment='bot', state='absent', bind_port=None, servers=[], purge=True)]
