# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A deployment's HAProxy configuration file: names, input checks, rendering and parsing.

The file <config_dir>/langgraph-<deployment>.cfg holds the frontend fe_<deployment>
(only for a deployment with a port of its own, its lb_port: one served by host name only
is reached through the HTTPS edge's map) and the backend be_<deployment>, with one `server` line per server registered at
run time, so that a reload never loses or resurrects a server. Server lines carry
every keyword themselves (no default-server): servers added at run time ignore
default-server, so the file and the runtime API use the very same keywords.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re

from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import (
    backend_name,
    frontend_name,
    validate_deployment_name,
)

SERVER_STATES = ('ready', 'drain', 'absent')

# Health checks of every server: every second, down after 2 failures, up after 1 success.
CHECK_KEYWORDS = ['check', 'inter', '1s', 'fall', '2', 'rise', '1']

_SERVER_NAME_RE = re.compile(r'\A[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z')
_HEALTH_PATH_RE = re.compile(r'\A/[A-Za-z0-9._~!$&\'()*+,;=:@/?%-]*\Z')
_SERVER_LINE_RE = re.compile(r'\A\s*server\s+(\S+)\s+(\S+):(\d+)(.*)\Z')
_BIND_RE = re.compile(r'\A\s*bind\s+(\S*):(\d+)\b')
_HTTPCHK_RE = re.compile(r'\A\s*option\s+httpchk\s+GET\s+(\S+)')


class HAProxyError(Exception):
    """A problem an operator can fix; the message says what and how."""


def validate_port(port, what):
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise HAProxyError('%s must be a TCP port from 1 to 65535, not %r' % (what, port))
    return port


def validate_servers(servers):
    """Check the servers option; returns a list of dicts name, address, port, state."""
    result = []
    seen = set()
    for index, server in enumerate(servers or []):
        where = 'servers[%d]' % index
        if not isinstance(server, dict):
            raise HAProxyError('%s must be a dict with name, address, port and state' % where)
        name = server.get('name')
        if not isinstance(name, str) or not _SERVER_NAME_RE.match(name):
            raise HAProxyError(
                '%s: invalid server name %r: use 1 to 63 letters, digits, ".", "_" or "-", '
                'starting with a letter or digit' % (where, name))
        if name in seen:
            raise HAProxyError('%s: duplicate server name %r: every server of a backend needs its '
                               'own name' % (where, name))
        seen.add(name)
        address = server.get('address')
        try:
            address = str(ipaddress.ip_address(str(address)))
        except ValueError:
            raise HAProxyError(
                '%s (%s): address %r is not an IP address; HAProxy 2.6 cannot resolve the names of '
                'servers added at run time, so give the address the server is reached at'
                % (where, name, address))
        port = server.get('port')
        if isinstance(port, str) and port.isdigit():
            port = int(port)
        validate_port(port, '%s (%s): port' % (where, name))
        state = server.get('state') or 'ready'
        if state not in SERVER_STATES:
            raise HAProxyError('%s (%s): state must be one of %s, not %r'
                               % (where, name, ', '.join(SERVER_STATES), state))
        result.append(dict(name=name, address=address, port=port, state=state))
    return result


def validate_health_path(path):
    if not isinstance(path, str) or not _HEALTH_PATH_RE.match(path):
        raise HAProxyError('health_path must be an absolute URL path such as /ok (no spaces), not %r'
                           % (path,))
    return path


def validate_bind_address(address):
    if address in ('*', ''):
        return '*'
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        raise HAProxyError("bind_address must be '*' or an IP address, not %r" % (address,))


def validate_inputs(deployment, bind_port, bind_address, health_path, servers, state):
    """All input checks, before anything is read or changed; returns the normalised servers."""
    validate_deployment_name(deployment)
    if state == 'present':
        if bind_port is not None:
            validate_port(bind_port, 'bind_port')
        validate_bind_address(bind_address)
        validate_health_path(health_path)
    return validate_servers(servers)


def server_keywords(state):
    """Keywords of a server line and of `add server`; drain is weight 0 (checks go on)."""
    keywords = list(CHECK_KEYWORDS)
    if state == 'drain':
        keywords += ['weight', '0']
    elif state == 'maint':
        keywords += ['disabled']
    return keywords


def server_line(server):
    keywords = ' '.join(server_keywords(server['state']))
    return '    server %s %s:%d %s' % (server['name'], server['address'], server['port'], keywords)


def render(deployment, bind_port, bind_address, health_path, servers):
    """The whole file. servers: dicts name, address, port, state (ready, drain or maint).

    bind_port None: no frontend of its own (the deployment is served through the HTTPS edge only).
    """
    bind_address = validate_bind_address(bind_address)
    lines = [
        '# Managed by selfhost.langgraph.haproxy_backend: it rewrites this file whenever it',
        '# changes the servers at run time, so that a reload keeps them. Do not edit.',
        '',
    ]
    if bind_port is not None:
        lines += [
            'frontend %s' % frontend_name(deployment),
            '    bind %s:%d' % (bind_address, bind_port),
            '    default_backend %s' % backend_name(deployment),
            '',
        ]
    lines += [
        'backend %s' % backend_name(deployment),
        '    balance leastconn',
        '    option httpchk GET %s' % health_path,
        '    http-check expect status 200',
    ]
    lines.extend(server_line(s) for s in servers)
    return '\n'.join(lines) + '\n'


def static_part(text):
    """The file without comments and server lines: what only a reload can change."""
    if text is None:
        return None
    keep = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith('#') or _SERVER_LINE_RE.match(line):
            continue
        keep.append(stripped)
    return '\n'.join(keep)


def parse_servers(text):
    """Servers of a file as dicts name, address, port, state (ready, drain or maint)."""
    servers = []
    for line in (text or '').splitlines():
        match = _SERVER_LINE_RE.match(line)
        if not match:
            continue
        words = match.group(4).split()
        state = 'ready'
        if 'disabled' in words:
            state = 'maint'
        elif 'weight' in words and words.index('weight') + 1 < len(words) \
                and words[words.index('weight') + 1] == '0':
            state = 'drain'
        servers.append(dict(name=match.group(1), address=match.group(2),
                            port=int(match.group(3)), state=state))
    return servers


def parse_settings(text):
    """bind_address, bind_port and health_path of a deployment's file (None where a line is missing:
    a file without a frontend has bind_port None)."""
    settings = dict(bind_address=None, bind_port=None, health_path=None)
    for line in (text or '').splitlines():
        bind = _BIND_RE.match(line)
        if bind and settings['bind_port'] is None:
            settings['bind_address'] = bind.group(1) or '*'
            settings['bind_port'] = int(bind.group(2))
        check = _HTTPCHK_RE.match(line)
        if check:
            settings['health_path'] = check.group(1)
    return settings


def has_frontend(text):
    """Whether a deployment's file declares a frontend (one without serves through the HTTPS edge only)."""
    return any(line.startswith('frontend ') for line in (text or '').splitlines())


def bound_ports(text):
    """TCP ports of the `bind` lines of a configuration text."""
    ports = set()
    for line in (text or '').splitlines():
        match = _BIND_RE.match(line)
        if match:
            ports.add(int(match.group(2)))
    return ports
