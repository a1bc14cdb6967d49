# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carries out a haproxy_plan.Plan on the load balancer host.

Runtime steps go through the runtime API; the file is validated with `haproxy -c`
before it replaces the old one, and rewritten from the runtime state if a step fails
half-way, so that the file always matches what is registered.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import time

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import (
    HAProxyError,
    backend_name,
    bound_ports,
    frontend_name,
    render,
    server_keywords,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_plan import runtime_state

POLL = 0.5
# `del server` fails while idle keep-alive connections remain (pool-purge-delay, 5 s by default).
DELETE_TIMEOUT = 20
REPORT_KEYS = ('name', 'address', 'port', 'status', 'check_status', 'scur', 'stot', 'weight')


def read_file(path):
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError):
        if os.path.exists(path):
            raise
        return None


def other_config_files(config_dir, path):
    return sorted(f for f in glob.glob(os.path.join(config_dir, '*.cfg'))
                  if os.path.abspath(f) != os.path.abspath(path))


def check_port_free(bind_port, deployment, files):
    """Fail when another frontend of the configuration already binds bind_port."""
    for name in files:
        if bind_port in bound_ports(read_file(name)):
            raise HAProxyError('bind_port %d of %s is already bound in %s: choose a free port for the '
                               'deployment' % (bind_port, deployment, name))


def healthy(server):
    """UP, and a health check has passed (servers start UP before their first check)."""
    return bool(server) and server['status'] == 'UP' and server['check_status'] in ('L7OK', 'L6OK', 'L4OK')


def report(view):
    """The servers of a backend_view as the module returns them, sorted by name."""
    return [dict((k, s[k]) for k in REPORT_KEYS) for _name, s in sorted(view['servers'].items())]


