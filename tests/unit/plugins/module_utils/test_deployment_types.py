# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment_types import (
    check_replicas,
    type_limits,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


@pytest.mark.parametrize('kind, cpus, memory_mb, max_replicas', [
    ('development', 1, 1024, 1),
    ('production', 2, 2048, 10),
])
def test_limits(kind, cpus, memory_mb, max_replicas):
    assert type_limits(kind) == dict(cpus=cpus, memory_mb=memory_mb, max_replicas=max_replicas)


def test_unknown_type():
    with pytest.raises(StoreError, match='unknown deployment type'):
        type_limits('staging')


@pytest.mark.parametrize('kind, lo, hi, message', [
    ('development', 1, 1, None),
    ('development', 0, 1, None),
    ('development', 1, 2, 'at most 1 container'),
    ('production', 1, 10, None),
    ('production', 1, 11, 'at most 10 container'),
    ('production', 3, 2, 'min_replicas <= max_replicas'),
    ('production', -1, 2, 'min_replicas'),
])
def test_replicas(kind, lo, hi, message):
    if message is None:
        check_replicas(kind, lo, hi)
    else:
        with pytest.raises(StoreError, match=message):
            check_replicas(kind, lo, hi)
