# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet benchmark (issue 8, "Fleet planner"): what a run of the control loop
costs with 1 and with 12 deployments, in the lab. Figures are printed, never
asserted.

For N = 1 (bench-f-01: production, 2 replicas) and N = 12 (bench-f-01 ..
bench-f-12: the odd-numbered ones production with min_replicas 2, like
bench-f-01, the even-numbered ones development with 1 replica), one after the
other, each from nothing:
  1. first deploy of all (image v1);
  2. a no-op re-run;
  3. a roll-out of all to v2 under a bounded load (one Load per deployment
     through lb1): requests sent, answered, failed, versions after the switch;
  4. one autoscale tick (playbooks/autoscale.yml);
  5. status (playbooks/status.yml).
Per run: wall time, and the remote module calls counted from Ansible's JSON
callback (per task, the hosts on which a module ran; action plugins that run
on the controller are not remote calls). After each first deploy, the
containers per app host. At the end a table: N=1 against N=12, with the
issue's targets.

First, the planner alone (plugins/module_utils/fleet_plan.plan_run) on a
simulated fleet of 100 app hosts, 4 Postgres and 4 Redis hosts and 500
deployments: a deploy of all (half new, half to a new image) and a no-op,
best of 5, and the peak memory of one plan. The issue's targets are printed
with the figures: met or MISSED.

Every bench-f-* deployment is deleted (purged) at the start and at the end.
Traffic goes only to the lab.

  source lab/env.sh && python benchmarks/fleet.py [--skip-lab] [--skip-planner]
