# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's state as Prometheus metrics, from what one reconcile or
autoscale tick observed and decided (no call of its own): tick_samples picks
the values, exposition writes them in the text format node_exporter's
textfile collector reads (no timestamps: the collector refuses them). Pure.

METRICS is the one list of what is exported: docs/monitoring.md, the Grafana
dashboard and the alert rules use these names only (a unit test checks)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re
from datetime import datetime, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# (name, type, help, label names), in the order they are written.
METRICS = (
    ('langgraph_tick_timestamp_seconds', 'gauge',
     'When the reconcile or autoscale tick that wrote these metrics observed the fleet (control database clock).',
     ('action',)),
    ('langgraph_deployment_serving_revision', 'gauge',
     'Revision number the deployment serves; 0 while none is deployed.', ('deployment',)),
    ('langgraph_deployment_desired_replicas', 'gauge',
     'Containers the deployment should run after the tick (the count reconcile restores).', ('deployment',)),
    ('langgraph_deployment_running_replicas', 'gauge',
     'Running containers of the serving revision on the app hosts that answered.', ('deployment',)),
    ('langgraph_deployment_servers_up', 'gauge',
     'Servers of the deployment a load balancer reports UP.', ('deployment', 'load_balancer')),
    ('langgraph_deployment_sessions', 'gauge',
     'Current sessions on the deployment\'s servers, per load balancer (the autoscaler\'s window average).',
     ('deployment', 'load_balancer')),
    ('langgraph_deployment_pending_runs', 'gauge',
     'Runs waiting in the deployment\'s database, as the last autoscale tick counted them.', ('deployment',)),
    ('langgraph_deployment_running_runs', 'gauge',
     'Runs executing in the deployment\'s database, as the last autoscale tick counted them.', ('deployment',)),
    ('langgraph_deployment_scale_decision_info', 'gauge',
     'The last autoscaler decision: decision is up, down, steady, waiting (a lower count must hold first) or hold '
     '(metrics missing); reason is the head of its reason (the whole one is in the control database).',
     ('deployment', 'decision', 'reason')),
    ('langgraph_deployment_scale_decision_timestamp_seconds', 'gauge',
     'When the last autoscaler decision was made.', ('deployment',)),
    ('langgraph_deployment_scale_decision_desired_replicas', 'gauge',
     'Containers the last autoscaler decision wanted.', ('deployment',)),
    ('langgraph_deployment_last_used_timestamp_seconds', 'gauge',
     'When the deployment last served a request, as the load balancers\' request counters recorded it.',
     ('deployment',)),
    ('langgraph_deployment_lock_held', 'gauge',
     'Whether another job (a roll-out, a scale, an unfinished run) holds the deployment\'s deploy lock.',
     ('deployment',)),
    ('langgraph_deployment_lock_info', 'gauge',
     'Who holds the deployment\'s deploy lock and for what, while another job holds it.',
     ('deployment', 'holder', 'purpose')),
    ('langgraph_deployment_lock_since_timestamp_seconds', 'gauge',
     'Since when the other job holds the deployment\'s deploy lock.', ('deployment',)),
    ('langgraph_deployment_lock_expiry_timestamp_seconds', 'gauge',
     'When the lease of the deploy lock ends unless its job renews it; then the next run takes it over.',
     ('deployment',)),
    ('langgraph_deployment_tick_failed', 'gauge',
     'Whether the tick failed to carry out its plan for the deployment (the tick\'s output says why).',
     ('deployment',)),
    ('langgraph_host_up', 'gauge',
     'Whether the host answered the tick (1) or not (0); group is app or lb.', ('host', 'group')),
    ('langgraph_host_containers', 'gauge',
     'Managed containers on an app host that answered, by state (running or stopped).', ('host', 'state')),
    ('langgraph_host_last_seen_timestamp_seconds', 'gauge',
     'When the host last answered a run.', ('host',)),
)

NAMES = tuple(m[0] for m in METRICS)
LABELS = dict((m[0], m[3]) for m in METRICS)
REASON_HEAD = 80
ACTIONS = ('reconcile', 'autoscale')


def escape_label_value(value):
    """A label value as the text format writes it: backslash, double quote and line feed escaped."""
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def escape_help(text):
    """HELP text escaped as the text format wants: backslash and line feed."""
    return str(text).replace('\\', '\\\\').replace('\n', '\\n')


def format_value(value):
    """A sample value in the text format (integers without a fraction; NaN and infinities by name)."""
    if isinstance(value, bool):
        return '1' if value else '0'
    value = float(value)
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return '+Inf' if value > 0 else '-Inf'
    if value == int(value) and abs(value) < 1e15:
        return '%d' % int(value)
    return repr(value)


def epoch(value):
    """Epoch seconds of a number or an ISO 8601 time as the control database returns them; None stays None."""
    if value is None or isinstance(value, (int, float)):
        return value
    text = str(value).strip()
    if text.endswith('Z'):
        text = text[:-1] + '+00:00'
    try:
        parsed = datetime.fromisoformat(text)
    except (AttributeError, ValueError):
        return None
    if parsed.tzinfo is None:
        return None  # a time without its zone cannot be placed on the clock
    return (parsed - EPOCH).total_seconds()


