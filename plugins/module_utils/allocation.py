# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Choice of a Redis database number: a pure function, tested by tables."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


class RedisExhausted(StoreError):
    pass


def choose_redis_db(taken, databases, instance='the Redis instance'):
    """Lowest free database number in 1..databases-1 (0 is never handed out).

    taken: numbers already allocated on the instance. Raises RedisExhausted
    naming the instance, the count and the variable to raise.
    """
    if databases < 2:
        raise RedisExhausted(
            "Redis at %s has %d database(s); database 0 is never handed out, so it needs at "
            "least 2: raise redis_databases" % (instance, databases))
    taken = set(taken)
    for number in range(1, databases):
        if number not in taken:
            return number
    usable = databases - 1
    allocated = len([n for n in taken if 1 <= n < databases])
    raise RedisExhausted(
        "Redis at %s has no free database: %d of %d are allocated; raise redis_databases"
        % (instance, allocated, usable))
