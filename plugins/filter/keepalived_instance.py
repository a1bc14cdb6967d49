# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: keepalived_instance
short_description: One load balancer's part of the VRRP instance that floats the client address
version_added: 0.3.0
description:
  - Checks the inputs of the C(selfhost.langgraph.keepalived) role and works out this host's settings of its VRRP
    instance - the virtual address with its prefix, the priority and the unicast peers - or fails naming every
    problem, before anything changes on a load balancer.
  - The priority defaults to 150 for the first host of the group, 140 for the next, and so on (at least 1).
  - The unicast source address and the peers default to the hosts' C(langgraph_private_address), else their
    default IPv4 address from facts.
author:
  - selfhost.langgraph maintainers (@selfhost)
options:
  _input:
    description: This host (C(inventory_hostname)).
    type: str
    required: true
  hosts:
    description: The load balancers sharing the address, in inventory order (C(groups[keepalived_group])).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
  vip:
    description: The virtual address, C(A.B.C.D/NN) or C(A.B.C.D) with O(prefix).
    type: str
    required: true
  prefix:
    description: The prefix length of O(vip) when it has none.
    type: int
  priority:
    description: This host's priority (1-254); default from its place in O(hosts).
    type: int
  peers:
    description: The addresses this host sends its advertisements to; default the other hosts' addresses.
    type: list
    elements: str
  src_ip:
    description: The address this host sends from; default its own address.
    type: str
  virtual_router_id:
    description: The VRRP group's number, 1-255.
    type: int
    required: true
  auth_pass:
    description: The VRRP password, at most 8 characters; checked only, never returned.
    type: str
'''

EXAMPLES = r'''
__keepalived: >-
  {{ inventory_hostname | selfhost.langgraph.keepalived_instance(groups['langgraph_lb'], hostvars,
     vip='192.0.2.10/24', virtual_router_id=51) }}
'''

RETURN = r'''
_value:
  description: vip (C(A.B.C.D/NN)), address, prefix, priority, virtual_router_id, unicast_src_ip and unicast_peers.
  type: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhost.langgraph.plugins.module_utils.vrrp import VrrpError, vrrp_instance


def keepalived_instance(host, hosts, hostvars, vip, prefix=None, priority=None, peers=None, src_ip=None,
                        virtual_router_id=None, auth_pass=None):
    try:
        return vrrp_instance(host, hosts, hostvars, vip, prefix=prefix, priority=priority, peers=peers,
                             src_ip=src_ip, virtual_router_id=virtual_router_id, auth_pass=auth_pass)
    except VrrpError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {'keepalived_instance': keepalived_instance}
