# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups of deployment databases: the decisions, as pure functions.

Which deployments a backup run dumps, where each dump goes, which dumps
retention removes, and what a restore does (or why it must not) are decided
here from the control database's records, without touching a system; the
modules carry the decisions out.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import posixpath
import re

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import deployment_name_problem, postgres_name

DEFAULT_DIRECTORY = '/var/backups/selfhost-langgraph'
SHA256 = re.compile(r'^[0-9a-f]{64}$')
DAY = 86400


class BackupError(StoreError, ValueError):
    """A backup or restore request that cannot be carried out; nothing was changed."""


def directory_problem(directory):
    """Why directory cannot be a backup location (None when it can)."""
    if not directory or not posixpath.isabs(directory):
        return 'the backup directory must be an absolute path, not %r' % (directory,)
    if posixpath.normpath(directory) in ('/', '/tmp', '/var/tmp', '/run'):
        return 'the backup directory %s is shared by everything on the host: choose a directory of its own' % directory
    return None


def backup_path(directory, deployment, backup_id):
    """Where the dump of backup backup_id of deployment lies: <directory>/<deployment>/<id>.dump."""
    problem = directory_problem(directory) or deployment_name_problem(deployment)
    if problem:
        raise BackupError(problem)
    return posixpath.join(posixpath.normpath(directory), deployment, '%d.dump' % int(backup_id))


def select_deployments(recorded, wanted, skip_missing=False):
    """Names to back up: every recorded deployment when wanted is empty, else wanted.

    recorded: {name: {...}} from the control database. A wanted name that was
    never recorded has no database to dump: an error naming it, or left out
    with skip_missing (a backup of every declared deployment)."""
    if skip_missing:
        return sorted(set(wanted) & set(recorded))
    if not wanted:
        return sorted(recorded)
    unknown = sorted(set(wanted) - set(recorded))
    if unknown:
        raise BackupError('no database is recorded for %s in the control database; deploy it (or run stores.yml) '
                          'before backing it up' % ', '.join(unknown))
    return sorted(set(wanted))


def retention(backups, keep_count, keep_days, now):
    """Ids of the backups of one deployment that retention removes, oldest first.

    backups: [{id, created_at (epoch)}]. A backup goes when it is not among the
    keep_count newest, or when it is older than keep_days days (0: no age
    limit); the newest one always stays, so a deployment is never left
    without a backup by retention alone."""
    if keep_count < 1:
        raise BackupError('backup_keep_count must be 1 or more, not %r' % (keep_count,))
    if keep_days < 0:
        raise BackupError('backup_keep_days must be 0 (no age limit) or more, not %r' % (keep_days,))
    ordered = sorted(backups, key=lambda b: (b['created_at'], b['id']), reverse=True)
    gone = []
    for rank, backup in enumerate(ordered):
        if rank == 0:
            continue
        too_many = rank >= keep_count
        too_old = keep_days > 0 and now - backup['created_at'] > keep_days * DAY
        if too_many or too_old:
            gone.append(backup['id'])
    return list(reversed(gone))


def plan_backups(recorded, wanted, control_host, skip_missing=False):
    """{postgres host: [{deployment, database}]}: each deployment is dumped on the
    Postgres host that holds its database (rows from before store pins: the control host)."""
    plan = {}
    for name in select_deployments(recorded, wanted, skip_missing):
        row = recorded[name]
        host = row.get('postgres_host') or control_host
        plan.setdefault(host, []).append(dict(deployment=name, database=row.get('database') or postgres_name(name)))
    return plan


def plan_restore(deployment, backup_id, into, force, declared, backups, recorded):
    """What a restore does, or a BackupError saying why it must not (nothing changed).

    deployment: whose backup; backup_id: an id of it (None or 0: its newest);
    into: the deployment restored into ('' or None: the same one); force:
    overwrite a taken name; declared: names in langgraph_deployments;
    backups: {deployment: [rows newest first]}; recorded: {name: {...}} from
    the control database (deployments that have, or had, a database)."""
    for name in [deployment] + ([into] if into else []):
        problem = deployment_name_problem(name)
        if problem:
            raise BackupError(problem)
    target = into or deployment
    rows = backups.get(deployment) or []
    if backup_id:
        chosen = [r for r in rows if int(r['id']) == int(backup_id)]
        if not chosen:
            others = [r for rs in backups.values() for r in rs if int(r['id']) == int(backup_id)]
            if others:
                raise BackupError('backup %s is a backup of %s, not of %s; name its deployment with -e deployment=%s'
                                  % (backup_id, others[0]['deployment'], deployment, others[0]['deployment']))
            raise BackupError('there is no backup %s of %s; its backups are: %s'
                              % (backup_id, deployment, ', '.join(str(r['id']) for r in rows) or 'none'))
        backup = chosen[0]
    elif rows:
        backup = rows[0]
    else:
        raise BackupError('%s has no backup; make one with playbooks/backup.yml -e deployment=%s' % (deployment, deployment))
    if target not in declared:
        raise BackupError('%s is not declared in langgraph_deployments: declare it (image, type, lb_port ...) '
                          'so that it can be started on the restored database' % target)
    same = target == deployment
    taken = target in recorded
    if not same and taken and not force:
        raise BackupError('%s already has a database; restoring backup %s of %s into it would overwrite it: '
                          'add -e force=true to do so, or choose another name with -e into=NAME'
                          % (target, backup['id'], deployment))
    target_row = recorded.get(target) or {}
    return dict(
        backup=dict(backup),
        deployment=deployment,
        target=target,
        same=same,
        overwrite=taken,
        # A deployment that has a database may have containers using it: they stop first and start again after.
        stop_first=taken,
        database=target_row.get('database') or postgres_name(target),
        role=target_row.get('role') or postgres_name(target),
        postgres_host=target_row.get('postgres_host'),
        backup_host=backup['host'],
    )


def check_sha256(expected, actual, path):
    """BackupError unless the file's checksum is the recorded one."""
    if not SHA256.match(expected or ''):
        raise BackupError('the recorded checksum of %s is not a sha256 (%r)' % (path, expected))
    if expected != actual:
        raise BackupError('the dump %s does not match its recorded checksum (sha256 %s, recorded %s): it is '
                          'damaged or was replaced; restore another backup' % (path, actual, expected))
