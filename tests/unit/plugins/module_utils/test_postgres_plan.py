# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.passwords import scram_sha_256_verifier
from ansible_collections.selfhost.langgraph.plugins.module_utils.postgres_store import (
    check_passwords,
    describe,
    plan_postgres,
)

NOTHING = dict(admin='langgraph_admin', admin_superuser=False, role_exists=False, database_exists=False)
DONE = dict(NOTHING, role_exists=True, role_can_login=True, role_privileged=False, admin_member=True,
            database_exists=True, database_owner='lg_bot', public_connect=False)


def state(**changes):
    result = dict(DONE)
    result.update(changes)
    return result


PRESENT = [
    ('fresh cluster', NOTHING, True,
     ['create_role', 'grant_admin_membership', 'create_database', 'revoke_public_connect']),
    ('fresh cluster, superuser admin', dict(NOTHING, admin_superuser=True), True,
     ['create_role', 'create_database', 'revoke_public_connect']),
    ('all in place', DONE, True, []),
    ('password differs', DONE, False, ['set_password']),
    ('password unknown', DONE, None, ['set_password']),
    ('role made superuser', state(role_privileged=True), True, ['fix_role_attributes']),
    ('role cannot log in', state(role_can_login=False), True, ['enable_login']),
    ('PUBLIC may connect', state(public_connect=True), True, ['revoke_public_connect']),
    ('wrong owner', state(database_owner='someone'), True, ['fix_owner']),
    ('database dropped by hand', state(database_exists=False), True,
     ['create_database', 'revoke_public_connect']),
    ('admin lost membership', state(admin_member=False), True, ['grant_admin_membership']),
]


@pytest.mark.parametrize('case, observed, password_ok, expected', PRESENT)
def test_plan_present(case, observed, password_ok, expected):
    assert plan_postgres(observed, 'present', 'lg_bot', password_ok) == expected, case


ABSENT = [
    ('nothing there', NOTHING, []),
    ('all there', DONE, ['terminate_connections', 'drop_database', 'drop_role']),
    ('only the role', state(database_exists=False), ['drop_role']),
    ('only the database', dict(NOTHING, database_exists=True), ['terminate_connections', 'drop_database']),
    ('not a member', state(admin_member=False),
     ['grant_admin_membership', 'terminate_connections', 'drop_database', 'drop_role']),
]


@pytest.mark.parametrize('case, observed, expected', ABSENT)
def test_plan_absent(case, observed, expected):
    assert plan_postgres(observed, 'absent', 'lg_bot') == expected, case


def test_every_action_is_described():
    actions = set()
    for _case, observed, password_ok, _expected in PRESENT:
        actions.update(plan_postgres(observed, 'present', 'lg_bot', password_ok))
    for _case, observed, _expected in ABSENT:
        actions.update(plan_postgres(observed, 'absent', 'lg_bot'))
    texts = describe(sorted(actions), 'lg_bot', 'lg_bot', 'langgraph_admin')
    assert len(texts) == len(actions) and all('lg_bot' in t or 'PUBLIC' in t for t in texts)


# --- many roles at once -------------------------------------------------------------------------

class VerifierCursor(object):
    """Answers the one pg_authid query check_passwords() makes as a superuser."""

    def __init__(self, verifiers):
        self.verifiers = verifiers
        self.queries = 0

    def execute(self, sql, args):
        assert 'pg_authid' in sql
        self.queries += 1
        self.rows = [(role, self.verifiers.get(role)) for role in args[0]]

    def fetchall(self):
        return self.rows


def test_check_passwords_as_superuser_reads_the_verifiers_once():
    salt = b'0123456789abcdef'
    cur = VerifierCursor({'lg_a': scram_sha_256_verifier('right', salt, 4096),
                          'lg_b': scram_sha_256_verifier('other', salt, 4096),
                          'lg_c': 'unknown-format'})
    states = dict((r, state(admin_superuser=True)) for r in ('lg_a', 'lg_b', 'lg_c'))
    states['lg_new'] = dict(NOTHING, admin_superuser=True)
    logins = []

    def try_login(role, password, database):
        logins.append((role, database))
        return None  # pg_hba.conf does not let it try

    verdicts = check_passwords(cur, states, dict(lg_a='right', lg_b='right', lg_c='right', lg_new='x'), try_login)
    assert verdicts == dict(lg_a=True, lg_b=False, lg_c=None, lg_new=False)
    assert cur.queries == 1 and logins == [('lg_c', 'lg_c')]   # only the one it could not read


def test_check_passwords_otherwise_logs_in_as_each_role():
    states = dict(lg_a=state(), lg_b=state(database_exists=False))
    verdicts = check_passwords(None, states, dict(lg_a='pw-a', lg_b='pw-b'),
                               lambda role, password, database: (role, password, database) == ('lg_a', 'pw-a', 'lg_a'))
    assert verdicts == dict(lg_a=True, lg_b=False)