def decision_kind(decision):
    """up, down, steady, waiting or hold from a decision {current, desired, reason, low_since}."""
    current, desired = decision.get('current'), decision.get('desired')
    if current is not None and desired is not None and desired != current:
        return 'up' if desired > current else 'down'
    reason = decision.get('reason') or ''
    if reason.startswith('hold'):
        return 'hold'
    if decision.get('low_since') is not None or reason.startswith('below'):
        return 'waiting'
    return 'steady'


def reason_head(reason):
    """The part of a decision's reason that names it, without the measurements that change every tick
    ('scale up 1 -> 4 at once (concurrency ratio 3.5 wants 4)' -> 'scale up 1 -> 4 at once'), so that the
    info metric's series change with the decision only."""
    head = re.split(r'[(:;]', reason or '', maxsplit=1)[0].strip()
    head = re.sub(r'\s+since \d+ s$', '', head)
    return head[:REASON_HEAD]


def _decision(name, plan, control):
    """This tick's decision for the deployment, else the last one recorded, as
    {current, desired, reason, low_since, decided_at}; None when there is none."""
    for event in (plan.get('record') or {}).get('scale_events') or []:
        if event.get('deployment') == name:
            return dict(current=event.get('current'), desired=event.get('desired'), reason=event.get('reason'),
                        low_since=event.get('low_since'), decided_at=control.get('now'))
    last = ((control.get('deployments') or {}).get(name) or {}).get('scale')
    if not last:
        return None
    return dict(current=last.get('current_replicas'), desired=last.get('desired'), reason=last.get('reason'),
                low_since=last.get('low_since'), decided_at=last.get('decided_at'))


def _queue(state):
    """(pending, running) runs: this tick's count, else the one the last decision used; None where unknown."""
    queue = state.get('queue') or {}
    if queue.get('pending') is not None:
        return queue.get('pending'), queue.get('running')
    inputs = (state.get('scale') or {}).get('inputs') or {}
    return inputs.get('pending'), inputs.get('running')


def _desired(entry, state):
    if entry.get('kind') not in ('busy', 'skipped') and entry.get('replicas') is not None:
        return entry['replicas']
    return state.get('replicas')


def tick_samples(action, plan, run, control, apps, lbs):
    """{metric name: [(labels, value)]} of one tick.

    action: reconcile or autoscale.
    plan: the fleet_plan result's plan (its deployments are the tick's; their decisions and counts).
    run: the run as fleet_progress left it (run['failed']: the deployments the tick failed), or None.
    control: control_state step=begin's result (now, deployments, busy, hosts), each deployment's state with
      the tick's deployment_usage result merged in as usage (fleet_plan's with_usage).
    apps, lbs: the app hosts and load balancers as plugin_utils.fleet reads them ({name, reachable, containers}
      and {name, reachable, backends})."""
    if action not in ACTIONS:
        raise ValueError('metrics are written by the %s ticks, not by %r' % (' and '.join(ACTIONS), action))
    now = control.get('now')
    states = control.get('deployments') or {}
    busy = control.get('busy') or {}
    failed = (run or {}).get('failed') or {}
    samples = dict((name, []) for name in NAMES)

    def add(name, labels, value):
        if value is not None:
            samples[name].append((labels, value))

    if now is not None:
        add('langgraph_tick_timestamp_seconds', dict(action=action), now)
    for name, entry in sorted((plan.get('deployments') or {}).items()):
        state = states.get(name) or {}
        d = dict(deployment=name)
        serving = state.get('serving')
        add('langgraph_deployment_serving_revision', d, serving or 0)
        add('langgraph_deployment_desired_replicas', d, _desired(entry, state))
        add('langgraph_deployment_running_replicas', d, sum(
            1 for host in apps if host['reachable'] for c in host.get('containers') or []
            if c['deployment'] == name and c['running'] and serving is not None and c['revision'] == serving))
        for lb in lbs:
            if not lb['reachable']:
                continue
            servers = ((lb.get('backends') or {}).get(name) or {}).get('servers') or {}
            labels = dict(deployment=name, load_balancer=lb['name'])
            add('langgraph_deployment_servers_up', labels, sum(1 for s in servers.values() if s.get('status') == 'UP'))
            sessions = sum(float(s.get('scur') or 0) for s in servers.values())
            add('langgraph_deployment_sessions', labels, round(sessions, 3))
        pending, running = _queue(state)
        add('langgraph_deployment_pending_runs', d, pending)
        add('langgraph_deployment_running_runs', d, running)
        decision = _decision(name, plan, control)
        if decision:
            add('langgraph_deployment_scale_decision_info',
                dict(d, decision=decision_kind(decision), reason=reason_head(decision.get('reason'))), 1)
            add('langgraph_deployment_scale_decision_timestamp_seconds', d, decision.get('decided_at'))
            add('langgraph_deployment_scale_decision_desired_replicas', d, decision.get('desired'))
        add('langgraph_deployment_last_used_timestamp_seconds', d, (state.get('usage') or {}).get('last_used_at'))
        lock = busy.get(name)
        add('langgraph_deployment_lock_held', d, 1 if lock else 0)
        if lock:
            add('langgraph_deployment_lock_info', dict(d, holder=lock.get('holder') or '',
                                                       purpose=lock.get('purpose') or ''), 1)
            add('langgraph_deployment_lock_since_timestamp_seconds', d, epoch(lock.get('since')))
            add('langgraph_deployment_lock_expiry_timestamp_seconds', d, epoch(lock.get('expires_at')))
        add('langgraph_deployment_tick_failed', d, 1 if name in failed else 0)
    known = control.get('hosts') or {}
    for group, hosts in (('app', apps), ('lb', lbs)):
        for host in hosts:
            add('langgraph_host_up', dict(host=host['name'], group=group), 1 if host['reachable'] else 0)
    for host in sorted(dict((h['name'], h) for h in list(apps) + list(lbs)).values(), key=lambda h: h['name']):
        seen = now if host['reachable'] else epoch((known.get(host['name']) or {}).get('last_seen'))
        add('langgraph_host_last_seen_timestamp_seconds', dict(host=host['name']), seen)
    for host in apps:
        if host['reachable']:
            containers = host.get('containers') or []
            running = sum(1 for c in containers if c['running'])
            add('langgraph_host_containers', dict(host=host['name'], state='running'), running)
            add('langgraph_host_containers', dict(host=host['name'], state='stopped'), len(containers) - running)
    return samples


