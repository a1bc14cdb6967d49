# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's plan: desired state (the deployment entries, the action) and the
observed fleet in, every step of the run out. Pure: no I/O, no clock.

The steps are exactly the arguments of the executors (docs/contracts.md, "The
fleet control loop"), grouped by host, so that each step is one module call
per host whatever the number of deployments:

  pulls       {app host: [{image, always}]}
  record      control_state step=prepare: new revisions, statuses, pins, scale events
  stores      deployment_stores: the deployments that start containers (or are purged)
  migrations  {app host: [{deployment, revision, image, command, env}]}
  waves       [{start: {app host: [container]}, lb: [backend]}]: new containers
              start beside the old ones, every load balancer adds them and drains
              the old ones
  stop        {app host: [container name]}: the old containers, once no LB sends them anything
  purge       deployment_stores entries (state absent) of deleted deployments, after their containers stopped
  undo        {deployment: {lb: backend, stop: {host: [name]}}}: what brings a
              deployment that failed back to its serving revision
  finish      statuses once the waves are done
  prune       {app host: [image]}: images older than the newest revisions kept

Old containers are only stopped after every wave, so undoing a deployment
that fails in any wave is putting its old servers back into rotation and
removing its new containers.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math

from ansible_collections.selfhost.langgraph.plugins.module_utils import placement as pl
from ansible_collections.selfhost.langgraph.plugins.module_utils.app_host import pinned_reference
from ansible_collections.selfhost.langgraph.plugins.module_utils.autoscale_policy import decide
from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment import TYPES
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import container_name, server_name
from ansible_collections.selfhost.langgraph.plugins.module_utils.revision_plan import fingerprint
from ansible_collections.selfhost.langgraph.plugins.module_utils.tracing import ENDPOINT_NAMES, PROJECT_NAMES, TRACING_NAMES

NEVER_DEPLOYED = ('created', 'rolling_out')


class PlanError(StoreError):
    """The plan cannot be made: the message lists every reason; nothing was changed."""


# --- small pure decisions ------------------------------------------------------------------

# The tracing variables a rollback takes from today's settings, as it takes today's secrets.
TRACING_ENV = frozenset(TRACING_NAMES + PROJECT_NAMES + ENDPOINT_NAMES)

# What a roll-out that failed after some waves switched does with them: returns them to the serving
# revision (undo), or leaves them as they failed for inspection (keep).
ON_FAILURE = ('undo', 'keep')


def parse_batch_size(value):
    """('count', n) or ('percent', p) from 1, '2', '25%'; raises ValueError."""
    text = str(value).strip()
    if text.endswith('%'):
        percent = float(text[:-1])
        if not 0 < percent <= 100:
            raise ValueError('deploy_batch_size must be a count of 1 or more or a percentage from 1%% to 100%%, '
                             'not %r' % (value,))
        return 'percent', percent
    count = int(text)
    if count < 1:
        raise ValueError('deploy_batch_size must be a count of 1 or more or a percentage such as 50%%, not %r'
                         % (value,))
    return 'count', count


def chunk_size(batch, replicas):
    """New containers of one deployment started per wave."""
    kind, value = batch
    if kind == 'count':
        return max(1, value)
    return max(1, int(math.ceil(replicas * value / 100.0 - 1e-9)))


def split(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


def old_removed_by_wave(old_count, waves):
    """How many old containers leave after each wave: in proportion, the rest in the last."""
    return [int(math.floor(old_count * (i + 1) / float(waves))) for i in range(waves)]


def desired_count(recorded, observed, low, high):
    """A deployment's container count: the one recorded (by scale, the autoscaler or the last
    roll-out), else what runs, else min_replicas; within its bounds. So a host that does not
    answer never lowers it: its replicas are placed elsewhere instead."""
    count = recorded if recorded is not None else (observed or low)
    return min(max(count, low), high)


def fail_stale_rollouts(history, taken_over=None):
    """(history, statuses): revisions still rolling_out belong to a run that is gone (this run
    holds the lock), so they are failed, with why, before anything else is decided."""
    fixed, statuses = [], []
    for revision in history:
        if revision['status'] == 'rolling_out':
            why = 'its run (%s) ended before it finished' % (revision.get('created_by') or 'unknown')
            if taken_over:
                why += '; its lease (%s) expired at %s' % (taken_over.get('holder'), taken_over.get('expires_at'))
            revision = dict(revision, status='failed', status_reason=why)
            statuses.append(dict(number=revision['number'], status='failed', reason=why))
        fixed.append(revision)
    return fixed, statuses


def rollout_target(deployment, history, serving):
    """The revision a deploy rolls out: (revision dict, is_new).

    The serving revision when it already has this image and environment (a re-run
    changes nothing); the newest when it has them and never finished (a run that
    died is resumed); otherwise a new revision numbered after the newest."""
    wanted = (deployment['image'], deployment['fingerprint'])
    for revision in history:
        if revision['number'] == serving and (revision['image'], revision['env_fingerprint']) == wanted:
            return revision, False
    newest = history[0] if history else None
    if newest and (newest['image'], newest['env_fingerprint']) == wanted \
            and newest['status'] not in ('failed', 'rolled_back', 'superseded'):
        return newest, False
    number = (newest['number'] if newest else 0) + 1
    return dict(number=number, image=deployment['image'], env=dict(deployment['env']),
                secret_names=list(deployment['secret_names']), env_fingerprint=deployment['fingerprint'],
                status='new', image_digest=None), True


def rollback_target(name, history, serving, wanted_number=None):
    """(revision, problem) of a rollback: the revision asked for, or the one served before."""
    if wanted_number:
        for revision in history:
            if revision['number'] == wanted_number:
                return revision, None
        return None, '%s has no revision %d (its newest: %s)' % (
            name, wanted_number, ', '.join(str(r['number']) for r in history[:5]) or 'none')
    if serving is None:
        return None, '%s has no deployed revision to roll back from; deploy it first' % name
    for revision in history:
        if revision['number'] < serving and revision['status'] in ('superseded', 'rolled_back'):
            return revision, None
    return None, ('%s has no earlier deployed revision to roll back to; name one with -e revision=N'
                  % name)


def rollback_revision(deployment, target, history):
    """(revision, is_new) a rollback to target runs. The target itself when it ran today's secret values,
    tracing settings and Redis authentication; otherwise a new revision with the target's image, by its
    digest, and its environment, with today's secret values and tracing settings: the old values are kept
    nowhere (and the old key may be revoked), and a revision never changes."""
    env = dict((k, v) for k, v in (target.get('env') or {}).items() if k not in TRACING_ENV)
    env.update((k, v) for k, v in deployment['env'].items() if k in TRACING_ENV)
    today = fingerprint(target['image'], env, deployment['secret_names'], deployment.get('secrets_mac'))
    if today == target.get('env_fingerprint'):
        return target, False
    return dict(number=history[0]['number'] + 1, image=target['image'], image_digest=target.get('image_digest'),
                env=env, secret_names=list(deployment['secret_names']),
                env_fingerprint=today, status='new', rollback_of=target['number']), True


def pinned(revision):
    """What a revision's containers run: its image by the digest recorded when it was created, so a
    tag pushed again later never changes a rollback or a scale-up; the tag for a revision not yet
    pulled (pinned once its pull reports the digest) or recorded before digests were."""
    digest = revision.get('image_digest')
    if not digest:
        return revision['image']
    if '@' in digest:  # recorded as a whole reference (repo@sha256:...) by earlier versions
        return digest
    return pinned_reference(revision['image'], digest)


def serving_revision(history, serving_number):
    for revision in history:
        if revision['number'] == serving_number:
            return revision
    return None


def assign_store_host(kind, deployment, recorded, entry_host, hosts, counts, control_host, legacy):
    """(host, is_new_pin, problem) of a deployment's Postgres or Redis host.

    recorded: the pinned host or None; legacy: the deployment has stores made
    before pins were recorded (they live on the first host of the group then).
    counts: {host: deployments} updated with new pins."""
    if recorded:
        if entry_host and entry_host != recorded:
            return recorded, False, ('%s lives on %s %s; moving it to %s is not supported: remove %s_host from its '
                                     'entry or set it to %s' % (deployment, kind, recorded, entry_host, kind,
                                                                recorded))
        return recorded, False, None
    if entry_host:
        host = entry_host
    elif legacy:
        host = control_host if kind == 'postgres' else hosts[0]
    elif not hosts:
        return None, False, 'there is no %s host (group langgraph_%s is empty)' % (kind, kind)
    else:
        host = min(hosts, key=lambda h: (counts.get(h, 0), hosts.index(h)))
    counts[host] = counts.get(host, 0) + 1
    return host, True, None


# --- the fleet as observed ------------------------------------------------------------------

class Fleet(object):
    """The observed fleet, with the lookups the planner needs."""

    def __init__(self, app_hosts, lb_hosts, port_range):
        self.app = app_hosts  # [{name, reachable, address, drain, capacity: (cpus, mem), containers, used_ports, images}]
        self.lbs = lb_hosts   # [{name, reachable, backends}]
        self.port_range = port_range
        self.by_name = dict((h['name'], h) for h in app_hosts)
        self.order = dict((h['name'], i) for i, h in enumerate(app_hosts))
        self._by_deployment = {}
        for host in app_hosts:
            if host['reachable']:
                for c in host.get('containers') or []:
                    self._by_deployment.setdefault(c['deployment'], []).append((host['name'], c))
        self._taken_ports = dict((h['name'], set(h.get('used_ports') or [])
                                  | set(c['port'] for c in h.get('containers') or []))
                                 for h in app_hosts)

    def reachable_app(self):
        return [h for h in self.app if h['reachable']]

    def eligible(self, host):
        return host['reachable'] and not host.get('drain')

    def containers(self, deployment):
        """[(host name, container)] of a deployment on the hosts that answered."""
        return list(self._by_deployment.get(deployment, []))

    def next_ports(self, host, count):
        low, high = self.port_range
        taken = self._taken_ports[host]
        ports = []
        for port in range(low, high + 1):
            if len(ports) == count:
                break
            if port not in taken:
                ports.append(port)
        if len(ports) < count:
            raise PlanError('app host %s has no free port for %d more container(s) in %d-%d; widen '
                            'deploy_port_range' % (host, count, low, high))
        taken.update(ports)
        return ports

    def lb_servers(self, deployment):
        """{lb: backend view} of the load balancers that answered."""
        return dict((lb['name'], (lb.get('backends') or {}).get(deployment))
                    for lb in self.lbs if lb['reachable'])


def _container_size(container, types_by_deployment):
    """What a container takes: its own labels; for containers from before them, its deployment's
    type when known, else a production container's (the larger)."""
    if container.get('cpus') is not None and container.get('memory_mb') is not None:
        return float(container['cpus']), float(container['memory_mb'])
    kind = types_by_deployment.get(container['deployment'], 'production')
    limits = TYPES.get(kind, TYPES['production'])
    return limits['cpus'], limits['memory_mb']


# --- one deployment -------------------------------------------------------------------------

class DeploymentPlan(object):
    """What happens to one deployment in this run."""

    def __init__(self, deployment):
        self.deployment = deployment
        self.name = deployment['name']
        self.kind = 'unchanged'     # roll-out, scale, delete, repair, unchanged, busy, skipped
        self.reason = ''
        self.target = None          # the revision dict the containers run
        self.new_revision = False
        self.replicas = 0
        self.placement = {}
        self.keep = {}              # host -> [container] of the target that stay
        self.new = []               # [(host, start entry)]
        self.old = []               # [(host, container)] to drain and stop
        self.restart = []           # [(host, start entry)] kept but stopped: started again
        self.migration = None       # (host, entry)
        self.decision = None        # autoscale decision
        self.serving_number = None
        self.stale = []             # statuses failing the revisions of runs that are gone
        self.note = ''              # said with the deployment's line (a lock taken over)
        self.recorded_replicas = None

    @property
    def acts(self):
        return self.kind in ('roll-out', 'scale', 'delete', 'repair')


def _start_entry(deployment, revision, replica, port, image, env, fingerprint):
    return dict(deployment=deployment['name'], revision=revision, replica=replica, port=port, image=image,
                cpus=deployment['cpus'], memory_mb=deployment['memory_mb'], env=dict(env),
                fingerprint=fingerprint)


def _server(host, address, revision, replica, port, state='ready'):
    return dict(name=server_name(host, revision, replica), address=address, port=port, state=state)


def plan_containers(dp, fleet, placement):
    """Fill dp.keep / dp.new / dp.old / dp.restart from the placement of dp.target."""
    d = dp.deployment
    number = dp.target['number']
    mine = fleet.containers(dp.name)
    for host_name, count in sorted(placement.items()):
        host = fleet.by_name[host_name]
        existing = sorted((c for h, c in mine if h == host_name and c['revision'] == number),
                          key=lambda c: (not c['running'], c['replica']))
        kept = existing[:count]
        dp.keep[host_name] = kept
        for c in kept:
            if not c['running']:
                dp.restart.append((host_name, _start_entry(d, number, c['replica'], c['port'], pinned(dp.target),
                                                           dp.target['env'], c.get('fingerprint'))))
        missing = count - len(kept)
        if missing > 0:
            taken = set(c['replica'] for h, c in mine if h == host_name and c['revision'] == number)
            replicas = []
            candidate = 1
            while len(replicas) < missing:
                if candidate not in taken:
                    replicas.append(candidate)
                candidate += 1
            for replica, port in zip(replicas, fleet.next_ports(host['name'], missing)):
                dp.new.append((host_name, _start_entry(d, number, replica, port, pinned(dp.target),
                                                       dp.target['env'], dp.target['env_fingerprint'])))
    # Names repeat across hosts (replica 1 on each): a container is its host and name.
    kept = set((h, c['name']) for h, cs in dp.keep.items() for c in cs)
    dp.old = [(h, c) for h, c in mine if (h, c['name']) not in kept]


def expected_servers(dp, fleet):
    """The LB servers of the deployment once the run is done."""
    servers = []
    number = dp.target['number']
    for host_name, containers in sorted(dp.keep.items()):
        address = fleet.by_name[host_name]['address']
        servers += [_server(host_name, address, number, c['replica'], c['port']) for c in containers]
    servers += [_server(h, fleet.by_name[h]['address'], e['revision'], e['replica'], e['port'])
                for h, e in dp.new]
    return sorted(servers, key=lambda s: s['name'])


def lb_in_shape(dp, fleet, expected, lb_port):
    """Whether every load balancer that answered serves exactly the expected servers, ready, with a frontend on
    lb_port, or none when lb_port is None (a deployment served by host name only, through the HTTPS edge)."""
    want = dict((s['name'], (s['address'], s['port'])) for s in expected)
    for view in fleet.lb_servers(dp.name).values():
        if not view or not view.get('backend') or bool(view.get('frontend')) != (lb_port is not None) \
                or view.get('bind_port') != lb_port:
            return False
        servers = view.get('servers') or {}
        have = dict((n, (s['address'], s['port'])) for n, s in servers.items())
        if have != want or any(s.get('state') != 'ready' for s in servers.values()):
            return False
    return True


# --- the run --------------------------------------------------------------------------------

def plan_run(request):
    """The whole run's plan, or PlanError listing every reason it cannot be made.

    request keys:
      action: deploy, rollback, scale, delete, reconcile or autoscale
      deployments: the selected normalized deployments (deployment.parse_deployments)
      all_deployments: every normalized deployment (types of containers on the hosts)
      app_hosts: [{name, reachable, address, drain, capacity (cpus, memory_mb), containers, used_ports, images}]
      lb_hosts: [{name, reachable, backends}]
      control: control_state step=begin result
      options: revision, replicas, batch_size, on_failure, port_range, keep_images, purge, holder, health_path,
               lb_health_path, postgres_hosts, redis_hosts, control_host, check_mode
    """
    action = request['action']
    options = request['options']
    control = request['control']
    fleet = Fleet(request['app_hosts'], request['lb_hosts'], options.get('port_range', [20000, 29999]))
    problems = []
    try:
        batch = parse_batch_size(options.get('batch_size', '100%'))
    except ValueError as exc:
        problems.append(str(exc))
        batch = ('percent', 100.0)
    if options.get('on_failure', 'undo') not in ON_FAILURE:
        problems.append('deploy_on_failure must be one of %s, not %r' % (', '.join(ON_FAILURE), options['on_failure']))

    states = control.get('deployments') or {}
    locked = set(control.get('locked') or [])
    busy = control.get('busy') or {}
    plans = []
    for d in request['deployments']:
        dp = DeploymentPlan(d)
        plans.append(dp)
        state = states.get(d['name']) or {}
        history = state.get('revisions') or []
        serving = state.get('serving')
        if d['name'] in busy:
            lock = busy[d['name']]
            dp.kind = 'busy'
            dp.reason = 'locked by %s since %s (%s)' % (lock.get('holder'), lock.get('since'), lock.get('purpose'))
            if action == 'autoscale':
                dp.reason = 'skipped this round: ' + dp.reason
            continue
        if not options.get('check_mode') and action != 'status' and d['name'] not in locked:
            dp.kind = 'busy'
            dp.reason = 'its deploy lock was not taken by this run'
            continue
        if not options.get('check_mode') and action != 'status':
            history, stale = fail_stale_rollouts(history, state.get('taken_over'))
            dp.stale = [dict(s, deployment=d['name']) for s in stale]
        if state.get('taken_over'):
            lock = state['taken_over']
            dp.note = 'took over the lock of %s (%s) whose lease expired at %s' % (
                lock.get('holder'), lock.get('purpose'), lock.get('expires_at'))
        dp.recorded_replicas = state.get('replicas')
        problem = _choose_target(dp, action, history, serving, state, fleet, options, control.get('now'))
        if problem:
            if problem.startswith('skip:'):
                dp.kind = 'skipped'
                dp.reason = problem[5:].strip()
            else:
                problems.append(problem)

    # Placement, all deployments together: what stays counts before anything new.
    types = dict((d['name'], d['type']) for d in request.get('all_deployments') or request['deployments'])
    acting = dict((dp.name, dp) for dp in plans if dp.target is not None and dp.kind not in ('busy', 'skipped'))
    fixed = {}
    for host in fleet.reachable_app():
        cpus = memory = 0.0
        for c in host.get('containers') or []:
            if c['deployment'] not in acting:
                size = _container_size(c, types)
                cpus, memory = cpus + size[0], memory + size[1]
        fixed[host['name']] = (cpus, memory)
    hosts = [pl.Host(h['name'], h['capacity'][0], h['capacity'][1], fleet.eligible(h)) for h in fleet.app]
    requests = [pl.Request(dp.name, dp.replicas, dp.deployment['cpus'], dp.deployment['memory_mb'],
                           _anchor(dp, fleet)) for dp in acting.values()]
    order = dict((dp.name, i) for i, dp in enumerate(plans))
    placement, shortfall = pl.place(sorted(requests, key=lambda r: order[r.name]), hosts, fixed)
    for name, missing in sorted(shortfall.items()):
        dp = acting[name]
        if dp.decision is not None:
            # The autoscaler caps at what fits and says so; it never refuses.
            dp.replicas -= missing
            dp.reason += '; capped at %d: the fleet has room for no more %s containers' % (
                dp.replicas, dp.deployment['type'])
            dp.decision['desired'] = dp.replicas
            dp.decision['reason'] += '; capped at %d by the fleet\'s capacity' % dp.replicas
            if dp.replicas == int(dp.decision.get('current') or 0):
                dp.decision['apply'] = False
            continue
        free = ', '.join('%s %.1f CPU %d MB' % (h, c, m) for h, (c, m) in sorted(pl.fleet_free(hosts).items()))
        problems.append('%s does not fit: %d of its %d %s containers (%d CPU, %d MB each) have no room; free on '
                        'the app hosts that take containers: %s. Add app hosts, raise their capacity '
                        '(langgraph_app_cpu_overcommit, ...) or lower its replicas'
                        % (name, missing, dp.replicas, dp.deployment['type'], dp.deployment['cpus'],
                           dp.deployment['memory_mb'], free or 'none'))
    if problems:
        raise PlanError('the run cannot be planned; nothing was changed:\n- ' + '\n- '.join(problems))

    for dp in acting.values():
        if dp.kind == 'delete':
            dp.old = fleet.containers(dp.name)
            continue
        try:
            plan_containers(dp, fleet, placement.get(dp.name, {}))
        except PlanError as exc:
            problems.append(str(exc))
    if problems:
        raise PlanError('the run cannot be planned; nothing was changed:\n- ' + '\n- '.join(problems))

    return _assemble(action, plans, fleet, batch, options, control)


def _anchor(dp, fleet):
    """Hosts (with counts) where the deployment already runs what may stay:
    containers of the target, and for a new target those of the serving revision."""
    counts = {}
    serving = dp.serving_number
    for host, c in fleet.containers(dp.name):
        if c['revision'] == dp.target['number'] or (c['revision'] == serving and dp.kind == 'roll-out'):
            counts[host] = counts.get(host, 0) + 1
    return counts


def _current_count(fleet, name, number, running_only=False):
    return len([c for h, c in fleet.containers(name)
                if c['revision'] == number and (c['running'] or not running_only)])


def _choose_target(dp, action, history, serving, state, fleet, options, now):
    """Sets the deployment's kind, target revision and replica count; returns a problem or None."""
    d = dp.deployment
    dp.serving_number = serving
    current = _current_count(fleet, dp.name, serving) if serving else 0
    low, high = d['min_replicas'], d['max_replicas']
    recorded = state.get('replicas')
    kept_count = desired_count(recorded, current, low, high)
    if action == 'delete':
        dp.kind = 'delete'
        dp.target = dict(number=0, image=None, env={}, env_fingerprint=None, status='deleted')
        return None
    if action in ('deploy', 'rollback'):
        if action == 'deploy':
            target, new = rollout_target(d, history, serving)
        else:
            target, problem = rollback_target(dp.name, history, serving, options.get('revision'))
            if problem:
                return problem
            missing = sorted(set(target.get('secret_names') or []) - set(d['secret_names']))
            if missing:
                return ('revision %d of %s needs the secrets %s; set them in the deployment\'s secrets'
                        % (target['number'], dp.name, ', '.join(missing)))
            target, new = rollback_revision(d, target, history)
        dp.target = dict(target)
        dp.new_revision = new
        dp.replicas = kept_count
        dp.kind = 'roll-out' if target['number'] != serving else 'unchanged'
        return None
    if serving is None:
        if action == 'scale':
            return '%s has no deployed revision to scale; deploy it first' % dp.name
        return 'skip: no deployed revision yet'
    dp.target = dict(serving_revision(history, serving) or dict(number=serving))
    dp.kind = 'unchanged'
    if action == 'scale':
        wanted = options.get('replicas')
        if wanted is None or not low <= wanted <= high:
            return ('%s cannot run %s container(s): it runs %d to %d (min_replicas..max_replicas)'
                    % (dp.name, wanted, low, high))
        dp.replicas = wanted
    elif action == 'autoscale':
        if not d['autoscale']:
            return 'skip: autoscale is off for it (autoscale: false)'
        # The count the deployment is at: the recorded one (a host that does not answer keeps it), else what runs.
        at = recorded if recorded is not None else _current_count(fleet, dp.name, serving, running_only=True)
        dp.decision = autoscale_decision(d, fleet, state, at, now)
        dp.replicas = dp.decision['desired'] if dp.decision['apply'] else kept_count
        dp.reason = dp.decision['reason']
    else:
        dp.replicas = kept_count
    return None


def autoscale_decision(d, fleet, state, current, now):
    """The policy's decision for one deployment from the observed load."""
    totals = []
    servers = {}
    sampled = []
    for lb, view in sorted(fleet.lb_servers(d['name']).items()):
        if not view or view.get('total') is None:
            continue
        totals.append(float(view['total']))
        sampled.append(view.get('sampled_at'))
        for name, s in (view.get('servers') or {}).items():
            servers['%s/%s' % (lb, name)] = dict(average=s.get('scur'), max=s.get('scur_max'),
                                                 status=s.get('status'))
    concurrency = round(sum(totals), 3) if totals else None
    ages = [now - t for t in sampled if isinstance(t, (int, float))]
    age = max([0.0] + ages) if ages and now is not None else None
    queue = state.get('queue') or {}
    pending = queue.get('pending') if d['autoscale_queue'] else None
    previous = state.get('scale') or None
    timer = None
    if previous:
        timer = dict(low_since=previous.get('low_since'), scale_down_at=previous.get('scale_down_at'),
                     current=previous.get('current_replicas'))
    decision = decide(current=current, concurrency=concurrency, now=now or 0, pending=pending, metrics_age=age,
                      state=timer, target_concurrency=d['target_concurrency'],
                      jobs_per_container=d['jobs_per_container'] if d['autoscale_queue'] else None,
                      min_replicas=d['min_replicas'], max_replicas=d['max_replicas'], deployment_type=d['type'],
                      tolerance=d['autoscale_tolerance'], scale_down_delay=d['scale_down_delay'])
    decision['current'] = current
    decision['inputs'] = dict(concurrency=concurrency, metrics_age=None if age is None else round(age, 3),
                              servers=servers, pending=pending, running=queue.get('running'),
                              queue_error=queue.get('error'), current=current, type=d['type'],
                              bounds=decision['bounds'], target_concurrency=d['target_concurrency'],
                              jobs_per_container=d['jobs_per_container'] if d['autoscale_queue'] else None,
                              tolerance=d['autoscale_tolerance'], scale_down_delay=decision['delay'],
                              rules=decision['rules'], previous_decision=previous.get('id') if previous else None)
    return decision


def _assemble(action, plans, fleet, batch, options, control):
    """Group every deployment's steps by host and wave."""
    states = control.get('deployments') or {}
    holder = options.get('holder')
    run = dict(action=action, on_failure=options.get('on_failure', 'undo'),
               deployments={}, pulls={}, migrations={}, waves=[], stop={}, undo={},
               prune={}, stores=[], purge=[], record=dict(revisions=[], statuses=[], assignments=[], scale_events=[]),
               finish=dict(statuses=[], replicas=[]), audit=[], summary=[],
               hosts=sorted(set([h['name'] for h in fleet.app] + [lb['name'] for lb in fleet.lbs])),
               addresses=dict((h['name'], h['address']) for h in fleet.app))
    pins = _pins(plans, control, options)
    waves = []

    for dp in plans:
        d = dp.deployment
        entry = dict(kind=dp.kind, reason=dp.reason, replicas=dp.replicas,
                     revision=dp.target['number'] if dp.target else None, new_revision=dp.new_revision, rollback_of=(dp.target or {}).get('rollback_of'),
                     serving=getattr(dp, 'serving_number', None))
        run['deployments'][dp.name] = entry
        run['record']['statuses'].extend(dp.stale)
        if dp.note:
            entry['note'] = dp.note
        if dp.decision is not None:
            run['record']['scale_events'].append(dict(
                deployment=dp.name, inputs=dp.decision['inputs'], current=dp.decision['current'],
                desired=dp.decision['desired'], reason=dp.decision['reason'],
                low_since=dp.decision['low_since'], scale_down_at=dp.decision['scale_down_at'],
                apply=bool(dp.decision['apply'])))
            entry['decision'] = dict(desired=dp.decision['desired'], apply=bool(dp.decision['apply']),
                                     reason=dp.decision['reason'])
            if not dp.decision['apply']:
                # The autoscaler applies only the counts that change; repairs are reconcile's.
                dp.kind = entry['kind'] = 'unchanged'
                continue
        if dp.kind in ('busy', 'skipped') or dp.target is None:
            continue
        if dp.kind == 'delete':
            _plan_delete(dp, options, run, waves, pins)
            continue

        expected = expected_servers(dp, fleet)
        changes = bool(dp.new or dp.old or dp.restart)
        if not changes and lb_in_shape(dp, fleet, expected, d['lb_port']):
            if dp.kind == 'roll-out':
                # Everything already runs the target (a run that died after its switch): record it deployed.
                _plan_revision_records(dp, action, run, holder, [], pins)
                entry['placement'] = dict((h, len(cs)) for h, cs in dp.keep.items() if cs)
            else:
                dp.kind = entry['kind'] = 'unchanged'
            continue
        if not changes:
            dp.kind = entry['kind'] = 'repair'
        elif dp.kind == 'unchanged':
            dp.kind = entry['kind'] = 'scale' if action in ('scale', 'autoscale') else 'repair'
        entry['kind'] = dp.kind
        if dp.kind == 'repair':
            entry['drift'] = drift(dp)

        starts = sorted(dp.new + dp.restart, key=lambda he: (fleet.order[he[0]], he[1]['replica']))
        size = chunk_size(batch, max(dp.replicas, 1))
        chunks = split(starts, size)
        old = sorted(dp.old, key=lambda hc: (hc[0] not in [h for h, e in chunks[0]], hc[0], hc[1]['name']))
        removed_after = old_removed_by_wave(len(old), len(chunks))
        started_so_far = [dict(_server(h, fleet.by_name[h]['address'], c['revision'], c['replica'], c['port']))
                          for h, cs in sorted(dp.keep.items()) for c in cs if c['running']]
        gone = 0
        for index, chunk in enumerate(chunks):
            while len(waves) <= index:
                waves.append(dict(start={}, lb=[]))
            wave = waves[index]
            for host, start in chunk:
                wave['start'].setdefault(host, []).append(start)
                started_so_far.append(_server(host, fleet.by_name[host]['address'], start['revision'],
                                              start['replica'], start['port']))
            leaving = old[gone:removed_after[index]]
            gone = removed_after[index]
            last = index == len(chunks) - 1
            servers = sorted(_unique_servers(started_so_far) + [
                _server(h, fleet.by_name[h]['address'], c['revision'], c['replica'], c['port'], 'absent')
                for h, c in leaving], key=lambda s: s['name'])
            wave['lb'].append(dict(deployment=dp.name, state='present', bind_port=d.get('lb_port'),
                                   health_path=options.get('lb_health_path', '/ok'), servers=servers, purge=last))
        for host, c in old:
            run['stop'].setdefault(host, []).append(c['name'])
        for host, start in starts:
            image = start['image']
            pulls = run['pulls'].setdefault(host, [])
            always = dp.new_revision and action == 'deploy'
            for pull in pulls:
                if pull['image'] == image:
                    pull['always'] = pull['always'] or always
                    break
            else:
                pulls.append(dict(image=image, always=always))
        entry['waves'] = len(chunks)
        entry['placement'] = dict((h, len(cs)) for h, cs in dp.keep.items() if cs)
        for host, start in dp.new:
            entry['placement'][host] = entry['placement'].get(host, 0) + 1
        entry['start'] = ['%s %s:%d' % (h, container_name(dp.name, e['revision'], e['replica']), e['port'])
                          for h, e in starts]
        entry['stop'] = ['%s %s' % (h, c['name']) for h, c in old]
        entry['lb_add'] = [_server(h, fleet.by_name[h]['address'], e['revision'], e['replica'], e['port'])['name']
                           for h, e in starts]
        entry['lb_drain'] = [server_name(h, c['revision'], c['replica']) for h, c in old]
        _plan_revision_records(dp, action, run, holder, starts, pins)
        _plan_migration(dp, states.get(dp.name) or {}, starts, run)
        _plan_undo(dp, fleet, options, run, starts)

    run['waves'] = waves
    run['prune'] = _plan_prune(plans, fleet, states, options)
    _plan_bookkeeping(action, plans, run)
    run['summary'] = summarize(run, plans)
    return run


def drift(dp):
    """What a repair finds out of step, in words."""
    found = []
    if dp.new:
        found.append('%d container(s) missing' % len(dp.new))
    if dp.restart:
        found.append('%d stopped container(s)' % len(dp.restart))
    if dp.old:
        found.append('%d container(s) of other revisions or beyond the count' % len(dp.old))
    return found or ['load balancers out of step']


def _plan_bookkeeping(action, plans, run):
    """The counts to record, and an audit entry per deployment the run changes."""
    for dp in plans:
        entry = run['deployments'][dp.name]
        if entry['kind'] in ('roll-out', 'scale', 'repair', 'delete'):
            replicas = 0 if entry['kind'] == 'delete' else dp.replicas
            run['finish']['replicas'].append(dict(deployment=dp.name, replicas=replicas))
            details = dict((k, entry.get(k)) for k in ('kind', 'revision', 'serving', 'replicas', 'placement',
                                                       'start', 'stop', 'drift', 'reason') if entry.get(k))
            run['audit'].append(dict(deployment=dp.name, action=action, details=details))
        elif entry['kind'] == 'unchanged' and dp.recorded_replicas is None and dp.replicas:
            # Deployments from before counts were recorded get theirs once.
            run['finish']['replicas'].append(dict(deployment=dp.name, replicas=dp.replicas))


def _unique_servers(servers):
    seen = {}
    for s in servers:
        seen[s['name']] = s
    return [seen[n] for n in sorted(seen)]


def _pins(plans, control, options):
    """{deployment: (postgres host, redis host, new pin)} of the deployments the run may act on."""
    states = control.get('deployments') or {}
    counts = dict((kind, dict(hosts)) for kind, hosts in (control.get('placement_counts') or {}).items())
    pins = {}
    problems = []
    for dp in plans:
        if dp.target is None or dp.kind in ('busy', 'skipped'):
            continue
        d = dp.deployment
        state = states.get(dp.name) or {}
        legacy = bool(state.get('database')) or state.get('redis_db') is not None
        hosts = {}
        new_pin = False
        for kind in ('postgres', 'redis'):
            host, new, problem = assign_store_host(
                kind, dp.name, state.get(kind + '_host'), d[kind + '_host'], options.get(kind + '_hosts') or [],
                counts.setdefault(kind, {}), options.get('control_host'), legacy)
            if problem:
                problems.append(problem)
            hosts[kind] = host
            new_pin = new_pin or new
        pins[dp.name] = (hosts['postgres'], hosts['redis'], new_pin)
    if problems:
        raise PlanError('the run cannot be planned; nothing was changed:\n- ' + '\n- '.join(problems))
    return pins


def _plan_revision_records(dp, action, run, holder, starts, pins):
    """Revision rows, statuses, pins and stores of a deployment that starts containers."""
    d = dp.deployment
    postgres_host, redis_host, new_pin = pins[dp.name]
    if new_pin:
        run['record']['assignments'].append(dict(deployment=dp.name, type=d['type'], postgres_host=postgres_host,
                                                 redis_host=redis_host))
    if starts:
        run['stores'].append(dict(name=dp.name, type=d['type'], postgres_host=postgres_host,
                                  redis_host=redis_host, state='present',
                                  redis_isolation=d.get('redis_isolation') or 'shared',
                                  redis_maxmemory=d.get('redis_maxmemory')))
    if dp.kind != 'roll-out':
        return
    number = dp.target['number']
    if dp.new_revision:
        run['record']['revisions'].append(dict(
            deployment=dp.name, number=number, image=dp.target['image'], image_digest=dp.target.get('image_digest'),
            env=dp.target['env'], secret_names=dp.target['secret_names'],
            env_fingerprint=dp.target['env_fingerprint'], created_by=holder))
    run['record']['statuses'].append(dict(deployment=dp.name, number=number, status='rolling_out', reason=None))
    run['finish']['statuses'].append(dict(deployment=dp.name, number=number, status='deployed', reason=None))


def _plan_migration(dp, state, starts, run):
    """Migrate once per revision before its containers start: a revision never deployed, or any
    revision starting on a database made anew (a deployment deleted with its data, then deployed)."""
    d = dp.deployment
    # A rollback's new revision runs an image that was migrated before: its migrations are not run again.
    never_deployed = (dp.new_revision and not dp.target.get('rollback_of')) or dp.target.get('status') in NEVER_DEPLOYED
    if not (d['migrate_command'] and starts and (never_deployed or not state.get('database'))):
        return
    host = starts[0][0]
    run['migrations'].setdefault(host, []).append(dict(
        deployment=dp.name, revision=dp.target['number'], image=pinned(dp.target),
        command=list(d['migrate_command']), env=dict(dp.target['env'])))


def _plan_undo(dp, fleet, options, run, starts):
    """What brings a failed deployment back: its old and kept servers ready, the new ones gone."""
    if not starts:
        return
    d = dp.deployment

    def server(host, c, state='ready'):
        return _server(host, fleet.by_name[host]['address'], c['revision'], c['replica'], c['port'], state)
    servers = [server(h, c) for h, c in dp.old if c['running']]
    servers += [server(h, c) for h, cs in sorted(dp.keep.items()) for c in cs if c['running']]
    servers += [server(h, e, 'absent') for h, e in dp.new]
    stop = {}
    for host, start in dp.new:
        stop.setdefault(host, []).append(container_name(dp.name, start['revision'], start['replica']))
    run['undo'][dp.name] = dict(
        lb=dict(deployment=dp.name, state='present', bind_port=d.get('lb_port'),
                health_path=options.get('lb_health_path', '/ok'), servers=_unique_servers(servers), purge=False),
        stop=stop)


def _plan_delete(dp, options, run, waves, pins):
    if not waves:
        waves.append(dict(start={}, lb=[]))
    lb_port = dp.deployment.get('lb_port')
    waves[0]['lb'].append(dict(deployment=dp.name, state='absent', bind_port=lb_port, servers=[], purge=True))
    for host, c in dp.old:
        run['stop'].setdefault(host, []).append(c['name'])
    if options.get('purge'):
        postgres_host, redis_host, _new = pins[dp.name]
        run['purge'].append(dict(name=dp.name, type=dp.deployment['type'], postgres_host=postgres_host,
                                 redis_host=redis_host, state='absent', purge=True))
    entry = run['deployments'][dp.name]
    entry['stop'] = ['%s %s' % (h, c['name']) for h, c in dp.old]
    if dp.serving_number:
        # Nothing serves once deleted: deploying it again is a new revision, migrated on its new database.
        run['finish']['statuses'].append(dict(deployment=dp.name, number=dp.serving_number, status='superseded',
                                              reason='the deployment was deleted'))


def _plan_prune(plans, fleet, states, options):
    """Images of revisions older than the newest keep_images, on the hosts that have them and no
    container (of any deployment) that uses them."""
    keep = int(options.get('keep_images', 3))
    in_use = {}
    for host in fleet.reachable_app():
        in_use[host['name']] = set(c['image'] for c in host.get('containers') or [])
    prune = {}
    for dp in plans:
        if dp.kind != 'roll-out':
            continue
        history = list((states.get(dp.name) or {}).get('revisions') or [])
        if dp.new_revision:
            history.insert(0, dp.target)
        kept = set(ref for r in history[:keep] for ref in (r['image'], pinned(r)))
        stale = set(ref for r in history[keep:] for ref in (r['image'], pinned(r))) - kept
        for host in fleet.reachable_app():
            present = set(host.get('images') or [])
            for image in sorted(stale & present - in_use[host['name']]):
                prune.setdefault(host['name'], []).append(image)
    return prune


def _what(entry):
    kind, number = entry['kind'], entry['revision']
    if kind == 'roll-out':
        new = ''
        if entry.get('rollback_of'):
            new = (' (new: the image and environment of revision %s with today\'s secret values and tracing)'
                   % entry['rollback_of'])
        elif entry['new_revision']:
            new = ' (new)'
        return 'roll out revision %s%s (serving: %s)' % (number, new, entry['serving'] or 'none')
    if kind == 'scale':
        return 'scale revision %s to %d' % (number, entry['replicas'])
    if kind == 'repair':
        return 'repair revision %s (%s)' % (number, ', '.join(entry.get('drift') or []))
    return 'unchanged at revision %s' % number


def summarize(run, plans):
    """One line per deployment, then one per wave: what check mode prints."""
    lines = []
    for dp in plans:
        e = run['deployments'][dp.name]
        if e['kind'] in ('busy', 'skipped'):
            lines.append('%s: %s (%s)' % (dp.name, e['kind'], e['reason']))
            continue
        if e['kind'] == 'delete':
            lines.append('%s: delete; stop %s' % (dp.name, ', '.join(e.get('stop') or []) or 'nothing'))
            continue
        where = ', '.join('%s %d' % (h, n) for h, n in sorted((e.get('placement') or {}).items()))
        line = '%s: %s' % (dp.name, _what(e))
        if e['kind'] != 'unchanged':
            line += '; %d container(s)%s' % (e['replicas'], (' on ' + where) if where else '')
            if e.get('start'):
                line += '; start ' + ', '.join(e['start'])
            if e.get('lb_add') or e.get('lb_drain'):
                line += '; every load balancer adds %s and drains %s' % (
                    ', '.join(e.get('lb_add') or []) or 'nothing', ', '.join(e.get('lb_drain') or []) or 'nothing')
            if e.get('stop'):
                line += '; then stop ' + ', '.join(e['stop'])
        if e.get('note'):
            line += ' [%s]' % e['note']
        if e.get('decision'):
            line += ' [autoscale: %s]' % e['decision']['reason']
        lines.append(line)
    for index, wave in enumerate(run['waves']):
        starts = sum(len(v) for v in wave['start'].values())
        lines.append('wave %d/%d: start %d container(s) on %d host(s); %d backend(s) switched on every load balancer'
                     % (index + 1, len(run['waves']), starts, len(wave['start']), len(wave['lb'])))
    return lines
