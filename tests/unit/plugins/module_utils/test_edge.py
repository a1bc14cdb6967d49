# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.edge import (
    deployment_hostname,
    domain_problem,
    hostname_problem,
    parse_map,
    parse_show_map,
    plan_routes,
    render_map,
    routes_of,
    runtime_command,
    validate_routes,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError

VALID = ['bot.example.com', 'support-bot.agents.example.com', 'a.b', 'x1.y2.example', 'a' * 63 + '.com',
         'xn--bcher-kva.example']
INVALID = [
    (None, 'must be a DNS name'),
    ('', 'must be a DNS name'),
    ('bot', 'needs a domain'),
    ('Bot.example.com', 'not a valid DNS name'),
    ('bot_1.example.com', 'not a valid DNS name'),
    ('-bot.example.com', 'not a valid DNS name'),
    ('bot-.example.com', 'not a valid DNS name'),
    ('bot..example.com', 'not a valid DNS name'),
    ('bot.example.com.', 'not a valid DNS name'),
    ('*.example.com', 'not a valid DNS name'),
    ('a' * 64 + '.com', 'not a valid DNS name'),
    ('.'.join(['a' * 60] * 5), 'longer than 253'),
    ('10.0.0.1', 'looks like an IP address'),
    ('bot.example.com:443', 'not a valid DNS name'),
]


@pytest.mark.parametrize('name', VALID)
def test_valid_hostnames(name):
    assert hostname_problem(name) is None


@pytest.mark.parametrize('name, problem', INVALID)
def test_invalid_hostnames(name, problem):
    assert problem in hostname_problem(name)


@pytest.mark.parametrize('domain, problem', [
    ('', None), (None, None), ('agents.example.com', None), ('example', 'needs a domain'),
    ('Agents.example.com', 'langgraph_domain'),
])
def test_domain_problem(domain, problem):
    found = domain_problem(domain)
    assert (found is None) if problem is None else problem in found


@pytest.mark.parametrize('name, hostname, domain, expected', [
    ('bot', None, 'agents.example.com', 'bot.agents.example.com'),
    ('bot', 'chat.example.org', 'agents.example.com', 'chat.example.org'),
    ('bot', None, None, None),
    ('bot', None, '', None),
])
def test_deployment_hostname(name, hostname, domain, expected):
    assert deployment_hostname(name, hostname, domain) == expected


def test_map_round_trip():
    routes = {'b.example.com': 'be_bbb', 'a.example.com': 'be_aaa'}
    text = render_map(routes)
    assert text.splitlines()[1:] == ['a.example.com be_aaa', 'b.example.com be_bbb']
    assert parse_map(text) == routes
    assert parse_map(None) == {}


def test_parse_show_map():
    answer = '0x55d8c1a0 a.example.com be_aaa\n0x55d8c1b0 b.example.com be_bbb\n\n'
    assert parse_show_map(answer) == {'a.example.com': 'be_aaa', 'b.example.com': 'be_bbb'}


def present(deployment, hostname):
    return dict(deployment=deployment, hostname=hostname, state='present')


PLANS = [
    # (current, routes, wanted, steps)
    ({}, [present('aaa', 'a.x.com')], {'a.x.com': 'be_aaa'}, [('add', 'a.x.com', 'be_aaa')]),
    ({'a.x.com': 'be_aaa'}, [present('aaa', 'a.x.com')], {'a.x.com': 'be_aaa'}, []),
    # a new host name: the old one goes first
    ({'a.x.com': 'be_aaa'}, [present('aaa', 'new.x.com')], {'new.x.com': 'be_aaa'},
     [('del', 'a.x.com', None), ('add', 'new.x.com', 'be_aaa')]),
    # others' host names are left alone
    ({'b.x.com': 'be_bbb'}, [present('aaa', 'a.x.com')], {'a.x.com': 'be_aaa', 'b.x.com': 'be_bbb'},
     [('add', 'a.x.com', 'be_aaa')]),
    ({'a.x.com': 'be_aaa', 'b.x.com': 'be_bbb'}, [dict(deployment='aaa', hostname=None, state='absent')],
     {'b.x.com': 'be_bbb'}, [('del', 'a.x.com', None)]),
    # a host name moving between two listed deployments
    ({'a.x.com': 'be_aaa', 'b.x.com': 'be_bbb'}, [present('aaa', 'b.x.com'), present('bbb', 'c.x.com')],
     {'b.x.com': 'be_aaa', 'c.x.com': 'be_bbb'},
     [('del', 'a.x.com', None), ('set', 'b.x.com', 'be_aaa'), ('add', 'c.x.com', 'be_bbb')]),
]


@pytest.mark.parametrize('current, routes, wanted, steps', PLANS)
def test_plan_routes(current, routes, wanted, steps):
    assert plan_routes(current, validate_routes(routes)) == (wanted, steps)


def test_plan_routes_refuses_a_host_name_of_an_unlisted_deployment():
    with pytest.raises(HAProxyError, match='already routed to be_bbb'):
        plan_routes({'b.x.com': 'be_bbb'}, validate_routes([present('aaa', 'b.x.com')]))


@pytest.mark.parametrize('routes, message', [
    ([present('aaa', 'Bad_Name.x.com')], 'not a valid DNS name'),
    ([present('aaa', None)], 'must be a DNS name'),
    ([present('aaa', 'a.x.com'), present('bbb', 'a.x.com')], 'the same host name a.x.com'),
    ([present('aaa', 'a.x.com'), present('aaa', 'b.x.com')], 'listed twice'),
    ([present('A', 'a.x.com')], 'routes[0]'),
    ([dict(deployment='aaa', hostname='a.x.com', state='gone')], 'present or absent'),
    (['aaa'], 'must be a dict'),
])
def test_validate_routes_refuses(routes, message):
    with pytest.raises(HAProxyError) as exc:
        validate_routes(routes)
    assert message in str(exc.value)


def test_runtime_commands():
    assert runtime_command('/m', ('add', 'a.x.com', 'be_a')) == 'add map /m a.x.com be_a'
    assert runtime_command('/m', ('set', 'a.x.com', 'be_a')) == 'set map /m a.x.com be_a'
    assert runtime_command('/m', ('del', 'a.x.com', None)) == 'del map /m a.x.com'


def test_routes_of():
    deployments = [dict(name='aaa', hostname='a.x.com'), dict(name='bbb', hostname=None)]
    assert routes_of(deployments, 'deploy') == [present('aaa', 'a.x.com')]
    assert routes_of(deployments, 'delete') == [dict(deployment='aaa', hostname=None, state='absent'),
                                                dict(deployment='bbb', hostname=None, state='absent')]
    assert routes_of([], 'deploy') == []
