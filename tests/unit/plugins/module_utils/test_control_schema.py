# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.control_schema import (
    LATEST_VERSION,
    MIGRATIONS,
    Migration,
    check_migrations,
    plan_migrations,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

M = [Migration(1, 'one', ['SELECT 1']), Migration(2, 'two', ['SELECT 2']), Migration(3, 'three', ['SELECT 3'])]


@pytest.mark.parametrize('current, target, expected', [
    (0, None, [1, 2, 3]),
    (1, None, [2, 3]),
    (2, None, [3]),
    (3, None, []),
    (0, 1, [1]),
    (0, 2, [1, 2]),
    (1, 2, [2]),
    (2, 1, []),  # never downgrades
    (0, 0, []),
])
def test_plan(current, target, expected):
    assert [m.version for m in plan_migrations(current, M, target)] == expected


@pytest.mark.parametrize('current, target, message', [
    (4, None, 'newer than this collection knows'),
    (0, 4, 'newer than the latest known'),
])
def test_plan_refuses(current, target, message):
    with pytest.raises(ValueError, match=message):
        plan_migrations(current, M, target)


@pytest.mark.parametrize('migrations', [
    [Migration(2, 'gap', [])],
    [Migration(1, 'a', []), Migration(1, 'dup', [])],
    [Migration(1, 'a', []), Migration(3, 'gap', [])],
])
def test_versions_must_be_consecutive(migrations):
    with pytest.raises(ValueError):
        check_migrations(migrations)


def test_released_migrations():
    check_migrations()
    assert LATEST_VERSION == MIGRATIONS[-1].version >= 2
    sql = ' '.join(s for m in MIGRATIONS for s in m.statements)
    for table in ('deployments', 'redis_allocations', 'revisions', 'deploy_locks', 'scale_events'):
        assert 'CREATE TABLE %s (' % table in sql
    assert 'UNIQUE (redis_instance, db_number)' in sql
    assert 'UNIQUE (redis_instance, deployment)' in sql
    assert 'CHECK (db_number >= 1)' in sql  # database 0 can never be recorded


def test_version_4_pins_and_leases():
    four = MIGRATIONS[3]
    assert four.version == 4
    sql = ' '.join(four.statements)
    assert 'ADD COLUMN postgres_host text' in sql and 'ADD COLUMN redis_host text' in sql
    assert 'ALTER COLUMN expires_at SET NOT NULL' in sql
    # additive only: a released table or column is never dropped or renamed
    assert 'DROP' not in sql.upper() and 'RENAME' not in sql.upper()


def test_a_newer_database_is_a_clear_store_error():
    with pytest.raises(StoreError, match='upgrade selfhost.langgraph'):
        plan_migrations(9)


def test_version_5_replicas_hosts_and_audit():
    five = MIGRATIONS[4]
    assert five.version == 5
    sql = ' '.join(five.statements)
    assert 'ADD COLUMN replicas integer' in sql and 'CHECK (replicas >= 0)' in sql
    assert 'CREATE TABLE fleet_hosts (' in sql and 'CREATE TABLE audit_events (' in sql
    assert 'ON audit_events (deployment, at DESC)' in sql
    # an audit row outlives a purge of its deployment: no foreign key
    assert 'REFERENCES' not in sql
    assert 'DROP' not in sql.upper() and 'RENAME' not in sql.upper()
