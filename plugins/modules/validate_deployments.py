#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: validate_deployments
short_description: Check the deployment entries before anything changes
version_added: 0.2.0
description:
  - Checks every entry of C(langgraph_deployments) on the controller and fails with one message listing every
    problem of every entry (unknown keys with the closest valid one, types, replica bounds by type, names,
    images, ports, environment names, store hosts), so that nothing is touched with a bad entry.
  - Returns the entries normalized (defaults applied, type limits resolved) without any secret value.
  - Runs on the controller only (an action plugin); it contacts no host.
author:
  - selfhost.langgraph maintainers (@selfhost)
extends_documentation_fragment:
  - selfhost.langgraph.deployment_settings
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: Reads only.
  action:
    support: full
    description: Implemented as an action plugin on the controller.
options:
  deployments:
    description: The entries (C(langgraph_deployments)).
    type: list
    elements: dict
    required: true
  deployment:
    description: Act on this one only (C(-e deployment=NAME)); empty for all.
    type: str
    default: ""
  action:
    description: What the run does; V(deploy) requires an image on every entry.
    type: str
    default: deploy
    choices: [deploy, rollback, scale, delete, status, reconcile, autoscale, stores]
  postgres_hosts:
    description: Hosts of group C(langgraph_postgres), to check C(postgres_host).
    type: list
    elements: str
  redis_hosts:
    description: Hosts of group C(langgraph_redis), to check C(redis_host).
    type: list
    elements: str
  reserved_ports:
    description: Load balancer ports taken by something else, with what takes them.
    type: dict
  control_database:
    description: Name of the control database (a deployment may not be named like it).
    type: str
    default: langgraph_control
  autoscale_defaults:
    description: The fleet's values of target_concurrency, jobs_per_container, autoscale_queue,
      autoscale_tolerance and scale_down_delay, which entries inherit.
    type: dict
'''

EXAMPLES = r'''
- name: Check the deployment entries before touching any system
  selfhost.langgraph.validate_deployments:
    deployments: "{{ langgraph_deployments }}"
    deployment: "{{ deployment | default('') }}"
    postgres_hosts: "{{ groups['langgraph_postgres'] }}"
    redis_hosts: "{{ groups['langgraph_redis'] }}"
  run_once: true
'''

RETURN = r'''
deployments:
  description: The selected entries, normalized, with no secret value (secrets by name only).
  returned: success
  type: list
  elements: dict
names:
  description: Names of the selected deployments.
  returned: success
  type: list
  elements: str
  sample: [support-bot]
all_names:
  description: Names of every entry.
  returned: success
  type: list
  elements: str
'''