"""

from __future__ import absolute_import, division, print_function

import argparse
import collections
import copy
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(REPO, 'tests', 'lab'))
from load import Load  # noqa: E402  pylint: disable=wrong-import-position


def import_collection():
    """Make ansible_collections.selfhost.langgraph point at this checkout."""
    tree = tempfile.mkdtemp(prefix='selfhost-langgraph-bench-')
    os.makedirs(os.path.join(tree, 'ansible_collections', 'selfhost'))
    os.symlink(REPO, os.path.join(tree, 'ansible_collections', 'selfhost', 'langgraph'))
    sys.path.insert(0, tree)


import_collection()

from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment import parse_deployments  # noqa: E402
from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_plan import plan_run  # noqa: E402
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import postgres_name  # noqa: E402

NAMES = ['bench-f-%02d' % i for i in range(1, 13)]
PORTS = dict((name, 8150 + index) for index, name in enumerate(NAMES))
LB = '172.30.213.31'
APP_HOSTS = ('app1', 'app2')
IMAGE = '172.30.213.5:5000/langgraph-demo:%s'
DEPLOYMENT_LABEL = 'selfhost.langgraph.deployment'

# Actions that run on the controller: no remote module call.
CONTROLLER_ACTIONS = frozenset([
    'fleet_plan', 'fleet_progress', 'validate_deployments', 'assert', 'set_fact', 'include_tasks',
    'include_role', 'import_tasks', 'import_role', 'fail', 'debug', 'meta', 'pause', 'add_host', 'group_by',
    'include_vars', 'set_stats', 'validate_argument_spec'])

STEPS = ('first deploy', 'no-op re-run', 'roll-out to v2', 'autoscale tick', 'status')
PLAN_KINDS = (('roll out', 'roll-out'), ('unchanged', 'unchanged'), ('scale', 'scale'), ('repair', 'repair'),
              ('delete', 'delete'), ('busy', 'busy'), ('skipped', 'skipped'))


# --- the lab ------------------------------------------------------------------------------

class TimedLoad(Load):
    """A Load that knows since when each of its requests has been waiting for its answer, and its slowest."""

    def __init__(self, url, **kwargs):
        super(TimedLoad, self).__init__(url, **kwargs)
        self.waiting = {}  # thread id -> when its request was sent
        self.slowest = (0.0, 0.0)  # (seconds, when it was sent)
        self.waiting_lock = threading.Lock()

    def _one(self):
        key = threading.get_ident()
        sent = time.time()
        with self.waiting_lock:
            self.waiting[key] = sent
        try:
            super(TimedLoad, self)._one()
        finally:
            with self.waiting_lock:
                self.waiting.pop(key, None)
                self.slowest = max(self.slowest, (time.time() - sent, sent))

    def waiting_since(self):
        with self.waiting_lock:
            return sorted(self.waiting.values())


def loadavg():
    with open('/proc/loadavg') as f:
        return f.read().strip()


def entry(name, tag, run_id=''):
    """Odd-numbered deployments (bench-f-01 first, the one of N=1) are production with 2 replicas,
    even-numbered ones development (1 replica). run_id goes into the environment: see fleet_runs."""
    number = int(name.rsplit('-', 1)[1])
    kind = dict(type='production', min_replicas=2) if number % 2 else dict(type='development')
    env = dict(LOG_LEVEL='INFO', BENCH_RUN=run_id) if run_id else dict(LOG_LEVEL='INFO')
    return dict(name=name, image=IMAGE % tag, lb_port=PORTS[name], migrate_command=['migrate'], env=env, **kind)


def fleet_vars(names, tag, run_id='', **more):
    """Extra vars of a run. The lab's app VMs share this machine (2 CPUs each, all of its memory) with
    whatever other tests run there, whose containers the planner counts at the production size (their
    deployments are not in this run's list), while an idle server uses a few per cent of a CPU and
    about 200 MB. The benchmark measures the control loop, not capacity refusals: it doubles the lab's
    overcommit (CPU 16 -> 32) and overcommits memory 2x, so the twelve fit beside what others run."""
    return dict({'langgraph_deployments': [entry(name, tag, run_id) for name in names],
                 'deploy_health_timeout': 150, 'langgraph_app_cpu_overcommit': 32,
                 'langgraph_app_memory_overcommit': 2}, **more)


def short_action(action):
    return (action or '').rsplit('.', 1)[-1]


def _stamp(text):
    return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%S.%fZ')


def remote_calls(report):
    """[(task name, action, calls, seconds, start HH:MM:SS UTC)] from the JSON callback's report, in run order.

    A call is a host on which the task ran a module: not skipped, not unreachable, and not an
    action that runs on the controller. A delegated run_once task is one call (on the delegate)."""
    tasks = []
    for play in report.get('plays') or []:
        for task in play.get('tasks') or []:
            calls = 0
            action = ''
            for result in (task.get('hosts') or {}).values():
                action = short_action(result.get('action'))
                if action in CONTROLLER_ACTIONS or result.get('skipped') or result.get('unreachable'):
                    continue
                items = result.get('results')
                if isinstance(items, list):
                    calls += len([item for item in items if not item.get('skipped')])
                else:
                    calls += 1
            span = task['task'].get('duration') or {}
            seconds = (_stamp(span['end']) - _stamp(span['start'])).total_seconds() \
                if span.get('start') and span.get('end') else 0.0
            tasks.append((task['task']['name'], action, calls, seconds, (span.get('start') or '?' * 19)[11:19]))
    return tasks


def plan_digest(stderr):
    """'12 roll-out' from the plan lines of our deployments on stderr (status: '12 shown')."""
    kinds = collections.Counter()
    for line in stderr.splitlines():
        if line.split(' (', 1)[0] in PORTS and 'serving revision' in line:
            kinds['shown'] += 1
            continue
        name, sep, what = line.partition(': ')
        if not sep or name not in PORTS:
            continue
        for prefix, kind in PLAN_KINDS:
            if what.startswith(prefix):
                kinds[kind] += 1
                break
    return ', '.join('%d %s' % (n, kind) for kind, n in sorted(kinds.items())) or 'no plan lines'


class Run(object):
    """One ansible-playbook run: wall time, exit code, remote calls per task, changed count, plan digest."""

    def __init__(self, name, wall, result, started=None):
        self.name = name
        self.wall = wall
        self.started = started or {}
        self.rc = result.returncode
        self.stderr = result.stderr
        try:
            self.report = json.loads(result.stdout)
        except ValueError:
            self.report = {}
        self.tasks = remote_calls(self.report)
        self.calls = sum(task[2] for task in self.tasks)
        self.changed = sum(stats.get('changed', 0) for stats in (self.report.get('stats') or {}).values())
        self.plan = plan_digest(self.stderr)
        self.tail = (result.stderr.strip() or result.stdout)[-2000:]

    def failures(self):
        """Messages of the tasks that failed (ignored or not)."""
        found = []
        for play in self.report.get('plays') or []:
            for task in play.get('tasks') or []:
                for host, result in (task.get('hosts') or {}).items():
                    if result.get('failed') or result.get('unreachable'):
                        found.append('%s on %s: %s' % (task['task']['name'], host, str(result.get('msg'))[:1500]))
        return found

    def show(self, label):
        print('%s %s: %.1f s wall, rc %d, %d changed, %d remote module calls; plan: %s (started %s, load average %s)'
              % (label, self.name, self.wall, self.rc, self.changed, self.calls, self.plan,
                 self.started.get('clock', '?'), self.started.get('loadavg', '?')))
        by_step = collections.OrderedDict()
        for name, action, calls, seconds, start in self.tasks:
            if calls or seconds >= 0.5:
                step = by_step.setdefault((name, action), [0, 0.0, start])
                step[0] += calls
                step[1] += seconds
        for (name, action), (calls, seconds, start) in by_step.items():
            print('    %3d calls %6.1f s  from %s  %-22s %s' % (calls, seconds, start, action, name))
        for failure in self.failures():
            print('    FAILED: %s' % failure)
        if self.rc:
            print('    its plan and progress lines:')
            for line in self.stderr.strip().splitlines()[-30:]:
                print('      ' + line)
        sys.stdout.flush()


def playbook(name, variables, label=''):
    """Runs playbooks/NAME with the JSON callback; returns a Run."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1')
    cmd = ['ansible-playbook', '-i', os.path.join(REPO, 'lab', 'inventory'), os.path.join(REPO, 'playbooks', name),
           '-e', json.dumps(variables)]
    context = dict(clock=time.strftime('%H:%M:%S'), loadavg=' '.join(loadavg().split()[:3]))
    started = time.time()
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800, check=False)
    return Run(label or name, time.time() - started, result, context)


