# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.replicas import spread


@pytest.mark.parametrize('total, hosts, expected', [
    (0, ['a', 'b'], {'a': 0, 'b': 0}),
    (1, ['a', 'b'], {'a': 1, 'b': 0}),
    (2, ['a', 'b'], {'a': 1, 'b': 1}),
    (3, ['a', 'b'], {'a': 2, 'b': 1}),
    (10, ['a', 'b', 'c'], {'a': 4, 'b': 3, 'c': 3}),
    (4, ['a'], {'a': 4}),
])
def test_spread(total, hosts, expected):
    assert spread(total, hosts) == expected


def test_no_hosts_says_which_group():
    with pytest.raises(ValueError, match='langgraph_app'):
        spread(1, [])
