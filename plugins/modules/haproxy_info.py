#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: haproxy_info
short_description: Report every LangGraph deployment's HAProxy frontend, backend, servers and sessions
version_added: 0.2.0
description:
  - Reads, in one pass, every backend of a load balancer that serves a deployment (C(be_<deployment>) with a valid
    deployment name) and every per-deployment file C(<config_dir>/langgraph-<deployment>.cfg).
  - C(show stat) of HAProxy's runtime API is read O(samples) times spread over O(window) seconds, every backend in
    each sample; current sessions are averaged over the samples. C(show servers state) gives the servers'
    addresses, the files the frontend's bind address and port and the health check path.
  - The observe step of the fleet control loop. The deploy planner and status read an instant view (O(samples=1));
    the autoscaler samples a short window (for example O(samples=5), O(window=5)).
  - Changes nothing. Runs on each host of group C(langgraph_lb).
author:
  - selfhost.langgraph maintainers (@selfhost)
requirements:
  - HAProxy 2.6 or later on the host the module runs on, with an admin-level stats socket
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode reads as well.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: Never changes anything.
options:
  socket:
    description: Path of HAProxy's admin-level stats socket (the haproxy role's C(haproxy_socket)).
    type: path
    default: /run/haproxy/admin.sock
  config_dir:
    description: Directory of the per-deployment files (the haproxy role's C(haproxy_config_dir)).
    type: path
    default: /etc/haproxy/conf.d
  samples:
    description: Number of C(show stat) samples to average (1 to 100).
    type: int
    default: 1
  window:
    description: Seconds over which the samples are spread, 0 to 300 (the first is taken at once, the last after
      O(window)).
    type: float
    default: 0
  master_socket:
    description:
      - Path of the master process's CLI socket (C(-S), set by the haproxy role). After a reload, old workers keep
        serving the streams and requests they had; their sessions are read through it once, after the last sample,
        and count on the servers they use. Empty, or a path that does not exist, leaves them out
        (RV(old_workers_counted=false)).
    type: path
    default: /run/haproxy-master.sock
  certificates_file:
    description: Where the haproxy role notes the HTTPS edge's certificates and their expiry (docs/edge.md).
    type: path
    default: /etc/haproxy/certs/expiry.json
notes:
  - A deployment is reported when HAProxy has its frontend or backend or when its file exists, so a file HAProxy
    has not loaded (or a backend without a file) shows as such.
  - Servers are those of the last sample. RV(backends.total) also counts the sessions of servers that left during
    the window, as their requests were load too.
  - Run it with C(become=true), as the socket is only open to root and the haproxy group.
seealso:
  - module: selfhost.langgraph.haproxy_backends
'''

EXAMPLES = r'''
- name: Observe every load balancer's backends (instant view)
  selfhost.langgraph.haproxy_info:
  become: true
  register: __lb_info

- name: Measure the concurrency of every deployment over 5 seconds
  selfhost.langgraph.haproxy_info:
    samples: 5
    window: 5
  become: true
  register: __lb_load

- name: Show the total of support-bot
  ansible.builtin.debug:
    msg: "{{ __lb_load.backends['support-bot'].total }} concurrent requests"
'''

RETURN = r'''
backends:
  description: Per deployment, what HAProxy and the files say.
  returned: always
  type: dict
  contains:
    frontend:
      description:
        - Whether HAProxy runs the frontend C(fe_<deployment>). A deployment served by host name only (through the
          HTTPS edge, no port of its own) has none.
      type: bool
    backend:
      description: Whether HAProxy runs the backend C(be_<deployment>).
      type: bool
    file:
      description: Whether the file C(<config_dir>/langgraph-<deployment>.cfg) exists.
      type: bool
    bind_port:
      description: The frontend's port, from the file (null without a file, or without a frontend).
      type: int
    bind_address:
      description: The frontend's address (C(*) for every address), from the file (null without a file, or without a frontend).
      type: str
    health_path:
      description: Path of the servers' HTTP health check, from the file (null without a file).
      type: str
    servers:
      description: The backend's servers at run time, by name.
      type: dict
      contains:
        address:
          description: IP address.
          type: str
        port:
          description: TCP port.
          type: int
        state:
          description: V(ready), V(drain) or V(maint), as the deployment's file writes it.
          type: str
        status:
          description: V(UP), V(DOWN) (failing checks), V(MAINT) (maintenance) or V(DRAIN) (no new requests).
          type: str
        check_status:
          description: HAProxy's last health check result, for example C(L7OK) or C(L4CON); empty while none ran.
          type: str
        scur:
          description: Current sessions, averaged over the samples, plus those the old workers of a reload still
            serve on it.
          type: float
        scur_max:
          description: Highest current sessions in one sample.
          type: int
        stot:
          description: Sessions since the server was added or HAProxy (re)loaded (last sample).
          type: int
        qcur:
          description: Requests queued for this server (last sample).
          type: int
    queue_average:
      description: The backend's queued requests (waiting for a free server), averaged over the samples.
      type: float
    total:
      description: Sum of the servers' average sessions plus the average backend queue (the concurrency the
        autoscaler divides by its target).
      type: float
    old_sessions:
      description: Sessions the old workers of a reload still serve on the backend's servers (counted in RV(backends.servers.scur)
        and RV(backends.total)).
      type: int
  sample:
    support-bot:
      frontend: true
      backend: true
      file: true
      bind_port: 8101
      bind_address: '*'
      health_path: /ok?check_db=1
      servers:
        app1-r3-1: {address: 172.30.213.21, port: 20001, state: ready, status: UP, check_status: L7OK,
                    scur: 4.2, scur_max: 6, stot: 812, qcur: 0}
      queue_average: 0.0
      total: 4.2
      old_sessions: 0
