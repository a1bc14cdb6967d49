# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import (
    InvalidDeploymentName,
    postgres_name,
    validate_deployment_name,
)

VALID = [
    ('support-bot', 'lg_support_bot'),
    ('abc', 'lg_abc'),
    ('a1b', 'lg_a1b'),
    ('a-b', 'lg_a_b'),
    ('a--b', 'lg_a__b'),
    ('a' * 40, 'lg_' + 'a' * 40),
    ('langgraph-control', 'lg_langgraph_control'),  # not the control database's own name
    ('postgres1', 'lg_postgres1'),
]

INVALID = [
    ('', 'must match'),
    ('ab', 'must match'),  # too short: 3 characters at least
    ('a' * 41, 'must match'),  # too long
    ('Support-bot', 'must match'),
    ('1bot', 'must match'),
    ('-bot', 'must match'),
    ('bot-', 'must match'),
    ('sup_bot', 'must match'),
    ('sup.bot', 'must match'),
    ('sup bot', 'must match'),
    ('bot\n', 'must match'),
    ('b\u00f6t', 'must match'),
    ('bot;drop', 'must match'),
    (None, 'must match'),
    (42, 'must match'),
    ('postgres', 'reserved'),
    ('template0', 'reserved'),
    ('template1', 'reserved'),
]


@pytest.mark.parametrize('name, pg', VALID)
def test_valid_names(name, pg):
    assert validate_deployment_name(name) == name
    assert postgres_name(name) == pg
    assert len(pg) <= 63  # Postgres identifier limit


@pytest.mark.parametrize('name, reason', INVALID)
def test_invalid_names(name, reason):
    with pytest.raises(InvalidDeploymentName, match=reason):
        validate_deployment_name(name)


@pytest.mark.parametrize('name, control', [
    ('my-control', 'my-control'),    # the control database's own name
    ('ctl', 'lg_ctl'),               # whose database would be the control database
])
def test_control_database_is_reserved(name, control):
    with pytest.raises(InvalidDeploymentName, match='reserved'):
        validate_deployment_name(name, control_database=control)


def test_derived_names_are_distinct():
    names = ['a-b', 'ab-', 'a-bc', 'ab-c', 'abc']
    valid = [n for n in names if n[-1] != '-']
    assert len(set(postgres_name(n) for n in valid)) == len(valid)
