# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deployment types and their resource limits (seed 001: development/production)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

DEPLOYMENT_TYPES = {
    'development': {'cpus': 1, 'memory_mb': 1024, 'max_replicas': 1},
    'production': {'cpus': 2, 'memory_mb': 2048, 'max_replicas': 10},
}
DEFAULT_TYPE = 'production'


def type_limits(deployment_type):
    """Limits of a type: dict with cpus, memory_mb and max_replicas."""
    try:
        return dict(DEPLOYMENT_TYPES[deployment_type])
    except KeyError:
        raise StoreError("unknown deployment type %r: use one of %s"
                         % (deployment_type, ', '.join(sorted(DEPLOYMENT_TYPES))))


def check_replicas(deployment_type, min_replicas, max_replicas):
    """Raise StoreError when min/max replicas do not fit the type."""
    limit = type_limits(deployment_type)['max_replicas']
    if min_replicas < 0 or max_replicas < 1 or min_replicas > max_replicas:
        raise StoreError("replicas must satisfy 0 <= min_replicas <= max_replicas and "
                         "max_replicas >= 1 (got %d..%d)" % (min_replicas, max_replicas))
    if max_replicas > limit:
        raise StoreError("a %s deployment runs at most %d container(s); got max_replicas=%d"
                         % (deployment_type, limit, max_replicas))
