# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTPS edge: host names of the deployments and the map that routes them.

Every load balancer serves one HTTPS frontend on 443 (the haproxy role). It looks the
request's host name up in a map file, `<host name> be_<deployment>`, and sends it to that
backend; a host name not in the map is answered 404. The haproxy_edge module keeps the
map (file and running process) in step with the deployments' host names. Pure functions,
unit-tested as tables.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import (
    backend_name,
    validate_deployment_name,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError

_LABEL_RE = re.compile(r'\A[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z')
_MAP_LINE_RE = re.compile(r'\A\s*(\S+)\s+(\S+)\s*\Z')
STATES = ('present', 'absent')


def hostname_problem(name, what='hostname'):
    """None for a valid DNS host name of two labels or more (lower case), else what is wrong."""
    if not isinstance(name, str) or not name:
        return '%s must be a DNS name such as bot.agents.example.com, not %r' % (what, name)
    if len(name) > 253:
        return '%s %r is longer than 253 characters' % (what, name)
    labels = name.split('.')
    if len(labels) < 2:
        return '%s %r needs a domain: write it in full, such as %s.agents.example.com' % (what, name, name)
    for label in labels:
        if not _LABEL_RE.match(label):
            return ('%s %r is not a valid DNS name: label %r must be 1 to 63 lower-case letters, digits or '
                    '"-", not starting or ending with "-"' % (what, name, label))
    if labels[-1].isdigit():
        return '%s %r looks like an IP address; give a DNS name' % (what, name)
    return None


def domain_problem(domain):
    """None for a valid langgraph_domain (empty: no default host names), else what is wrong."""
    if domain in (None, ''):
        return None
    return hostname_problem(domain, 'langgraph_domain')


def deployment_hostname(name, hostname=None, domain=None):
    """The host name a deployment answers on: its own, else <name>.<domain>, else None."""
    if hostname:
        return hostname.lower()
    if domain:
        return '%s.%s' % (name, domain.lower())
    return None


def parse_map(text):
    """{host name: backend} of a map file's text (comments and blank lines skipped)."""
    routes = {}
    for line in (text or '').splitlines():
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        match = _MAP_LINE_RE.match(line)
        if match:
            routes[match.group(1)] = match.group(2)
    return routes


def render_map(routes):
    lines = ['# Managed by selfhost.langgraph.haproxy_edge: host name -> backend. Do not edit.']
    lines.extend('%s %s' % (host, routes[host]) for host in sorted(routes))
    return '\n'.join(lines) + '\n'


def validate_routes(entries):
    """The routes option checked: [{deployment, hostname, state}] normalised; one message on a problem."""
    result = []
    seen_deployments = {}
    seen_hosts = {}
    for index, entry in enumerate(entries or []):
        where = 'routes[%d]' % index
        if not isinstance(entry, dict):
            raise HAProxyError('%s must be a dict with deployment, hostname and state' % where)
        deployment = entry.get('deployment')
        try:
            validate_deployment_name(deployment)
        except Exception as exc:
            raise HAProxyError('%s: %s' % (where, exc))
        state = entry.get('state') or 'present'
        if state not in STATES:
            raise HAProxyError('%s (%s): state must be present or absent, not %r' % (where, deployment, state))
        if deployment in seen_deployments:
            raise HAProxyError('%s: deployment %s is listed twice: list each deployment once' % (where, deployment))
        seen_deployments[deployment] = index
        hostname = entry.get('hostname')
        if state == 'present':
            problem = hostname_problem(hostname)
            if problem:
                raise HAProxyError('%s (%s): %s' % (where, deployment, problem))
            if hostname in seen_hosts:
                raise HAProxyError('%s: %s and %s have the same host name %s: give each deployment its own'
                                   % (where, seen_hosts[hostname], deployment, hostname))
            seen_hosts[hostname] = deployment
        result.append(dict(deployment=deployment, hostname=hostname if state == 'present' else None, state=state))
    return result


def plan_routes(current, routes):
    """(new map, steps) to bring current ({host: backend}) to the routes (validated).

    A present deployment gets its host name and loses any other; an absent one loses all of its
    host names. Steps: ('del', host, None), ('add', host, backend), ('set', host, backend), removals
    first so that a host name moving between deployments is never served by both. Raises HAProxyError
    when a host name is already routed to a deployment the call does not mention (it belongs to it).
    """
    listed = dict((backend_name(r['deployment']), r) for r in routes)
    for r in routes:
        if r['state'] != 'present':
            continue
        owner = current.get(r['hostname'])
        if owner is not None and owner != backend_name(r['deployment']) and owner not in listed:
            raise HAProxyError('host name %s of %s is already routed to %s on this load balancer: give %s '
                               'another host name, or delete the other deployment first'
                               % (r['hostname'], r['deployment'], owner, r['deployment']))
    wanted = dict(current)
    for host, backend in sorted(current.items()):
        if backend in listed:
            del wanted[host]
    for r in routes:
        if r['state'] == 'present':
            wanted[r['hostname']] = backend_name(r['deployment'])
    steps = [('del', host, None) for host in sorted(current) if host not in wanted]
    for host in sorted(wanted):
        if host not in current:
            steps.append(('add', host, wanted[host]))
        elif current[host] != wanted[host]:
            steps.append(('set', host, wanted[host]))
    return wanted, steps


def runtime_command(map_path, step):
    action, host, backend = step
    if action == 'del':
        return 'del map %s %s' % (map_path, host)
    return '%s map %s %s %s' % (action, map_path, host, backend)


def parse_show_map(text):
    """{host: backend} of a `show map <file>` answer (lines: `<id> <key> <value>`)."""
    routes = {}
    for line in (text or '').splitlines():
        words = line.split()
        if len(words) == 3 and words[0].startswith('0x'):
            routes[words[1]] = words[2]
    return routes


def routes_of(deployments, action):
    """haproxy_edge routes of a run's validated deployments: those with a host name present; on delete every
    deployment absent, host name or not, since a route made while it had one must go with it."""
    if action == 'delete':
        return [dict(deployment=d['name'], hostname=None, state='absent') for d in deployments or []]
    return [dict(deployment=d['name'], hostname=d['hostname'], state='present')
            for d in deployments or [] if d.get('hostname')]
