# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.autoscale_policy import PolicyError, decide

NOW = 100000.0
DELAY = 1800


def timer(since_ago, current=None):
    """State of a previous decision whose timer started since_ago seconds ago."""
    return dict(low_since=NOW - since_ago, scale_down_at=NOW - since_ago + DELAY, current=current)


# (case, kwargs, desired, apply, timer afterwards: None, 'start', 'keep')
CASES = [
    # The seed's examples.
    ('seed: 20 concurrent on 1 -> 2', dict(current=1, concurrency=20), 2, True, None),
    ('seed: 10 on 2 starts the timer', dict(current=2, concurrency=10), 2, False, 'start'),
    ('seed: 10 on 2 after the delay -> 1', dict(current=2, concurrency=10, state=timer(DELAY)), 1, True, None),
    # Bursts above target scale up at once, by as much as needed.
    ('burst 35 on 1 -> 4', dict(current=1, concurrency=35), 4, True, None),
    ('burst 95 on 2 -> 10', dict(current=2, concurrency=95), 10, True, None),
    ('burst resets a running timer', dict(current=2, concurrency=31, state=timer(600)), 4, True, None),
    ('burst from 0', dict(current=0, concurrency=25), 3, True, None),
    # Caps.
    ('max cap of production is 10', dict(current=4, concurrency=500), 10, True, None),
    ('configured max 6', dict(current=4, concurrency=500, max_replicas=6), 6, True, None),
    ('at the cap stays', dict(current=10, concurrency=500), 10, False, None),
    ('development never exceeds 1', dict(current=1, concurrency=500, deployment_type='development'), 1, False, None),
    ('development above 1 comes down at once',
     dict(current=3, concurrency=500, deployment_type='development'), 1, True, None),
    ('min raises', dict(current=1, concurrency=0, min_replicas=3), 3, True, None),
    # Delay and recompute.
    ('timer runs: hold', dict(current=4, concurrency=5, state=timer(600)), 4, False, 'keep'),
    ('timer expired: the recomputed value', dict(current=4, concurrency=15, state=timer(DELAY + 5)), 2, True, None),
    ('timer expired but load is back: steady, timer reset',
     dict(current=4, concurrency=40, state=timer(DELAY + 5)), 4, False, None),
    ('load back before the delay resets the timer', dict(current=4, concurrency=38, state=timer(60)), 4, False, None),
    ('timer of another count restarts', dict(current=3, concurrency=5, state=timer(DELAY + 5, current=4)),
     3, False, 'start'),
    ('zero delay scales down at once', dict(current=4, concurrency=5, scale_down_delay=0), 1, True, None),
    ('string delay 90s',
     dict(current=2, concurrency=0, scale_down_delay='90s', state=dict(low_since=NOW - 91, scale_down_at=NOW - 1)),
     1, True, None),
    ('down never below min', dict(current=4, concurrency=0, min_replicas=2, state=timer(DELAY)), 2, True, None),
    # Tolerance.
    ('21 on 2 within 10%', dict(current=2, concurrency=21), 2, False, None),
    ('19 on 2 within 10%: no timer', dict(current=2, concurrency=19), 2, False, None),
    ('23 on 2 beyond 10%', dict(current=2, concurrency=23), 3, True, None),
    ('tolerance 0: 21 on 2 -> 3', dict(current=2, concurrency=21, tolerance=0), 3, True, None),
    ('exact ratio no float noise', dict(current=3, concurrency=30.000000001, tolerance=0), 3, False, None),
    # Missing or stale metrics.
    ('missing concurrency holds', dict(current=4, concurrency=None, state=timer(DELAY + 5)), 4, False, 'keep'),
    ('stale metrics hold', dict(current=4, concurrency=0, metrics_age=600, state=timer(DELAY + 5)),
     4, False, 'keep'),
    ('missing metrics still reach min', dict(current=0, concurrency=None, min_replicas=1), 1, True, None),
    ('queue missing: no scale-down', dict(current=4, concurrency=0, jobs_per_container=10, pending=None,
                                          state=timer(DELAY + 5)), 4, False, 'keep'),
    ('queue missing: concurrency may still scale up', dict(current=1, concurrency=35, jobs_per_container=10),
     4, True, None),
    # The queue rule.
    ('queue wins', dict(current=1, concurrency=5, jobs_per_container=10, pending=45), 5, True, None),
    ('concurrency wins', dict(current=1, concurrency=35, jobs_per_container=10, pending=25), 4, True, None),
    ('queue keeps it up', dict(current=3, concurrency=0, jobs_per_container=10, pending=30), 3, False, None),
    ('queue off ignores pending', dict(current=1, concurrency=5, pending=45), 1, False, None),
    ('empty queue and idle: timer', dict(current=3, concurrency=0, jobs_per_container=10, pending=0),
     3, False, 'start'),
]