def delete(names):
    """Deletes and purges each deployment; returns the seconds it took."""
    started = time.time()
    for name in names:
        run = playbook('delete.yml', fleet_vars(NAMES, 'v1', deployment=name, purge=True), 'delete ' + name)
        if run.rc or run.wall > 30:
            run.show('  slow or failed:')
    return time.time() - started


def containers_per_host():
    """{host: Counter(deployment: running containers)} of every managed deployment, from each app VM's Docker."""
    found = {}
    for host in APP_HOSTS:
        out = subprocess.run(['docker', 'exec', 'selfhost-lab-' + host, 'docker', 'ps', '--filter',
                              'label=selfhost.langgraph.managed=true', '--format',
                              '{{.Label "%s"}}' % DEPLOYMENT_LABEL],
                             capture_output=True, text=True, check=True).stdout.split()
        found[host] = collections.Counter(out)
    return found


def print_containers(names, found):
    """A table of our containers per host by type, beside those of other deployments (other tests', the
    demo), which the placement counts too; returns ({type: max - min of ours over the hosts}, {host: others})."""
    types = dict((name, entry(name, 'v1')['type']) for name in names)
    print('    %-6s %12s %11s %6s %7s   %s' % ('host', 'development', 'production', 'total', 'others', 'ours'))
    others_by_host = {}
    for host in APP_HOSTS:
        ours = dict((name, n) for name, n in found[host].items() if name in types)
        by_type = collections.Counter()
        for name, n in ours.items():
            by_type[types[name]] += n
        others = others_by_host[host] = sum(n for name, n in found[host].items() if name not in types)
        listed = ' '.join('%s:%d' % (n[len('bench-f-'):], c) for n, c in sorted(ours.items()))
        row = (host, by_type['development'], by_type['production'], sum(ours.values()), others, listed)
        print('    %-6s %12d %11d %6d %7d   %s' % row)
    spreads = {}
    for kind in ('development', 'production'):
        per_host = [sum(n for name, n in found[h].items() if types.get(name) == kind) for h in APP_HOSTS]
        if any(per_host):
            spreads[kind] = max(per_host) - min(per_host)
    print('    spread between hosts (max - min containers of equal deployments): %s' % (
        ', '.join('%s %d' % item for item in sorted(spreads.items())) or 'no containers'))
    return spreads, others_by_host