def exposition(samples):
    """The text format of {metric name: [(labels, value)]}: HELP and TYPE of every metric that has samples,
    then its samples, in METRICS order and sorted by labels; each line ends with a line feed."""
    lines = []
    for name, kind, text, label_names in METRICS:
        rows = samples.get(name) or []
        if not rows:
            continue
        lines.append('# HELP %s %s' % (name, escape_help(text)))
        lines.append('# TYPE %s %s' % (name, kind))
        rendered = []
        for labels, value in rows:
            unknown = sorted(set(labels) - set(label_names))
            if unknown:
                raise ValueError('%s has no label %s' % (name, ', '.join(unknown)))
            pairs = ','.join('%s="%s"' % (key, escape_label_value(labels[key])) for key in label_names
                             if key in labels)
            rendered.append('%s%s %s' % (name, '{%s}' % pairs if pairs else '', format_value(value)))
        lines.extend(sorted(rendered))
    return ''.join(line + '\n' for line in lines)


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {'\\\\': '\\', '\\"': '"', '\\n': '\n'}


def _unescape(value):
    return re.sub(r'\\[\\"n]', lambda m: _UNESCAPE[m.group(0)], value)


def sample_labels(line):
    """(metric name, {label: value}) of a sample line of the text format, or None for other lines."""
    found = _SAMPLE.match(line.strip())
    if not found:
        return None
    return found.group(1), dict((k, _unescape(v)) for k, v in _LABEL.findall(found.group(2) or ''))


def families_of(text):
    """[(name, [comment lines], [sample lines])] of a text exposition, in its order."""
    families = []
    by_name = {}
    for line in (text or '').splitlines():
        if not line.strip():
            continue
        if line.startswith('#'):
            words = line.split(None, 3)
            if len(words) < 3 or words[1] not in ('HELP', 'TYPE'):
                continue
            name = words[2]
            if name not in by_name:
                by_name[name] = (name, [], [])
                families.append(by_name[name])
            by_name[name][1].append(line)
            continue
        parsed = sample_labels(line)
        if parsed is None:
            continue
        name = parsed[0]
        if name not in by_name:
            by_name[name] = (name, [], [])
            families.append(by_name[name])
        by_name[name][2].append(line)
    return families


def merge_exposition(old, new, deployments):
    """new, which covers only the given deployments (a tick limited to them), with the samples of old that
    belong to other deployments (label deployment) kept under their metric. Samples without a deployment
    label (hosts, the tick) are new's alone."""
    covered = set(deployments)
    kept = {}
    for name, comments, lines in families_of(old):
        for line in lines:
            labels = sample_labels(line)[1]
            if 'deployment' in labels and labels['deployment'] not in covered:
                kept.setdefault(name, (comments, []))[1].append(line)
    out = []
    seen = set()
    families = families_of(new) + [(name, comments, []) for name, (comments, dummy) in kept.items()]
    for name, comments, lines in sorted(families, key=lambda f: NAMES.index(f[0]) if f[0] in NAMES else len(NAMES)):
        if name in seen:
            continue
        seen.add(name)
        rows = lines + (kept[name][1] if name in kept else [])
        if rows:
            out.extend(comments)
            out.extend(sorted(set(rows)))
    return ''.join(line + '\n' for line in out)
