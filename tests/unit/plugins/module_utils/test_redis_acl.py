# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ACL user of a deployment: rules, version check, comparison with what Redis shows."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import redis_user_name
from ansible_collections.selfhost.langgraph.plugins.module_utils.passwords import derived_password, derived_redis_password
from ansible_collections.selfhost.langgraph.plugins.module_utils.redis_store import (
    ACL_DENIED_COMMANDS,
    acl_command_rules,
    acl_rules,
    acl_version_problem,
    describe_user,
    expected_commands,
    parse_getuser,
    parse_redis_version,
    password_hash,
    plan_user,
    user_matches,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.revision_plan import REDIS_AUTH, fingerprint

# How Redis 7.0.15 (the lab's) shows acl_command_rules(1).
SHOWN_7_0 = ('+@all -@dangerous -@scripting -function +fcall_ro +evalsha +eval_ro -acl +fcall -select +select|1 '
             '-config -copy -move +script|exists +script|debug +script|help +script|load +evalsha_ro +eval -pubsub')


@pytest.mark.parametrize('name, user', [
    ('support-bot', 'lg_support_bot'),
    ('abc', 'lg_abc'),
    ('a-b-c-1', 'lg_a_b_c_1'),
])
def test_user_name(name, user):
    assert redis_user_name(name) == user


@pytest.mark.parametrize('number, allowed, refused', [
    (1, ['+select|1'], ['+select|0', '+select|2']),
    (3, ['+select|3'], ['+select|1', '+select|30']),
    (1023, ['+select|1023'], ['+select|102']),
])
def test_command_rules_allow_only_the_own_database(number, allowed, refused):
    rules = acl_command_rules(number)
    assert rules[:5] == ['+@all', '-@admin', '-@dangerous', '-select', '+select|%d' % number]
    for rule in allowed:
        assert rule in rules
    for rule in refused:
        assert rule not in rules


@pytest.mark.parametrize('command', ['move', 'copy', 'swapdb', 'flushall', 'migrate', 'acl', 'config', 'function',
                                     'script|flush', 'script|kill', 'pubsub'])
def test_commands_reaching_other_databases_or_the_server_are_denied(command):
    assert command in ACL_DENIED_COMMANDS
    assert '-' + command in acl_command_rules(2)
    # denied after everything that allows, so nothing allows them again
    rules = acl_command_rules(2)
    assert rules.index('-' + command) > rules.index('+@all')


@pytest.mark.parametrize('number', [0, -1, None, '3', True])
def test_database_zero_or_not_a_number_is_refused(number):
    with pytest.raises(ValueError, match='database number'):
        acl_command_rules(number)


def test_rules_start_clean_and_send_only_the_hash():
    rules = acl_rules(4, 's3cret-pw')
    assert rules[:5] == ['reset', 'on', '#' + hashlib.sha256(b's3cret-pw').hexdigest(), '~*', '&*']
    assert rules[5:] == acl_command_rules(4)
    assert not any('s3cret-pw' in rule for rule in rules)


@pytest.mark.parametrize('text, parsed', [
    ('7.0.15', (7, 0)), ('7.2.4', (7, 2)), ('6.0.16', (6, 0)), ('10.1.0-rc1', (10, 1)), ('', None), ('x', None),
    (None, None),
])
def test_parse_redis_version(text, parsed):
    assert parse_redis_version(text) == parsed


@pytest.mark.parametrize('version, problem', [
    ('7.0.15', None),
    ('7.2.4', None),
    ('6.0.16', 'Redis at r:6379 is 6.0.16: each deployment gets an ACL user limited to its own database, which '
               'needs Redis 7.0 or later (first-argument rules such as +select|3); upgrade Redis'),
    ('', "cannot read the version of Redis at r:6379 (INFO server gave '')"),
])
def test_version_problem(version, problem):
    assert acl_version_problem(version, 'r:6379') == problem


@pytest.mark.parametrize('shown, number, expected', [
    (None, 2, ' '.join(acl_command_rules(2))),
    (SHOWN_7_0, 1, SHOWN_7_0),
    (SHOWN_7_0, 12, SHOWN_7_0.replace('+select|1 ', '+select|12 ')),
    ('+@all -select +select|1 +select|10', 5, '+@all -select +select|5 +select|10'),   # whole tokens only
])
def test_expected_commands(shown, number, expected):
    assert expected_commands(shown, number) == expected


def _user(**changes):
    user = dict(flags=['on', 'sanitize-payload'], passwords=[password_hash('pw')], keys='~*', channels='&*',
                selectors=[], commands=expected_commands(SHOWN_7_0, 3))
    user.update(changes)
    return user


@pytest.mark.parametrize('observed, matches', [
    (_user(), True),
    (_user(commands=expected_commands(SHOWN_7_0, 3).split()), True),          # redis-py that splits them
    (None, False),
    (_user(flags=['off']), False),
    (_user(flags=['on', 'nopass']), False),
    (_user(passwords=[password_hash('old')]), False),
    (_user(passwords=[password_hash('pw'), password_hash('old')]), False),     # a second password is one too many
    (_user(keys='~lg:*'), False),
    (_user(channels=''), False),
    (_user(selectors=[['commands', '+@all']]), False),
    (_user(commands=expected_commands(SHOWN_7_0, 4)), False),                  # another database
])
def test_user_matches(observed, matches):
    assert user_matches(observed, 3, 'pw', SHOWN_7_0) is matches


@pytest.mark.parametrize('observed, state, action', [
    (None, 'present', 'create'),
    (_user(), 'present', None),
    (_user(passwords=[]), 'present', 'update'),
    (_user(), 'absent', 'delete'),
    (None, 'absent', None),
])
def test_plan_user(observed, state, action):
    assert plan_user(observed, state, 3, 'pw', SHOWN_7_0) == action


@pytest.mark.parametrize('reply, parsed', [
    (None, None),
    ([], None),
    ([b'flags', [b'on'], b'passwords', [b'ab'], b'commands', b'+@all', b'keys', b'~*', b'channels', b'&*',
      b'selectors', []],
     dict(flags=['on'], passwords=['ab'], commands='+@all', keys='~*', channels='&*', selectors=[])),
    ({b'flags': [b'on'], b'commands': b'+@all'}, dict(flags=['on'], commands='+@all')),
])
def test_parse_getuser(reply, parsed):
    assert parse_getuser(reply) == parsed


@pytest.mark.parametrize('action, number, text', [
    ('create', 3, 'create Redis user lg_a on r:6379, allowed only database 3'),
    ('update', 4, 'update Redis user lg_a on r:6379, allowed only database 4'),
    ('delete', None, 'remove Redis user lg_a on r:6379'),
])
def test_describe_user(action, number, text):
    assert describe_user(action, 'lg_a', number, 'r:6379') == text


def test_redis_password_is_derived_and_differs_from_postgres():
    assert derived_redis_password('seed', 'a') == derived_redis_password('seed', 'a')
    assert derived_redis_password('seed', 'a') != derived_redis_password('seed', 'b')
    assert derived_redis_password('seed', 'a') != derived_redis_password('other', 'a')
    assert derived_redis_password('seed', 'a') != derived_password('seed', 'a')


def test_the_redis_auth_mode_joins_the_fingerprint():
    # The move to ACL users changes every fingerprint once, so every deployment rolls out with its new REDIS_URI.
    assert fingerprint('img', {}, []) == fingerprint('img', {}, [], redis_auth=REDIS_AUTH)
    assert fingerprint('img', {}, []) != fingerprint('img', {}, [], redis_auth='shared-password')