def unfinished_runs(name):
    """The deployment's runs that are pending or running, from its own database (evidence for a hung request)."""
    out = subprocess.run(['docker', 'exec', 'selfhost-lab-pg1', 'runuser', '-u', 'postgres', '--', 'psql', '-XAtq',
                          '-d', postgres_name(name), '-c',
                          "SELECT status, count(*), min(created_at)::time(0), max(updated_at)::time(0) FROM runs "
                          "WHERE status IN ('pending', 'running') GROUP BY status"],
                         capture_output=True, text=True, check=False)
    return ' '.join(out.stdout.split()) or out.stderr.strip() or 'none'


def hung_requests(loads, started, patience=60):
    """{deployment: text} of requests still unanswered 20 s or more after they were sent, waiting up to
    `patience` seconds for them to end; each with the deployment's unfinished runs."""
    def late(load):
        return [t for t in load.waiting_since() if time.time() - t >= 20]
    found = dict((name, 'sent at +%s s of the roll-out; unfinished runs in its database: %s' % (
        ', +'.join('%.0f' % (t - started) for t in late(load)), unfinished_runs(name)))
        for name, load in sorted(loads.items()) if late(load))
    deadline = time.time() + patience
    while found and time.time() < deadline and any(late(loads[name]) for name in found):
        time.sleep(5)
    for name in found:
        found[name] += '; %s after up to %d s more' % ('still waiting' if late(loads[name]) else 'answered or failed',
                                                       patience)
    return found


def stop_loads(loads):
    """Stops every load at once (a hung request holds its own load's stop for up to 90 s)."""
    stoppers = [threading.Thread(target=load.__exit__, args=(None, None, None)) for load in loads.values()]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()


def postgres_connections():
    """(connections, max_connections) of the Postgres host (pg1) now."""
    out = subprocess.run(['docker', 'exec', 'selfhost-lab-pg1', 'runuser', '-u', 'postgres', '--', 'psql', '-XAtq',
                          '-c', 'SELECT count(*) FROM pg_stat_activity', '-c', 'SHOW max_connections'],
                         capture_output=True, text=True, check=False).stdout.split()
    return tuple(int(n) for n in out) if len(out) == 2 else (0, 0)


class ConnectionWatch(object):
    """The peak of Postgres connections on pg1 while it runs, sampled every 2 seconds."""

    def __init__(self):
        self.peak = (0, 0)
        self.peak_at = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            sample = postgres_connections()
            if sample[0] > self.peak[0]:
                self.peak, self.peak_at = sample, time.strftime('%H:%M:%S')
            self.stop.wait(2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)


