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


def count_all(todo, connect, parallel=8):
    """({name: {pending, running}}, {name: problem}); connect(server, database) opens a connection."""
    def one(item):
        name, server, database = item
        try:
            conn = connect(server, database)
        except StoreError as exc:
            return name, None, str(exc)
        try:
            with conn.cursor() as cur:
                pending, running = queue_depth(cur)
            return name, dict(pending=pending, running=running), None
        except StoreError as exc:
            return name, None, str(exc)
        except Exception as exc:  # a database error is one deployment's missing metric
            return name, None, 'cannot count its runs: %s' % str(exc).strip()
        finally:
            conn.rollback()
            conn.close()

    queues, problems = {}, {}
    if not todo:
        return queues, problems
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(todo)))) as pool:
        for name, queue, problem in pool.map(one, todo):
            if problem:
                problems[name] = problem
            else:
                queues[name] = queue
    return queues, problems
