# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy's runtime API (the admin stats socket), spoken directly from Python.

One command per connection (non-interactive mode): HAProxy answers and closes.
Parsers are plain functions over the answers' text so that they are unit-tested
without a socket.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import (
    BACKEND_PREFIX,
    FRONTEND_PREFIX,
    deployment_name_problem,
)


class RuntimeUnreachable(HAProxyError):
    """The socket does not answer: a problem of the host, not of one deployment."""


class CommandRefused(HAProxyError):
    """HAProxy answered a command with an error: a problem of the deployment it concerns."""


def normalise_status(raw, weight=None):
    """show stat's status as UP, DOWN, MAINT or DRAIN.

    HAProxy writes UP, DOWN, NOLB, MAINT, MAINT (via b/s), DRAIN, "UP 1/2" (up, going
    down), "DOWN 1/2" (down, going up) and "no check". A running server of weight 0
    (drained in the configuration file) takes no new requests: DRAIN.
    """
    raw = (raw or '').strip()
    if raw.startswith('MAINT'):
        return 'MAINT'
    if raw.startswith('DRAIN'):
        return 'DRAIN'
    if raw.startswith('DOWN'):
        return 'DOWN'
    if weight == 0:
        return 'DRAIN'
    return 'UP'


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parse_show_stat(text):
    """Rows of `show stat` (CSV with a '# ' header line) as dicts."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith('# '):
        raise HAProxyError('unexpected answer to "show stat": %r' % text[:200])
    header = lines[0][2:].split(',')
    rows = []
    for line in lines[1:]:
        values = line.split(',')
        rows.append(dict(zip(header, values)))
    return rows


def parse_servers_state(text):
    """Rows of `show servers state <backend>` (version 1) as dicts."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = None
    rows = []
    for line in lines:
        if line.startswith('# '):
            header = line[2:].split()
        elif header and not line.strip().isdigit():
            rows.append(dict(zip(header, line.split())))
    return rows


def _server(row, extra):
    """One server of a `show stat` row, with its `show servers state` row (extra, may be empty)."""
    weight = _int(row.get('weight'))
    address, _sep, port = (row.get('addr') or '').rpartition(':')
    if extra.get('srv_addr'):
        address = extra['srv_addr']
        port = extra.get('srv_port', port)
    return dict(
        name=row.get('svname'),
        address=address,
        port=_int(port),
        status=normalise_status(row.get('status'), weight),
        raw_status=row.get('status', ''),
        check_status=row.get('check_status', ''),
        weight=weight,
        scur=_int(row.get('scur')),
        stot=_int(row.get('stot')),
        qcur=_int(row.get('qcur')),
        admin_state=_int(extra.get('srv_admin_state')),
    )


def backend_view(stat_rows, state_rows, frontend, backend):
    """What runtime says about one deployment: frontend/backend presence and its servers."""
    view = dict(frontend=False, backend=False, servers={})
    admin = dict((r.get('srv_name'), r) for r in state_rows if r.get('be_name', backend) == backend)
    for row in stat_rows:
        pxname, svname = row.get('pxname'), row.get('svname')
        if pxname == frontend and svname == 'FRONTEND':
            view['frontend'] = True
        if pxname != backend:
            continue
        if svname == 'BACKEND':
            view['backend'] = True
            continue
        if svname == 'FRONTEND':
            continue
        view['servers'][svname] = _server(row, admin.get(svname, {}))
    return view


def deployment_of_proxy(proxy):
    """(deployment, 'frontend' or 'backend') of fe_<name> or be_<name> with a valid name, else None."""
    for prefix, kind in ((FRONTEND_PREFIX, 'frontend'), (BACKEND_PREFIX, 'backend')):
        if proxy.startswith(prefix):
            name = proxy[len(prefix):]
            if deployment_name_problem(name) is None:
                return name, kind
    return None


def empty_view():
    return dict(frontend=False, backend=False, servers={}, queue=0)


def fleet_view(stat_rows, state_rows=()):
    """Every deployment of ours at run time in one pass: {deployment: view}.

    A view is backend_view()'s dict plus the backend's queue (qcur of its BACKEND row).
    Proxies that are not fe_/be_<valid deployment name> are not reported.
    """
    admin = dict(((r.get('be_name'), r.get('srv_name')), r) for r in state_rows)
    views = {}
    for row in stat_rows:
        pxname, svname = row.get('pxname') or '', row.get('svname')
        ours = deployment_of_proxy(pxname)
        if ours is None:
            continue
        deployment, kind = ours
        view = views.setdefault(deployment, empty_view())
        if kind == 'frontend':
            if svname == 'FRONTEND':
                view['frontend'] = True
        elif svname == 'BACKEND':
            view['backend'] = True
            view['queue'] = _int(row.get('qcur'))
        elif svname != 'FRONTEND':
            view['servers'][svname] = _server(row, admin.get((pxname, svname), {}))
    return views


