# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where containers run: app host capacity and placement. Pure functions.

Rules (DESIGN.md, "The control loop"):
- existing containers stay where they are (no moves), unless their host is
  drained or down;
- new replicas of a deployment go to hosts that have none of it yet first,
  then to the least-loaded host (the larger of its CPU and memory shares),
  then in inventory order; only where the container's CPU and memory fit;
- capacity is what the host reports (or the inventory says), minus a reserve
  for the system, times an overcommit factor. CPU limits are ceilings a
  waiting agent rarely reaches, so CPU is overcommitted by default; memory is not.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

# Defaults of the inventory's per-host settings (documented in README, "Capacity").
RESERVE_CPUS = 0.5
RESERVE_MEMORY_MB = 1024
CPU_OVERCOMMIT = 4.0
MEMORY_OVERCOMMIT = 1.0

OVERRIDES = ('langgraph_app_cpus', 'langgraph_app_memory_mb', 'langgraph_app_reserve_cpus',
             'langgraph_app_reserve_memory_mb', 'langgraph_app_cpu_overcommit',
             'langgraph_app_memory_overcommit')


def host_capacity(reported, overrides=None):
    """Schedulable (cpus, memory_mb) of an app host.

    reported: {cpus, memory_mb} as the host says (app_host_info), or None.
    overrides: the host's inventory settings named in OVERRIDES.
    """
    settings = overrides or {}
    reported = reported or {}
    cpus = float(settings.get('langgraph_app_cpus') or reported.get('cpus') or 0)
    memory = float(settings.get('langgraph_app_memory_mb') or reported.get('memory_mb') or 0)
    reserve_cpus = float(_given(settings, 'langgraph_app_reserve_cpus', RESERVE_CPUS))
    reserve_memory = float(_given(settings, 'langgraph_app_reserve_memory_mb', RESERVE_MEMORY_MB))
    cpu_factor = float(_given(settings, 'langgraph_app_cpu_overcommit', CPU_OVERCOMMIT))
    memory_factor = float(_given(settings, 'langgraph_app_memory_overcommit', MEMORY_OVERCOMMIT))
    return (max(0.0, (cpus - reserve_cpus) * cpu_factor),
            max(0.0, (memory - reserve_memory) * memory_factor))


def _given(settings, key, default):
    value = settings.get(key)
    return default if value is None or value == '' else value


class Host(object):
    """An app host as placement sees it."""

    def __init__(self, name, cpus, memory_mb, eligible=True):
        self.name = name
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.eligible = eligible  # up and not drained: may take new containers
        self.used_cpus = 0.0
        self.used_memory_mb = 0.0

    def share(self):
        """How full the host is: the larger of its CPU and memory shares."""
        cpu = self.used_cpus / self.cpus if self.cpus else 1.0
        memory = self.used_memory_mb / self.memory_mb if self.memory_mb else 1.0
        return max(cpu, memory)

    def fits(self, cpus, memory_mb):
        # A small epsilon: capacities are products of floats.
        return (self.used_cpus + cpus <= self.cpus + 1e-9
                and self.used_memory_mb + memory_mb <= self.memory_mb + 1e-9)

    def take(self, cpus, memory_mb, count=1):
        self.used_cpus += cpus * count
        self.used_memory_mb += memory_mb * count

    def free(self):
        return max(0.0, self.cpus - self.used_cpus), max(0.0, self.memory_mb - self.used_memory_mb)


class Request(object):
    """One deployment's wish: `replicas` containers of cpus/memory_mb each;
    `keep` are the hosts (with counts) where it has containers that may stay."""

    def __init__(self, name, replicas, cpus, memory_mb, keep=None):
        self.name = name
        self.replicas = replicas
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.keep = dict(keep or {})


def trim(keep, replicas, hosts_by_name):
    """Counts to keep when more run than wanted: drop from the host holding
    the most of them, then the fullest, then the last in inventory order."""
    keep = dict((h, n) for h, n in keep.items() if n > 0)
    order = list(hosts_by_name)
    while sum(keep.values()) > replicas:
        victim = max(keep, key=lambda h: (keep[h], hosts_by_name[h].share(), order.index(h)))
        keep[victim] -= 1
        if not keep[victim]:
            del keep[victim]
    return keep


def place(requests, hosts, fixed=None):
    """Placement of every request.

    requests: [Request] in the order they are served.
    hosts: [Host] in inventory order.
    fixed: {host: (cpus, memory_mb)} already used by containers this plan leaves alone.
    Returns (placement {name: {host: count}}, shortfall {name: containers that do not fit}).
    """
    by_name = dict((h.name, h) for h in hosts)
    for name, (cpus, memory) in (fixed or {}).items():
        if name in by_name:
            by_name[name].used_cpus += cpus
            by_name[name].used_memory_mb += memory

    placement = {}
    # Containers that stay count before any new one is placed, whatever the order.
    for request in requests:
        eligible = dict((h, n) for h, n in request.keep.items() if h in by_name and by_name[h].eligible)
        kept = trim(eligible, request.replicas, by_name)
        for host, count in kept.items():
            by_name[host].take(request.cpus, request.memory_mb, count)
        placement[request.name] = kept

    shortfall = {}
    for request in requests:
        counts = placement[request.name]
        missing = request.replicas - sum(counts.values())
        for placed in range(missing):
            candidates = [h for h in hosts if h.eligible and h.fits(request.cpus, request.memory_mb)]
            if not candidates:
                shortfall[request.name] = missing - placed
                break
            best = min(candidates, key=lambda h: (counts.get(h.name, 0) > 0, round(h.share(), 9),
                                                  hosts.index(h)))
            best.take(request.cpus, request.memory_mb)
            counts[best.name] = counts.get(best.name, 0) + 1
    return placement, shortfall


def fleet_free(hosts):
    """{host: (free cpus, free memory_mb)} of the eligible hosts, for messages."""
    return dict((h.name, h.free()) for h in hosts if h.eligible)
