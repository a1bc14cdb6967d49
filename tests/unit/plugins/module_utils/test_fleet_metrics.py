# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's metrics in the Prometheus text format, read back with the Prometheus client's own parser."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.selfhost.langgraph.plugins.module_utils import fleet_metrics as fm
from ansible_collections.selfhost.langgraph.plugins.module_utils.autoscale_policy import decide

from test_fleet_plan import app, backend, container, control, deployments, lb, revision, run as plan


def parse(text):
    """{(name, sorted labels): value}, as Prometheus reads the text."""
    return parse_families(text)[0]


def parse_families(text):
    """{(name, sorted labels): value} and {family name: (type, help)}, as Prometheus reads the text."""
    values, families = {}, {}
    for family in text_string_to_metric_families(text):
        families[family.name] = (family.type, family.documentation)
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values, families


def at(values, name, **labels):
    return values.get((name, tuple(sorted(labels.items()))))


@pytest.mark.parametrize('raw', [
    'plain', 'with "quotes"', 'back\\slash', 'two\nlines', 'all of \\ " \n them', 'ünïcödé ✓', '', '{a="b"} 1',
])
def test_label_values_are_escaped_so_the_parser_reads_them_back_unchanged(raw):
    text = fm.exposition({'langgraph_deployment_lock_info': [(dict(deployment='bot', holder=raw, purpose='p'), 1)]})
    values = parse(text)
    assert at(values, 'langgraph_deployment_lock_info', deployment='bot', holder=raw, purpose='p') == 1


@pytest.mark.parametrize('raw, written', [
    ('a', 'a'), ('a"b', 'a\\"b'), ('a\\b', 'a\\\\b'), ('a\nb', 'a\\nb'), ('\\"\n', '\\\\\\"\\n'),
])
def test_escape_label_value(raw, written):
    assert fm.escape_label_value(raw) == written


@pytest.mark.parametrize('value, written', [
    (0, '0'), (3, '3'), (2.0, '2'), (2.5, '2.5'), (True, '1'), (False, '0'), (1764000000.25, '1764000000.25'),
    (float('nan'), 'NaN'), (float('inf'), '+Inf'), (float('-inf'), '-Inf'), (-1, '-1'), (1e20, '1e+20'),
])
def test_format_value(value, written):
    assert fm.format_value(value) == written


@pytest.mark.parametrize('value, seconds', [
    (None, None), (12.5, 12.5), ('2026-11-30T10:00:00+00:00', 1796032800.0), ('2026-11-30T11:00:00+01:00', 1796032800.0),
    ('2026-11-30T10:00:00.500000+00:00', 1796032800.5), ('2026-11-30T10:00:00Z', 1796032800.0),
    ('2026-11-30T10:00:00', None), ('not a time', None),
])
def test_epoch_of_the_control_databases_times(value, seconds):
    assert fm.epoch(value) == seconds


def _decided(**kw):
    """A decision of the real policy, with current as the plan adds it."""
    kw.setdefault('now', 1000.0)
    kw.setdefault('min_replicas', 1)
    kw.setdefault('max_replicas', 10)
    return dict(decide(**kw), current=kw['current'])


# Decisions made by the real policy: the kind, and the head that stays the same while the measurements move.
@pytest.mark.parametrize('decision, kind, head', [
    (_decided(current=1, concurrency=35.0), 'up', 'scale up 1 -> 4 at once'),
    (_decided(current=1, concurrency=36.9), 'up', 'scale up 1 -> 4 at once'),
    (_decided(current=2, concurrency=20.0), 'steady', 'steady at 2'),
    (_decided(current=2, concurrency=19.5), 'steady', 'steady at 2'),
    (_decided(current=2, concurrency=None), 'hold', 'hold at 2'),
    (_decided(current=4, concurrency=3.0), 'waiting', 'below'),
    (_decided(current=4, concurrency=3.0, state=dict(low_since=900.0, scale_down_at=2800.0, current=4)),
     'waiting', 'below'),
    (_decided(current=4, concurrency=2.0, state=dict(low_since=900.0, scale_down_at=2800.0, current=4), now=1500.0),
     'waiting', 'below'),
    (_decided(current=4, concurrency=3.0, state=dict(low_since=100.0, scale_down_at=900.0, current=4)),
     'down', 'scale down 4 -> 1'),
    (_decided(current=12, concurrency=3.0, max_replicas=10), 'down', 'scale down 12 -> 1'),
])
def test_decisions_have_a_bounded_kind_and_a_head_without_measurements(decision, kind, head):
    assert fm.decision_kind(decision) == kind
    assert fm.reason_head(decision['reason']) == head


