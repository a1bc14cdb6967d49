#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: haproxy_backends
short_description: Manage the HAProxy frontends, backends and servers of many LangGraph deployments at once
version_added: 0.2.0
description:
  - The executor of the fleet control loop on a load balancer. One call handles every deployment listed in
    O(backends) (the frontend C(fe_<deployment>), the backend C(be_<deployment>), its servers and the file
    C(<config_dir>/langgraph-<deployment>.cfg)), in phases that all deployments share, so that the call costs
    the same few waits whatever the number of deployments.
  - First, the files of the backends that only a reload can change (new deployments, a changed, added or removed
    O(backends[].bind_port), O(backends[].bind_address) or O(backends[].health_path), and O(backends[].state=absent)) are checked together
    with C(haproxy -c), written, and HAProxy reloads B(once) (seamless in master-worker mode); the module waits until
    the new worker serves them. A live backend keeps its servers through that reload.
  - Then, through HAProxy's runtime API and without a reload, every server to add or put back into rotation, in
    every backend, goes first. With O(wait_healthy), one wait follows until every server added or readied is UP
    with a passed health check. A deployment whose servers do not come up within O(health_timeout) has the
    servers this call added removed again, keeps its other servers as they were (nothing of it is drained), and is
    reported in RV(failures); the other deployments go on.
  - Then every drain and removal of every backend. The removed servers are drained together, one wait (at most
    O(drain_timeout) seconds) lets their sessions end, including those still served by old workers after a
    reload (through O(master_socket)), then they go into maintenance and are deleted. Streams and long requests
    in flight therefore finish.
  - Finally every file is rewritten to list the servers registered at run time, so that a later reload never
    loses, adds or resurrects a server.
  - A problem of one deployment (servers not healthy, a command HAProxy refuses, a C(bind_port) another frontend
    already binds, a file C(haproxy -c) rejects) is reported in RV(failures) and does not fail the task. The task
    fails on invalid input (before anything changes), when the runtime API does not answer, and when HAProxy does
    not reload.
  - Deployments in O(skip) are left alone.
  - Calls on one load balancer never interleave. Outside check mode, a call holds an exclusive lock (O(lock_file))
    from its first read to its last file written, so a deploy of one deployment and the reconcile tick acting on
    another one take turns; a call waits for the lock at most O(lock_timeout) seconds and returns how long it
    waited in RV(lock_waited).
  - The files follow the runtime servers right after every addition and every drain, not only at the end, so that a
    reload by something else (an operator's C(systemctl reload)) keeps them. A server this call waits for that
    vanishes anyway fails its deployment at once, with a reason that says so, instead of after O(health_timeout).
author:
  - selfhost.langgraph maintainers (@selfhost)
requirements:
  - HAProxy 2.6 or later on the host the module runs on, with an admin-level stats socket
attributes:
  check_mode:
    support: full
    description: Reads the runtime state and the files and returns the actions it would take, changing nothing.
  diff_mode:
    support: none
    description: Returns no diff; RV(backends) lists the actions per deployment.
  idempotent:
    support: full
    description: A second run with the same input changes nothing and reports no change.
options:
  backends:
    description: The deployments to act on, one entry each.
    type: list
    elements: dict
    required: true
    suboptions:
      deployment:
        description: Name of the deployment, matching C([a-z][a-z0-9-]{1,38}[a-z0-9]).
        type: str
        required: true
      state:
        description:
          - V(present) ensures the backend (and the frontend, with O(backends[].bind_port)) and applies
            O(backends[].servers).
          - V(absent) removes the file and reloads HAProxy; requests in flight finish in the old worker.
        type: str
        default: present
        choices: [present, absent]
      bind_port:
        description:
          - TCP port of the deployment's frontend C(fe_<deployment>) (plain HTTP on a port of its own).
          - Omit it for a deployment served by host name only through the HTTPS edge
            (M(selfhost.langgraph.haproxy_edge)); it gets a backend and no frontend, and a frontend it had is
            removed (with the one reload).
        type: int
      bind_address:
        description: Address the frontend listens on; V(*) for every address.
        type: str
        default: '*'
      health_path:
        description: Path of the HTTP health check; a server is up while it answers it with 200.
        type: str
        default: /ok
      servers:
        description: Servers of the backend. Omit to leave the servers as they are.
        type: list
        elements: dict
        suboptions:
          name:
            description: Server name, unique in the backend (C(<host>-r<revision>-<replica>)).
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
        description: Drain and remove the servers of the backend that O(backends[].servers) does not list.
        type: bool
        default: false
  skip:
    description: Deployments to leave alone (those that failed earlier in the run), even when listed in O(backends).
    type: list
    elements: str
    default: []
  wait_healthy:
    description:
      - Wait until every server this call adds or puts back into rotation (with C(state=ready)) is UP with a passed
        health check, before anything is drained or removed.
    type: bool
    default: false
  health_timeout:
    description: Seconds O(wait_healthy) waits (1 to 3600), for all deployments together.
    type: int
    default: 60
  drain_timeout:
    description:
      - Seconds to wait for the sessions of the removed servers to end (0 to 86400), for all deployments together.
        After that the sessions of the current worker are shut down and RV(drain_timed_out) says so.
    type: int
    default: 300
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
        their requests; through this socket the module waits for their sessions on removed servers too.
      - Set to an empty string to wait only for the current worker's sessions. A missing socket is ignored.
    type: path
    default: /run/haproxy-master.sock
  lock_file:
    description:
      - The load balancer's lock file. Every call of this module and of M(selfhost.langgraph.haproxy_backend) on
        the host takes it (C(flock)), except in check mode. The holder's pid is written into it.
    type: path
    default: /run/lock/selfhost-langgraph-haproxy.lock
  lock_timeout:
    description:
      - Seconds to wait for the lock while another call holds it (0 to 86400). After that the task fails, naming
        the holder's pid, and nothing has changed.
      - A call holds the lock for at most about O(health_timeout) plus O(drain_timeout) plus a minute.
    type: int
    default: 600
notes:
  - Runs on the load balancer host as root (C(become=true)).
  - M(selfhost.langgraph.haproxy_info) reports the same backends, servers and sessions without changing anything.
seealso:
  - module: selfhost.langgraph.haproxy_info
  - module: selfhost.langgraph.haproxy_backend
'''

EXAMPLES = r'''
- name: Switch two deployments to their new containers (add, wait until healthy, drain and remove the old ones)
  selfhost.langgraph.haproxy_backends:
    backends:
      - deployment: support-bot
        bind_port: 8101
        servers:
          - {name: app1-r4-1, address: 172.30.213.21, port: 20004}
          - {name: app1-r3-1, address: 172.30.213.21, port: 20001, state: absent}
      - deployment: faq-bot
        bind_port: 8102
        health_path: /ok?check_db=1
        servers:
          - {name: app2-r2-1, address: 172.30.213.22, port: 20002}
        purge: true
    skip: "{{ __failed_deployments | default([]) }}"
    wait_healthy: true
    drain_timeout: 600
  become: true
  register: __lb_switch

- name: Remove the frontends and backends of two deleted deployments (one reload)
  selfhost.langgraph.haproxy_backends:
    backends:
      - {deployment: old-bot, state: absent}
      - {deployment: older-bot, state: absent}
  become: true
'''

RETURN = r'''
backends:
  description:
    - Per listed deployment (not skipped), what the call did, or in check mode would do, and its servers after it
      (in check mode, as they are).
  returned: always
  type: dict
  contains:
    actions:
      description: The deployment's plan in words, in order. For a deployment in RV(failures), part of it may not
        have been done.
      type: list
      elements: str
    servers:
      description: The backend's servers at run time, by name (empty when the backend is gone).
      type: dict
      contains:
        address:
          description: IP address.
          type: str
        port:
          description: TCP port.
          type: int
        state:
          description: V(ready), V(drain) or V(maint), as the file says.
          type: str
        status:
          description: V(UP), V(DOWN) (failing checks), V(MAINT) (maintenance) or V(DRAIN) (no new requests).
          type: str
        check_status:
          description: HAProxy's last health check result, for example C(L7OK) or C(L4CON); empty while none ran.
          type: str
        scur:
          description: Current sessions.
          type: float
        scur_max:
          description: Current sessions (the same as RV(backends.servers.scur) here; haproxy_info samples).
          type: int
        stot:
          description: Sessions since the server was added or HAProxy (re)loaded.
          type: int
        qcur:
          description: Requests queued for this server.
          type: int
  sample:
    support-bot:
      actions: ["add server app1-r4-1 (172.30.213.21:20004, ready) at run time",
                "drain and remove server app1-r3-1 (172.30.213.21:20001) at run time"]
      servers:
        app1-r4-1: {address: 172.30.213.21, port: 20004, state: ready, status: UP, check_status: L7OK,
                    scur: 0.0, scur_max: 0, stot: 3, qcur: 0}
failures:
  description:
    - Deployments whose part did not succeed, with the reason. Their files still match the runtime.
    - Not named C(failed), which Ansible reserves for the task's own status.
  returned: always
  type: dict
  sample: {faq-bot: "servers of be_faq-bot not healthy after 60 s: app2-r2-1 (DOWN, check L7STS); check that they
            answer GET /ok?check_db=1 with 200; removed the servers this call added: app2-r2-1"}
reloaded:
  description: Whether HAProxy was reloaded (at most once per call).
  returned: always
  type: bool
  sample: true
drain_timed_out:
  description:
    - Per deployment, the removed servers whose sessions were still running after O(drain_timeout). Those of the
      current worker were shut down; those of old workers (after a reload) end with the request or
      C(hard-stop-after).
  returned: always
  type: dict
  sample: {support-bot: [app1-r3-1]}
lock_waited:
  description: Seconds the call waited for the load balancer's lock (O(lock_file)) held by another call (0 in check mode).
  returned: always
  type: float
  sample: 12.5
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_apply import ConfigFiles, Executor
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_backends_plan import (
    plan_backends,
    validate_backends,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_lock import call_lock, validate_call_timeouts
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_observe import servers_info
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_runtime import (
    MasterCLI,
    RuntimeAPI,
    empty_view,
)

SERVER_OPTIONS = dict(
    name=dict(type='str', required=True),
    address=dict(type='str', required=True),
    port=dict(type='int', required=True),
    state=dict(type='str', default='ready', choices=['ready', 'drain', 'absent']),
)

BACKEND_OPTIONS = dict(
    deployment=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    bind_port=dict(type='int'),
    bind_address=dict(type='str', default='*'),
    health_path=dict(type='str', default='/ok'),
    servers=dict(type='list', elements='dict', options=SERVER_OPTIONS),
    purge=dict(type='bool', default=False),
)


def run(module):
    p = module.params
    entries = validate_backends(p['backends'], p['skip'])
    validate_call_timeouts(p)
    lock = call_lock(module.check_mode, p, 'haproxy_backends', [e['deployment'] for e in entries])
    with lock:
        result = observe_plan_apply(module, entries)
    result['lock_waited'] = round(lock.waited, 1)
    return result


def observe_plan_apply(module, entries):
    p = module.params
    api = RuntimeAPI(p['socket'])
    api.ping()
    views = api.fleet()
    files = ConfigFiles(p['config_dir'], p['main_config'], module.run_command)
    plans = plan_backends(entries, views, files.texts(), p['config_dir'])

    result = dict(changed=any(pl.changed for pl in plans.values() if not pl.problem),
                  failures=dict((d, pl.problem) for d, pl in plans.items() if pl.problem),
                  reloaded=False, drain_timed_out={})
    if not module.check_mode:
        executor = Executor(api, files, p['service'], module.run_command,
                            master=MasterCLI(p['master_socket']) if p['master_socket'] else None)
        views = executor.apply(plans, views, wait_healthy=p['wait_healthy'], health_timeout=p['health_timeout'],
                               drain_timeout=p['drain_timeout'])
        result.update(changed=executor.changed, failures=executor.failed, reloaded=executor.reloaded,
                      drain_timed_out=executor.drain_timed_out)
    result['backends'] = dict(
        (d, dict(actions=pl.describe(),
                 servers=servers_info(views.get(d, empty_view())) if views.get(d, empty_view())['backend'] else {}))
        for d, pl in plans.items())
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backends=dict(type='list', elements='dict', required=True, options=BACKEND_OPTIONS),
            skip=dict(type='list', elements='str', default=[]),
            wait_healthy=dict(type='bool', default=False),
            health_timeout=dict(type='int', default=60),
            drain_timeout=dict(type='int', default=300),
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