def rollout_under_load(names, label, run_id):
    """Roll-out of names to v2 with one bounded Load per deployment; (Run, load figures)."""
    threads = 2 if len(names) == 1 else 1
    loads = dict((name, TimedLoad('http://%s:%d' % (LB, PORTS[name]), threads=threads, max_requests=5000,
                                  max_seconds=900)) for name in names)
    for load in loads.values():
        load.__enter__()
    try:
        time.sleep(3)
        started = time.time()
        with ConnectionWatch() as connections:
            run = playbook('deploy.yml', fleet_vars(names, 'v2', run_id), 'roll-out to v2')
        ended = time.time()
        time.sleep(3)
        hung = hung_requests(loads, started)
    finally:
        stop_loads(loads)
    slowest = max((load.slowest, name) for name, load in loads.items())
    answered = sum(len(load.answers) for load in loads.values())
    failed = sum(len(load.failures) for load in loads.values())
    figures = dict(sent=sum(load.sent for load in loads.values()), answered=answered, failed=failed,
                   unanswered=sum(load.sent for load in loads.values()) - answered - failed, hung=len(hung),
                   before=sorted(set(v for load in loads.values() for when, v in load.answers if when < started)),
                   after=sorted(set().union(*[load.versions_after(ended) for load in loads.values()])))
    print('%s load during the roll-out (%d x %d thread(s) through lb1): %d sent, %d answered, %d failed, '
          '%d never answered; versions before the run %s, after it %s; slowest request %.1f s (%s, sent at +%.0f s '
          'of the roll-out); Postgres connections on pg1 at most %d of %d (%s)' % (
              label, len(names), threads, figures['sent'], answered, failed, figures['unanswered'],
              figures['before'], figures['after'], slowest[0][0], slowest[1], slowest[0][1] - started,
              connections.peak[0], connections.peak[1], connections.peak_at))
    for name, load in sorted(loads.items()):
        after = sorted(load.versions_after(ended))
        never = load.waiting_since()
        if load.failures or after != ['v2'] or name in hung or never:
            print('    %s: %s; versions after the run %s' % (name, load.summary(), after))
        if name in hung:
            print('      request(s) hung: %s' % hung[name])
        if never:
            print('      never answered: request(s) sent at +%s s of the roll-out (it ended at +%.0f s); unfinished '
                  'runs in its database now: %s' % (', +'.join('%.0f' % (t - started) for t in never),
                                                    ended - started, unfinished_runs(name)))
    return run, figures


def fleet_runs(names):
    """The five steps for one N; returns ({step: Run}, roll-out load figures, (container spreads, other containers per host)).

    Revisions outlive a delete: deploying again an image and environment a deleted deployment once
    served is a repair of that revision, without its migration, on the new database. A BENCH_RUN
    variable of this run makes every first deploy a new revision, as for a deployment never seen."""
    label = '[N=%d]' % len(names)
    run_id = '%s-n%d' % (time.strftime('%Y%m%d%H%M%S'), len(names))
    runs = collections.OrderedDict()
    runs['first deploy'] = playbook('deploy.yml', fleet_vars(names, 'v1', run_id), 'first deploy')
    runs['first deploy'].show(label)
    if runs['first deploy'].rc:
        raise SystemExit('%s first deploy failed (see above); nothing more to measure' % label)
    print('%s containers per app host after the first deploy:' % label)
    spreads = print_containers(names, containers_per_host())

    runs['no-op re-run'] = playbook('deploy.yml', fleet_vars(names, 'v1', run_id), 'no-op re-run')
    runs['no-op re-run'].show(label)

    runs['roll-out to v2'], figures = rollout_under_load(names, label, run_id)
    runs['roll-out to v2'].show(label)

    runs['autoscale tick'] = playbook('autoscale.yml', fleet_vars(names, 'v2', run_id), 'autoscale tick')
    runs['autoscale tick'].show(label)

    runs['status'] = playbook('status.yml', fleet_vars(names, 'v2', run_id), 'status')
    runs['status'].show(label)
    return runs, figures, spreads


# --- the planner alone --------------------------------------------------------------------

SIM_REGISTRY = 'registry.example.com/'
SIM_APPS = 100
SIM_STORES = 4
SIM_DEPLOYMENTS = 500
SIM_CAPACITY = (30.0, 60000.0)


