# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Schema of the control database, as a versioned list of migrations.

A migration is applied at most once, in one transaction, while holding a
transaction-level advisory lock, so that parallel jobs migrate one after the
other and the second finds nothing to do. Add a migration by appending to
MIGRATIONS; never change one that was released.

Tables (version 8):

- schema_version(version, description, applied_at, applied_by)
- deployments(name, type, postgres_database, postgres_role, postgres_host,
  redis_host, replicas, created_at, updated_at); the hosts are the inventory
  names the deployment's stores are pinned to (NULL for rows made before
  version 4: those live on the control host); replicas is the desired
  container count (NULL until a run records one)
- redis_allocations(redis_instance, db_number, deployment, allocated_at, allocated_by),
  UNIQUE (redis_instance, db_number) and UNIQUE (redis_instance, deployment)
- revisions(deployment, number, image, image_digest, env_fingerprint, env,
  secret_names, status, status_reason, created_by, created_at, deployed_at),
  key (deployment, number)
- deploy_locks(deployment, holder, purpose, since, expires_at), one row per
  deployment; a lease: expires_at is always set, and a lock whose expires_at
  passed is taken over
- scale_events(id, deployment, decided_at, inputs, current_replicas, desired,
  applied, reason, low_since, scale_down_at)
- fleet_hosts(name, last_seen, down_since, problem): app and LB hosts as the
  runs found them; down_since is set while a host does not answer
- audit_events(id, at, who, action, deployment, details): who did what;
  deployment is not a foreign key, so that the trail outlives a purge
- backups(id, deployment, host, path, database, size, sha256, created_at,
  created_by): one row per dump of a deployment's database, on the inventory
  host that holds the file; no foreign key, a backup outlives a purge