class Executor(object):

    def __init__(self, api, deployment, path, main_config, config_dir, service, run_command,
                 render_args, sleep=time.sleep, clock=time.monotonic, master=None):
        self.api = api
        self.master = master  # MasterCLI or None: sessions still served by old workers after a reload
        self.deployment = deployment
        self.frontend = frontend_name(deployment)
        self.backend = backend_name(deployment)
        self.path = path
        self.main_config = main_config
        self.config_dir = config_dir
        self.service = service
        self.run_command = run_command  # like AnsibleModule.run_command: args -> (rc, out, err)
        self.render_args = render_args  # bind_port, bind_address, health_path
        self.sleep = sleep
        self.clock = clock
        self.reloaded = False
        self.drain_timed_out = []

    # --- the file -----------------------------------------------------------------------
    def write_file(self, text):
        """Validate the whole configuration with text as our file, then put it in place."""
        tmp = os.path.join(os.path.dirname(self.path), '.%s.tmp' % os.path.basename(self.path))
        with open(tmp, 'w') as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        try:
            args = ['haproxy', '-c', '-q', '-f', self.main_config]
            for name in other_config_files(self.config_dir, self.path):
                args += ['-f', name]
            args += ['-f', tmp]
            rc, out, err = self.run_command(args)
            if rc != 0:
                raise HAProxyError('the configuration of %s does not pass "haproxy -c" and was not written: %s'
                                   % (self.deployment, (err or out).strip()))
            os.rename(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def remove_file(self):
        if os.path.exists(self.path):
            os.unlink(self.path)

    def resync_file(self):
        """After a failed runtime step: make the file match what is registered now."""
        view = self.api.view(self.frontend, self.backend)
        if not view['backend']:
            return
        servers = [dict(name=s['name'], address=s['address'], port=s['port'], state=runtime_state(s))
                   for _n, s in sorted(view['servers'].items())]
        text = render(self.deployment, servers=servers, **self.render_args)
        if text != read_file(self.path):
            self.write_file(text)

    # --- reload -------------------------------------------------------------------------
    def _pid(self):
        for line in self.api.ping().splitlines():
            if line.startswith('Pid:'):
                return line.split(':', 1)[1].strip()
        return None

    def reload(self, expect_present, server_names, timeout):
        before = self._pid()
        rc, out, err = self.run_command(['systemctl', 'reload', self.service])
        if rc != 0:
            raise HAProxyError('"systemctl reload %s" failed: %s' % (self.service, (err or out).strip()))
        self.reloaded = True
        deadline = self.clock() + timeout
        last = 'no answer'
        while True:
            try:
                if self._pid() != before:
                    view = self.api.view(self.frontend, self.backend)
                    if expect_present:
                        if view['frontend'] and view['backend'] and set(view['servers']) == set(server_names):
                            return view
                        last = 'frontend %s, backend %s, servers %s' % (
                            view['frontend'], view['backend'], sorted(view['servers']))
                    elif not view['frontend'] and not view['backend']:
                        return view
                    else:
                        last = 'the frontend or backend is still there'
                else:
                    last = 'the old worker (pid %s) still answers' % before
            except HAProxyError as e:
                last = str(e)
            if self.clock() >= deadline:
                raise HAProxyError('HAProxy did not load the new configuration of %s within %d s (%s); '
                                   'see "journalctl -u %s"' % (self.deployment, timeout, last, self.service))
            self.sleep(POLL)

    # --- runtime steps ------------------------------------------------------------------
    def add(self, server):
        self.api.add_server(self.backend, server['name'], server['address'], server['port'],
                            server_keywords(server['state']))
        # Servers added at run time start in maintenance with their checks off.
        self.api.enable_health(self.backend, server['name'])
        self.api.enable_server(self.backend, server['name'])

    def ready(self, server):
        runtime = server.get('runtime') or {}
        if runtime.get('weight') == 0:
            self.api.set_weight(self.backend, server['name'], 1)
        self.api.set_state(self.backend, server['name'], 'ready')
        self.api.enable_health(self.backend, server['name'])

    def drain(self, server):
        self.api.set_state(self.backend, server['name'], 'drain')

    def remove(self, servers, drain_timeout):
        """Drain servers together, wait (bounded) until their sessions end, then delete them."""
        names = [s['name'] for s in servers]
        for server in servers:
            runtime = server.get('runtime') or {}
            if runtime.get('status') != 'MAINT':
                self.api.set_state(self.backend, server['name'], 'drain')
        deadline = self.clock() + drain_timeout
        busy = list(names)
        while True:
            view = self.api.view(self.frontend, self.backend)
            busy = [n for n in names if n in view['servers']
                    and (view['servers'][n]['scur'] or view['servers'][n]['qcur'])]
            old = self.old_sessions(names)
            if not busy and not any(old.values()) or self.clock() >= deadline:
                break
            self.sleep(POLL)
        for name in names:
            self.api.set_state(self.backend, name, 'maint')
        for name in names:
            if name in busy:
                # drain_timeout passed: cut what is left.
                self.api.shutdown_sessions(self.backend, name)
            if name in busy or old.get(name):
                self.drain_timed_out.append(name)
        deadline = self.clock() + DELETE_TIMEOUT
        pending = list(names)
        while pending:
            pending = [n for n in pending if not self.api.del_server(self.backend, n)]
            if not pending:
                break
            if self.clock() >= deadline:
                raise HAProxyError('HAProxy kept connections to %s of %s for more than %d s after they '
                                   'went into maintenance; they are in maintenance but not removed'
                                   % (', '.join(pending), self.backend, DELETE_TIMEOUT))
            self.sleep(POLL)

    def old_sessions(self, names):
        """Sessions of names in workers that a reload replaced (they finish their requests)."""
        if self.master is None:
            return {}
        try:
            return self.master.old_sessions(self.backend, names)
        except HAProxyError:
            return {}

    def run_steps(self, steps, drain_timeout):
        i = 0
        while i < len(steps):
            step = steps[i]
            if step['action'] == 'remove':
                # Consecutive removals drain in parallel.
                group = []
                while i < len(steps) and steps[i]['action'] == 'remove':
                    group.append(steps[i]['server'])
                    i += 1
                self.remove(group, drain_timeout)
                continue
            getattr(self, step['action'])(step['server'])
            i += 1

    # --- everything ---------------------------------------------------------------------
    def apply(self, plan, drain_timeout, reload_timeout=30):
        if plan.live and plan.steps:
            try:
                self.run_steps(plan.steps, drain_timeout)
            except HAProxyError:
                self.resync_file()
                raise
        if plan.remove_file:
            self.remove_file()
        elif plan.write:
            self.write_file(plan.new_text)
        if plan.reload:
            return self.reload(plan.new_text is not None,
                               [s['name'] for s in plan.servers_after], reload_timeout)
        return self.api.view(self.frontend, self.backend)

    def wait_healthy(self, names, timeout):
        """Wait until every server in names is UP with a passed check; returns the last view."""
        deadline = self.clock() + timeout
        while True:
            view = self.api.view(self.frontend, self.backend)
            bad = [n for n in names if not healthy(view['servers'].get(n))]
            if not bad:
                return view
            if self.clock() >= deadline:
                raise HAProxyError('servers of %s not healthy after %d s: %s; check that they answer '
                                   'GET %s with 200' % (
                                       self.backend, timeout,
                                       ', '.join('%s (%s, check %s)' % (
                                           n, view['servers'].get(n, {}).get('status', 'missing'),
                                           view['servers'].get(n, {}).get('check_status') or '-')
                                           for n in bad),
                                       self.render_args.get('health_path')))
            self.sleep(POLL)
