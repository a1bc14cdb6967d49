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


def assign_redis_dbs(allocated, names, databases, instance='the Redis instance'):
    """Numbers for names on one instance, in one decision.

    allocated: {deployment: number} recorded on the instance. A deployment
    keeps its number (refused when the instance has fewer databases now); the
    others get the lowest free ones, in the order given. Returns (numbers,
    failed): {name: (number, newly allocated)} and {name: reason}."""
    taken = list(allocated.values())
    numbers, failed = {}, {}
    for name in names:
        if name in allocated:
            number = allocated[name]
            if number >= databases:
                failed[name] = ("deployment %s has Redis database %d on %s, but the instance has only %d databases "
                                "(0..%d): raise redis_databases to at least %d"
                                % (name, number, instance, databases, databases - 1, number + 1))
            else:
                numbers[name] = (number, False)
            continue
        try:
            number = choose_redis_db(taken, databases, instance)
        except RedisExhausted as e:
            failed[name] = str(e)
            continue
        taken.append(number)
        numbers[name] = (number, True)
    return numbers, failed
