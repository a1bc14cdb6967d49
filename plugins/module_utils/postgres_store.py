# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A deployment's Postgres database and owner role: observe, plan, apply.

plan_postgres() is pure (observed state + desired state -> actions); the
functions around it read the catalogs and carry the actions out.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.passwords import password_matches

try:
    from psycopg2 import sql
    from psycopg2.extensions import encrypt_password
except ImportError:  # reported by connection.check_libraries()
    sql = None
    encrypt_password = None

# Advisory lock class (first key) for per-deployment work; second key hashtext(name).
DEPLOYMENT_LOCK_CLASS = 716483921

ROLE_ATTRIBUTES = ('rolsuper', 'rolcreatedb', 'rolcreaterole', 'rolreplication', 'rolbypassrls')

ACTION_TEXT = {
    'create_role': 'create role %(role)s (LOGIN, no superuser, createdb or createrole)',
    'fix_role_attributes': 'take superuser/createdb/createrole/replication/bypassrls from role %(role)s',
    'enable_login': 'allow role %(role)s to log in',
    'set_password': 'set the password of role %(role)s',
    'grant_admin_membership': 'make %(admin)s a member of %(role)s (needed to own and drop its database)',
    'create_database': 'create database %(database)s owned by %(role)s',
    'fix_owner': 'make %(role)s the owner of database %(database)s',
    'revoke_public_connect': 'revoke CONNECT on database %(database)s from PUBLIC',
    'terminate_connections': 'terminate the connections to database %(database)s',
    'drop_database': 'drop database %(database)s',
    'drop_role': 'drop role %(role)s',
}


def observe(cur, database, role):
    """Current state of the deployment's role and database, from the catalogs."""
    state = {'role_exists': False, 'database_exists': False}
    cur.execute('SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user')
    state['admin'], state['admin_superuser'] = cur.fetchone()
    cur.execute('SELECT rolcanlogin, %s FROM pg_roles WHERE rolname = %%s' % ', '.join(ROLE_ATTRIBUTES),
                (role,))
    row = cur.fetchone()
    if row:
        state['role_exists'] = True
        state['role_can_login'] = row[0]
        state['role_privileged'] = any(row[1:])
        cur.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (role,))
        state['admin_member'] = cur.fetchone()[0]
    cur.execute("""SELECT pg_get_userbyid(d.datdba),
                          d.datacl IS NULL OR EXISTS (
                              SELECT 1 FROM aclexplode(d.datacl) a
                              WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT')
                   FROM pg_database d WHERE d.datname = %s""", (database,))
    row = cur.fetchone()
    if row:
        state['database_exists'] = True
        state['database_owner'], state['public_connect'] = row
    return state


def plan_postgres(observed, desired_state, role, password_ok=True):
    """Actions (in order) that bring observed to desired_state ('present'/'absent').

    password_ok: True when the role's current password is the wanted one,
    False when it differs, None when unknown (then it is set again).
    """
    actions = []
    if desired_state == 'absent':
        if observed['database_exists']:
            if not observed['admin_superuser'] and observed['role_exists'] \
                    and not observed.get('admin_member'):
                actions.append('grant_admin_membership')
            actions += ['terminate_connections', 'drop_database']
        if observed['role_exists']:
            actions.append('drop_role')
        return actions
    if not observed['role_exists']:
        actions.append('create_role')
    else:
        if observed.get('role_privileged'):
            actions.append('fix_role_attributes')
        if not observed.get('role_can_login'):
            actions.append('enable_login')
        if password_ok is not True:
            actions.append('set_password')
    if not observed['admin_superuser'] and not observed.get('admin_member'):
        actions.append('grant_admin_membership')
    if not observed['database_exists']:
        actions += ['create_database', 'revoke_public_connect']
    else:
        if observed['database_owner'] != role:
            actions.append('fix_owner')
        if observed['public_connect']:
            actions.append('revoke_public_connect')
    return actions


def check_password(cur, observed, role, password, try_login):
    """Is password the role's current one? True / False / None (cannot tell).

    As a superuser the stored verifier is compared here; otherwise try_login()
    logs in as the role (True, False or None when the server refuses to try).
    """
    if not observed['role_exists']:
        return False
    if observed['admin_superuser']:
        cur.execute('SELECT rolpassword FROM pg_authid WHERE rolname = %s', (role,))
        row = cur.fetchone()
        result = password_matches(password, role, row[0] if row else None)
        if result is not None:
            return result
    return try_login()


