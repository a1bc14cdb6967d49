# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: spread_replicas
short_description: Spread a deployment's containers evenly over the app hosts
version_added: 0.1.0
description:
  - Returns how many containers each host runs for a total, as even as possible; earlier hosts take the
    remainder.
author:
  - selfhost.langgraph maintainers (@selfhost)
options:
  _input:
    description: Total number of containers.
    type: int
    required: true
  hosts:
    description: The app hosts, in order.
    type: list
    elements: str
    required: true
'''

EXAMPLES = r'''
per_host: "{{ 3 | selfhost.langgraph.spread_replicas(groups['langgraph_app']) }}"
# => {"app1": 2, "app2": 1}
'''

RETURN = r'''
_value:
  description: Containers per host.
  type: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhost.langgraph.plugins.module_utils.replicas import spread


def spread_replicas(total, hosts):
    try:
        return spread(int(total), list(hosts))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {'spread_replicas': spread_replicas}
