# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy locks and revision history in the control database.

AWX jobs are stateless, so who is rolling out what, and every revision of a
deployment, live in Postgres next to the allocations.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

REVISION_COLUMNS = ('number', 'image', 'image_digest', 'env_fingerprint', 'env', 'secret_names', 'status',
                    'status_reason', 'created_by', 'created_at', 'deployed_at')
FINAL_STATUSES = ('deployed', 'failed', 'superseded', 'rolled_back')


def ensure_deployment_row(cur, deployment):
    cur.execute("INSERT INTO deployments (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (deployment,))


def lock_holder(cur, deployment):
    cur.execute("SELECT holder, purpose, since, expires_at, expires_at < now() FROM deploy_locks "
                "WHERE deployment = %s", (deployment,))
    row = cur.fetchone()
    if row is None:
        return None
    return dict(holder=row[0], purpose=row[1], since=row[2].isoformat(),
                expires_at=row[3].isoformat() if row[3] else None, expired=bool(row[4]))


def try_lock(conn, deployment, holder, purpose, ttl):
    """One attempt: returns (acquired_now, current_lock). A lock whose
    expires_at passed (a job that died) is taken over."""
    with conn.cursor() as cur:
        ensure_deployment_row(cur, deployment)
        cur.execute(
            "INSERT INTO deploy_locks (deployment, holder, purpose, expires_at) "
            "VALUES (%s, %s, %s, now() + make_interval(secs => %s)) "
            "ON CONFLICT (deployment) DO UPDATE SET holder = EXCLUDED.holder, purpose = EXCLUDED.purpose, "
            "since = now(), expires_at = EXCLUDED.expires_at "
            "WHERE deploy_locks.expires_at < now() RETURNING holder",
            (deployment, holder, purpose, ttl))
        acquired = cur.fetchone() is not None
        current = lock_holder(cur, deployment)
    conn.commit()
    return acquired, current


def acquire_lock(conn, deployment, holder, purpose, ttl, wait, poll=1.0, clock=time):
    """Takes the deployment's lock for holder, waiting up to `wait` seconds.
    Returns True when taken now, False when holder already had it."""
    deadline = clock.time() + wait
    while True:
        acquired, current = try_lock(conn, deployment, holder, purpose, ttl)
        if acquired:
            return True
        if current and current['holder'] == holder:
            return False
        if clock.time() >= deadline:
            raise StoreError(
                "deployment %s is locked by %s since %s (%s); waited %d s. Let that job finish, or if it died, "
                "release the lock with selfhost.langgraph.deploy_lock state=absent force=true"
                % (deployment, current['holder'], current['since'], current['purpose'], wait))
        clock.sleep(poll)


def release_lock(conn, deployment, holder, force=False):
    """Releases the lock if holder has it (or any holder with force); True when released."""
    with conn.cursor() as cur:
        if force:
            cur.execute("DELETE FROM deploy_locks WHERE deployment = %s RETURNING holder", (deployment,))
        else:
            cur.execute("DELETE FROM deploy_locks WHERE deployment = %s AND holder = %s RETURNING holder",
                        (deployment, holder))
        released = cur.fetchone() is not None
    conn.commit()
    return released


def _revision(row):
    revision = dict(zip(REVISION_COLUMNS, row))
    for key in ('created_at', 'deployed_at'):
        if revision[key] is not None:
            revision[key] = revision[key].isoformat()
    return revision


def revisions(cur, deployment, limit=None):
    """The deployment's revisions, newest first."""
    cur.execute("SELECT %s FROM revisions WHERE deployment = %%s ORDER BY number DESC%s"
                % (', '.join(REVISION_COLUMNS), ' LIMIT %d' % limit if limit else ''), (deployment,))
    return [_revision(row) for row in cur.fetchall()]


def get_revision(cur, deployment, number):
    cur.execute("SELECT %s FROM revisions WHERE deployment = %%s AND number = %%s"
                % ', '.join(REVISION_COLUMNS), (deployment, number))
    row = cur.fetchone()
    if row is None:
        raise StoreError("deployment %s has no revision %d" % (deployment, number))
    return _revision(row)


def plan_revision(history, image, env_fingerprint):
    """A new revision is recorded unless the newest one has the same image and
    environment and did not fail: re-running a deploy is not a new revision.
    Returns the number of the revision to roll out and whether it is new."""
    if history:
        newest = history[0]
        if (newest['image'], newest['env_fingerprint']) == (image, env_fingerprint) \
                and newest['status'] not in ('failed', 'rolled_back'):
            return newest['number'], False
        return newest['number'] + 1, True
    return 1, True


def record_revision(conn, deployment, image, image_digest, env, secret_names, env_fingerprint, created_by,
                    check_mode=False):
    """Returns (revision, created)."""
    with conn.cursor() as cur:
        ensure_deployment_row(cur, deployment)
        # Two jobs recording at once would race on max(number): serialise per deployment.
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('selfhost.langgraph.revisions:' || %s))",
                    (deployment,))
        number, new = plan_revision(revisions(cur, deployment, limit=1), image, env_fingerprint)
        if new and not check_mode:
            cur.execute(
                "INSERT INTO revisions (deployment, number, image, image_digest, env_fingerprint, env, "
                "secret_names, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (deployment, number, image, image_digest, env_fingerprint, json.dumps(env),
                 json.dumps(sorted(secret_names)), created_by))
        revision = get_revision(cur, deployment, number) if not (new and check_mode) else dict(
            number=number, image=image, image_digest=image_digest, env_fingerprint=env_fingerprint,
            env=env, secret_names=sorted(secret_names), status='created')
    if check_mode:
        conn.rollback()
    else:
        conn.commit()
    return revision, new


def set_status(conn, deployment, number, status, reason=None, check_mode=False):
    """Moves a revision to status; a revision becoming deployed supersedes the
    one that served before (rolled_back when the new one is older). Returns
    whether anything changed."""
    with conn.cursor() as cur:
        current = get_revision(cur, deployment, number)
        if current['status'] == status and (reason is None or current['status_reason'] == reason):
            return False
        if check_mode:
            return True
        if status == 'deployed':
            cur.execute(
                "UPDATE revisions SET status = CASE WHEN number > %s THEN 'rolled_back' ELSE 'superseded' END "
                "WHERE deployment = %s AND status = 'deployed' AND number <> %s", (number, deployment, number))
        cur.execute(
            "UPDATE revisions SET status = %s, status_reason = %s, "
            "deployed_at = CASE WHEN %s = 'deployed' THEN now() ELSE deployed_at END "
            "WHERE deployment = %s AND number = %s", (status, reason, status, deployment, number))
    conn.commit()
    return True


def serving_revision(history):
    for revision in history:
        if revision['status'] == 'deployed':
            return revision
    return None