@pytest.mark.parametrize('case, kwargs, desired, apply, after', CASES, ids=[c[0] for c in CASES])
def test_policy(case, kwargs, desired, apply, after):
    kwargs = dict(kwargs)
    kwargs.setdefault('scale_down_delay', DELAY)
    before = kwargs.get('state')
    decision = decide(now=NOW, **kwargs)
    assert (decision['desired'], decision['apply']) == (desired, apply), decision['reason']
    if after is None:
        assert (decision['low_since'], decision['scale_down_at']) == (None, None), decision
    elif after == 'start':
        assert decision['low_since'] == NOW
        assert decision['scale_down_at'] == NOW + decision['delay']
    else:
        assert (decision['low_since'], decision['scale_down_at']) == (before['low_since'], before['scale_down_at'])
    assert decision['reason']


def test_scale_down_walkthrough_of_the_seed():
    """10 concurrent on 2: wait 30 minutes from the first decision, then 1."""
    state = None
    for minute in range(0, 31):
        now = NOW + minute * 60
        decision = decide(current=2, concurrency=10, now=now, state=state, scale_down_delay='30m')
        state = dict(low_since=decision['low_since'], scale_down_at=decision['scale_down_at'], current=2)
        assert decision['apply'] == (minute == 30), (minute, decision['reason'])
    assert decision['desired'] == 1


@pytest.mark.parametrize('value, seconds', [
    (1800, 1800), ('1800', 1800), ('90s', 90), ('30m', 1800), ('1h', 3600), ('1h30m', 5400), ('0', 0),
    (' 20s ', 20), (2.5, 2.5),
])
def test_scale_down_delay_is_a_duration(value, seconds):
    assert decide(current=1, concurrency=10, now=NOW, scale_down_delay=value)['delay'] == seconds


@pytest.mark.parametrize('value', ['', 'soon', '-5', -1, '30 minutes', True, '5d'])
def test_a_bad_scale_down_delay_is_a_policy_error(value):
    with pytest.raises(PolicyError, match='scale_down_delay'):
        decide(current=1, concurrency=10, now=NOW, scale_down_delay=value)


@pytest.mark.parametrize('kwargs, message', [
    (dict(target_concurrency=0), 'target_concurrency must be greater than 0'),
    (dict(target_concurrency=-3), 'target_concurrency'),
    (dict(jobs_per_container=0), 'jobs_per_container must be greater than 0'),
    (dict(tolerance=1.5), 'tolerance'),
    (dict(deployment_type='huge'), 'unknown deployment type'),
    (dict(current=-1), 'current replicas'),
])
def test_bad_input_is_a_clear_error(kwargs, message):
    args = dict(current=1, concurrency=10, now=NOW)
    args.update(kwargs)
    with pytest.raises(PolicyError, match=message):
        decide(**args)


@pytest.mark.parametrize('kind, low, high, bounds', [
    ('production', 1, None, [1, 10]),
    ('production', 2, 6, [2, 6]),
    ('production', 10, 10, [10, 10]),
    ('development', 1, None, [1, 1]),
    ('development', None, 1, [1, 1]),
])
def test_bounds_are_the_deployment_models(kind, low, high, bounds):
    decision = decide(current=1, concurrency=10, now=NOW, deployment_type=kind, min_replicas=low, max_replicas=high)
    assert decision['bounds'] == bounds


@pytest.mark.parametrize('kind, low, high, limit', [
    ('production', 2, 12, 10),
    ('production', 0, 4, 10),
    ('production', 5, 2, 10),
    ('production', 1, 0, 10),
    ('development', 1, 5, 1),
])
def test_bounds_the_model_refuses_are_refused(kind, low, high, limit):
    message = ('replicas must satisfy 1 <= min_replicas <= max_replicas <= %d for a %s deployment (got %d..%d)'
               % (limit, kind, low, high))
    with pytest.raises(PolicyError, match=re.escape(message)):
        decide(current=1, concurrency=10, now=NOW, deployment_type=kind, min_replicas=low, max_replicas=high)
