# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The autoscaling policy: measured load plus the previous decision's timer in,
the desired container count and the new timer out. Pure: no I/O, no clock.

Rules (seed 001, "Autoscaling", and the queue-depth metric of newer documents):

- desired = max(ceil(concurrency / target_concurrency), ceil(pending / jobs_per_container)),
  clamped to [min_replicas, max_replicas]: the deployment model's bounds
  (deployment.replica_bounds: 1 <= min <= max <= the type's limit, so a
  development deployment runs at most 1).
- Tolerance: a rule whose ratio (concurrency / target) lies within
  `tolerance * current` of the current count asks for the current count, so
  that noise around a threshold does not move it.
- Scale up at once (and forget any scale-down timer).
- A lower count starts the timer (low_since = now, scale_down_at = now + delay);
  once it has expired, the recomputed count, if still lower, is applied.
  A count back at (or above) the current one meanwhile resets the timer.
- Missing or stale metrics never scale down: the decision holds (it may still
  scale up to min_replicas).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math

from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment import (
    AUTOSCALE_DEFAULTS,
    DeploymentError,
    parse_duration,
    replica_bounds,
    type_limits,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

DEFAULT_MAX_METRICS_AGE = 120


class PolicyError(StoreError):
    """Bad input to the policy: the message says which and what to do."""


def _delay(scale_down_delay):
    """Seconds of the scale-down delay, read by the deployment model."""
    try:
        return parse_duration(scale_down_delay)
    except ValueError as exc:
        raise PolicyError(str(exc))


def _bounds(deployment_type, min_replicas, max_replicas):
    """(min, max) replicas as the deployment model bounds them."""
    try:
        type_limits(deployment_type)
    except DeploymentError as exc:
        raise PolicyError(str(exc))
    bounds, problem = replica_bounds(deployment_type, min_replicas, max_replicas)
    if problem:
        raise PolicyError(problem)
    return bounds


def _want(ratio, current, tolerance):
    """Containers one rule asks for: ceil(ratio), or current when within tolerance."""
    ratio = round(ratio, 6)  # 30.000000001 / 10 is 3, not 4
    if current > 0 and abs(ratio - current) <= tolerance * current:
        return current, True
    return int(math.ceil(ratio)), False


def decide(current, concurrency, now, pending=None, metrics_age=None, state=None,
           target_concurrency=AUTOSCALE_DEFAULTS['target_concurrency'], jobs_per_container=None,
           min_replicas=1, max_replicas=None, deployment_type='production',
           tolerance=AUTOSCALE_DEFAULTS['autoscale_tolerance'],
           scale_down_delay=AUTOSCALE_DEFAULTS['scale_down_delay'], max_metrics_age=DEFAULT_MAX_METRICS_AGE):
    """One decision.

    current: containers of the serving revision running now.
    concurrency: total concurrent requests (sum over servers of the window's
        average current sessions), or None when not measured.
    pending: pending runs, or None; used when jobs_per_container is set (the queue rule).
    metrics_age: seconds since the measurement ended (None: fresh).
    state: the previous decision's timer: dict(low_since, scale_down_at, current), or None.
    now, low_since, scale_down_at: seconds (any epoch, the same clock).

    min_replicas, max_replicas, deployment_type: bounded as the deployment
        model bounds an entry; bounds it refuses raise PolicyError.

    Returns dict(desired, apply, reason, low_since, scale_down_at, computed,
    rules, bounds, delay, complete).
    """
    if target_concurrency is None or target_concurrency <= 0:
        raise PolicyError('target_concurrency must be greater than 0 (got %r)' % (target_concurrency,))
    if jobs_per_container is not None and jobs_per_container <= 0:
        raise PolicyError('jobs_per_container must be greater than 0 (got %r)' % (jobs_per_container,))
    if tolerance is None or tolerance < 0 or tolerance >= 1:
        raise PolicyError('tolerance must be at least 0 and below 1, a fraction such as 0.1 (got %r)'
                          % (tolerance,))
    if current is None or current < 0:
        raise PolicyError('current replicas must be 0 or more (got %r)' % (current,))
    delay = _delay(scale_down_delay)
    low, high = _bounds(deployment_type, min_replicas, max_replicas)
    state = state or {}
    # A timer started for another container count (someone scaled by hand) no longer applies.
    if state.get('current') is not None and state.get('current') != current:
        state = {}
    low_since, scale_down_at = state.get('low_since'), state.get('scale_down_at')

    queue_rule = jobs_per_container is not None
    stale = metrics_age is not None and metrics_age > max_metrics_age
    missing = []
    if concurrency is None:
        missing.append('concurrency')
    if queue_rule and pending is None:
        missing.append('pending runs')
    complete = not missing and not stale

    rules = {}
    wanted = []
    if concurrency is not None and not stale:
        ratio = float(concurrency) / target_concurrency
        want, held = _want(ratio, current, tolerance)
        rules['concurrency'] = dict(ratio=round(ratio, 3), wants=want, within_tolerance=held)
        wanted.append(want)
    if queue_rule and pending is not None and not stale:
        ratio = float(pending) / jobs_per_container
        want, held = _want(ratio, current, tolerance)
        rules['queue'] = dict(ratio=round(ratio, 3), wants=want, within_tolerance=held)
        wanted.append(want)
    raw = max(wanted) if wanted else current
    computed = max(low, min(high, raw))
    # Outside [min, max] (bounds changed): move into them whatever the metrics say.
    bounded = max(low, min(high, current))

    def result(desired, apply, reason, since=None, at=None):
        return dict(desired=desired, apply=apply, reason=reason, low_since=since, scale_down_at=at,
                    computed=computed, rules=rules, bounds=[low, high], delay=delay,
                    complete=complete)

    why = ', '.join('%s ratio %s wants %d' % (name, r['ratio'], r['wants'])
                    for name, r in sorted(rules.items())) or 'no metrics'
    cap_note = ''
    if raw > high:
        cap_note = '; capped at max %d' % high
    elif raw < low:
        cap_note = '; raised to min %d' % low

    if not complete:
        what = ('metrics are %d s old (more than %d s)' % (metrics_age, max_metrics_age) if stale
                else 'no measurement of %s' % ' and '.join(missing))
        if computed > current or bounded > current:
            desired = max(computed, bounded)
            return result(desired, True, 'scale up %d -> %d (%s%s); %s, so no scale-down is considered'
                          % (current, desired, why, cap_note, what))
        if bounded < current:
            return result(bounded, True, 'scale down %d -> %d: above max_replicas %d' % (current, bounded, high))
        return result(current, False, 'hold at %d: %s; missing or stale metrics never scale down'
                      % (current, what), low_since, scale_down_at)

    if computed > current:
        return result(computed, True, 'scale up %d -> %d at once (%s%s)' % (current, computed, why, cap_note))
    if computed == current:
        note = ' (scale-down timer reset)' if low_since is not None else ''
        return result(current, False, 'steady at %d (%s%s)%s' % (current, why, cap_note, note))
    # computed < current
    if current > high:
        return result(computed, True, 'scale down %d -> %d: above max_replicas %d' % (current, computed, high))
    if delay <= 0:
        return result(computed, True, 'scale down %d -> %d (%s%s); no scale-down delay'
                      % (current, computed, why, cap_note))
    if low_since is None or scale_down_at is None:
        at = now + delay
        return result(current, False, 'below: %d would do (%s%s); scale down after %d s if still below'
                      % (computed, why, cap_note, delay), now, at)
    if now < scale_down_at:
        return result(current, False, 'below since %d s: %d would do (%s%s); scale down in %d s if still below'
                      % (now - low_since, computed, why, cap_note, scale_down_at - now), low_since, scale_down_at)
    return result(computed, True, 'scale down %d -> %d: below for %d s, recomputed (%s%s)'
                  % (current, computed, now - low_since, why, cap_note))