def test_reason_head_is_short_and_never_none():
    assert fm.reason_head(None) == ''
    assert len(fm.reason_head('x' * 500)) == fm.REASON_HEAD


def _fleet():
    """bot: serving 3, two containers on app1 (one stopped), app2 down, lb1 up and lb2 down, locked by another job;
    idle: never deployed, last used long ago."""
    ds = deployments(dict(name='bot', min_replicas=2), dict(name='idle'))
    apps = [app('app1', container('bot', 3, replica=1), container('bot', 3, replica=2, port=20001, running=False),
                container('bot', 2, replica=1, port=20002), container('other', 1, port=20003)),
            dict(app('app2'), reachable=False, problem='unreachable')]
    lbs = [lb(backends={'bot': backend(8100, ('app1-r3-1', '10.0.0.1', 20000), ('app1-r3-2', '10.0.0.1', 20001),
                                       scur=1.5)}),
           dict(lb('lb2'), reachable=False)]
    lbs[0]['backends']['bot']['servers']['app1-r3-2']['status'] = 'DOWN'
    ctl = dict(now=1796032800.0, busy={'bot': dict(holder='awx-job-7 "nightly"', purpose='deploy',
                                                   since='2026-11-30T09:59:00+00:00',
                                                   expires_at='2026-11-30T10:01:00+00:00')},
               deployments={'bot': dict(revisions=[revision(3, ds[0])], serving=3, replicas=2,
                                        queue=dict(pending=7, running=3)),
                            'idle': dict(revisions=[], serving=None, replicas=None,
                                         scale=dict(current_replicas=1, desired=1, reason='steady at 1 (x)',
                                                    decided_at=1796032000.0, inputs=dict(pending=4, running=0)),
                                         usage=dict(last_used_at=1700000000.0, last_run_at=None))},
               hosts={'app2': dict(last_seen='2026-11-30T09:00:00+00:00')})
    the_plan = dict(deployments={'bot': dict(kind='busy', replicas=None), 'idle': dict(kind='skipped', replicas=None)},
                    record=dict(scale_events=[]))
    return the_plan, ctl, apps, lbs


