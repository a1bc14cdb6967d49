# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils import edge_tls
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope='module')
def ca():
    return edge_tls.new_ca('test CA', 3650, now=NOW)


@pytest.fixture(scope='module')
def wildcard(ca):
    return edge_tls.issue(ca[0], ca[1], ['*.agents.example.com', 'chat.example.org'], 90, now=NOW)


@pytest.mark.parametrize('pattern, hostname, covers', [
    ('*.agents.example.com', 'bot.agents.example.com', True),
    ('*.agents.example.com', 'a.bot.agents.example.com', False),  # one label only
    ('*.agents.example.com', 'agents.example.com', False),
    ('bot.example.com', 'BOT.example.com', True),
    ('bot.example.com', 'bat.example.com', False),
])
def test_name_covers(pattern, hostname, covers):
    assert edge_tls.name_covers(pattern, hostname) is covers


def test_issued_certificate_passes_its_checks(wildcard):
    cert, key = wildcard
    assert edge_tls.check_certificate(cert, key, ['bot.agents.example.com', 'chat.example.org'], 'c',
                                      now=NOW) == []
    summary = edge_tls.certificate_summary(cert)
    assert summary['names'] == ['*.agents.example.com', 'chat.example.org']
    assert summary['not_after'] == '2026-04-01T00:00:00Z'
    assert summary['issuer'] == 'CN=test CA'


def test_problems_of_a_certificate(ca, wildcard):
    cert, dummy = wildcard
    other_key = edge_tls.issue(ca[0], ca[1], ['x.example.com'], 1, now=NOW)[1]
    problems = edge_tls.check_certificate(cert, other_key, ['bot.other.example.com'], 'c',
                                          now=NOW + datetime.timedelta(days=100))
    assert len(problems) == 3
    assert 'does not match its key' in problems[0]
    assert 'expired on 2026-04-01' in problems[1]
    assert 'does not cover bot.other.example.com' in problems[2]


def test_garbage_is_refused():
    with pytest.raises(HAProxyError, match='is not a PEM certificate'):
        edge_tls.check_certificate('nope', 'nope', [], 'c')


@pytest.mark.parametrize('names, days_later, reason', [
    (['*.agents.example.com', 'chat.example.org'], 0, None),
    (['chat.example.org', '*.agents.example.com'], 0, None),  # order does not matter
    (['*.agents.example.com'], 0, 'its names changed'),
    (['*.agents.example.com', 'chat.example.org'], 70, 'it expires within 30 days'),
])
def test_needs_issue(ca, wildcard, names, days_later, reason):
    assert edge_tls.needs_issue(wildcard[0], ca[0], names, 30, now=NOW + datetime.timedelta(days=days_later)) \
        == reason


def test_needs_issue_without_a_certificate_or_from_another_ca(ca, wildcard):
    assert edge_tls.needs_issue(None, ca[0], ['x.example.com'], 30, now=NOW) == 'no certificate yet'
    other = edge_tls.new_ca('other CA', 10, now=NOW)
    assert edge_tls.needs_issue(wildcard[0], other[0], ['*.agents.example.com', 'chat.example.org'], 30,
                                now=NOW) == 'another CA issued it'
