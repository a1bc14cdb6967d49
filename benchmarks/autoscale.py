# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Autoscaler figures in the lab, printed, never asserted.

1. Decision time: one evaluation of the pure policy, and one autoscale
   playbook run in check mode (which includes the HAProxy sampling window).
2. Reaction time to a load step (1 container, then about 35 concurrent slow
   requests): from the start of the autoscale run to the decision recorded,
   and from the decision to every new container up in HAProxy.
3. Flapping: a load oscillating around the 1 -> 2 threshold (8 and 13
   concurrent requests, --period seconds each) for --minutes, with the
   autoscaler run back to back; the number of scale events applied.

A deployment of its own (bench-scale, lb1 port 8126) is deployed first and
deleted (with its database) at the end. Traffic goes only to the lab.

  source lab/env.sh && python benchmarks/autoscale.py [--minutes 4] [--skip-flapping]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
NAME = 'bench-scale'
LB = '172.30.213.31'
PORT = 8126
URL = 'http://%s:%d' % (LB, PORT)


def import_collection():
    """Make ansible_collections.selfhost.langgraph point at this checkout."""
    tree = tempfile.mkdtemp(prefix='selfhost-langgraph-bench-')
    os.makedirs(os.path.join(tree, 'ansible_collections', 'selfhost'))
    os.symlink(REPO, os.path.join(tree, 'ansible_collections', 'selfhost', 'langgraph'))
    sys.path.insert(0, tree)


import_collection()

from ansible_collections.selfhost.langgraph.plugins.module_utils.autoscale_policy import decide  # noqa: E402


def settings(delay):
    entry = dict(name=NAME, image='172.30.213.5:5000/langgraph-demo:v1', type='production', min_replicas=1,
                 max_replicas=10, target_concurrency=10, scale_down_delay='%ds' % delay, lb_port=PORT,
                 migrate_command=['migrate'], env={'LOG_LEVEL': 'INFO'})
    return {'langgraph_deployments': [entry], 'deployment': NAME, 'deploy_health_timeout': 150}


def playbook(name, extra, *args, check=True):
    cmd = ['ansible-playbook', '-i', os.path.join(REPO, 'lab', 'inventory'), os.path.join(REPO, 'playbooks', name),
           '-e', json.dumps(extra)] + list(args)
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    if check and result.returncode != 0:
        raise SystemExit('%s failed:\n%s' % (name, result.stdout[-3000:]))
    return result


def sql(query, database='langgraph_control'):
    out = subprocess.run(['docker', 'exec', 'selfhost-lab-pg1', 'runuser', '-u', 'postgres', '--', 'psql', '-XAtq',
                          '-d', database, '-c', query], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line]


SHOW_STAT = ("import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock'); "
             "s.sendall(b'show stat\\n'); s.shutdown(socket.SHUT_WR); d = b''\n"
             "while True:\n    c = s.recv(65536)\n    if not c: break\n    d += c\n"
             "print(d.decode())")


def servers_up():
    """Servers of be_bench-scale that are UP in HAProxy on lb1."""
    out = subprocess.run(['docker', 'exec', 'selfhost-lab-lb1', 'python3', '-c', SHOW_STAT],
                         capture_output=True, text=True, check=False).stdout
    lines = out.splitlines()
    if not lines or not lines[0].startswith('# '):
        return 0
    header = lines[0][2:].split(',')
    rows = [dict(zip(header, line.split(','))) for line in lines[1:] if line]
    return sum(1 for r in rows if r.get('pxname') == 'be_' + NAME and r.get('svname') not in ('BACKEND', 'FRONTEND')
               and r.get('status', '').startswith('UP') and r.get('weight') not in ('0', None))


class HeldLoad(object):
    """`level` concurrent requests, each holding sleep_s seconds; the level may change. Bounded by max_seconds
    and max_requests."""

    def __init__(self, threads, sleep_s, max_seconds, max_requests=20000):
        self.threads, self.sleep_s = threads, sleep_s
        self.level = 0
        self.deadline = time.time() + max_seconds
        self.max_requests = max_requests
        self.sent = 0
        self.failures = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.workers = []

    def _run(self, index):
        body = json.dumps({'assistant_id': 'agent', 'input': {'message': 'bench', 'sleep_s': self.sleep_s}}).encode()
        while not self.stop.is_set() and time.time() < self.deadline:
            if index >= self.level:
                time.sleep(0.2)
                continue
            with self.lock:
                if self.sent >= self.max_requests:
                    return
                self.sent += 1
            request = urllib.request.Request(URL + '/runs/wait', data=body, headers={'Content-Type': 'application/json'})
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    response.read()
            except Exception as exc:  # pylint: disable=broad-except  # every failure is counted
                with self.lock:
                    self.failures.append(repr(exc))

    def __enter__(self):
        self.workers = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.threads)]
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for worker in self.workers:
            worker.join(timeout=150)