def parse_show_proc(text):
    """PIDs of the old workers in the master CLI's `show proc` (still serving after a reload)."""
    section = None
    old = []
    for line in text.splitlines():
        if line.startswith('#'):
            section = line.lstrip('#').strip().split('<')[0].strip()
            continue
        words = line.split()
        if section == 'old workers' and words and words[0].isdigit():
            old.append(int(words[0]))
    return old


class RuntimeAPI(object):
    """Client of the admin socket at path."""

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.timeout = timeout
        self.log = []

    def execute(self, command):
        """Send one command; returns the answer's text. Raises HAProxyError if unreachable."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            try:
                sock.connect(self.path)
                sock.sendall(command.encode('utf-8') + b'\n')
                # End of input: the master CLI answers only then, as it does for socat.
                sock.shutdown(socket.SHUT_WR)
                chunks = []
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
            except (OSError, socket.timeout) as e:
                raise RuntimeUnreachable(
                    'cannot talk to the HAProxy runtime API at %s (%s): is HAProxy running (role '
                    'selfhost.langgraph.haproxy) and is this its admin stats socket (haproxy_socket)?'
                    % (self.path, e))
        finally:
            sock.close()
        return b''.join(chunks).decode('utf-8', 'replace')

    def change(self, command, ok=('',)):
        """Run a command that changes something; its answer must be one of ok (stripped)."""
        answer = self.execute(command).strip()
        if answer not in ok:
            raise CommandRefused('HAProxy refused "%s": %s' % (command, answer))
        self.log.append(command)
        return answer

    # --- reading ------------------------------------------------------------------------
    def ping(self):
        answer = self.execute('show info')
        if 'Name: HAProxy' not in answer:
            raise HAProxyError('%s does not answer like an HAProxy runtime API socket: %r'
                               % (self.path, answer[:200]))
        return answer

    def show_stat(self):
        return parse_show_stat(self.execute('show stat'))

    def show_servers_state(self):
        """Rows of every backend (one command, whatever their number)."""
        return parse_servers_state(self.execute('show servers state'))

    def fleet(self, addresses=True):
        """fleet_view() of the runtime now: one `show stat`, plus `show servers state` with addresses.

        Polling loops pass addresses=False: status, checks and sessions are all in `show stat`.
        """
        stat = self.show_stat()
        return fleet_view(stat, self.show_servers_state() if addresses else ())

    def view(self, frontend, backend):
        stat = parse_show_stat(self.execute('show stat'))
        state_rows = []
        if any(r.get('pxname') == backend and r.get('svname') == 'BACKEND' for r in stat):
            state_rows = parse_servers_state(self.execute('show servers state %s' % backend))
        return backend_view(stat, state_rows, frontend, backend)

    # --- changing -----------------------------------------------------------------------
    def add_server(self, backend, name, address, port, keywords):
        self.change('add server %s/%s %s:%d %s' % (backend, name, address, port, ' '.join(keywords)),
                    ok=('New server registered.',))

    def enable_health(self, backend, name):
        self.change('enable health %s/%s' % (backend, name))

    def enable_server(self, backend, name):
        self.change('enable server %s/%s' % (backend, name))

    def set_state(self, backend, name, state):
        self.change('set server %s/%s state %s' % (backend, name, state))

    def set_weight(self, backend, name, weight):
        self.change('set weight %s/%s %d' % (backend, name, weight))

    def shutdown_sessions(self, backend, name):
        self.change('shutdown sessions server %s/%s' % (backend, name))

    def del_server(self, backend, name):
        """Delete a server; returns False while it still has (idle) connections."""
        command = 'del server %s/%s' % (backend, name)
        answer = self.execute(command).strip()
        if answer == 'Server deleted.':
            self.log.append(command)
            return True
        if 'still has connections' in answer or 'queue' in answer:
            return False
        raise CommandRefused('HAProxy refused "%s": %s' % (command, answer))


class MasterCLI(RuntimeAPI):
    """The master process's CLI (-S socket): reaches the old workers that finish requests after a reload."""

    def old_workers(self):
        return parse_show_proc(self.execute('show proc'))

    def old_sessions(self, servers):
        """Current sessions of servers ((backend, name) pairs), summed over the old workers (0 where they
        are gone): one `show proc` and one `show stat` per old worker, whatever the number of servers."""
        total = dict((server, 0) for server in servers)
        if not total:
            return total
        for pid in self.old_workers():
            answer = self.execute('@!%d show stat' % pid)
            if not answer.startswith('# '):
                continue  # the worker exited meanwhile
            for row in parse_show_stat(answer):
                key = (row.get('pxname'), row.get('svname'))
                if key in total:
                    total[key] += _int(row.get('scur')) + _int(row.get('qcur'))
        return total