def test_a_tick_reads_back_as_the_fleet_it_observed():
    the_plan, ctl, apps, lbs = _fleet()
    text = fm.exposition(fm.tick_samples('reconcile', the_plan, dict(failed={'idle': 'why'}), ctl, apps, lbs))
    values, families = parse_families(text)
    expected = [
        ('langgraph_tick_timestamp_seconds', dict(action='reconcile'), 1796032800.0),
        ('langgraph_deployment_serving_revision', dict(deployment='bot'), 3),
        ('langgraph_deployment_serving_revision', dict(deployment='idle'), 0),
        ('langgraph_deployment_desired_replicas', dict(deployment='bot'), 2),  # busy: as recorded
        ('langgraph_deployment_desired_replicas', dict(deployment='idle'), None),  # never recorded
        ('langgraph_deployment_running_replicas', dict(deployment='bot'), 1),  # stopped and r2 do not count
        ('langgraph_deployment_running_replicas', dict(deployment='idle'), 0),
        ('langgraph_deployment_servers_up', dict(deployment='bot', load_balancer='lb1'), 1),
        ('langgraph_deployment_servers_up', dict(deployment='bot', load_balancer='lb2'), None),  # lb2 down
        ('langgraph_deployment_servers_up', dict(deployment='idle', load_balancer='lb1'), 0),
        ('langgraph_deployment_sessions', dict(deployment='bot', load_balancer='lb1'), 3.0),
        ('langgraph_deployment_pending_runs', dict(deployment='bot'), 7),
        ('langgraph_deployment_running_runs', dict(deployment='bot'), 3),
        ('langgraph_deployment_pending_runs', dict(deployment='idle'), 4),  # the last decision's count
        ('langgraph_deployment_scale_decision_info', dict(deployment='idle', decision='steady', reason='steady at 1'), 1),
        ('langgraph_deployment_scale_decision_timestamp_seconds', dict(deployment='idle'), 1796032000.0),
        ('langgraph_deployment_scale_decision_desired_replicas', dict(deployment='idle'), 1),
        ('langgraph_deployment_last_used_timestamp_seconds', dict(deployment='idle'), 1700000000.0),
        ('langgraph_deployment_last_used_timestamp_seconds', dict(deployment='bot'), None),
        ('langgraph_deployment_lock_held', dict(deployment='bot'), 1),
        ('langgraph_deployment_lock_held', dict(deployment='idle'), 0),
        ('langgraph_deployment_lock_info', dict(deployment='bot', holder='awx-job-7 "nightly"', purpose='deploy'), 1),
        ('langgraph_deployment_lock_since_timestamp_seconds', dict(deployment='bot'), 1796032740.0),
        ('langgraph_deployment_lock_expiry_timestamp_seconds', dict(deployment='bot'), 1796032860.0),
        ('langgraph_deployment_lock_expiry_timestamp_seconds', dict(deployment='idle'), None),
        ('langgraph_deployment_tick_failed', dict(deployment='bot'), 0),
        ('langgraph_deployment_tick_failed', dict(deployment='idle'), 1),
        ('langgraph_host_up', dict(host='app1', group='app'), 1),
        ('langgraph_host_up', dict(host='app2', group='app'), 0),
        ('langgraph_host_up', dict(host='lb1', group='lb'), 1),
        ('langgraph_host_up', dict(host='lb2', group='lb'), 0),
        ('langgraph_host_last_seen_timestamp_seconds', dict(host='app1'), 1796032800.0),
        ('langgraph_host_last_seen_timestamp_seconds', dict(host='app2'), 1796029200.0),
        ('langgraph_host_last_seen_timestamp_seconds', dict(host='lb2'), None),  # never seen
        ('langgraph_host_containers', dict(host='app1', state='running'), 3),
        ('langgraph_host_containers', dict(host='app1', state='stopped'), 1),
        ('langgraph_host_containers', dict(host='app2', state='running'), None),  # down: unknown, not 0
    ]
    for name, labels, value in expected:
        assert at(values, name, **labels) == value, (name, labels)
    for name, kind, documentation, dummy in fm.METRICS:
        if name in families:
            assert families[name] == (kind, documentation), name
    # The parser drops the _info suffix from the family; the name is ours all the same.
    written = set(line.split()[2] for line in text.splitlines() if line.startswith('# TYPE'))
    assert written <= set(fm.NAMES)
    assert all(name.startswith('langgraph_') for name in fm.NAMES)
    assert text.endswith('\n') and ' \n' not in text


def test_every_sample_follows_its_help_and_type_and_no_name_or_label_is_repeated():
    the_plan, ctl, apps, lbs = _fleet()
    lines = fm.exposition(fm.tick_samples('autoscale', the_plan, None, ctl, apps, lbs)).splitlines()
    current = None
    seen = set()
    for index, line in enumerate(lines):
        if line.startswith('# HELP '):
            current = line.split()[2]
            assert current not in seen
            seen.add(current)
            assert lines[index + 1].startswith('# TYPE %s gauge' % current)
        elif not line.startswith('#'):
            assert line.startswith(current + '{') or line.startswith(current + ' '), line
    assert len(lines) == len(set(lines))


def test_this_ticks_decision_wins_over_the_recorded_one_and_the_plans_count_is_desired():
    the_plan, ctl, apps, lbs = _fleet()
    the_plan['deployments']['idle'] = dict(kind='scale', replicas=3)
    the_plan['record']['scale_events'] = [dict(deployment='idle', current=1, desired=3, reason='scale up 1 -> 3 at '
                                               'once (concurrency ratio 2.5 wants 3)', low_since=None)]
    values = parse(fm.exposition(fm.tick_samples('autoscale', the_plan, None, ctl, apps, lbs)))
    assert at(values, 'langgraph_deployment_scale_decision_info', deployment='idle', decision='up',
              reason='scale up 1 -> 3 at once') == 1
    assert at(values, 'langgraph_deployment_scale_decision_timestamp_seconds', deployment='idle') == ctl['now']
    assert at(values, 'langgraph_deployment_desired_replicas', deployment='idle') == 3


