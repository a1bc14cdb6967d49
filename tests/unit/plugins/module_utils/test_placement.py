# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Placement by capacity: distinct hosts first, least loaded next, existing containers stay."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.placement import (
    Host, Request, host_capacity, place, trim)


@pytest.mark.parametrize('reported, overrides, expected', [
    ({'cpus': 8, 'memory_mb': 32768}, {}, ((8 - 0.5) * 4, 32768 - 1024)),
    ({'cpus': 2, 'memory_mb': 4096}, {'langgraph_app_cpu_overcommit': 1}, (1.5, 3072)),
    ({'cpus': 2, 'memory_mb': 4096}, {'langgraph_app_cpus': 16, 'langgraph_app_memory_mb': 65536},
     ((16 - 0.5) * 4, 65536 - 1024)),
    ({'cpus': 4, 'memory_mb': 8192},
     {'langgraph_app_reserve_cpus': 0, 'langgraph_app_reserve_memory_mb': 0, 'langgraph_app_memory_overcommit': 1.5},
     (16, 12288)),
    (None, {}, (0, 0)),
])
def test_host_capacity(reported, overrides, expected):
    assert host_capacity(reported, overrides) == expected


def hosts(*specs):
    """('app1', cpus, memory) or ('app1', cpus, memory, eligible)."""
    return [Host(*spec) for spec in specs]


DEV = dict(cpus=1, memory_mb=1024)
PROD = dict(cpus=2, memory_mb=2048)


def test_six_single_replica_deployments_spread_evenly():
    placement, shortfall = place([Request('d%d' % i, 1, **DEV) for i in range(6)],
                                 hosts(('app1', 8, 8192), ('app2', 8, 8192)))
    per_host = {}
    for counts in placement.values():
        for host, n in counts.items():
            per_host[host] = per_host.get(host, 0) + n
    assert per_host == {'app1': 3, 'app2': 3} and shortfall == {}


@pytest.mark.parametrize('requests, fleet, fixed, expected, shortfall', [
    # replicas of one deployment on distinct hosts first
    ([Request('a', 3, **PROD)], [('app1', 8, 8192), ('app2', 8, 8192), ('app3', 8, 8192)], {},
     {'a': {'app1': 1, 'app2': 1, 'app3': 1}}, {}),
    # more replicas than hosts: the least loaded next
    ([Request('a', 3, **PROD)], [('app1', 8, 8192), ('app2', 8, 8192)], {},
     {'a': {'app1': 2, 'app2': 1}}, {}),
    # the least-loaded host first: app1 is half full
    ([Request('a', 1, **DEV)], [('app1', 8, 8192), ('app2', 8, 8192)], {'app1': (4, 1024)},
     {'a': {'app2': 1}}, {}),
    # memory decides when it is the scarcer
    ([Request('a', 1, **DEV)], [('app1', 8, 8192), ('app2', 8, 4096)], {'app1': (0, 4096), 'app2': (0, 1024)},
     {'a': {'app2': 1}}, {}),
    # existing containers stay, even on the fuller host
    ([Request('a', 2, keep={'app1': 2}, **DEV)], [('app1', 8, 8192), ('app2', 8, 8192)], {'app1': (4, 4096)},
     {'a': {'app1': 2}}, {}),
    # scale down: the host holding more goes first
    ([Request('a', 2, keep={'app1': 2, 'app2': 1}, **DEV)], [('app1', 8, 8192), ('app2', 8, 8192)], {},
     {'a': {'app1': 1, 'app2': 1}}, {}),
    # a drained host keeps nothing and takes nothing
    ([Request('a', 2, keep={'app1': 1, 'app2': 1}, **DEV)],
     [('app1', 8, 8192, False), ('app2', 8, 8192), ('app3', 8, 8192)], {},
     {'a': {'app2': 1, 'app3': 1}}, {}),
    # a full host takes nothing more
    ([Request('a', 2, **PROD)], [('app1', 2, 2048), ('app2', 2, 2048)], {'app1': (2, 2048)},
     {'a': {'app2': 1}}, {'a': 1}),
    # what stays is counted before anything new, whatever the order
    ([Request('new', 1, **PROD), Request('old', 1, keep={'app1': 1}, **PROD)],
     [('app1', 4, 4096), ('app2', 4, 4096)], {},
     {'new': {'app2': 1}, 'old': {'app1': 1}}, {}),
])
def test_place(requests, fleet, fixed, expected, shortfall):
    placement, missing = place(requests, hosts(*fleet), fixed)
    assert placement == expected and missing == shortfall


def test_trim_prefers_the_fullest_then_the_last_host():
    fleet = dict((h.name, h) for h in hosts(('app1', 8, 8192), ('app2', 8, 8192)))
    fleet['app2'].used_cpus = 4
    assert trim({'app1': 1, 'app2': 1}, 1, fleet) == {'app1': 1}
    fleet['app2'].used_cpus = 0
    assert trim({'app1': 1, 'app2': 1}, 1, fleet) == {'app1': 1}
    assert trim({'app1': 1, 'app2': 1}, 0, fleet) == {}
