# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: edge_routes
short_description: The haproxy_edge routes of a run's deployments
version_added: 0.3.0
description:
  - From the deployments validate_deployments returns, the routes of those with a host name (their own
    C(hostname), or C(<name>.<langgraph_domain>)); V(absent) when the run deletes them.
author:
  - selfhost.langgraph maintainers (@selfhost)
options:
  _input:
    description: The validated deployments.
    type: list
    elements: dict
    required: true
  action:
    description: The run's action (C(deploy_action)).
    type: str
    required: true
'''

EXAMPLES = r'''
routes: "{{ __deploy_valid.deployments | selfhost.langgraph.edge_routes(deploy_action) }}"
'''

RETURN = r'''
_value:
  description: Routes, each with deployment, hostname and state.
  type: list
  elements: dict
'''

from ansible_collections.selfhost.langgraph.plugins.module_utils.edge import routes_of


class FilterModule(object):
    def filters(self):
        return {'edge_routes': routes_of}
