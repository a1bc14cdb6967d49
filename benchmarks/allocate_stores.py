# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Allocate the stores of many deployments and print how long it took.

For each of --count deployments (bench-0001 ...): the Postgres database and
owner role, and a Redis database number, with the same module_utils code the
modules run (plan, apply, record in the control database). Connections are
opened once, so the figures are the allocation work itself, without the
Ansible round trip of a task (a few seconds per ansible-playbook process).
Figures are printed, never asserted. Afterwards everything is released again
(timed too) unless --keep.

  .venv/bin/python benchmarks/allocate_stores.py --pg-port 5432 --admin-password ... \\
      --redis-host 172.30.213.12 --redis-password ... --count 500
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))


def import_collection():
    """Make ansible_collections.selfhost.langgraph point at this checkout."""
    tree = tempfile.mkdtemp(prefix='selfhost-langgraph-bench-')
    os.makedirs(os.path.join(tree, 'ansible_collections', 'selfhost'))
    os.symlink(REPO, os.path.join(tree, 'ansible_collections', 'selfhost', 'langgraph'))
    sys.path.insert(0, tree)


import_collection()

from ansible_collections.selfhost.langgraph.plugins.module_utils import (  # noqa: E402
    connection, control_schema, postgres_store, redis_store)
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import (  # noqa: E402
    postgres_name, validate_deployment_name)
from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import database_uri, redis_uri  # noqa: E402


def parse_args():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    p.add_argument('--count', type=int, default=500)
    p.add_argument('--prefix', default='bench-')
    p.add_argument('--pg-host', default=env('BENCH_PG_HOST', '127.0.0.1'))
    p.add_argument('--pg-port', type=int, default=int(env('BENCH_PG_PORT', '5432')))
    p.add_argument('--admin-user', default='langgraph_admin')
    p.add_argument('--admin-password', default=env('BENCH_ADMIN_PASSWORD'))
    p.add_argument('--redis-host', default=env('BENCH_REDIS_HOST', '127.0.0.1'))
    p.add_argument('--redis-port', type=int, default=int(env('BENCH_REDIS_PORT', '6379')))
    p.add_argument('--redis-password', default=env('BENCH_REDIS_PASSWORD'))
    p.add_argument('--keep', action='store_true', help='leave the deployments in place')
    return p.parse_args()


def params(args):
    return dict(login_host=args.pg_host, login_port=args.pg_port, login_user=args.admin_user,
                login_password=args.admin_password, maintenance_db='postgres',
                control_database='langgraph_control', ssl_mode='prefer', ca_cert=None, connect_timeout=10,
                redis_host=args.redis_host, redis_port=args.redis_port, redis_user=None,
                redis_password=args.redis_password, redis_tls=False, redis_ca_cert=None,
                redis_validate_certs=True)


def allocate_one(name, p, admin, control, client, instance, databases):
    """What deployment_postgres and deployment_redis do for one new deployment."""
    validate_deployment_name(name)
    pg = postgres_name(name)
    password = 'bench-pw-@:/%#?&-' + name
    cur = admin.cursor()
    observed = postgres_store.observe(cur, pg, pg)
    actions = postgres_store.plan_postgres(observed, 'present', pg, password_ok=not observed['role_exists'])
    postgres_store.apply_actions(admin, actions, pg, pg, password)
    postgres_store.record(control, name, pg, pg, 'production', 'present')
    number, _new = redis_store.allocate(control, instance, name, databases, who='benchmark')
    database_uri(pg, password, p['login_host'], p['login_port'], pg)
    redis_uri(p['redis_password'], p['redis_host'], p['redis_port'], number)
    return number


def release_one(name, p, admin, control, instance):
    pg = postgres_name(name)
    observed = postgres_store.observe(admin.cursor(), pg, pg)
    postgres_store.apply_actions(admin, postgres_store.plan_postgres(observed, 'absent', pg), pg, pg, None)
    postgres_store.record(control, name, pg, pg, None, 'absent')
    redis_store.release(control, instance, name,
                        lambda n: connection.redis_connect(p, db=n).flushdb())


def summary(label, times):
    times_ms = sorted(t * 1000 for t in times)
    p95 = times_ms[int(len(times_ms) * 0.95) - 1]
    print('%-10s %4d in %7.1f s   per deployment: mean %6.1f ms  median %6.1f ms  p95 %6.1f ms  max %6.1f ms'
          % (label, len(times), sum(times), statistics.mean(times_ms), statistics.median(times_ms), p95,
             times_ms[-1]))


def main():
    args = parse_args()
    p = params(args)
    admin = connection.postgres_connect(p, 'postgres', autocommit=True)
    control_db = control_schema.ensure_control_database(p, connection.postgres_connect)
    control = connection.postgres_connect(p, p['control_database'])
    client = connection.redis_connect(p)
    instance = '%s:%s' % (args.redis_host, args.redis_port)
    databases, source = redis_store.read_databases(client, None, instance)
    names = ['%s%04d' % (args.prefix, i) for i in range(1, args.count + 1)]
    print('Postgres %s:%s (schema version %d), Redis %s with %d databases (%s)'
          % (args.pg_host, args.pg_port, control_db['version'], instance, databases, source))
    print('allocating database, role and Redis number for %d deployments ...' % len(names))
    times = []
    numbers = []
    start = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        numbers.append(allocate_one(name, p, admin, control, client, instance, databases))
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    assert len(set(numbers)) == len(numbers)  # a sanity check of the run, not a timing assertion
    summary('allocate', times)
    print('total %.1f s, %.1f deployments/s' % (total, len(names) / total))
    if not args.keep:
        times = []
        for name in names:
            t0 = time.perf_counter()
            release_one(name, p, admin, control, instance)
            times.append(time.perf_counter() - t0)
        summary('release', times)
    admin.close()
    control.close()


if __name__ == '__main__':
    main()