def test_a_real_autoscale_plan_renders():
    ds = deployments(dict(name='bot', min_replicas=1))
    apps = [app('app1', container('bot', 3))]
    lbs = [lb(backends={'bot': backend(8100, ('app1-r3-1', '10.0.0.1', 20000), scur=35, total=35.0)})]
    ctl = control({'bot': dict(revisions=[revision(3, ds[0])], serving=3, replicas=1)}, locked=['bot'])
    ctl['now'] = 1000.0
    the_plan = plan('autoscale', ds, apps, lbs, ctl)
    values = parse(fm.exposition(fm.tick_samples('autoscale', the_plan, None, ctl, apps, lbs)))
    assert at(values, 'langgraph_deployment_desired_replicas', deployment='bot') == 4
    assert at(values, 'langgraph_deployment_running_replicas', deployment='bot') == 1
    # No queue was counted: the policy scales up all the same, and says so after the head.
    assert at(values, 'langgraph_deployment_scale_decision_info', deployment='bot', decision='up',
              reason='scale up 1 -> 4') == 1


@pytest.mark.parametrize('samples, problem', [
    ({'langgraph_host_up': [(dict(host='a', zone='b'), 1)]}, 'langgraph_host_up has no label zone'),
])
def test_exposition_refuses_labels_a_metric_does_not_have(samples, problem):
    with pytest.raises(ValueError, match=problem):
        fm.exposition(samples)


def test_only_the_ticks_write_metrics_and_an_empty_fleet_is_empty():
    with pytest.raises(ValueError, match='reconcile and autoscale'):
        fm.tick_samples('deploy', {}, None, {}, [], [])
    assert fm.exposition(fm.tick_samples('reconcile', {}, None, {}, [], [])) == ''


def _two_deployments(pending_bot, pending_idle, host_up):
    return fm.exposition({
        'langgraph_tick_timestamp_seconds': [(dict(action='autoscale'), 100 + pending_bot)],
        'langgraph_deployment_pending_runs': [(dict(deployment='bot'), pending_bot),
                                              (dict(deployment='idle'), pending_idle)],
        'langgraph_deployment_lock_info': [(dict(deployment='idle', holder='x "y"\n', purpose='deploy'), 1)],
        'langgraph_host_up': [(dict(host='app1', group='app'), host_up)],
    })


@pytest.mark.parametrize('old, new, covered, expected', [
    # A tick limited to bot keeps idle's samples (also under a metric the new text does not have) and no host.
    (_two_deployments(1, 2, 1),
     fm.exposition({'langgraph_tick_timestamp_seconds': [(dict(action='reconcile'), 500)],
                    'langgraph_deployment_pending_runs': [(dict(deployment='bot'), 9)],
                    'langgraph_host_up': [(dict(host='app1', group='app'), 0)]}),
     ['bot'],
     {('langgraph_tick_timestamp_seconds', (('action', 'reconcile'),)): 500,
      ('langgraph_deployment_pending_runs', (('deployment', 'bot'),)): 9,
      ('langgraph_deployment_pending_runs', (('deployment', 'idle'),)): 2,
      ('langgraph_deployment_lock_info', (('deployment', 'idle'), ('holder', 'x "y"\n'), ('purpose', 'deploy'))): 1,
      ('langgraph_host_up', (('group', 'app'), ('host', 'app1'))): 0}),
    # A covered deployment that lost a sample loses it from the file too.
    (_two_deployments(1, 2, 1), fm.exposition({'langgraph_host_up': [(dict(host='app1', group='app'), 1)]}),
     ['bot', 'idle'],
     {('langgraph_host_up', (('group', 'app'), ('host', 'app1'))): 1}),
    # No file yet, or an empty one.
    ('', _two_deployments(3, 4, 1), ['bot'], parse(_two_deployments(3, 4, 1))),
])
def test_a_limited_tick_keeps_the_other_deployments_samples(old, new, covered, expected):
    merged = fm.merge_exposition(old, new, covered)
    assert parse(merged) == expected
    # Still one HELP and TYPE per metric, each before its samples.
    names = [line.split()[2] for line in merged.splitlines() if line.startswith('# TYPE')]
    assert len(names) == len(set(names))
    assert [n for n in fm.NAMES if n in names] == names  # in the order of METRICS


@pytest.mark.parametrize('line, parsed', [
    ('langgraph_host_up{host="app1",group="app"} 1', ('langgraph_host_up', dict(host='app1', group='app'))),
    ('langgraph_tick_timestamp_seconds 5', ('langgraph_tick_timestamp_seconds', {})),
    ('x{a="q\\"b\\\\c\\nd"} 1', ('x', dict(a='q"b\\c\nd'))),
    ('# HELP x y', None),
    ('', None),
])
def test_sample_labels(line, parsed):
    assert fm.sample_labels(line) == parsed
