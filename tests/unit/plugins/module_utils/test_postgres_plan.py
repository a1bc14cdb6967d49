# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.postgres_store import (
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
