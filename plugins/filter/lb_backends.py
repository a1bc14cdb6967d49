# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: lb_backends
short_description: The backends each load balancer reported, of those that answered
version_added: 0.2.0
description:
  - From the result each load balancer registered with M(selfhost.langgraph.haproxy_info) (the first of the names
    that holds one - an instant read, or a sampling window), its C(backends), as
    M(selfhost.langgraph.deployment_usage) takes them. A load balancer that did not answer, or was not read, is
    left out.
author:
  - selfhost.langgraph maintainers (@selfhost)
options:
  _input:
    description: The load balancers (C(langgraph_lb)).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
  results:
    description: Names of the registered results, tried in order.
    type: list
    elements: str
    required: true
'''

EXAMPLES = r'''
load_balancers: "{{ groups['langgraph_lb'] | selfhost.langgraph.lb_backends(hostvars, ['__lb_sampled', '__lb_instant']) }}"
'''

RETURN = r'''
_value:
  description: The C(backends) of each load balancer, by its inventory name.
  type: dict
'''


def lb_backends(hosts, hostvars, results):
    found = {}
    for host in hosts or []:
        variables = hostvars[host]
        for name in results:
            result = variables.get(name)
            if not result or result.get('skipped'):
                continue
            if not result.get('failed') and not result.get('unreachable') and 'backends' in result:
                found[host] = dict(result['backends'] or {})
            break
    return found


class FilterModule(object):
    def filters(self):
        return {'lb_backends': lb_backends}
