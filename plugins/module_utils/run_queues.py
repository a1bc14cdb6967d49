# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pending and running runs of many deployments, each in its own database.

Postgres cannot query across databases, so each count is its own short
connection; they run a few at a time so that 500 deployments take about as
long as a handful of round trips.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.selfhost.langgraph.plugins.module_utils.autoscale_store import queue_depth
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


def targets(deployments, servers):
    """[(name, server, database)] to count, and {name: problem} for those that cannot be.

    deployments: control_state's begin result, {name: {postgres_host, database, ...}}.
    servers: {host: postgres server entry}."""
    todo, problems = [], {}
    for name in sorted(deployments):
        state = deployments[name] or {}
        if not state.get('database'):
            problems[name] = 'it has no database yet'
            continue
        host = state.get('postgres_host')
        if host not in servers:
            problems[name] = 'its Postgres host %s is not among postgres_servers' % host
            continue
        todo.append((name, servers[host], state['database']))
    return todo, problems


def read_databases(todo, connect, read, failing, parallel=8):
    """({name: read(cursor)}, {name: problem}): each deployment's own database read, a few at once.

    todo: [(name, server, database)]; connect(server, database) opens a connection; a database error is
    that deployment's problem, said as failing + the error, not the end of the others."""
    def one(item):
        name, server, database = item
        try:
            conn = connect(server, database)
        except StoreError as exc:
            return name, None, str(exc)
        try:
            with conn.cursor() as cur:
                return name, read(cur), None
        except StoreError as exc:
            return name, None, str(exc)
        except Exception as exc:  # one deployment's missing figure, not the others' end
            return name, None, '%s: %s' % (failing, str(exc).strip())
        finally:
            conn.rollback()
            conn.close()

    found, problems = {}, {}
    if not todo:
        return found, problems
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(todo)))) as pool:
        for name, value, problem in pool.map(one, todo):
            if problem:
                problems[name] = problem
            else:
                found[name] = value
    return found, problems


def _queue(cur):
    pending, running = queue_depth(cur)
    return dict(pending=pending, running=running)


def count_all(todo, connect, parallel=8):
    """({name: {pending, running}}, {name: problem}); connect(server, database) opens a connection."""
    return read_databases(todo, connect, _queue, 'cannot count its runs', parallel)
