#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: haproxy_sessions
short_description: Measure a deployment's concurrent requests in HAProxy
version_added: 0.1.0
description:
  - Reads C(show stat) from HAProxy's runtime API O(samples) times spread over O(window) seconds and returns,
    for the backend C(be_<deployment>), each server's average and maximum current sessions (C(scur)) and the
    total concurrency the autoscaler uses (M(selfhost.langgraph.autoscale)).
  - Changes nothing. Run it on each host of group C(langgraph_lb).
author:
  - selfhost.langgraph maintainers (@selfhost)
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode measures as well.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: Never changes anything.
options:
  deployment:
    description: Name of the deployment.
    type: str
    required: true
  socket:
    description: Path of HAProxy's admin-level stats socket (the haproxy role's C(haproxy_socket)).
    type: path
    default: /run/haproxy/admin.sock
  samples:
    description: Number of C(show stat) samples to average.
    type: int
    default: 5
  window:
    description: Seconds over which the samples are spread (the first is taken at once, the last after O(window)).
    type: float
    default: 5
requirements:
  - HAProxy 2.6 or later with an admin-level stats socket on the host the module runs on
notes:
  - The total is the sum over servers of their average sessions plus the backend's average queue (requests
    HAProxy holds for want of a free server). Draining servers count, as their in-flight requests are load.
'''

EXAMPLES = r'''
- name: Measure the concurrency of support-bot over 5 seconds
  selfhost.langgraph.haproxy_sessions:
    deployment: support-bot
  delegate_to: "{{ groups['langgraph_lb'][0] }}"
  become: true
  register: sessions

- name: Show the total
  ansible.builtin.debug:
    msg: "{{ sessions.total }} concurrent requests on {{ sessions.servers | length }} servers"
'''

RETURN = r'''
total:
  description: Sum of the servers' average current sessions plus the average backend queue.
  returned: success
  type: float
  sample: 34.6
total_max:
  description: Highest total seen in one sample.
  returned: success
  type: int
  sample: 36
servers:
  description: Per server (C(<host>-r<revision>-<replica>)) its average and maximum sessions and last status.
  returned: success
  type: dict
  sample: {"app1-r3-1": {"average": 34.6, "max": 36, "status": "UP"}}
queue_average:
  description: Average of the backend's queued requests (C(qcur)).
  returned: success
  type: float
  sample: 0.0
queue_max:
  description: Highest backend queue seen.
  returned: success
  type: int
  sample: 0
samples:
  description: Number of samples taken.
  returned: success
  type: int
  sample: 5
window:
  description: Seconds the samples spanned.
  returned: success
  type: float
  sample: 5.0
sampled_at:
  description: Time of the last sample, seconds since the epoch (on the load balancer's clock).
  returned: success
  type: float
  sample: 1763823600.5
backend:
  description: The HAProxy backend read.
  returned: success
  type: str
  sample: be_support-bot
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_runtime import RuntimeAPI
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import validate_deployment_name
from ansible_collections.selfhost.langgraph.plugins.module_utils.autoscale_sessions import sample


def main():
    module = AnsibleModule(
        argument_spec=dict(
            deployment=dict(type='str', required=True),
            socket=dict(type='path', default='/run/haproxy/admin.sock'),
            samples=dict(type='int', default=5),
            window=dict(type='float', default=5.0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        validate_deployment_name(params['deployment'])
        result = sample(RuntimeAPI(params['socket']), params['deployment'], params['samples'], params['window'])
    except (StoreError, HAProxyError) as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
