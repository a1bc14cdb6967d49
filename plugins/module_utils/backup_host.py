# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dumps and restores on the Postgres host, as the postgres system user.

pg_dump and pg_restore run on the host that holds the database, as the
cluster's own system user (peer authentication over the local socket), so no
password is used or passed. The dump streams through this process into the
backup directory and is checksummed on the way; a dump is written to a
.partial file and renamed only once complete, so a file named <id>.dump is
always whole. A restore goes into a scratch database first and replaces the
deployment's database by two renames in one transaction, so a failed
restore leaves the database as it was.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os
import subprocess
import tempfile
import time

from ansible_collections.selfhost.langgraph.plugins.module_utils.backup import BackupError

CHUNK = 1024 * 1024


def as_user(user, argv):
    """argv run as the system user (root runs the module, with become)."""
    if os.geteuid() == 0 and user:
        return ['runuser', '-u', user, '--'] + list(argv)
    return list(argv)


def ident(name):
    return '"%s"' % name.replace('"', '""')


def literal(text):
    return "'%s'" % text.replace("'", "''")


class Host(object):
    """The Postgres cluster on this host, reached as pg_user over its socket."""

    def __init__(self, pg_user='postgres', port=5432):
        self.pg_user, self.port = pg_user, port

    def psql(self, sql, database='postgres'):
        """Rows (lists of str) of sql, run with ON_ERROR_STOP; BackupError with psql's message on failure."""
        argv = as_user(self.pg_user, ['psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-F', '\t', '-p', str(self.port),
                                      '-d', database, '-c', sql])
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, cwd='/')
        if proc.returncode != 0:
            raise BackupError('psql on database %s failed: %s' % (database, _last(proc.stderr)))
        return [line.split('\t') for line in proc.stdout.decode('utf-8', 'replace').splitlines() if line]

    def database_exists(self, name):
        return bool(self.psql('SELECT 1 FROM pg_database WHERE datname = %s' % literal(name)))

    def role_exists(self, name):
        return bool(self.psql('SELECT 1 FROM pg_roles WHERE rolname = %s' % literal(name)))

    def table_count(self, database):
        return int(self.psql("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
                             database)[0][0])

    def dump(self, database, path):
        """pg_dump -Fc of database into path (via path.partial); returns {size, sha256, seconds}."""
        started = time.time()
        partial = path + '.partial'
        digest = hashlib.sha256()
        size = 0
        argv = as_user(self.pg_user, ['pg_dump', '-Fc', '--no-password', '-p', str(self.port), '-d', database])
        errors = tempfile.TemporaryFile()
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'wb') as out:
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, cwd='/')
                while True:
                    chunk = proc.stdout.read(CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                rc = proc.wait()
                out.flush()
                os.fsync(out.fileno())
            if rc != 0:
                errors.seek(0)
                raise BackupError('pg_dump of %s failed (exit %d): %s' % (database, rc, _last(errors.read())))
            os.rename(partial, path)
        except BaseException:
            _remove(partial)
            raise
        finally:
            errors.close()
        return dict(size=size, sha256=digest.hexdigest(), seconds=round(time.time() - started, 3))

    def restore(self, path, database, role):
        """Replace database (owned by role) with the dump at path; returns {seconds, tables, replaced}.

        The dump goes into <database>__restore first; only when pg_restore
        succeeded is the old database renamed away and the new one renamed in
        (one transaction), and the old one dropped."""
        started = time.time()
        scratch = database + '__restore'
        old = database + '__replaced'
        for leftover in (scratch, old):
            if self.database_exists(leftover):
                self.psql('DROP DATABASE %s WITH (FORCE)' % ident(leftover))
        self.psql('CREATE DATABASE %s OWNER %s' % (ident(scratch), ident(role)))
        try:
            self.psql('REVOKE CONNECT, TEMPORARY ON DATABASE %s FROM PUBLIC' % ident(scratch))
            argv = as_user(self.pg_user, ['pg_restore', '--no-owner', '--no-privileges', '--role=' + role,
                                          '--exit-on-error', '--single-transaction', '-p', str(self.port),
                                          '-d', scratch])
            with open(path, 'rb') as dump:
                proc = subprocess.run(argv, stdin=dump, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      check=False, cwd='/')
            if proc.returncode != 0:
                raise BackupError('pg_restore of %s into %s failed (exit %d): %s; the database %s is unchanged'
                                  % (path, database, proc.returncode, _last(proc.stderr), database))
            tables = self.table_count(scratch)
        except BaseException:
            self.psql('DROP DATABASE IF EXISTS %s WITH (FORCE)' % ident(scratch))
            raise
        replaced = self.database_exists(database)
        if replaced:
            # Nothing may stay connected to a database that is renamed; the
            # deployment's containers were stopped before.
            self.psql('ALTER DATABASE %s WITH ALLOW_CONNECTIONS false' % ident(database))
            self.psql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s '
                      'AND pid <> pg_backend_pid()' % literal(database))
            swap = 'BEGIN; ALTER DATABASE %s RENAME TO %s; ALTER DATABASE %s RENAME TO %s; COMMIT;' % (
                ident(database), ident(old), ident(scratch), ident(database))
            try:
                self.psql(swap)
            except BackupError:
                self.psql('ALTER DATABASE %s WITH ALLOW_CONNECTIONS true' % ident(database))
                self.psql('DROP DATABASE IF EXISTS %s WITH (FORCE)' % ident(scratch))
                raise
            self.psql('DROP DATABASE %s WITH (FORCE)' % ident(old))
        else:
            self.psql('ALTER DATABASE %s RENAME TO %s' % (ident(scratch), ident(database)))
        return dict(seconds=round(time.time() - started, 3), tables=tables, replaced=replaced)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def writable_problem(directory):
    """Why directory (made if missing, mode 0700) cannot take a dump, or None; writes and removes a probe file."""
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        fd, probe = tempfile.mkstemp(prefix='.probe-', dir=directory)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        return 'the backup directory %s is not writable: %s; choose another backup_directory or fix its permissions' % (
            directory, e.strerror or e)
    return None


def writable_problem_readonly(directory):
    """As writable_problem, but changes nothing (check mode): the nearest existing parent must be writable."""
    path = directory
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    if not os.path.isdir(path):
        return 'the backup directory %s cannot be made: %s is not a directory' % (directory, path)
    if not os.access(path, os.W_OK | os.X_OK):
        return 'the backup directory %s is not writable (%s): choose another backup_directory or fix its permissions' % (
            directory, path)
    return None


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _last(stderr):
    text = stderr.decode('utf-8', 'replace') if isinstance(stderr, bytes) else (stderr or '')
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return ' / '.join(lines[-3:]) or 'no message'
