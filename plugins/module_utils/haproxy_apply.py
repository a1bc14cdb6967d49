# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carries out haproxy_backends_plan plans on the load balancer host, for many backends at once.

The phases (see haproxy_backends_plan) are shared by every deployment: one `haproxy -c` and
one reload for all new or changed files, one wait for every new server, one wait for the
sessions of every removed server, one rewrite of the files. A problem of one deployment (a
command HAProxy refuses, servers that do not come up, a file `haproxy -c` rejects) is
recorded in `failed` and the others go on; only a socket that does not answer or a reload
that does not happen stops the call (HAProxyError). Files always end up matching the
servers registered at run time.

The caller holds the load balancer's lock (haproxy_lock) for the whole call, so no other call
of ours reloads HAProxy meanwhile. A reload by something else (an operator's `systemctl
reload`, the role's handler) is survived as well as it can be: the files follow the runtime
right after every add and every drain, not only at the end, and before this call's own reload
every file of ours (listed or not) lists the servers registered at run time. A server this
call waits for that vanishes anyway fails its deployment at once, not after health_timeout.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import time

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_backends_plan import (
    awaited,
    plan_backend,
    split_steps,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import (
    HAProxyError,
    backend_name,
    has_frontend,
    parse_servers,
    parse_settings,
    render,
    server_keywords,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_plan import runtime_state
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_runtime import (
    CommandRefused,
    empty_view,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import haproxy_config_path

POLL = 0.25
# `del server` fails while idle keep-alive connections remain (pool-purge-delay, 5 s by default).
DELETE_TIMEOUT = 20
RELOAD_TIMEOUT = 30
REPORT_KEYS = ('name', 'address', 'port', 'status', 'check_status', 'scur', 'stot', 'weight')


def read_file(path):
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError):
        if os.path.exists(path):
            raise
        return None


def healthy(server):
    """UP, and a health check has passed (servers start UP before their first check)."""
    return bool(server) and server['status'] == 'UP' and server['check_status'] in ('L7OK', 'L6OK', 'L4OK')


def report(view):
    """The servers of a view as haproxy_backend returns them, sorted by name."""
    return [dict((k, s[k]) for k in REPORT_KEYS) for _name, s in sorted(view['servers'].items())]


def unhealthy_reason(deployment, names, servers, timeout, health_path):
    return 'servers of %s not healthy after %d s: %s; check that they answer GET %s with 200' % (
        backend_name(deployment), timeout,
        ', '.join('%s (%s, check %s)' % (n, (servers.get(n) or {}).get('status', 'missing'),
                                         (servers.get(n) or {}).get('check_status') or '-') for n in names),
        health_path)


def vanished_reason(deployment, names, pid_before, pid_now, service):
    """Why servers this call waited for are gone: a reload by something else, or a deletion."""
    if pid_before and pid_now and pid_before != pid_now:
        how = ('HAProxy was reloaded by something else meanwhile (worker pid %s, now %s) from files that did not '
               'list them; reload HAProxy only through these modules while they run (see "journalctl -u %s")'
               % (pid_before, pid_now, service))
    else:
        how = 'something else deleted them through the runtime API'
    return 'servers of %s vanished from HAProxy while this call waited for them to come up: %s; %s' % (
        backend_name(deployment), ', '.join(names), how)


def runtime_servers(view):
    """A live backend's servers in the file's terms."""
    return [dict(name=s['name'], address=s['address'], port=s['port'], state=runtime_state(s))
            for _name, s in sorted(view['servers'].items())]


def unlisted_files(views, texts, config_dir, listed):
    """{path: text} for the files of live backends this call does not list whose servers differ from those
    at run time (texts: {path: text} of the loaded files). Written before a reload, so that the reload keeps
    every server registered at run time, also those of other deployments."""
    changes = {}
    for deployment, view in sorted(views.items()):
        if deployment in listed or not view['backend']:
            continue
        path = haproxy_config_path(config_dir, deployment)
        old = texts.get(path)
        settings = parse_settings(old)
        if old is None or settings['health_path'] is None or (settings['bind_port'] is None and has_frontend(old)):
            continue
        servers = runtime_servers(view)
        if sorted(parse_servers(old), key=lambda s: s['name']) != servers:
            settings['bind_address'] = settings['bind_address'] or '*'
            changes[path] = render(deployment, servers=servers, **settings)
    return changes


class ConfigFiles(object):
    """The main configuration and the per-deployment files of the configuration directory."""

    def __init__(self, config_dir, main_config, run_command):
        self.config_dir = config_dir
        self.main_config = main_config
        self.run_command = run_command  # like AnsibleModule.run_command: args -> (rc, out, err)

    def loaded(self):
        """Files HAProxy loads from the directory (`-f <dir>`: every *.cfg, in name order)."""
        return sorted(glob.glob(os.path.join(self.config_dir, '*.cfg')))

    def texts(self):
        """{path: text} of the main configuration and of every loaded file (port checks read them)."""
        texts = dict((path, read_file(path)) for path in self.loaded())
        texts[self.main_config] = read_file(self.main_config)
        return texts

    def check(self, files):
        """None if the main configuration plus files pass `haproxy -c`, else HAProxy's complaint."""
        args = ['haproxy', '-c', '-q', '-f', self.main_config]
        for name in files:
            args += ['-f', name]
        rc, out, err = self.run_command(args)
        return None if rc == 0 else ((err or out).strip() or 'exit code %d' % rc)

    def _rejected(self, base, tmp, paths):
        """{path: complaint} of the new files `haproxy -c` rejects: all together first, then one by one."""
        complaint = self.check(base + [tmp[p] for p in paths])
        if complaint is None:
            return {}
        if len(paths) == 1:
            return {paths[0]: complaint}
        rejected = {}
        for path in paths:
            alone = self.check(base + [tmp[path]])
            if alone is not None:
                rejected[path] = alone
        if not rejected:  # each passes alone, not together
            return dict((path, complaint) for path in paths)
        rest = [p for p in paths if p not in rejected]
        if rest:
            rejected.update(self._rejected(base, tmp, rest))
        return rejected

    def write(self, changes):
        """changes: {path: new text, or None to remove}. The new texts are validated together with the
        rest of the configuration; returns {path: complaint} of those not written (the others are)."""
        tmp = {}
        try:
            for path, text in changes.items():
                if text is None:
                    continue
                tmp[path] = os.path.join(os.path.dirname(path), '.%s.tmp' % os.path.basename(path))
                with open(tmp[path], 'w') as f:
                    f.write(text)
                os.chmod(tmp[path], 0o644)
            base = [f for f in self.loaded() if f not in changes]
            rejected = self._rejected(base, tmp, sorted(tmp)) if tmp else {}
            for path, text in sorted(changes.items()):
                if path in rejected:
                    continue
                if text is None:
                    if os.path.exists(path):
                        os.unlink(path)
                else:
                    os.rename(tmp[path], path)
            return rejected
        finally:
            for name in tmp.values():
                if os.path.exists(name):
                    os.unlink(name)


class Executor(object):
    """Runs the plans of one call: see the module docstring. One instance per call."""

    def __init__(self, api, files, service, run_command, master=None, sleep=time.sleep, clock=time.monotonic,
                 reload_timeout=RELOAD_TIMEOUT):
        self.api = api
        self.files = files          # ConfigFiles
        self.service = service
        self.run_command = run_command
        self.master = master        # MasterCLI or None: sessions still served by old workers after a reload
        self.sleep = sleep
        self.clock = clock
        self.reload_timeout = reload_timeout
        self.reloaded = False
        self.files_changed = False
        self.failed = {}            # deployment: reason
        self.plans = {}             # deployment: BackendPlan of the call (not those with a problem)
        self.drain_timed_out = {}   # deployment: [server names]
        self.unwritten = set()      # deployments whose new file `haproxy -c` rejected: left alone

    @property
    def changed(self):
        return bool(self.reloaded or self.files_changed or self.api.log)

    def fail(self, deployment, reason):
        before = self.failed.get(deployment)
        if before is None:
            self.failed[deployment] = reason
        elif reason not in before.split('; '):
            self.failed[deployment] = '%s; %s' % (before, reason)

    # --- everything ---------------------------------------------------------------------
    def apply(self, plans, views, wait_healthy=False, health_timeout=60, drain_timeout=300, wait_for=None,
              rollback=True):
        """Carry out plans ({deployment: BackendPlan}) made from views (the fleet view observed before).

        wait_for: {deployment: server names} to wait for with wait_healthy instead of the added and
        readied ones. rollback: remove the servers this call added to a deployment whose servers do not
        come up (else they stay, and the deployment is only reported). Returns the fleet view after.
        """
        active = {}
        for deployment, p in plans.items():
            if p.problem:
                self.fail(deployment, p.problem)
            else:
                active[deployment] = p
        self.plans = active
        steps = dict((d, p.steps) for d, p in active.items() if not p.absent)
        reloading = [p for _d, p in sorted(active.items()) if p.reload]
        if reloading:
            others = [p for _d, p in sorted(active.items()) if not p.reload and not p.absent]
            views = self.load(reloading, others, views)
            # The new worker is the truth now (a drained server has weight 0 there, say): plan again.
            for deployment, p in active.items():
                if not p.absent and deployment not in self.failed:
                    steps[deployment] = self.replan(p, views)

        parts = dict((d, split_steps(s)) for d, s in steps.items() if d not in self.failed)
        self.release(dict((d, part[0]) for d, part in parts.items() if part[0]), drain_timeout)
        worker = self._pid_or_none() if wait_healthy else None  # a reload by something else changes it
        added = self.add_capacity(dict((d, part[1]) for d, part in parts.items() if d not in self.failed))
        undo = {}
        if wait_healthy:
            names = dict((d, (wait_for or {}).get(d, awaited(part[1]))) for d, part in parts.items()
                         if d not in self.failed)
            paths = dict((d, active[d].entry['health_path']) for d in names)
            reasons, views = self.wait_healthy(names, health_timeout, paths, worker)
            for d, reason in sorted(reasons.items()):
                there = views.get(d, empty_view())['servers']
                mine = [s for s in added.get(d, []) if s['name'] in there]
                if rollback and mine:
                    reason += '; removed the servers this call added: %s' % ', '.join(s['name'] for s in mine)
                    undo[d] = [dict(action='remove', server=dict(s, runtime=None)) for s in mine]
                self.fail(d, reason)
        work = dict((d, part[2]) for d, part in parts.items() if d not in self.failed and part[2])
        work.update(undo)
        self.release(work, drain_timeout)
        return self.sync_files(active)

    def replan(self, p, views):
        """The runtime steps of a present backend after the reload, from what the new worker shows."""
        again = plan_backend(p.entry, views.get(p.deployment, empty_view()), read_file(p.path), p.path)
        if again.reload:
            self.fail(p.deployment, 'HAProxy does not serve the frontend and backend of %s as %s says after the '
                      'reload' % (p.deployment, p.path))
            return []
        return again.steps

    # --- phase 1: files and the one reload ------------------------------------------------
    def load(self, plans, others, views):
        """Write (or remove) the files of plans that need a reload, all checked together; reload once.

        others: the other listed live backends; their files are made to match the runtime first, so that
        the reload keeps their servers as they are.
        """
        changes = {}
        for p in plans:
            if p.absent:
                if p.old_text is not None:
                    changes[p.path] = None
            elif p.reload_text != p.old_text:
                changes[p.path] = p.reload_text
        for p in others:
            view = views.get(p.deployment, empty_view())
            text = render(p.deployment, servers=runtime_servers(view), **p.render_args)
            if view['backend'] and text != p.old_text:
                changes[p.path] = text
        changes.update(unlisted_files(views, self.files.texts(), self.files.config_dir, self.plans))
        rejected = self.files.write(changes)
        self.files_changed = self.files_changed or len(rejected) < len(changes)
        for p in plans + others:
            if p.path in rejected:
                self.unwritten.add(p.deployment)
                self.fail(p.deployment, 'the configuration of %s does not pass "haproxy -c" and was not written: %s'
                          % (p.deployment, rejected[p.path]))
        # {deployment: None (gone), or (its servers, whether it has a frontend)}
        expect = dict((p.deployment, None if p.absent
                       else (set(s['name'] for s in p.carried), p.entry['bind_port'] is not None))
                      for p in plans if p.path not in rejected)
        if not expect:
            return views
        return self.reload(expect)

    def _pid(self):
        for line in self.api.ping().splitlines():
            if line.startswith('Pid:'):
                return line.split(':', 1)[1].strip()
        return None

    @staticmethod
    def _loaded(view, expected):
        """Whether a view is what a reload should show: expected None (gone) or (server names, whether the
        deployment has a frontend of its own)."""
        if expected is None:
            return not view['frontend'] and not view['backend']
        names, frontend = expected
        return view['frontend'] == frontend and view['backend'] and set(view['servers']) == names

    def reload(self, expect):
        """Reload HAProxy and wait until its new worker serves expect ({deployment: (server names, whether
        it has a frontend), or None for gone}); returns its fleet view."""
        before = self._pid()
        rc, out, err = self.run_command(['systemctl', 'reload', self.service])
        if rc != 0:
            raise HAProxyError('"systemctl reload %s" failed: %s' % (self.service, (err or out).strip()))
        self.reloaded = True
        deadline = self.clock() + self.reload_timeout
        while True:
            try:
                if self._pid() != before:
                    views = self.api.fleet()
                    waiting = sorted(d for d, names in expect.items()
                                     if not self._loaded(views.get(d, empty_view()), names))
                    if not waiting:
                        return views
                    last = 'still waiting for %s' % ', '.join(waiting[:5])
                else:
                    last = 'the old worker (pid %s) still answers' % before
            except HAProxyError as e:
                last = str(e)
            if self.clock() >= deadline:
                raise HAProxyError('HAProxy did not load the new configuration within %d s (%s); see '
                                   '"journalctl -u %s"' % (self.reload_timeout, last, self.service))
            self.sleep(POLL)

    # --- phase 2: capacity ------------------------------------------------------------------
    def add_capacity(self, work):
        """Adds and readies of every deployment; returns {deployment: [servers added]}."""
        added = {}
        for deployment, steps in sorted(work.items()):
            added[deployment] = []
            backend = backend_name(deployment)
            try:
                for step in steps:
                    server = step['server']
                    if step['action'] == 'add':
                        self.add(backend, server)
                        added[deployment].append(server)
                    else:
                        self.ready(backend, server)
            except CommandRefused as e:
                self.fail(deployment, str(e))
        if any(work.values()):
            # Before anything else can reload HAProxy, the files list what was just registered.
            self.sync_files(self.plans)
        return added

    def add(self, backend, server):
        self.api.add_server(backend, server['name'], server['address'], server['port'],
                            server_keywords(server['state']))
        # Servers added at run time start in maintenance with their checks off.
        self.api.enable_health(backend, server['name'])
        self.api.enable_server(backend, server['name'])

    def ready(self, backend, server):
        runtime = server.get('runtime') or {}
        if runtime.get('weight') == 0:
            self.api.set_weight(backend, server['name'], 1)
        self.api.set_state(backend, server['name'], 'ready')
        self.api.enable_health(backend, server['name'])

    # --- phase 3: health ----------------------------------------------------------------------
    def wait_healthy(self, names, timeout, health_paths, worker=None):
        """One wait for every server of names ({deployment: [server]}); returns ({deployment: reason}, the
        last fleet view). A deployment fails when its servers are not all UP with a passed check within
        timeout, and at once when one of them vanishes (a reload by something else, say: worker is the
        pid of the worker that was serving when they were added)."""
        pending = dict((d, list(n)) for d, n in names.items() if n)
        deadline = self.clock() + timeout
        views = {}
        reasons = {}
        while pending:
            views = self.api.fleet(addresses=False)
            vanished = {}
            for deployment in list(pending):
                servers = views.get(deployment, empty_view())['servers']
                gone = [n for n in pending[deployment] if n not in servers]
                bad = [n for n in pending[deployment] if not healthy(servers.get(n))]
                if gone:
                    vanished[deployment] = gone
                    del pending[deployment]
                elif bad:
                    pending[deployment] = bad
                else:
                    del pending[deployment]
            if vanished:
                now = self._pid_or_none()
                for deployment, gone in vanished.items():
                    reasons[deployment] = vanished_reason(deployment, gone, worker, now, self.service)
            if not pending or self.clock() >= deadline:
                break
            self.sleep(POLL)
        for d, bad in pending.items():
            reasons[d] = unhealthy_reason(d, bad, views.get(d, empty_view())['servers'], timeout, health_paths[d])
        return reasons, views

    def _pid_or_none(self):
        try:
            return self._pid()
        except HAProxyError:
            return None

    # --- phase 4: drains and removals -----------------------------------------------------------
    def release(self, work, drain_timeout):
        """Drains and removals of every deployment ({deployment: steps}): drained together, one wait
        (at most drain_timeout) for the sessions of the removed servers, then maintenance and delete."""
        removals = []
        for deployment, steps in sorted(work.items()):
            backend = backend_name(deployment)
            mine = []
            try:
                for step in steps:
                    server = step['server']
                    if step['action'] == 'remove':
                        mine.append((deployment, server['name']))
                        if (server.get('runtime') or {}).get('status') == 'MAINT':
                            continue
                    self.api.set_state(backend, server['name'], 'drain')
            except CommandRefused as e:
                self.fail(deployment, str(e))
                continue
            removals.extend(mine)
        if any(work.values()):
            # A reload during the wait below keeps them drained instead of putting them back into rotation.
            self.sync_files(self.plans)
        if not removals:
            return
        busy, old = self.wait_sessions(removals, drain_timeout)
        deleting = []
        for deployment, name in removals:
            backend = backend_name(deployment)
            try:
                self.api.set_state(backend, name, 'maint')
                if (deployment, name) in busy:
                    # drain_timeout passed: cut what is left.
                    self.api.shutdown_sessions(backend, name)
            except CommandRefused as e:
                self.fail(deployment, str(e))
                continue
            if (deployment, name) in busy or (deployment, name) in old:
                self.drain_timed_out.setdefault(deployment, []).append(name)
            deleting.append((deployment, name))
        self.delete(deleting)

    def wait_sessions(self, removals, timeout):
        """Wait until no server of removals ((deployment, name) pairs) has a session in the current or an
        old worker, at most timeout seconds; returns the pairs still busy in each (sets)."""
        deadline = self.clock() + timeout
        while True:
            views = self.api.fleet(addresses=False)
            busy = set()
            for deployment, name in removals:
                server = views.get(deployment, empty_view())['servers'].get(name)
                if server and (server['scur'] or server['qcur']):
                    busy.add((deployment, name))
            old_counts = self.old_sessions([(backend_name(d), n) for d, n in removals])
            old = set((d, n) for d, n in removals if old_counts.get((backend_name(d), n)))
            if not busy and not old or self.clock() >= deadline:
                return busy, old
            self.sleep(POLL)

    def old_sessions(self, servers):
        """Sessions of servers ((backend, name) pairs) in workers that a reload replaced."""
        if self.master is None:
            return {}
        try:
            return self.master.old_sessions(servers)
        except HAProxyError:
            return {}

    def delete(self, pairs):
        deadline = self.clock() + DELETE_TIMEOUT
        pending = list(pairs)
        while pending:
            still = []
            for deployment, name in pending:
                try:
                    if not self.api.del_server(backend_name(deployment), name):
                        still.append((deployment, name))
                except CommandRefused as e:
                    self.fail(deployment, str(e))
            pending = still
            if not pending:
                break
            if self.clock() >= deadline:
                for deployment in sorted(set(d for d, _n in pending)):
                    self.fail(deployment, 'HAProxy kept connections to %s of %s for more than %d s after they went '
                              'into maintenance; they are in maintenance but not removed'
                              % (', '.join(n for d, n in pending if d == deployment), backend_name(deployment),
                                 DELETE_TIMEOUT))
                break
            self.sleep(POLL)

    # --- phase 5: files follow the runtime ------------------------------------------------------
    def sync_files(self, plans):
        """Rewrite every file whose servers differ from those at run time; returns the fleet view."""
        views = self.api.fleet()
        changes = {}
        owner = {}
        for deployment, p in plans.items():
            view = views.get(deployment, empty_view())
            if p.absent or deployment in self.unwritten or not view['backend']:
                continue
            text = render(deployment, servers=runtime_servers(view), **p.render_args)
            if text != read_file(p.path):
                changes[p.path] = text
                owner[p.path] = deployment
        rejected = self.files.write(changes)
        self.files_changed = self.files_changed or len(rejected) < len(changes)
        for path, complaint in sorted(rejected.items()):
            self.fail(owner[path], 'the configuration of %s does not pass "haproxy -c" and was not written: %s'
                      % (owner[path], complaint))
        return views
