#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: haproxy_backend
short_description: Manage a LangGraph deployment's HAProxy frontend, backend and servers
version_added: 0.1.0
description:
  - Manages the frontend C(fe_<deployment>) and the backend C(be_<deployment>) of one deployment on an
    HAProxy load balancer set up by the P(selfhost.langgraph.haproxy#role) role, and the backend's servers.
  - The module owns the file C(<config_dir>/langgraph-<deployment>.cfg), which always lists the servers
    registered at run time, so that a reload never loses, adds or resurrects a server.
  - When the backend already runs, servers are added, drained and removed through HAProxy's runtime API
    only, without a reload. A removed server is drained first; the module waits until its current
    sessions end (at most O(drain_timeout) seconds; then it cuts what is left), puts it in maintenance
    and deletes it. Streams and long requests in flight therefore finish.
  - A new deployment, a changed, added or removed O(bind_port), O(bind_address) or O(health_path), and O(state=absent) are
    applied by writing the file, checking the whole configuration with C(haproxy -c) and reloading
    HAProxy (seamless in master-worker mode); the module then waits until the new worker serves it. A
    running backend keeps its servers through that reload; the server changes follow at run time.
  - Servers to add or put back into rotation go first, then (with O(wait_healthy), once they are up)
    drains and removals, so that the backend never runs short of servers.
  - The same executor as M(selfhost.langgraph.haproxy_backends), which handles many deployments in one call.
  - Servers are checked with C(GET <health_path>) every second (down after 2 failures, up after 1
    success). A drained server keeps its checks and gets weight 0 in the file.
  - Servers not listed in O(servers) are kept as they are unless O(purge=true). Without O(servers) the
    module changes no server and only reports them (and ensures the frontend and backend). For a
    read-only report of a deployment's servers and sessions, run it without O(servers) in check mode.
  - Every input is checked, and the runtime API must answer, before anything changes.
  - Calls on one load balancer never interleave. Outside check mode, the call holds the same exclusive lock
    (O(lock_file)) as M(selfhost.langgraph.haproxy_backends) from its first read to its last file written; it waits
    for it at most O(lock_timeout) seconds and returns how long it waited in RV(lock_waited).
author:
  - selfhost.langgraph maintainers (@selfhost)
requirements:
  - HAProxy 2.6 or later on the host the module runs on, with an admin-level stats socket
attributes:
  check_mode:
    support: full
    description: Reads the runtime state and the file and reports what would change, changing nothing.
  diff_mode:
    support: full
    description: Shows the change of the deployment's configuration file.
  idempotent:
    support: full
    description: A second run with the same input changes nothing and reports no change.
options:
  deployment:
    description: Name of the deployment, matching C([a-z][a-z0-9-]{1,38}[a-z0-9]).
    type: str
    required: true
  state:
    description:
      - V(present) ensures the backend (and the frontend, with O(bind_port)) and applies O(servers).
      - V(absent) removes the file and reloads HAProxy; requests in flight finish in the old worker.
    type: str
    default: present
    choices: [present, absent]
  bind_port:
    description:
      - TCP port of the deployment's frontend C(fe_<deployment>) (plain HTTP on a port of its own).
      - Omit it for a deployment served by host name only through the HTTPS edge
        (M(selfhost.langgraph.haproxy_edge)); it gets a backend and no frontend, and a frontend it had is removed
        (with a reload).
    type: int
  bind_address:
    description: Address the frontend listens on; V(*) for every address.
    type: str
    default: '*'
  servers:
    description:
      - Servers of the backend. Omit to leave the servers as they are.
    type: list
    elements: dict
    suboptions:
      name:
        description: Server name, unique in the backend (for example the container name).
        type: str
        required: true
      address:
        description: IP address of the server (HAProxy 2.6 cannot resolve names of servers added at run time).
        type: str
        required: true
      port:
        description: TCP port of the server.
        type: int
        required: true
      state:
        description:
          - V(ready) takes requests (once its health check passes).
          - V(drain) takes no new requests; its sessions go on and its checks keep running.
          - V(absent) is drained, waited for (O(drain_timeout)) and removed.
        type: str
        default: ready
        choices: [ready, drain, absent]
  purge:
    description: Drain and remove servers of the backend that O(servers) does not list.
    type: bool
    default: false
  health_path:
    description: Path of the HTTP health check; a server is up while it answers it with 200.
    type: str
    default: /ok
  drain_timeout:
    description:
      - Seconds to wait for the sessions of a removed server to end (0 to 86400). After that they are
        shut down and a warning says so.
    type: int
    default: 300
  wait_healthy:
    description:
      - Wait until every O(servers) entry with C(state=ready) is UP with a passed health check, before any
        server is drained or removed.
      - After O(health_timeout) the task fails, the servers stay registered (those not up take no requests)
        and nothing is drained or removed.
    type: bool
    default: false
  health_timeout:
    description: Seconds O(wait_healthy) waits (1 to 3600).
    type: int
    default: 60
  socket:
    description: Path of HAProxy's admin-level stats socket (the role's C(haproxy_socket)).
    type: path
    default: /run/haproxy/admin.sock
  config_dir:
    description: Directory of the per-deployment files that HAProxy loads (the role's C(haproxy_config_dir)).
    type: path
    default: /etc/haproxy/conf.d
  main_config:
    description: HAProxy's main configuration file, loaded before O(config_dir) (used by C(haproxy -c)).
    type: path
    default: /etc/haproxy/haproxy.cfg
  service:
    description: Name of the systemd unit reloaded with C(systemctl reload).
    type: str
    default: haproxy
  master_socket:
    description:
      - Path of the master process's CLI socket (C(-S), set by the role). After a reload, old workers finish
        their requests; through this socket the module waits for their sessions on a removed server too.
      - Set to an empty string to wait only for the current worker's sessions. A missing socket is ignored.
    type: path
    default: /run/haproxy-master.sock
  lock_file:
    description:
      - The load balancer's lock file, shared with M(selfhost.langgraph.haproxy_backends) (C(flock)); not taken in
        check mode. The holder's pid is written into it.
    type: path
    default: /run/lock/selfhost-langgraph-haproxy.lock
  lock_timeout:
    description:
      - Seconds to wait for the lock while another call holds it (0 to 86400). After that the task fails, naming
        the holder's pid, and nothing has changed.
    type: int
    default: 600
notes:
  - Runs on the load balancer host as root (C(become=true)).
  - To change many deployments at once (one reload, one wait), use M(selfhost.langgraph.haproxy_backends).
  - When HAProxy is reloaded while a server drains (another deployment was added, say), the requests it
    still serves finish in the old worker; the module waits for those too through O(master_socket).
'''

EXAMPLES = r'''
- name: Register two containers of support-bot and wait until they are healthy
  selfhost.langgraph.haproxy_backend:
    deployment: support-bot
    bind_port: 8101
    servers:
      - {name: support-bot-r3-1, address: 172.30.213.21, port: 20001}
      - {name: support-bot-r3-2, address: 172.30.213.22, port: 20001}
    wait_healthy: true
  become: true
  delegate_to: "{{ groups['langgraph_lb'][0] }}"

- name: Drain and remove the containers of the previous revision
  selfhost.langgraph.haproxy_backend:
    deployment: support-bot
    bind_port: 8101
    drain_timeout: 600
    servers:
      - {name: support-bot-r2-1, address: 172.30.213.21, port: 20000, state: absent}
      - {name: support-bot-r2-2, address: 172.30.213.22, port: 20000, state: absent}
  become: true

- name: Report the servers of support-bot and their current sessions
  selfhost.langgraph.haproxy_backend:
    deployment: support-bot
    bind_port: 8101
  become: true
  check_mode: true
  register: __support_bot_lb

- name: Remove the frontend and backend of an old deployment
  selfhost.langgraph.haproxy_backend:
    deployment: old-bot
    state: absent
  become: true
'''

RETURN = r'''
deployment:
  description: Name of the deployment.
  returned: always
  type: str
  sample: support-bot
frontend:
  description: Name of the frontend.
  returned: always
  type: str
  sample: fe_support-bot
backend:
  description: Name of the backend.
  returned: always
  type: str
  sample: be_support-bot
config_file:
  description: Path of the deployment's configuration file.
  returned: always
  type: str
  sample: /etc/haproxy/conf.d/langgraph-support-bot.cfg
servers:
  description:
    - The backend's servers as HAProxy reports them after the run (in check mode, before), sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Server name.
      type: str
    address:
      description: IP address.
      type: str
    port:
      description: TCP port.
      type: int
    status:
      description: V(UP), V(DOWN) (failing checks), V(MAINT) (maintenance) or V(DRAIN) (no new requests).
      type: str
    check_status:
      description: HAProxy's last health check result, for example C(L7OK) or C(L7STS); empty while none ran.
      type: str
    scur:
      description: Current sessions (requests and streams in flight).
      type: int
    stot:
      description: Sessions since the server was added or HAProxy (re)loaded.
      type: int
    weight:
      description: Effective weight (0 while drained).
      type: int
  sample:
    - {name: support-bot-r3-1, address: 172.30.213.21, port: 20001, status: UP, check_status: L7OK,
       scur: 3, stot: 120, weight: 1}
actions:
  description: What was done (in check mode, what would be done), in words.
  returned: always
  type: list
  elements: str
  sample: ["add server support-bot-r3-1 (172.30.213.21:20001, ready) at run time",
           "drain and remove server support-bot-r2-1 (172.30.213.21:20000) at run time",
           "write /etc/haproxy/conf.d/langgraph-support-bot.cfg"]
commands:
  description: Runtime API commands that changed something, in order (none in check mode).
  returned: always
  type: list
  elements: str
  sample: ["add server be_support-bot/support-bot-r3-1 172.30.213.21:20001 check inter 1s fall 2 rise 1",
           "enable health be_support-bot/support-bot-r3-1", "enable server be_support-bot/support-bot-r3-1"]
reloaded:
  description: Whether HAProxy was reloaded.
  returned: always
  type: bool
  sample: false
drain_timed_out:
  description:
    - Removed servers whose sessions were still running after O(drain_timeout). Those of the current worker
      were shut down; those of old workers (after a reload) end with the request or C(hard-stop-after).
  returned: always
  type: list
  elements: str
  sample: []
lock_waited:
  description: Seconds the call waited for the load balancer's lock (O(lock_file)) held by another call (0 in check mode).
  returned: always
  type: float
  sample: 0.0
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_apply import ConfigFiles, Executor, report
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_backends_plan import (
    plan_backends,
    validate_entry,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import (
    HAProxyError,
    backend_name,
    frontend_name,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_lock import call_lock, validate_call_timeouts
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import haproxy_config_path
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_runtime import (
    MasterCLI,
    RuntimeAPI,
    empty_view,
)


def run(module):
    """One deployment through the executor of haproxy_backends; its failure is the task's."""
    p = module.params
    deployment = p['deployment']
    entry = validate_entry(dict((k, p[k]) for k in ('deployment', 'state', 'bind_port', 'bind_address',
                                                    'health_path', 'servers', 'purge')))
    validate_call_timeouts(p)
    lock = call_lock(module.check_mode, p, 'haproxy_backend', [deployment])
    with lock:
        result = observe_plan_apply(module, entry)
    result['lock_waited'] = round(lock.waited, 1)
    return result


def observe_plan_apply(module, entry):
    p = module.params
    deployment = entry['deployment']
    path = haproxy_config_path(p['config_dir'], deployment)

    api = RuntimeAPI(p['socket'])
    api.ping()
    views = api.fleet()
    files = ConfigFiles(p['config_dir'], p['main_config'], module.run_command)
    plans = plan_backends([entry], views, files.texts(), p['config_dir'])
    plan = plans[deployment]
    if plan.problem:
        raise HAProxyError(plan.problem)

    result = dict(changed=plan.changed, deployment=deployment, frontend=frontend_name(deployment),
                  backend=backend_name(deployment), config_file=path, actions=plan.describe(), reloaded=False,
                  drain_timed_out=[], servers=report(views.get(deployment, empty_view())), commands=api.log)
    if plan.old_text != plan.final_text:
        result['diff'] = dict(before=plan.old_text or '', after=plan.final_text or '',
                              before_header=path, after_header=path)
    wait_healthy = p['wait_healthy'] and p['state'] == 'present'
    if module.check_mode or not plan.changed and not wait_healthy:
        return result

    executor = Executor(api, files, p['service'], module.run_command,
                        master=MasterCLI(p['master_socket']) if p['master_socket'] else None)
    # This module waits for every listed server that should take requests, and leaves them registered
    # when they do not come up: the task fails and says which.
    listed_ready = [s['name'] for s in entry['servers'] or [] if s['state'] == 'ready']
    views = executor.apply(plans, views, wait_healthy=wait_healthy, health_timeout=p['health_timeout'],
                           drain_timeout=p['drain_timeout'], wait_for={deployment: listed_ready}, rollback=False)
    timed_out = executor.drain_timed_out.get(deployment, [])
    result.update(changed=executor.changed, reloaded=executor.reloaded, drain_timed_out=timed_out,
                  servers=report(views.get(deployment, empty_view())))
    for name in timed_out:
        module.warn('server %s of %s still had sessions after drain_timeout (%d s): they were shut down'
                    % (name, backend_name(deployment), p['drain_timeout']))
    if deployment in executor.failed:
        raise HAProxyError(executor.failed[deployment])
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            deployment=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            bind_port=dict(type='int'),
            bind_address=dict(type='str', default='*'),
            servers=dict(type='list', elements='dict', options=dict(
                name=dict(type='str', required=True),
                address=dict(type='str', required=True),
                port=dict(type='int', required=True),
                state=dict(type='str', default='ready', choices=['ready', 'drain', 'absent']),
            )),
            purge=dict(type='bool', default=False),
            health_path=dict(type='str', default='/ok'),
            drain_timeout=dict(type='int', default=300),
            wait_healthy=dict(type='bool', default=False),
            health_timeout=dict(type='int', default=60),
            socket=dict(type='path', default='/run/haproxy/admin.sock'),
            config_dir=dict(type='path', default='/etc/haproxy/conf.d'),
            main_config=dict(type='path', default='/etc/haproxy/haproxy.cfg'),
            service=dict(type='str', default='haproxy'),
            master_socket=dict(type='path', default='/run/haproxy-master.sock'),
            lock_file=dict(type='path', default='/run/lock/selfhost-langgraph-haproxy.lock'),
            lock_timeout=dict(type='int', default=600),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (HAProxyError, StoreError) as e:
        module.fail_json(msg=str(e))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
