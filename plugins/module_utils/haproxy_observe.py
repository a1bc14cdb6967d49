# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every backend of ours on one load balancer, in one pass (haproxy_info).

`show stat` sampled over a window (all backends in each sample), `show servers state`
once for the addresses, the per-deployment files for what only they say (bind and
health path), and, through the master CLI, the sessions the old workers of a reload
still serve (streams that outlive it are load too, on the servers they use). The
summary is a pure function of those answers, unit-tested as tables.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import time

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import (
    HAProxyError,
    parse_settings,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_plan import runtime_state
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_runtime import (
    deployment_of_proxy,
    empty_view,
    fleet_view,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import (
    HAPROXY_FILE_PREFIX,
    deployment_name_problem,
    haproxy_config_path,
)

MAX_SAMPLES = 100
MAX_WINDOW = 300


def deployment_of_file(config_dir, path):
    """The deployment whose file path is, or None for another file."""
    base = os.path.basename(path)
    if not base.startswith(HAPROXY_FILE_PREFIX) or not base.endswith('.cfg'):
        return None
    name = base[len(HAPROXY_FILE_PREFIX):-len('.cfg')]
    if deployment_name_problem(name) is None and haproxy_config_path(config_dir, name) == path:
        return name
    return None


def read_config_files(config_dir):
    """{deployment: text} of the per-deployment files in config_dir."""
    files = {}
    for path in sorted(glob.glob(os.path.join(config_dir, HAPROXY_FILE_PREFIX + '*.cfg'))):
        name = deployment_of_file(config_dir, path)
        if name:
            try:
                with open(path) as f:
                    files[name] = f.read()
            except (IOError, OSError):
                continue  # removed meanwhile
    return files


def server_info(server, average=None, maximum=None):
    """A runtime server as haproxy_info and haproxy_backends report it."""
    return dict(address=server['address'], port=server['port'], state=runtime_state(server),
                status=server['status'], check_status=server['check_status'],
                scur=float(server['scur']) if average is None else average,
                scur_max=server['scur'] if maximum is None else maximum,
                stot=server['stot'], qcur=server['qcur'])


def servers_info(view):
    return dict((name, server_info(s)) for name, s in view['servers'].items())


def summarise(samples):
    """Average and maximum current sessions per server over samples [({server:
    scur}, backend queue)] (a server missing from a sample counts 0 there);
    total = sum of the averages + the average backend queue (requests HAProxy
    holds for want of a free server are load too)."""
    count = len(samples)
    names = sorted(set(name for servers, dummy in samples for name in servers))
    per_server = {}
    for name in names:
        values = [servers.get(name, 0) for servers, dummy in samples]
        per_server[name] = dict(average=round(float(sum(values)) / count, 3), max=max(values))
    queue_average = round(float(sum(queue for dummy, queue in samples)) / count, 3)
    total = round(sum(s['average'] for s in per_server.values()) + queue_average, 3)
    return dict(servers=per_server, queue_average=queue_average, total=total)


def our_servers(stat_rows):
    """(backend, server) pairs of the deployments' servers in `show stat` rows."""
    return sorted(set((row.get('pxname'), row.get('svname')) for row in stat_rows
                      if (deployment_of_proxy(row.get('pxname') or '') or (None, None))[1] == 'backend'
                      and row.get('svname') not in ('FRONTEND', 'BACKEND')))


def _with_old(servers, old):
    """{server: scur} of a view with the old workers' sessions added (on servers the view has left too)."""
    scur = dict((name, s['scur']) for name, s in servers.items())
    for name, count in old.items():
        scur[name] = scur.get(name, 0) + count
    return scur


def summarise_backends(stat_samples, state_rows, files, old_sessions=None):
    """{deployment: summary} from the `show stat` rows of each sample (oldest first), the `show servers
    state` rows taken after the last one, the files ({deployment: text}) and the sessions old workers
    still serve ({(backend, server): count}, once, after the last sample).

    Servers, statuses and flags are those of the last sample; scur is averaged over the samples (0 where
    a server was missing) plus the old workers' sessions on it, and total sums those of every server seen
    during the window (one that left meanwhile carried load too) plus the average backend queue.
    """
    views = [fleet_view(rows) for rows in stat_samples]
    last = fleet_view(stat_samples[-1], state_rows)
    old_by_deployment = {}
    for (backend, name), count in sorted((old_sessions or {}).items()):
        if count:
            old_by_deployment.setdefault(deployment_of_proxy(backend)[0], {})[name] = count
    result = {}
    for deployment in sorted(set(last) | set(files)):
        old = old_by_deployment.get(deployment, {})
        summary = summarise([(_with_old(v.get(deployment, empty_view())['servers'], old),
                              v.get(deployment, empty_view())['queue']) for v in views])
        view = last.get(deployment, empty_view())
        servers = {}
        for name, server in view['servers'].items():
            seen = summary['servers'][name]
            servers[name] = server_info(server, seen['average'], seen['max'])
        entry = dict(frontend=view['frontend'], backend=view['backend'], file=deployment in files,
                     servers=servers, queue_average=summary['queue_average'], total=summary['total'],
                     old_sessions=sum(old.values()))
        entry.update(parse_settings(files.get(deployment)))
        result[deployment] = entry
    return result


def validate_sampling(samples, window):
    if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= MAX_SAMPLES:
        raise HAProxyError('samples must be from 1 to %d, not %r' % (MAX_SAMPLES, samples))
    if not 0 <= window <= MAX_WINDOW:
        raise HAProxyError('window must be from 0 to %d seconds, not %r' % (MAX_WINDOW, window))


def sample_stat(api, samples, window, clock=time):
    """`show stat` rows, samples times spread evenly over window seconds (the first at once);
    returns (list of rows, epoch time of the last sample)."""
    interval = float(window) / (samples - 1) if samples > 1 else 0.0
    taken = []
    started = clock.time()
    for index in range(samples):
        if index:
            clock.sleep(max(0.0, started + index * interval - clock.time()))
        taken.append(api.show_stat())
        sampled_at = clock.time()
    return taken, sampled_at


def observe(api, config_dir, samples=1, window=0.0, clock=time, master=None):
    """haproxy_info's result: every backend of ours, sampled; one `show servers state`; the old
    workers' sessions through master (a MasterCLI, or None), one `show stat` per old worker."""
    validate_sampling(samples, window)
    api.ping()
    stat_samples, sampled_at = sample_stat(api, samples, window, clock)
    state_rows = api.show_servers_state()
    seen = sorted(set(server for rows in stat_samples for server in our_servers(rows)))
    old_sessions = master.old_sessions(seen) if master is not None else None
    backends = summarise_backends(stat_samples, state_rows, read_config_files(config_dir), old_sessions)
    return dict(backends=backends, sampled_at=sampled_at, samples=samples, window=window,
                old_workers_counted=master is not None)
