# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's status from one observation of it, as a table for people
(status_lines) and as data for programs (status_data: status.yml -e
status_format=json, and the langgraph_status artifact of set_stats). Pure."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import server_name
from ansible_collections.selfhost.langgraph.plugins.module_utils.tracing import summary, summary_text

ROW = '  %-10s %-30s %4s %6s %-8s %s'
FORMATS = ('text', 'json')
STATUS_VERSION = 1
REVISION_KEYS = ('number', 'status', 'image', 'created_by', 'created_at', 'deployed_at', 'status_reason')


def _lb_cells(lbs, deployment, name):
    """'lb1 UP 3' per load balancer that answered, for one server."""
    cells = []
    for lb in lbs:
        if not lb['reachable']:
            continue
        view = (lb.get('backends') or {}).get(deployment) or {}
        server = (view.get('servers') or {}).get(name)
        if server is None:
            cells.append('%s -' % lb['name'])
        else:
            sessions = server.get('scur')
            cells.append('%s %s %s' % (lb['name'], server.get('status', '?'),
                                       '-' if sessions is None else ('%g' % sessions)))
    return ', '.join(cells) or '-'


def _iso(epoch):
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _ago(seconds):
    seconds = max(0, int(seconds))
    for unit, size in (('d', 86400), ('h', 3600), ('min', 60)):
        if seconds >= size:
            return '%d %s' % (seconds // size, unit)
    return '%d s' % seconds


def last_used(usage, now):
    """{at, idle_seconds, by, last_run_at, notified_at} (ISO times) from deployment_usage's view, or None when
    no run recorded it yet; {error} when it could not be read."""
    if not usage or usage.get('first_look'):
        return None
    if usage.get('error'):
        return dict(error=usage['error'])
    at = usage.get('last_used_at')
    return dict(at=_iso(at), idle_seconds=None if at is None or now is None else max(0, int(now - at)),
                by=usage.get('used_by'), last_run_at=_iso(usage.get('last_run_at')),
                notified_at=_iso(usage.get('notified_at')))


def last_used_text(usage, now):
    """The status line of a deployment's last use."""
    seen = last_used(usage, now)
    if seen is None:
        return 'last used: not recorded yet (the next reconcile or autoscale tick records it)'
    if seen.get('error'):
        return 'last used: unknown (%s)' % seen['error']
    text = 'last used: %s' % seen['at']
    if seen['idle_seconds'] is not None:
        text += ' (%s ago%s)' % (_ago(seen['idle_seconds']), ', ' + seen['by'] if seen['by'] else '')
    text += '; newest run: %s' % (seen['last_run_at'] or 'none seen')
    if seen['notified_at']:
        text += '; told idle at %s' % seen['notified_at']
    return text


def _down(host, known):
    """Why a host is down and when it was last seen (the control database remembers)."""
    seen = (known.get(host['name']) or {}).get('last_seen')
    return 'down: %s (last seen %s)' % (host.get('problem') or 'no answer', seen or 'never')


def addresses_text(d):
    """Where a deployment is served: its lb port ('-' without one) and its HTTPS address on the edge."""
    words = ['lb port %s' % (d['lb_port'] if d.get('lb_port') is not None else '-')]
    if d.get('hostname'):
        words.append('https://%s' % d['hostname'])
    return ', '.join(words)


def status_lines(deployments, apps, lbs, control):
    """One block per deployment: serving revision, lock, containers with health and sessions, revisions;
    then the hosts that do not answer, with when they were last seen."""
    states = control.get('deployments') or {}
    known = control.get('hosts') or {}
    lines = []
    for d in deployments:
        state = states.get(d['name']) or {}
        revisions = state.get('revisions') or []
        serving = state.get('serving')
        served = [r for r in revisions if r['number'] == serving]
        head = '%s (%s, %s): serving revision %s' % (d['name'], d['type'], addresses_text(d), serving or 'none')
        if served:
            head += ' since %s' % served[0].get('deployed_at')
        lock = (control.get('busy') or {}).get(d['name']) or state.get('lock')
        if lock:
            head += '; LOCKED by %s since %s (%s)' % (lock.get('holder'), lock.get('since'), lock.get('purpose'))
        lines.append(head)
        # Whether it traces, to which project and endpoint, from its environment (never a key).
        lines.append('  %s' % summary_text(d.get('env') or {}, d.get('secret_names') or ()))
        lines.append('  %s' % last_used_text(state.get('usage'), control.get('now')))
        lines.append(ROW % ('HOST', 'CONTAINER', 'REV', 'PORT', 'HEALTH', 'LOAD BALANCERS (status sessions)'))
        for host in apps:
            if not host['reachable']:
                lines.append('  %-10s %s' % (host['name'], _down(host, known)))
                continue
            mine = [c for c in host['containers'] if c['deployment'] == d['name']]
            if not mine:
                lines.append('  %-10s (no containers)' % host['name'])
            for c in sorted(mine, key=lambda c: (c['revision'], c['replica'])):
                health = c.get('health') if c['running'] else 'stopped'
                lines.append(ROW % (host['name'], c['name'], c['revision'], c['port'],
                                    health if health is not None else '-',
                                    _lb_cells(lbs, d['name'], server_name(host['name'], c['revision'],
                                                                          c['replica']))))
        lines.append('  revisions:')
        for r in revisions[:5]:
            reason = (': ' + r['status_reason'][:120]) if r.get('status_reason') else ''
            lines.append('    %3s %-12s %-45s %s%s' % (r['number'], r['status'], r['image'],
                                                       r.get('created_by') or '', reason))
        if not revisions:
            lines.append('    (none yet)')
    for lb in lbs:
        if lb['reachable'] and lb.get('certificates'):
            lines.append('%s HTTPS certificates: %s' % (lb['name'], certificates_text(lb['certificates'])))
    for host in apps + lbs:
        if not host['reachable']:
            lines.append('%s %s' % (host['name'], _down(host, known)))
    return lines


def certificates_text(certificates):
    return '; '.join('%s until %s' % (', '.join(c.get('names') or [c.get('file', '?')]), c.get('not_after', '?'))
                     for c in certificates)


def _lb_servers(lbs, deployment, name):
    """[{load_balancer, status, sessions}] of one server on each load balancer that answered."""
    found = []
    for lb in lbs:
        if not lb['reachable']:
            continue
        server = (((lb.get('backends') or {}).get(deployment) or {}).get('servers') or {}).get(name)
        found.append(dict(load_balancer=lb['name'], status=None if server is None else server.get('status'),
                          sessions=None if server is None else server.get('scur')))
    return found


def _public_lock(lock):
    if not lock:
        return None
    return dict((k, lock.get(k)) for k in ('holder', 'since', 'purpose', 'expires_at'))


def status_data(deployments, apps, lbs, control):
    """The same facts as status_lines, as one JSON-ready document:
    {version, deployments: [{name, type, lb_port, serving_revision, deployed_at, desired_replicas,
    running_replicas, lock, tracing, containers, revisions, last_scale, queue, last_used}], hosts_down: [...]}."""
    states = control.get('deployments') or {}
    known = control.get('hosts') or {}
    result = []
    for d in deployments:
        state = states.get(d['name']) or {}
        revisions = state.get('revisions') or []
        serving = state.get('serving')
        served = [r for r in revisions if r['number'] == serving]
        containers = []
        unobserved = []
        for host in apps:
            if not host['reachable']:
                unobserved.append(host['name'])
                continue
            for c in sorted((c for c in host['containers'] if c['deployment'] == d['name']),
                            key=lambda c: (c['revision'], c['replica'])):
                containers.append(dict(
                    host=host['name'], name=c['name'], revision=c['revision'], replica=c['replica'], port=c['port'],
                    running=bool(c['running']), health=c.get('health') if c['running'] else None,
                    load_balancers=_lb_servers(lbs, d['name'],
                                               server_name(host['name'], c['revision'], c['replica']))))
        lock = (control.get('busy') or {}).get(d['name']) or state.get('lock')
        result.append(dict(
            name=d['name'], type=d['type'], lb_port=d.get('lb_port'), hostname=d.get('hostname'),
            serving_revision=serving,
            deployed_at=served[0].get('deployed_at') if served else None,
            desired_replicas=state.get('replicas'),
            running_replicas=len([c for c in containers if c['running'] and c['revision'] == serving]),
            unobserved_hosts=unobserved,
            lock=_public_lock(lock),
            tracing=summary(d.get('env') or {}, d.get('secret_names') or ()),
            containers=containers,
            revisions=[dict((k, r.get(k)) for k in REVISION_KEYS) for r in revisions],
            last_scale=state.get('scale'),
            queue=state.get('queue'),
            last_used=last_used(state.get('usage'), control.get('now')),
        ))
    down = [dict(name=host['name'], problem=host.get('problem') or 'no answer',
                 last_seen=(known.get(host['name']) or {}).get('last_seen'))
            for host in apps + lbs if not host['reachable']]
    certificates = [dict(load_balancer=lb['name'], certificates=lb.get('certificates') or [])
                    for lb in lbs if lb['reachable']]
    return dict(version=STATUS_VERSION, deployments=result, hosts_down=down, edge_certificates=certificates)