- deployment_usage(deployment, first_seen, last_used_at, counters,
  observed_at, notified_at, last_run_at, db_writes): when a deployment was
  last used (a request, from the load balancers' per-server request
  counters, kept as last seen, or a run in its own database: its newest run
  and its database's write counter as last seen, version 8) and when the
  reaper last notified that it is idle
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections import namedtuple

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


class SchemaError(StoreError, ValueError):
    """The migrations or the database's version do not fit together."""


Migration = namedtuple('Migration', ['version', 'description', 'statements'])

# Key of the advisory lock that serialises migrations (any constant bigint).
MIGRATION_LOCK_KEY = 7164839201

MIGRATIONS = [
    Migration(1, 'deployments and Redis allocations', [
        """CREATE TABLE deployments (
            name text PRIMARY KEY
                CHECK (name ~ '^[a-z][a-z0-9-]{1,38}[a-z0-9]$'),
            type text CHECK (type IN ('development', 'production')),
            postgres_database text UNIQUE,
            postgres_role text UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )""",
        """CREATE TABLE redis_allocations (
            redis_instance text NOT NULL,
            db_number integer NOT NULL CHECK (db_number >= 1),
            deployment text NOT NULL REFERENCES deployments (name),
            allocated_at timestamptz NOT NULL DEFAULT now(),
            allocated_by text,
            CONSTRAINT redis_allocations_number_unique UNIQUE (redis_instance, db_number),
            CONSTRAINT redis_allocations_deployment_unique UNIQUE (redis_instance, deployment)
        )""",
    ]),
    Migration(2, 'revisions, deploy locks and scale events', [
        """CREATE TABLE revisions (
            deployment text NOT NULL REFERENCES deployments (name),
            number integer NOT NULL CHECK (number >= 1),
            image text NOT NULL,
            image_digest text,
            env_fingerprint text NOT NULL,
            status text NOT NULL DEFAULT 'created'
                CHECK (status IN ('created', 'rolling_out', 'deployed', 'failed',
                                  'superseded', 'rolled_back')),
            status_reason text,
            created_by text,
            created_at timestamptz NOT NULL DEFAULT now(),
            deployed_at timestamptz,
            PRIMARY KEY (deployment, number)
        )""",
        """CREATE TABLE deploy_locks (
            deployment text PRIMARY KEY REFERENCES deployments (name),
            holder text NOT NULL,
            purpose text NOT NULL,
            since timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz
        )""",
        """CREATE TABLE scale_events (
            id bigserial PRIMARY KEY,
            deployment text NOT NULL REFERENCES deployments (name),
            decided_at timestamptz NOT NULL DEFAULT now(),
            inputs jsonb NOT NULL,
            current_replicas integer,
            desired integer NOT NULL CHECK (desired >= 0),
            applied integer,
            reason text NOT NULL,
            low_since timestamptz,
            scale_down_at timestamptz
        )""",
        "CREATE INDEX scale_events_deployment_decided ON scale_events (deployment, decided_at DESC)",
    ]),
    # A rollback rolls out an earlier revision's image *and* environment, so
    # the (non-secret) environment is kept; secrets only by name.
    Migration(3, 'revision environments', [
        "ALTER TABLE revisions ADD COLUMN env jsonb NOT NULL DEFAULT '{}'::jsonb",
        "ALTER TABLE revisions ADD COLUMN secret_names jsonb NOT NULL DEFAULT '[]'::jsonb",
    ]),
    # With several Postgres or Redis hosts each deployment is assigned one of
    # each, once. Locks are leases read and released for many deployments at
    # once (by holder), and a lease without an end could never be taken over.
    Migration(4, 'store host pins and lock leases', [
        "ALTER TABLE deployments ADD COLUMN postgres_host text",
        "ALTER TABLE deployments ADD COLUMN redis_host text",
        "UPDATE deploy_locks SET expires_at = since + interval '1 hour' WHERE expires_at IS NULL",
        "ALTER TABLE deploy_locks ALTER COLUMN expires_at SET NOT NULL",
        "CREATE INDEX deploy_locks_holder ON deploy_locks (holder)",
        "CREATE INDEX redis_allocations_deployment ON redis_allocations (deployment)",
    ]),
    # A job that dies leaves the fleet to the next run, which must know the
    # replica count to restore and which hosts were down since when; every
    # action, also an unlock by hand, is recorded with who did it.
    Migration(5, 'desired replicas, fleet hosts and the audit trail', [
        "ALTER TABLE deployments ADD COLUMN replicas integer CONSTRAINT deployments_replicas_check "
        "CHECK (replicas >= 0)",
        """CREATE TABLE fleet_hosts (
            name text PRIMARY KEY,
            last_seen timestamptz,
            down_since timestamptz,
            problem text
        )""",
        """CREATE TABLE audit_events (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            who text NOT NULL,
            action text NOT NULL,
            deployment text,
            details jsonb NOT NULL DEFAULT '{}'::jsonb
        )""",
        "CREATE INDEX audit_events_deployment_at ON audit_events (deployment, at DESC)",
    ]),
    # Each dump of a deployment's database, where it lies and its checksum, so
    # that a restore finds and verifies it. No foreign key: a backup outlives
    # the purge of its deployment (that is what it is for).
    Migration(6, 'backups', [
        """CREATE TABLE backups (
            id bigserial PRIMARY KEY,
            deployment text NOT NULL
                CHECK (deployment ~ '^[a-z][a-z0-9-]{1,38}[a-z0-9]$'),
            host text NOT NULL,
            path text NOT NULL,
            database text NOT NULL,
            size bigint NOT NULL CHECK (size >= 0),
            sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by text,
            CONSTRAINT backups_host_path_unique UNIQUE (host, path)
        )""",
        "CREATE INDEX backups_deployment_created ON backups (deployment, created_at DESC)",
    ]),
    # The reaper's memory: when each deployment last served a request (the
    # load balancers' per-server request counters as last seen) and when it
    # was last told it is idle. No foreign key: the row outlives a purge.
    Migration(7, 'deployment usage', [
        """CREATE TABLE deployment_usage (
            deployment text PRIMARY KEY
                CHECK (deployment ~ '^[a-z][a-z0-9-]{1,38}[a-z0-9]$'),
            first_seen timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz NOT NULL DEFAULT now(),
            counters jsonb NOT NULL DEFAULT '{}'::jsonb,
            observed_at timestamptz NOT NULL DEFAULT now(),
            notified_at timestamptz
        )""",
    ]),
    # Runs are use too (a cron, a client that reached a container directly):
    # the newest run seen in the deployment's database, and its database's
    # write counter as last seen (pg_stat_database), so that a tick opens only
    # the databases that wrote since (module_utils/deployment_usage.py).
    Migration(8, 'runs as use', [
        'ALTER TABLE deployment_usage ADD COLUMN last_run_at timestamptz, ADD COLUMN db_writes bigint',
    ]),
]

LATEST_VERSION = MIGRATIONS[-1].version

_CREATE_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version integer PRIMARY KEY,
    description text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL DEFAULT current_user
)"""


def check_migrations(migrations=None):
    """Raise ValueError unless versions are 1, 2, 3 ... in order."""
    migrations = MIGRATIONS if migrations is None else migrations
    for index, migration in enumerate(migrations):
        if migration.version != index + 1:
            raise SchemaError('migration #%d has version %r, expected %d'
                              % (index, migration.version, index + 1))


def plan_migrations(current_version, migrations=None, target_version=None):
    """Migrations to apply to reach target_version (default: the latest), in order."""
    migrations = MIGRATIONS if migrations is None else migrations
    check_migrations(migrations)
    latest = migrations[-1].version if migrations else 0
    target = latest if target_version is None else target_version
    if target > latest:
        raise SchemaError('target version %d is newer than the latest known (%d)' % (target, latest))
    if current_version > latest:
        raise SchemaError('the control database is at schema version %d, newer than this '
                          'collection knows (%d): upgrade selfhost.langgraph' % (current_version, latest))
    return [m for m in migrations if current_version < m.version <= target]


def current_version(cursor):
    """Version of the schema in the database (0 when it has none)."""
    cursor.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    if not cursor.fetchone()[0]:
        return 0
    cursor.execute('SELECT coalesce(max(version), 0) FROM schema_version')
    return cursor.fetchone()[0]


def migrate(conn, check_mode=False, migrations=None):
    """Bring the schema to the latest version.

    Returns (version_before, version_after, applied migrations). In check mode
    nothing is written and applied lists what would be applied.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    with conn:  # one transaction: commit on success, roll back on error
        cur = conn.cursor()
        if check_mode:
            before = current_version(cur)
            pending = plan_migrations(before, migrations)
            after = pending[-1].version if pending else before
            return before, after, pending
        before = current_version(cur)
        if before == migrations[-1].version:
            return before, before, []
        cur.execute('SELECT pg_advisory_xact_lock(%s)', (MIGRATION_LOCK_KEY,))
        cur.execute(_CREATE_VERSION_TABLE)
        before = current_version(cur)  # again: another job may have migrated meanwhile
        pending = plan_migrations(before, migrations)
        for migration in pending:
            for statement in migration.statements:
                cur.execute(statement)
            cur.execute('INSERT INTO schema_version (version, description) VALUES (%s, %s)',
                        (migration.version, migration.description))
        after = pending[-1].version if pending else before
    return before, after, pending


