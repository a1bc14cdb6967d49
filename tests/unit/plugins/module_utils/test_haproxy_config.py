# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import (
    HAProxyError,
    bound_ports,
    has_frontend,
    parse_servers,
    parse_settings,
    render,
    server_line,
    static_part,
    validate_inputs,
    validate_servers,
)


def srv(name='s1', address='10.0.0.1', port=8000, state='ready'):
    return dict(name=name, address=address, port=port, state=state)


@pytest.mark.parametrize('server, line', [
    (srv(), '    server s1 10.0.0.1:8000 check inter 1s fall 2 rise 1'),
    (srv(state='drain'), '    server s1 10.0.0.1:8000 check inter 1s fall 2 rise 1 weight 0'),
    (srv(state='maint'), '    server s1 10.0.0.1:8000 check inter 1s fall 2 rise 1 disabled'),
])
def test_server_line(server, line):
    assert server_line(server) == line


def test_render_and_parse_round_trip():
    servers = [srv('a'), srv('b', '10.0.0.2', 8001, 'drain'), srv('c', state='maint')]
    text = render('support-bot', 8101, '*', '/ok', servers)
    assert 'frontend fe_support-bot\n    bind *:8101\n    default_backend be_support-bot\n' in text
    assert 'backend be_support-bot\n    balance leastconn\n    option httpchk GET /ok\n' in text
    assert '    http-check expect status 200\n' in text
    assert parse_servers(text) == servers
    assert bound_ports(text) == set([8101])


def test_static_part_ignores_servers_and_comments():
    a = render('app', 8101, '*', '/ok', [srv('a')])
    b = render('app', 8101, '*', '/ok', [srv('b', state='drain')])
    assert static_part(a) == static_part(b)
    assert static_part(a) != static_part(render('app', 8102, '*', '/ok', []))
    assert static_part(a) != static_part(render('app', 8101, '*', '/ok?check_db=1', []))
    assert static_part(a) != static_part(render('app', 8101, '10.0.0.9', '/ok', []))
    assert static_part(None) is None


def test_bound_ports_of_main_config():
    text = 'frontend stats\n    bind 127.0.0.1:8404\nfrontend x\n    bind *:80 name x\n  bind :443\n'
    assert bound_ports(text) == set([8404, 80, 443])


def test_validate_servers_normalises():
    out = validate_servers([dict(name='a', address='10.0.0.1', port='8000', state=None)])
    assert out == [srv('a')]


@pytest.mark.parametrize('servers, message', [
    ([srv('bad name')], 'invalid server name'),
    ([srv('-x')], 'invalid server name'),
    ([srv('x' * 64)], 'invalid server name'),
    ([srv('a'), srv('a', port=8001)], 'duplicate server name'),
    ([srv(address='app1.example.com')], 'not an IP address'),
    ([srv(address=None)], 'not an IP address'),
    ([srv(port=0)], 'port must be a TCP port'),
    ([srv(port=65536)], 'port must be a TCP port'),
    ([srv(port=True)], 'port must be a TCP port'),
    ([srv(state='up')], 'state must be one of'),
    (['s1'], 'must be a dict'),
])
def test_validate_servers_rejects(servers, message):
    with pytest.raises(HAProxyError, match=message):
        validate_servers(servers)


@pytest.mark.parametrize('args, error, message', [
    (('Bad_Name', 8101, '*', '/ok', [], 'present'), StoreError, 'invalid deployment name'),
    (('postgres', 8101, '*', '/ok', [], 'present'), StoreError, 'reserved'),
    (('app', 0, '*', '/ok', [], 'present'), HAProxyError, 'bind_port must be a TCP port'),
    (('app', 70000, '*', '/ok', [], 'present'), HAProxyError, 'bind_port must be a TCP port'),
    (('app', True, '*', '/ok', [], 'present'), HAProxyError, 'bind_port must be a TCP port'),
    (('app', 8101, 'localhost', '/ok', [], 'present'), HAProxyError, 'bind_address'),
    (('app', 8101, '*', 'ok', [], 'present'), HAProxyError, 'health_path'),
    (('app', 8101, '*', '/ok now', [], 'present'), HAProxyError, 'health_path'),
    (('app', 8101, '*', '/ok\nserver x', [], 'present'), HAProxyError, 'health_path'),
])
def test_validate_inputs_rejects(args, error, message):
    with pytest.raises(error, match=message):
        validate_inputs(*args)


def test_validate_inputs_absent_needs_no_port():
    assert validate_inputs('app', None, '*', '/ok', None, 'absent') == []


def test_no_port_no_frontend():
    # Served by host name only, through the HTTPS edge: a backend and no frontend of its own.
    assert validate_inputs('app', None, '*', '/ok', [srv()], 'present') == [srv()]
    text = render('app', None, '*', '/ok', [srv('a')])
    assert 'frontend' not in text and 'bind' not in text
    assert 'backend be_app\n    balance leastconn\n    option httpchk GET /ok\n' in text
    assert parse_servers(text) == [srv('a')]
    assert bound_ports(text) == set()
    assert (has_frontend(text), has_frontend(render('app', 8101, '*', '/ok', [])), has_frontend(None)) == \
        (False, True, False)
    # Adding or removing the frontend is a change only a reload makes.
    assert static_part(text) != static_part(render('app', 8101, '*', '/ok', [srv('a')]))


@pytest.mark.parametrize('text, settings', [
    (render('app', 8101, '*', '/ok?check_db=1', []),
     dict(bind_address='*', bind_port=8101, health_path='/ok?check_db=1')),
    (render('app', 8102, '10.0.0.5', '/ok', []), dict(bind_address='10.0.0.5', bind_port=8102, health_path='/ok')),
    ('frontend x\n    bind :9000\n', dict(bind_address='*', bind_port=9000, health_path=None)),
    (None, dict(bind_address=None, bind_port=None, health_path=None)),
    ('# nothing here\n', dict(bind_address=None, bind_port=None, health_path=None)),
    (render('app', None, '*', '/ok', [srv()]), dict(bind_address=None, bind_port=None, health_path='/ok')),
])
def test_parse_settings(text, settings):
    assert parse_settings(text) == settings
