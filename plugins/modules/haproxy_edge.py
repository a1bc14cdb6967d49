#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: haproxy_edge
short_description: Route the deployments' host names on a load balancer's HTTPS frontend
version_added: 0.3.0
description:
  - The haproxy role's HTTPS frontend (443, and 80 redirecting to it) sends a request to the backend its
    host name maps to in O(map_file), and answers 404 for a host name it does not know.
  - This module makes the map say what O(routes) says, at run time through the admin socket (no reload)
    and in the file (so that a reload or restart keeps it). A present deployment gets its host name and loses
    any other; an absent one loses its host names. Other deployments' host names are left alone.
  - A host name already routed to a deployment the call does not list is refused, and nothing changes.
  - Where HAProxy does not load the map (the edge is off), present routes are refused; absent ones are
    taken out of the map file alone, so that turning the edge on again does not bring them back.
  - Holds the load balancer's lock (as haproxy_backends does) from the first read to the file written.
author:
  - selfhost.langgraph maintainers (@selfhost)
attributes:
  check_mode:
    support: full
    description: Reports the map changes it would make and makes none.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: Changes nothing when the map already says what O(routes) says.
options:
  routes:
    description: One entry per deployment.
    type: list
    elements: dict
    required: true
    suboptions:
      deployment:
        description: Deployment name; its backend is C(be_<deployment>).
        type: str
        required: true
      hostname:
        description: Its host name (a DNS name); required when O(routes[].state=present).
        type: str
      state:
        description: V(absent) removes the deployment's host names.
        type: str
        choices: [present, absent]
        default: present
  map_file:
    description: The map file the haproxy role's HTTPS frontend loads (C(haproxy_edge_map)).
    type: path
    default: /etc/haproxy/langgraph-hosts.map
  socket:
    description: HAProxy's admin-level stats socket (C(haproxy_socket)).
    type: path
    default: /run/haproxy/admin.sock
  lock_file:
    description: The load balancer's lock file, shared with haproxy_backends.
    type: path
    default: /run/lock/selfhost-langgraph-haproxy.lock
  lock_timeout:
    description: Seconds to wait for the lock.
    type: int
    default: 600
'''

EXAMPLES = r'''
- name: Route support-bot.agents.example.com to support-bot
  selfhost.langgraph.haproxy_edge:
    routes:
      - {deployment: support-bot, hostname: support-bot.agents.example.com}
  become: true
'''

RETURN = r'''
routes:
  description: The map after the call, host name -> backend.
  returned: always
  type: dict
steps:
  description: The runtime commands run (or, in check mode, that would run).
  returned: always
  type: list
  elements: str
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.edge import (
    parse_map,
    parse_show_map,
    plan_routes,
    render_map,
    runtime_command,
    validate_routes,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_lock import (
    call_lock,
    validate_lock_timeout,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_runtime import RuntimeAPI


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError):
        return None


def loaded_map(api, path):
    """{host: backend} HAProxy serves, or None when its configuration has no such map (the edge is off)."""
    answer = api.execute('show map %s' % path)
    if 'Unknown map identifier' in answer or 'Missing map identifier' in answer:
        return None
    return parse_show_map(answer)


def run(module, api):
    p = module.params
    routes = validate_routes(p['routes'])
    validate_lock_timeout(p['lock_timeout'])
    params = dict(lock_file=p['lock_file'], lock_timeout=p['lock_timeout'])
    with call_lock(module.check_mode, params, 'haproxy_edge', [r['deployment'] for r in routes]):
        api.ping()
        current = loaded_map(api, p['map_file'])
        file_text = read(p['map_file'])
        edge_off = current is None
        if edge_off:
            if any(r['state'] == 'present' for r in routes):
                raise HAProxyError('HAProxy does not load the map %s: turn on the HTTPS edge of the haproxy role '
                                   '(haproxy_edge_enabled: true) and run playbooks/site.yml on the load balancers'
                                   % p['map_file'])
            if file_text is None:
                return dict(changed=False, routes={}, steps=[])
            # Nothing routes by host name here now, but a delete still takes its deployments out of the map
            # kept from when the edge was on, so that turning the edge on again cannot bring them back.
            current = parse_map(file_text)
        wanted, steps = plan_routes(current, routes)
        new_text = render_map(wanted)
        commands = [] if edge_off else [runtime_command(p['map_file'], s) for s in steps]
        changed = bool(commands) or new_text != file_text
        if not module.check_mode and changed:
            for command in commands:
                api.change(command)
            tmp = os.path.join(os.path.dirname(p['map_file']), '.%s.tmp' % os.path.basename(p['map_file']))
            with open(tmp, 'w') as f:
                f.write(new_text)
            os.chmod(tmp, 0o644)
            os.rename(tmp, p['map_file'])
    return dict(changed=changed, routes=wanted, steps=commands)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            routes=dict(type='list', elements='dict', required=True, options=dict(
                deployment=dict(type='str', required=True),
                hostname=dict(type='str'),
                state=dict(type='str', choices=['present', 'absent'], default='present'))),
            map_file=dict(type='path', default='/etc/haproxy/langgraph-hosts.map'),
            socket=dict(type='path', default='/run/haproxy/admin.sock'),
            lock_file=dict(type='path', default='/run/lock/selfhost-langgraph-haproxy.lock'),
            lock_timeout=dict(type='int', default=600),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module, RuntimeAPI(module.params['socket']))
    except HAProxyError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
