# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups: where dumps go, which ones retention removes, what a restore does or why it must not."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.backup import (
    DAY,
    BackupError,
    backup_path,
    check_sha256,
    directory_problem,
    plan_backups,
    plan_restore,
    retention,
    select_deployments,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.control_schema import MIGRATIONS

NOW = 1000 * DAY
SUM = 'a' * 64


@pytest.mark.parametrize('directory, problem', [
    ('/var/backups/selfhost-langgraph', None),
    ('/srv/backups/', None),
    ('relative/dir', 'absolute path'),
    ('', 'absolute path'),
    ('/', 'of its own'),
    ('/tmp', 'of its own'),
    ('/tmp/', 'of its own'),
])
def test_directory_problem(directory, problem):
    found = directory_problem(directory)
    assert (found is None) if problem is None else (problem in found)


def test_backup_path():
    assert backup_path('/var/backups/lg/', 'support-bot', 42) == '/var/backups/lg/support-bot/42.dump'
    with pytest.raises(BackupError, match='invalid deployment name'):
        backup_path('/var/backups/lg', '../etc', 1)
    with pytest.raises(BackupError, match='absolute'):
        backup_path('lg', 'support-bot', 1)


RECORDED = {'a-one': dict(database='lg_a_one', postgres_host='pg2'), 'b-two': dict(database='lg_b_two', postgres_host=None)}


@pytest.mark.parametrize('wanted, skip, expected', [
    ([], False, ['a-one', 'b-two']),
    (['b-two'], False, ['b-two']),
    (['b-two', 'new-one'], True, ['b-two']),
    ([], True, []),
])
def test_select_deployments(wanted, skip, expected):
    assert select_deployments(RECORDED, wanted, skip) == expected


def test_selecting_a_deployment_without_database_names_it():
    with pytest.raises(BackupError, match='no database is recorded for new-one'):
        select_deployments(RECORDED, ['new-one', 'a-one'])


def test_plan_backups_goes_to_the_host_of_each_database():
    assert plan_backups(RECORDED, [], 'pg1') == {
        'pg2': [dict(deployment='a-one', database='lg_a_one')],
        'pg1': [dict(deployment='b-two', database='lg_b_two')]}


def rows(*ages_days):
    return [dict(id=i + 1, created_at=NOW - age * DAY) for i, age in enumerate(ages_days)]


@pytest.mark.parametrize('ages, count, days, gone', [
    ((0,), 7, 30, []),
    ((10, 5, 0), 2, 0, [1]),                 # by count: the oldest goes
    ((40, 20, 0), 7, 30, [1]),               # by age
    ((40, 35), 7, 30, [1]),                  # all too old: the newest stays
    ((50, 40, 30.5, 2, 1, 0), 3, 30, [1, 2, 3]),
    ((3, 2, 1, 0), 1, 0, [1, 2, 3]),
])
def test_retention(ages, count, days, gone):
    assert retention(rows(*ages), count, days, NOW) == gone


@pytest.mark.parametrize('count, days, message', [(0, 1, 'keep_count'), (1, -1, 'keep_days')])
def test_retention_refuses_bad_settings(count, days, message):
    with pytest.raises(BackupError, match=message):
        retention(rows(1), count, days, NOW)


def backup(id_, deployment='a-one', host='pg1'):
    return dict(id=id_, deployment=deployment, host=host, path='/b/%s/%d.dump' % (deployment, id_), sha256=SUM)


BACKUPS = {'a-one': [backup(9), backup(4)], 'b-two': [backup(7, 'b-two')]}
RECORDS = {'a-one': dict(database='lg_a_one', role='lg_a_one', postgres_host='pg1'),
           'b-two': dict(database='lg_b_two', role='lg_b_two', postgres_host='pg1')}
DECLARED = ['a-one', 'b-two', 'c-three']


@pytest.mark.parametrize('args, expected', [
    (('a-one', 0, '', False), dict(backup_id=9, target='a-one', same=True, overwrite=True, database='lg_a_one')),
    (('a-one', 4, '', False), dict(backup_id=4, target='a-one', same=True, overwrite=True, database='lg_a_one')),
    (('a-one', 4, 'c-three', False), dict(backup_id=4, target='c-three', same=False, overwrite=False,
                                          database='lg_c_three')),
    (('a-one', 0, 'b-two', True), dict(backup_id=9, target='b-two', same=False, overwrite=True, database='lg_b_two')),
])
def test_plan_restore(args, expected):
    plan = plan_restore(*args, declared=DECLARED, backups=BACKUPS, recorded=RECORDS)
    assert dict(backup_id=plan['backup']['id'], target=plan['target'], same=plan['same'], overwrite=plan['overwrite'],
                database=plan['database']) == expected
    assert plan['stop_first'] == plan['overwrite'] and plan['backup_host'] == 'pg1'


@pytest.mark.parametrize('args, message', [
    (('a-one', 5, '', False), 'there is no backup 5 of a-one; its backups are: 9, 4'),
    (('a-one', 7, '', False), 'backup 7 is a backup of b-two, not of a-one'),
    (('c-three', 0, '', False), 'c-three has no backup'),
    (('a-one', 0, 'b-two', False), 'b-two already has a database.*-e force=true'),
    (('a-one', 0, 'd-four', False), 'd-four is not declared'),
    (('a-one', 0, 'D4', False), 'invalid deployment name'),
])
def test_plan_restore_refuses(args, message):
    with pytest.raises(BackupError, match=message):
        plan_restore(*args, declared=DECLARED, backups=BACKUPS, recorded=RECORDS)


def test_check_sha256():
    check_sha256(SUM, SUM, '/b/1.dump')
    with pytest.raises(BackupError, match='does not match its recorded checksum'):
        check_sha256(SUM, 'b' * 64, '/b/1.dump')
    with pytest.raises(BackupError, match='not a sha256'):
        check_sha256('xyz', SUM, '/b/1.dump')


def test_version_6_backups():
    six = MIGRATIONS[5]
    assert six.version == 6
    sql = ' '.join(six.statements)
    assert 'CREATE TABLE backups (' in sql and 'UNIQUE (host, path)' in sql
    # a backup outlives the purge of its deployment: no foreign key
    assert 'REFERENCES' not in sql
    assert 'DROP' not in sql.upper() and 'RENAME' not in sql.upper()
