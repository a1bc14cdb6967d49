# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Concurrency of a deployment as HAProxy sees it: current sessions per server,
sampled several times over a short window and averaged, so that one instant
does not decide."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError, backend_name
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_runtime import (
    normalise_status, parse_show_stat)


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def backend_sample(stat_rows, backend):
    """One sample: ({server: (scur, status)}, backend queue) or None when the backend is missing."""
    servers = {}
    queued = None
    for row in stat_rows:
        if row.get('pxname') != backend:
            continue
        if row.get('svname') == 'BACKEND':
            queued = _int(row.get('qcur'))
        elif row.get('svname') != 'FRONTEND':
            servers[row['svname']] = (_int(row.get('scur')), normalise_status(row.get('status'), _int(row.get('weight'))))
    if queued is None:
        return None
    return servers, queued


def summarise(samples):
    """Average and maximum per server over samples (a server missing from a
    sample counts 0 there); total = sum of the averages + the average backend
    queue (requests HAProxy holds for want of a free server are load too)."""
    count = len(samples)
    names = sorted(set(name for servers, _q in samples for name in servers))
    per_server = {}
    for name in names:
        values = [servers.get(name, (0, None))[0] for servers, _q in samples]
        statuses = [servers[name][1] for servers, _q in samples if name in servers]
        per_server[name] = dict(average=round(float(sum(values)) / count, 3), max=max(values),
                                status=statuses[-1])
    queue = [q for _s, q in samples]
    queue_average = round(float(sum(queue)) / count, 3)
    total = round(sum(s['average'] for s in per_server.values()) + queue_average, 3)
    return dict(servers=per_server, queue_average=queue_average, queue_max=max(queue), total=total,
                total_max=max(sum(v[0] for v in servers.values()) + q for servers, q in samples),
                samples=count)


def sample(api, deployment, samples=5, window=5.0, clock=time):
    """Reads `show stat` samples times spread over window seconds; returns summarise()'s dict
    plus sampled_at (epoch seconds of the last sample) and window."""
    if samples < 1:
        raise HAProxyError('samples must be 1 or more (got %d)' % samples)
    if window < 0:
        raise HAProxyError('window must be 0 or more seconds (got %s)' % window)
    backend = backend_name(deployment)
    interval = float(window) / (samples - 1) if samples > 1 else 0.0
    taken = []
    started = clock.time()
    for index in range(samples):
        if index:
            clock.sleep(max(0.0, started + index * interval - clock.time()))
        found = backend_sample(parse_show_stat(api.execute('show stat')), backend)
        if found is None:
            raise HAProxyError('HAProxy at %s has no backend %s: is deployment %s deployed (playbooks/deploy.yml) '
                               'and served by this load balancer?' % (api.path, backend, deployment))
        taken.append(found)
    result = summarise(taken)
    result.update(sampled_at=clock.time(), window=window, backend=backend)
    return result
