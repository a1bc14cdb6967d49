# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.allocation import (
    RedisExhausted,
    choose_redis_db,
)

CHOICES = [
    # taken, databases, expected
    ([], 16, 1),
    ([1], 16, 2),
    ([1, 2, 3], 16, 4),
    ([2, 3], 16, 1),          # a released number is reused first
    ([1, 3], 16, 2),
    ([0], 16, 1),             # 0 is never handed out, taken or not
    (list(range(1, 15)), 16, 15),
    ([], 2, 1),
    ([20, 21], 16, 1),        # numbers beyond the count do not matter
    (list(range(1, 1023)), 1024, 1023),
]


@pytest.mark.parametrize('taken, databases, expected', CHOICES)
def test_choose(taken, databases, expected):
    assert choose_redis_db(taken, databases) == expected


EXHAUSTED = [
    (list(range(1, 16)), 16, 'no free database: 15 of 15 are allocated; raise redis_databases'),
    ([1], 2, 'no free database: 1 of 1 are allocated'),
    (list(range(1, 1024)), 1024, 'no free database: 1023 of 1023 are allocated; raise redis_databases'),
    ([], 1, 'needs at least 2: raise redis_databases'),
    ([], 0, 'needs at least 2'),
]


@pytest.mark.parametrize('taken, databases, message', EXHAUSTED)
def test_exhausted(taken, databases, message):
    with pytest.raises(RedisExhausted, match=message):
        choose_redis_db(taken, databases, '172.30.213.12:6379')


def test_message_names_the_instance():
    with pytest.raises(RedisExhausted) as e:
        choose_redis_db(list(range(1, 1024)), 1024, '172.30.213.12:6379')
    assert str(e.value) == ('Redis at 172.30.213.12:6379 has no free database: 1023 of 1023 '
                            'are allocated; raise redis_databases')
