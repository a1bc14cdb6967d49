# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan of the haproxy_backend module: observed runtime + file + desired servers -> steps.

A pure function, unit-tested as tables of cases; haproxy_apply carries the steps out.

Steps (dicts with 'action' and 'server'):
  add     register a server at run time (add server, enable health, enable server)
  ready   put a registered server back into rotation
  drain   stop sending it new requests (its sessions go on)
  remove  drain, wait for its sessions to end (bounded), maintenance, delete
When the backend does not exist at run time, or something only a reload can change
(port, a frontend added or removed, health path) differs, the file is written and HAProxy reloaded instead; runtime
steps for an existing backend still run first so that removals drain gracefully.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import (
    parse_servers,
    render,
    static_part,
)


class Plan(object):

    def __init__(self, steps, servers_after, new_text, old_text, write, reload, remove_file, live):
        self.steps = steps
        self.servers_after = servers_after
        self.new_text = new_text
        self.old_text = old_text
        self.write = write
        self.reload = reload
        self.remove_file = remove_file
        self.live = live  # the backend exists at run time: server steps go through the runtime API

    @property
    def changed(self):
        return bool(self.steps or self.write or self.reload or self.remove_file)

    def describe(self, deployment, path):
        how = 'at run time' if self.live else 'in the file'
        words = [describe_step(step, how) for step in self.steps]
        if self.remove_file:
            words.append('remove %s' % path)
        elif self.write:
            words.append('write %s' % path)
        if self.reload:
            words.append(describe_reload(deployment, self.remove_file or self.new_text is None))
        return words


def describe_step(step, how='at run time'):
    """A step in words, as check mode prints it."""
    s = step['server']
    if step['action'] == 'add':
        return 'add server %s (%s:%d, %s) %s' % (s['name'], s['address'], s['port'], s['state'], how)
    if step['action'] == 'ready':
        return 'set server %s ready %s' % (s['name'], how)
    if step['action'] == 'drain':
        return 'drain server %s %s' % (s['name'], how)
    return 'drain and remove server %s (%s:%d) %s' % (s['name'], s['address'], s['port'], how)


def describe_reload(deployment, removing):
    return 'reload HAProxy (%s the frontend and backend of %s)' % ('remove' if removing else 'load', deployment)


def runtime_state(server):
    """A runtime server's state in the file's terms: ready, drain or maint."""
    if server['status'] == 'MAINT':
        return 'maint'
    if server['status'] == 'DRAIN':
        return 'drain'
    return 'ready'


def _needs_ready(server):
    return (server['status'] in ('MAINT', 'DRAIN')
            or server.get('raw_status', '').startswith('no check'))


def plan(deployment, state, desired, view, old_text, bind_port=None, bind_address='*',
         health_path='/ok', purge=False, manage_servers=True):
    """Decide what to do.

    desired: validated servers (dicts name, address, port, state ready|drain|absent).
    view: haproxy_runtime.backend_view() of the deployment.
    old_text: the current file's content, or None when there is none.
    manage_servers: False when the servers option was omitted: keep the servers as they are.
    """
    live = view['backend']
    if state == 'absent':
        remove_file = old_text is not None
        reload = remove_file or view['backend'] or view['frontend']
        return Plan([], [], None, old_text, False, reload, remove_file, live)

    if live:
        base = [dict(name=s['name'], address=s['address'], port=s['port'], state=runtime_state(s),
                     runtime=s)
                for s in view['servers'].values()]
    else:
        base = [dict(s, runtime=None) for s in parse_servers(old_text)]
    current = dict((s['name'], s) for s in base)
    after = dict((s['name'], dict((k, v) for k, v in s.items() if k != 'runtime')) for s in base)

    adds, readies, drains, replaces, removes = [], [], [], [], []
    listed = set()
    for want in (desired if manage_servers else []):
        name = want['name']
        listed.add(name)
        have = current.get(name)
        if want['state'] == 'absent':
            if have:
                removes.append(dict(action='remove', server=have))
                after.pop(name, None)
            continue
        if have and (have['address'], have['port']) != (want['address'], want['port']):
            # Same name, new place: drain and remove the old one, then add the new one.
            replaces.append(dict(action='remove', server=have))
            replaces.append(dict(action='add', server=want))
            after[name] = dict(want)
            continue
        if not have:
            adds.append(dict(action='add', server=want))
            after[name] = dict(want)
            continue
        if want['state'] == 'ready':
            changed = _needs_ready(have['runtime']) if have['runtime'] else have['state'] != 'ready'
            if changed:
                readies.append(dict(action='ready', server=dict(want, runtime=have['runtime'])))
            after[name] = dict(want)
        elif want['state'] == 'drain' and have['state'] == 'ready':
            drains.append(dict(action='drain', server=dict(want, runtime=have['runtime'])))
            after[name] = dict(want)
        # drain wanted, already drained or in maintenance: both take no new requests
    if purge and manage_servers:
        for s in base:
            if s['name'] not in listed:
                removes.append(dict(action='remove', server=s))
                after.pop(s['name'], None)

    # Capacity first: new servers, back into rotation, then drains and removals.
    steps = adds + readies + drains + replaces + removes
    servers_after = [after[name] for name in sorted(after)]
    new_text = render(deployment, bind_port, bind_address, health_path, servers_after)
    # A frontend only with a port of its own (bind_port None: served through the HTTPS edge only).
    reload = (not view['backend'] or view['frontend'] != (bind_port is not None)
              or static_part(new_text) != static_part(old_text))
    return Plan(steps, servers_after, new_text, old_text, new_text != old_text, reload, False, live)