def sim_entries(tag):
    """500 entries: even ones development, odd ones production with 2 replicas."""
    entries = []
    for i in range(SIM_DEPLOYMENTS):
        name = 'sim-%03d' % i
        kind = dict(type='development') if i % 2 == 0 else dict(type='production', min_replicas=2)
        entries.append(dict(name=name, image='%s%s:%s' % (SIM_REGISTRY, name, tag), lb_port=10000 + i,
                            migrate_command=['migrate'], env={'LOG_LEVEL': 'INFO'}, **kind))
    return entries


def sim_options():
    return dict(batch_size='100%', port_range=[20000, 29999], keep_images=3, holder='bench run x',
                lb_health_path='/ok', check_mode=False, control_host='pg1',
                postgres_hosts=['pg%d' % i for i in range(1, SIM_STORES + 1)],
                redis_hosts=['redis%d' % i for i in range(1, SIM_STORES + 1)])


def sim_parse(entries):
    options = sim_options()
    return parse_deployments(entries, dict(image_required=True, control_database='langgraph_control',
                                           postgres_hosts=options['postgres_hosts'],
                                           redis_hosts=options['redis_hosts']))


def empty_fleet():
    apps = [dict(name='app%03d' % i, reachable=True, address='10.1.%d.%d' % (i // 250, i % 250 + 1), drain=False,
                 capacity=SIM_CAPACITY, containers=[], used_ports=[], images=[]) for i in range(1, SIM_APPS + 1)]
    return dict(apps=apps, lb=dict(name='lb1', reachable=True, backends={}),
                control=dict(now=1000.0, locked=[], busy={}, deployments={}, placement_counts={}))


def request(action, deployments, fleet):
    control = dict(fleet['control'], locked=[d['name'] for d in deployments])
    control['deployments'] = dict((d['name'], control['deployments'].get(d['name'], {})) for d in deployments)
    return dict(action=action, deployments=deployments, all_deployments=deployments, app_hosts=fleet['apps'],
                lb_hosts=[fleet['lb']], control=control, options=sim_options())


def carry_out(plan, fleet):
    """The fleet after a first deploy's plan was carried out: containers, LB servers, control records."""
    apps = dict((h['name'], h) for h in fleet['apps'])
    for wave in plan['waves']:
        for host, starts in wave['start'].items():
            for s in starts:
                apps[host]['containers'].append(dict(
                    name='lg-%s-r%d-%d' % (s['deployment'], s['revision'], s['replica']), deployment=s['deployment'],
                    revision=s['revision'], replica=s['replica'], port=s['port'], running=True, image=s['image'],
                    fingerprint=s['fingerprint']))
                apps[host]['used_ports'].append(s['port'])
                if s['image'] not in apps[host]['images']:
                    apps[host]['images'].append(s['image'])
        for backend in wave['lb']:
            fleet['lb']['backends'][backend['deployment']] = dict(
                frontend=True, backend=True, file=True, bind_port=backend['bind_port'], bind_address='*',
                health_path=backend['health_path'], queue_average=0.0, total=0.0, sampled_at=1000.0,
                servers=dict((s['name'], dict(address=s['address'], port=s['port'], state='ready', status='UP',
                                              check_status='L7OK', scur=0.0, scur_max=0, stot=0, qcur=0))
                             for s in backend['servers'] if s['state'] == 'ready'))
    states = fleet['control']['deployments']
    counts = fleet['control']['placement_counts']
    for pin in plan['record']['assignments']:
        states[pin['deployment']] = dict(type=pin['type'], postgres_host=pin['postgres_host'],
                                         redis_host=pin['redis_host'], database='lg_' + pin['deployment'],
                                         redis_db=None, revisions=[], serving=None, scale=None)
        for kind in ('postgres', 'redis'):
            counts.setdefault(kind, {})
            counts[kind][pin[kind + '_host']] = counts[kind].get(pin[kind + '_host'], 0) + 1
    for r in plan['record']['revisions']:
        states[r['deployment']]['revisions'] = [dict(
            number=r['number'], image=r['image'], image_digest=None, env=r['env'], secret_names=r['secret_names'],
            env_fingerprint=r['env_fingerprint'], status='deployed', status_reason=None, created_by=r['created_by'],
            created_at=None, deployed_at=None)]
        states[r['deployment']]['serving'] = r['number']
    return fleet


def deployed_fleet(deployments):
    """A simulated fleet on which the given deployments run (placed by the planner itself)."""
    fleet = empty_fleet()
    return carry_out(plan_run(request('deploy', deployments, fleet)), fleet)


def best_of(repeat, req):
    """(best seconds, median seconds, plan) of plan_run over fresh copies of the request."""
    seconds = []
    plan = None
    for dummy in range(repeat):
        fresh = copy.deepcopy(req)
        started = time.perf_counter()
        plan = plan_run(fresh)
        seconds.append(time.perf_counter() - started)
    return min(seconds), statistics.median(seconds), plan


def peak_memory(req):
    fresh = copy.deepcopy(req)
    tracemalloc.start()
    plan_run(fresh)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def plan_shape(plan):
    kinds = collections.Counter(e['kind'] for e in plan['deployments'].values())
    starts = sum(len(v) for wave in plan['waves'] for v in wave['start'].values())
    hosts = len(set(h for wave in plan['waves'] for h in wave['start']))
    stops = sum(len(v) for v in plan['stop'].values())
    return '%s; %d container(s) to start on %d host(s) in %d wave(s), %d to stop, %d migration(s), %d pull list(s)' % (
        ', '.join('%d %s' % (n, k) for k, n in sorted(kinds.items())), starts, hosts, len(plan['waves']), stops,
        sum(len(v) for v in plan['migrations'].values()), len(plan['pulls']))


def bench_planner():
    """Planner figures on the simulated fleet; returns {case: best seconds}."""
    started = time.perf_counter()
    v1 = sim_parse(sim_entries('v1'))
    v2 = sim_parse(sim_entries('v2'))
    parse_ms = (time.perf_counter() - started) / 2 * 1000
    half = deployed_fleet(v1[:SIM_DEPLOYMENTS // 2])
    full = deployed_fleet(v1)
    cases = collections.OrderedDict([
        ('deploy of 500 (250 new, 250 to a new image)', request('deploy', v2, half)),
        ('no-op re-run of 500', request('deploy', v1, full)),
    ])
    print('planner alone: %d app hosts (%g CPU, %d MB each), %d Postgres and %d Redis hosts, %d deployments '
          '(half development, half production with 2 replicas); parse_deployments of the entries: %.1f ms'
          % (SIM_APPS, SIM_CAPACITY[0], SIM_CAPACITY[1], SIM_STORES, SIM_STORES, SIM_DEPLOYMENTS, parse_ms))
    containers = sum(len(h['containers']) for h in half['apps'])
    print('  observed before the deploy: %d containers of 250 deployments on %d hosts, %d LB backends' % (
        containers, len([h for h in half['apps'] if h['containers']]), len(half['lb']['backends'])))
    figures = {}
    for name, req in cases.items():
        best, median, plan = best_of(5, req)
        figures[name] = best
        peak = peak_memory(req)
        print('  %-45s best of 5 %7.3f s (median %.3f s), peak memory %.1f MB' % (name, best, median, peak))
        print('  %-45s %s' % ('', plan_shape(plan)))
    sys.stdout.flush()
    return figures


# --- the report ---------------------------------------------------------------------------

def ratio(a, b):
    return '%.2f' % (b / a) if a and b is not None else '-'


def verdict(ok):
    return 'met' if ok else 'MISSED'


def targets(results):
    """{step: text with verdict} of the issue's targets."""
    one, twelve = results.get(1), results.get(12)
    if not one or not twelve:
        return {}
    w1 = dict((step, run.wall) for step, run in one['runs'].items())
    w12 = dict((step, run.wall) for step, run in twelve['runs'].items())
    failed1 = one['load']['failed'] + one['load']['unanswered']
    return {
        'no-op re-run': 'N=12 <= 10 s: %s' % verdict(w12['no-op re-run'] <= 10),
        'roll-out to v2': 'N=1 <= 15 s, 0 failed: %s; N=12 <= 3x N=1: %s' % (
            verdict(w1['roll-out to v2'] <= 15 and failed1 == 0),
            verdict(w12['roll-out to v2'] <= 3 * w1['roll-out to v2'])),
        'autoscale tick': 'N=12 <= 10 s and <= 1.5x N=1: %s' % verdict(
            w12['autoscale tick'] <= 10 and w12['autoscale tick'] <= 1.5 * w1['autoscale tick']),
    }


def print_table(results, planner):
    goals = targets(results)
    row = '%-16s %10s %11s %6s  %-55s %8s %8s'
    print('\n' + row % ('step', 'N=1 wall s', 'N=12 wall s', 'ratio', 'target', 'calls N=1', 'N=12'))
    for step in STEPS:
        one = results.get(1, {}).get('runs', {}).get(step)
        twelve = results.get(12, {}).get('runs', {}).get(step)
        print(row % (step, '%.1f' % one.wall if one else '-', '%.1f' % twelve.wall if twelve else '-',
                     ratio(one.wall if one else None, twelve.wall if twelve else None), goals.get(step, ''),
                     one.calls if one else '-', twelve.calls if twelve else '-'))
    for n in (1, 12):
        if n in results:
            figures = results[n]['load']
            print('roll-out load N=%-2d: %d sent, %d answered, %d failed, %d never answered (target 0 and 0), '
                  'versions after the switch %s' % (n, figures['sent'], figures['answered'], figures['failed'],
                                                    figures['unanswered'], figures['after']))
    if 12 in results:
        spreads, others = results[12]['spreads']
        print('containers per host at N=12, spread of equal deployments: %s (target within one: %s); other '
              'deployments\' containers on the hosts meanwhile: %s' % (
                  ', '.join('%s %d' % item for item in sorted(spreads.items())),
                  verdict(all(spread <= 1 for spread in spreads.values())),
                  ', '.join('%s %d' % item for item in sorted(others.items()))))
    for name, seconds in planner.items():
        print('planner, %s: %.3f s (target < 1 s: %s)' % (name, seconds, verdict(seconds < 1)))
    for n in (1, 12):
        for step, run in results.get(n, {}).get('runs', {}).items():
            if run.rc:
                print('N=%d %s did not succeed (rc %d): %s' % (n, step, run.rc, ' | '.join(
                    ' '.join(failure.split()) for failure in run.failures()) or run.tail[-500:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--skip-lab', action='store_true', help='only the planner on the simulated fleet')
    parser.add_argument('--skip-planner', action='store_true', help='only the runs in the lab')
    args = parser.parse_args()
    print('load average at start: %s' % loadavg())
    planner = {} if args.skip_planner else bench_planner()
    results = {}
    if not args.skip_lab:
        print('cleanup before: deleted %d bench-f-* deployments in %.1f s' % (len(NAMES), delete(NAMES)))
        try:
            for names in (NAMES[:1], NAMES):
                runs, figures, spreads = fleet_runs(names)
                results[len(names)] = dict(runs=runs, load=figures, spreads=spreads)
                if len(names) == 1:
                    print('between: deleted bench-f-01 in %.1f s' % delete(names))
        finally:
            print('cleanup after: deleted %d bench-f-* deployments in %.1f s' % (len(NAMES), delete(NAMES)))
    print_table(results, planner)
    print('load average at end: %s' % loadavg())


if __name__ == '__main__':
    main()