def apply_actions(conn, actions, database, role, password):
    """Carry out actions on an autocommit connection; returns the queries run
    (the password verifier shown as ********)."""
    cur = conn.cursor()
    queries = []
    ident_role = sql.Identifier(role)
    ident_db = sql.Identifier(database)

    def run(statement, args=None, shown=None):
        text = statement.as_string(conn)
        cur.execute(text, args)
        queries.append(shown or text)

    def verifier():
        # Encrypted here, so the plain password never reaches the server's logs.
        return encrypt_password(password, role, conn)

    for action in actions:
        if action == 'create_role':
            stmt = sql.SQL('CREATE ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
                           'NOREPLICATION NOBYPASSRLS PASSWORD %s').format(ident_role)
            run(stmt, (verifier(),), stmt.as_string(conn).replace('%s', "'********'"))
        elif action == 'fix_role_attributes':
            run(sql.SQL('ALTER ROLE {} WITH NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
                        'NOBYPASSRLS').format(ident_role))
        elif action == 'enable_login':
            run(sql.SQL('ALTER ROLE {} WITH LOGIN').format(ident_role))
        elif action == 'set_password':
            stmt = sql.SQL('ALTER ROLE {} WITH PASSWORD %s').format(ident_role)
            run(stmt, (verifier(),), stmt.as_string(conn).replace('%s', "'********'"))
        elif action == 'grant_admin_membership':
            run(sql.SQL('GRANT {} TO CURRENT_USER').format(ident_role))
        elif action == 'create_database':
            run(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0")
                .format(ident_db, ident_role))
        elif action == 'fix_owner':
            run(sql.SQL('ALTER DATABASE {} OWNER TO {}').format(ident_db, ident_role))
        elif action == 'revoke_public_connect':
            run(sql.SQL('REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC').format(ident_db))
        elif action == 'terminate_connections':
            run(sql.SQL('SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                        'WHERE datname = %s AND pid <> pg_backend_pid()'), (database,),
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' "
                "AND pid <> pg_backend_pid()" % database)
        elif action == 'drop_database':
            run(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(ident_db))
        elif action == 'drop_role':
            run(sql.SQL('DROP ROLE IF EXISTS {}').format(ident_role))
        else:  # pragma: no cover - plan_postgres() only makes the actions above
            raise StoreError('unknown action %r' % action)
    return queries


def describe(actions, database, role, admin):
    return [ACTION_TEXT[a] % {'database': database, 'role': role, 'admin': admin} for a in actions]


def record(conn, name, database, role, deployment_type, state):
    """Record the deployment's database and role in the control database.
    Returns True when the record changed."""
    with conn:
        cur = conn.cursor()
        cur.execute('SELECT type, postgres_database, postgres_role FROM deployments WHERE name = %s',
                    (name,))
        row = cur.fetchone()
        if state == 'present':
            wanted_type = deployment_type or (row[0] if row else None)
            if row == (wanted_type, database, role):
                return False
            cur.execute("""INSERT INTO deployments (name, type, postgres_database, postgres_role)
                           VALUES (%s, %s, %s, %s)
                           ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type,
                               postgres_database = EXCLUDED.postgres_database,
                               postgres_role = EXCLUDED.postgres_role, updated_at = now()""",
                        (name, wanted_type, database, role))
            return True
        if row is None or (row[1] is None and row[2] is None):
            return False
        cur.execute("""UPDATE deployments SET postgres_database = NULL, postgres_role = NULL,
                       updated_at = now() WHERE name = %s""", (name,))
        return True


def recorded(conn, name):
    """(type, postgres_database, postgres_role) recorded for name, or None."""
    with conn:
        cur = conn.cursor()
        cur.execute("SELECT to_regclass('deployments') IS NOT NULL")
        if not cur.fetchone()[0]:
            return None
        cur.execute('SELECT type, postgres_database, postgres_role FROM deployments WHERE name = %s',
                    (name,))
        return cur.fetchone()


# --- many deployments of one server at once (deployment_stores) -------------------------------------

def observe_many(cur, names):
    """observe() for many deployments whose database and role share a name
    (postgres_name()), in three queries: {name: state}."""
    names = sorted(set(names))
    cur.execute('SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user')
    admin, superuser = cur.fetchone()
    states = dict((name, {'role_exists': False, 'database_exists': False, 'admin': admin,
                          'admin_superuser': superuser}) for name in names)
    if not names:
        return states
    cur.execute("SELECT rolname, rolcanlogin, %s, pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles "
                "WHERE rolname = ANY(%%s)" % ', '.join(ROLE_ATTRIBUTES), (names,))
    for row in cur.fetchall():
        states[row[0]].update(role_exists=True, role_can_login=row[1], role_privileged=any(row[2:-1]),
                              admin_member=row[-1])
    cur.execute("""SELECT d.datname, pg_get_userbyid(d.datdba),
                          d.datacl IS NULL OR EXISTS (
                              SELECT 1 FROM aclexplode(d.datacl) a
                              WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT')
                   FROM pg_database d WHERE d.datname = ANY(%s)""", (names,))
    for name, owner, public_connect in cur.fetchall():
        states[name].update(database_exists=True, database_owner=owner, public_connect=public_connect)
    return states


def check_passwords(cur, states, passwords, try_login, workers=8):
    """check_password() for many roles: {role: True/False/None}.

    passwords: {role: password} of the roles to check. A superuser compares
    the stored verifiers (one query); otherwise, or for a verifier of unknown
    format, try_login(role, password, database) logs in as the role, several
    at once."""
    verdicts = dict((role, False) for role in passwords if not states[role]['role_exists'])
    to_check = sorted(role for role in passwords if role not in verdicts)
    if to_check and states[to_check[0]]['admin_superuser']:
        cur.execute('SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)', (to_check,))
        stored = dict(cur.fetchall())
        for role in to_check:
            verdict = password_matches(passwords[role], role, stored.get(role))
            if verdict is not None:
                verdicts[role] = verdict
    logins = [role for role in to_check if role not in verdicts]
    if logins:
        def login(role):
            database = role if states[role]['database_exists'] else None
            return try_login(role, passwords[role], database)
        pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(logins))))
        try:
            verdicts.update(zip(logins, pool.map(login, logins)))
        finally:
            pool.shutdown()
    return verdicts