def ensure_control_database(params, connect, check_mode=False, create=True):
    """Create the control database if needed (autocommit), then migrate it.

    connect(params, database, autocommit) opens an admin connection; returns
    a dict ready for exit_json."""
    name = params['control_database']
    created = False
    conn = connect(params, params['maintenance_db'], autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute('SELECT 1 FROM pg_database WHERE datname = %s', (name,))
        if cur.fetchone() is None:
            if not create:
                raise StoreError('control database %s does not exist on %s:%s; create it (create_database: true)'
                                 % (name, params['login_host'], params['login_port']))
            created = True
            if not check_mode:
                ident = '"%s"' % name.replace('"', '""')
                cur.execute('CREATE DATABASE %s' % ident)
                cur.execute('REVOKE CONNECT, TEMPORARY ON DATABASE %s FROM PUBLIC' % ident)
    finally:
        conn.close()
    if created and check_mode:
        pending = plan_migrations(0)
        before, after = 0, pending[-1].version
    else:
        conn = connect(params, name, autocommit=False)
        try:
            before, after, pending = migrate(conn, check_mode)
        finally:
            conn.close()
    return dict(
        database=name,
        database_created=created,
        previous_version=before,
        version=after,
        latest_version=LATEST_VERSION,
        applied=[dict(version=m.version, description=m.description) for m in pending],
    )