def bench_policy(count=20000):
    started = time.perf_counter()
    for i in range(count):
        decide(current=2, concurrency=(i % 50), now=1000.0 + i, pending=i % 30, jobs_per_container=10,
               state=dict(low_since=900.0, scale_down_at=2700.0, current=2), scale_down_delay='30m')
    return (time.perf_counter() - started) / count * 1e6


def applied_events(since_id):
    return sql("SELECT id, current_replicas, applied, to_char(decided_at, 'HH24:MI:SS') FROM scale_events "
               "WHERE deployment = '%s' AND id > %d AND applied IS NOT NULL ORDER BY id" % (NAME, since_id))


def last_id():
    return int(sql("SELECT coalesce(max(id), 0) FROM scale_events WHERE deployment = '%s'" % NAME)[0])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    p.add_argument('--minutes', type=float, default=4, help='length of the oscillating load')
    p.add_argument('--period', type=int, default=20, help='seconds at each level of the oscillating load')
    p.add_argument('--delay', type=int, default=60, help='scale_down_delay in seconds during the benchmark')
    p.add_argument('--skip-flapping', action='store_true')
    args = p.parse_args()
    extra = settings(args.delay)

    print('policy: one decision takes %.1f us (pure function)' % bench_policy())
    playbook('delete.yml', dict(extra, purge=True))
    playbook('deploy.yml', extra)
    try:
        started = time.time()
        playbook('autoscale.yml', extra, '--check')
        print('autoscale playbook, check mode, idle deployment: %.1f s (of which the HAProxy window: 5 s)'
              % (time.time() - started))

        # Reaction to a load step.
        with HeldLoad(threads=35, sleep_s=40, max_seconds=240, max_requests=400) as load:
            load.level = 35
            time.sleep(6)
            before = last_id()
            start = time.time()
            runner = threading.Thread(target=playbook, args=('autoscale.yml', extra), daemon=True)
            runner.start()
            decided = serving = None
            desired = 0
            while time.time() - start < 300 and (decided is None or serving is None):
                if decided is None:
                    rows = sql("SELECT extract(epoch FROM decided_at), desired FROM scale_events "
                               "WHERE deployment = '%s' AND id > %d ORDER BY id LIMIT 1" % (NAME, before))
                    if rows:
                        decided = float(rows[0].split('|')[0])
                        desired = int(rows[0].split('|')[1])
                if decided is not None and servers_up() >= desired:
                    serving = time.time()
                time.sleep(0.5)
            runner.join(timeout=600)
            done = time.time()
        print('load step 0 -> 35 concurrent at 1 container: decided %d containers %.1f s after the run started; '
              'all %d serving %.1f s after the decision; run finished after %.1f s; %d failed requests'
              % (desired, decided - start, desired, (serving or done) - decided, done - start, len(load.failures)))
        print('  with the timer (every 30 s after the previous run) add 0-30 s of waiting for the next run')

        if not args.skip_flapping:
            playbook('scale.yml', dict(extra, replicas=1))
            before = last_id()
            runs = 0
            with HeldLoad(threads=13, sleep_s=args.period, max_seconds=args.minutes * 60 + 120) as load:
                end = time.time() + args.minutes * 60

                def oscillate():
                    while time.time() < end:
                        load.level = 13 if int((end - time.time()) // args.period) % 2 else 8
                        time.sleep(0.5)
                    load.level = 0
                threading.Thread(target=oscillate, daemon=True).start()
                while time.time() < end:
                    playbook('autoscale.yml', extra, check=False)
                    runs += 1
            events = applied_events(before)
            print('oscillating load 8 <-> 13 concurrent every %d s for %.1f min, scale_down_delay %d s: '
                  '%d autoscale runs, %d scale events applied %s, %d failed requests'
                  % (args.period, args.minutes, args.delay, runs, len(events),
                     [e.split('|')[1] + '->' + e.split('|')[2] + '@' + e.split('|')[3] for e in events],
                     len(load.failures)))
            if load.failures:
                print('  first failures: %s' % load.failures[:3])
    finally:
        playbook('delete.yml', dict(extra, purge=True), check=False)


if __name__ == '__main__':
    main()