certificates:
  description: The HTTPS edge's certificates (docs/edge.md) with their names and expiry; empty without the edge.
  returned: always
  type: list
  elements: dict
  sample: [{file: 99-fleet.pem, names: ['*.agents.example.com'], not_after: '2027-11-30T16:20:00Z', issuer: CN=fleet CA}]
old_workers_counted:
  description: Whether the old workers' sessions were read (the master CLI socket exists).
  returned: always
  type: bool
  sample: true
sampled_at:
  description: Time of the last sample, seconds since the epoch (on the load balancer's clock).
  returned: always
  type: float
  sample: 1763823600.5
samples:
  description: Number of samples taken.
  returned: always
  type: int
  sample: 5
window:
  description: Seconds the samples were spread over.
  returned: always
  type: float
  sample: 5.0
'''

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_observe import observe
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_runtime import MasterCLI, RuntimeAPI


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type='path', default='/run/haproxy/admin.sock'),
            config_dir=dict(type='path', default='/etc/haproxy/conf.d'),
            samples=dict(type='int', default=1),
            window=dict(type='float', default=0.0),
            master_socket=dict(type='path', default='/run/haproxy-master.sock'),
            certificates_file=dict(type='path', default='/etc/haproxy/certs/expiry.json'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        master = MasterCLI(p['master_socket']) if p['master_socket'] and os.path.exists(p['master_socket']) else None
        result = observe(RuntimeAPI(p['socket']), p['config_dir'], p['samples'], p['window'], master=master)
    except HAProxyError as e:
        module.fail_json(msg=str(e))
    result['certificates'] = read_certificates(p['certificates_file'])
    module.exit_json(changed=False, **result)


def read_certificates(path):
    """The HTTPS edge's certificates as the haproxy role noted them (names, expiry), or [] without the edge."""
    try:
        with open(path) as f:
            found = json.load(f)
    except (IOError, OSError, ValueError):
        return []
    return [dict((k, c.get(k)) for k in ('file', 'names', 'not_after', 'issuer')) for c in found
            if isinstance(c, dict)]


if __name__ == '__main__':
    main()
