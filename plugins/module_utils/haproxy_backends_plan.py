# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan of every backend of one load balancer at once (haproxy_backends, haproxy_backend).

Pure functions, unit-tested as tables; haproxy_apply.Executor carries the plans out in
phases that all deployments share, so that a call costs one reload and one wait per
phase whatever the number of deployments:

  1. backends that only a reload can change (new ones, a changed bind or health path, a
     frontend added or removed (bind_port None: served through the HTTPS edge only),
     absent ones): their files are checked together with `haproxy -c`, written, and
     HAProxy reloads once. The file of a live backend then lists the servers it has now
     ('carried'), so that the reload itself adds, drains or removes no server;
  2. at run time, every add and ready of every backend;
  3. with wait_healthy, one wait for every added or readied server;
  4. every drain and removal of every backend: one wait for their sessions, then deletes;
  5. every file rewritten from the runtime servers.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import (
    HAProxyError,
    bound_ports,
    parse_servers,
    render,
    validate_bind_address,
    validate_inputs,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_plan import (
    describe_reload,
    describe_step,
    plan as plan_one,
    runtime_state,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import haproxy_config_path

STATES = ('present', 'absent')


def validate_entry(entry):
    """One backends entry checked and normalised (servers None when omitted: they stay as they are)."""
    if not isinstance(entry, dict):
        raise HAProxyError('must be a dict with deployment, state, bind_port, servers, ...')
    state = entry.get('state') or 'present'
    if state not in STATES:
        raise HAProxyError('state must be present or absent, not %r' % (state,))
    bind_address = entry.get('bind_address') or '*'
    health_path = entry.get('health_path') or '/ok'
    servers = validate_inputs(entry.get('deployment'), entry.get('bind_port'), bind_address, health_path,
                              entry.get('servers'), state)
    if state == 'present':
        bind_address = validate_bind_address(bind_address)
    return dict(deployment=entry['deployment'], state=state, bind_port=entry.get('bind_port'),
                bind_address=bind_address, health_path=health_path,
                servers=servers if entry.get('servers') is not None else None,
                purge=bool(entry.get('purge')))


def validate_backends(entries, skip=()):
    """Every entry checked before anything is read or changed; entries of skipped deployments dropped."""
    result = []
    deployments = {}
    ports = {}
    for index, entry in enumerate(entries or []):
        name = entry.get('deployment') if isinstance(entry, dict) else None
        where = 'backends[%d]%s' % (index, ' (%s)' % name if isinstance(name, str) else '')
        try:
            entry = validate_entry(entry)
        except (HAProxyError, StoreError) as e:
            raise HAProxyError('%s: %s' % (where, e))
        if name in deployments:
            raise HAProxyError('%s: deployment %s is listed twice (also backends[%d]): list each deployment once'
                               % (where, name, deployments[name]))
        deployments[name] = index
        if entry['state'] == 'present' and entry['bind_port'] is not None:
            if entry['bind_port'] in ports:
                raise HAProxyError('%s: bind_port %d is also the port of %s: give every deployment its own port'
                                   % (where, entry['bind_port'], ports[entry['bind_port']]))
            ports[entry['bind_port']] = name
        if name not in (skip or ()):
            result.append(entry)
    return result


class BackendPlan(object):
    """What one call does to one deployment's frontend, backend, servers and file."""

    def __init__(self, entry, path, old_text, reload=False, reload_text=None, carried=(), steps=(),
                 final_text=None, problem=None):
        self.entry = entry
        self.deployment = entry['deployment']
        self.path = path
        self.old_text = old_text
        self.reload = reload            # phase 1: file written (or removed), then the one reload
        self.reload_text = reload_text  # the file before the reload (None: removed)
        self.carried = list(carried)    # servers the backend has right after the reload
        self.steps = list(steps)        # runtime steps (on the new worker after a reload)
        self.final_text = final_text    # the file at the end, when every step succeeds
        self.problem = problem          # why the deployment is left alone (reported in failed)

    @property
    def absent(self):
        return self.entry['state'] == 'absent'

    @property
    def render_args(self):
        return dict(bind_port=self.entry['bind_port'], bind_address=self.entry['bind_address'],
                    health_path=self.entry['health_path'])

    @property
    def changed(self):
        return bool(self.reload or self.steps or self.final_text != self.old_text)

    def describe(self):
        """The plan in words, in the order the executor goes (as check mode prints it)."""
        words = []
        if self.reload:
            if self.absent:
                if self.old_text is not None:
                    words.append('remove %s' % self.path)
            elif self.reload_text != self.old_text:
                words.append('write %s' % self.path)
            words.append(describe_reload(self.deployment, self.absent))
        words.extend(describe_step(step) for step in self.steps)
        if not self.reload and not self.absent and self.final_text != self.old_text:
            words.append('write %s' % self.path)
        return words


def carried_servers(view, old_text):
    """Servers to keep through a reload: those at run time, else those of the file."""
    if view['backend']:
        return [dict(name=s['name'], address=s['address'], port=s['port'], state=runtime_state(s))
                for _name, s in sorted(view['servers'].items())]
    return parse_servers(old_text)


def loaded_view(servers, frontend=True):
    """The view a new worker shows right after loading a file with these servers (and a frontend or not)."""
    view = dict(frontend=frontend, backend=True, servers={})
    for s in servers:
        status = dict(ready='UP', drain='DRAIN', maint='MAINT')[s['state']]
        view['servers'][s['name']] = dict(
            name=s['name'], address=s['address'], port=s['port'], status=status,
            raw_status='MAINT' if status == 'MAINT' else 'UP', check_status='',
            weight=0 if s['state'] == 'drain' else 1, scur=0, stot=0, qcur=0, admin_state=0)
    return view


def plan_backend(entry, view, old_text, path):
    """The BackendPlan of one validated entry, from its runtime view and its file's text (or None)."""
    one = plan_one(entry['deployment'], entry['state'], entry['servers'] or [], view, old_text,
                   entry['bind_port'], entry['bind_address'], entry['health_path'], purge=entry['purge'],
                   manage_servers=entry['servers'] is not None)
    if entry['state'] == 'absent':
        return BackendPlan(entry, path, old_text, reload=one.reload)
    if not one.reload:
        return BackendPlan(entry, path, old_text, steps=one.steps, final_text=one.new_text)
    carried = carried_servers(view, old_text)
    reload_text = render(entry['deployment'], entry['bind_port'], entry['bind_address'], entry['health_path'],
                         carried)
    loaded = loaded_view(carried, entry['bind_port'] is not None)
    after = plan_one(entry['deployment'], 'present', entry['servers'] or [], loaded, reload_text,
                     entry['bind_port'], entry['bind_address'], entry['health_path'], purge=entry['purge'],
                     manage_servers=entry['servers'] is not None)
    return BackendPlan(entry, path, old_text, reload=True, reload_text=reload_text, carried=carried,
                       steps=after.steps, final_text=after.new_text)


def port_problems(plans, other_files):
    """{deployment: reason} for reloading backends whose bind_port another file binds after phase 1.

    other_files: {path: text} of the main configuration and every file of the configuration directory.
    """
    after = dict(other_files)
    for p in plans:
        if p.reload:
            if p.absent:
                after.pop(p.path, None)
            else:
                after[p.path] = p.reload_text
    problems = {}
    for p in plans:
        if not p.reload or p.absent or p.entry['bind_port'] is None:
            continue
        port = p.entry['bind_port']
        for path in sorted(after):
            if path != p.path and port in bound_ports(after[path]):
                problems[p.deployment] = ('bind_port %d of %s is already bound in %s: choose a free port for '
                                          'the deployment' % (port, p.deployment, path))
                break
    return problems


def plan_backends(entries, views, files, config_dir):
    """{deployment: BackendPlan} of validated entries, in their order.

    views: {deployment: view} (haproxy_runtime.fleet_view); files: {path: text} of the main configuration
    and of every *.cfg of config_dir.
    """
    empty = dict(frontend=False, backend=False, servers={})
    plans = []
    for entry in entries:
        path = haproxy_config_path(config_dir, entry['deployment'])
        plans.append(plan_backend(entry, views.get(entry['deployment'], empty), files.get(path), path))
    for deployment, problem in port_problems(plans, files).items():
        for p in plans:
            if p.deployment == deployment:
                p.problem = problem
    return dict((p.deployment, p) for p in plans)


def split_steps(steps):
    """(replaced, capacity, release) of a backend's runtime steps.

    replaced: removals of servers that come back under the same name at a new address; they
    must go before their replacement is added. capacity: adds and readies. release: drains
    and the other removals, which wait until the new capacity is there.
    """
    added = set(s['server']['name'] for s in steps if s['action'] == 'add')
    replaced = [s for s in steps if s['action'] == 'remove' and s['server']['name'] in added]
    capacity = [s for s in steps if s['action'] in ('add', 'ready')]
    release = [s for s in steps if s['action'] == 'drain'
               or s['action'] == 'remove' and s['server']['name'] not in added]
    return replaced, capacity, release


def awaited(steps):
    """Servers to wait for with wait_healthy: those added or readied to take requests."""
    return [s['server']['name'] for s in steps
            if s['action'] in ('add', 'ready') and s['server']['state'] == 'ready']
