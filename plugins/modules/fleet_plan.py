#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: fleet_plan
short_description: Plan a run of the control loop from one observation of the fleet
version_added: 0.2.0
description:
  - Runs on the controller (an action plugin, no remote call). From the deployment entries, the action and what
    every host reported in this run (M(selfhost.langgraph.control_state) step C(begin),
    M(selfhost.langgraph.app_host_info) on each app host, M(selfhost.langgraph.haproxy_info) on each load
    balancer), decides every step of the run in pure Python (revisions, placement by capacity, images to pull,
    migrations, per wave the containers to start on each host and the load balancer changes, containers to stop,
    what undoes a deployment that fails, images to prune).
  - Prints one line per deployment and per wave; in check mode that is all a run does.
  - Fails, changing nothing, when the run cannot be planned (a deployment that does not fit the fleet, no revision
    to roll back to, a store host that would move), naming every reason.
  - With O(action=status), returns and prints the status table instead.
author:
  - selfhost.langgraph maintainers (@selfhost)
extends_documentation_fragment:
  - selfhost.langgraph.deployment_settings
attributes:
  check_mode:
    support: full
    description: Plans the same in check mode; it never changes anything.
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
  action:
    description: What the run does.
    type: str
    default: deploy
    choices: [deploy, rollback, scale, delete, status, reconcile, autoscale]
  deployments:
    description: The deployment entries (C(langgraph_deployments)).
    type: list
    elements: dict
    required: true
  deployment:
    description: Act on this one only; empty for all.
    type: str
    default: ""
  control_host:
    description: The host of the control database.
    type: str
    required: true
  app_hosts:
    description: The app hosts, in inventory order.
    type: list
    elements: str
    required: true
  lb_hosts:
    description: The load balancers.
    type: list
    elements: str
  postgres_hosts:
    description: The Postgres hosts (each deployment's database lives on one).
    type: list
    elements: str
  redis_hosts:
    description: The Redis hosts.
    type: list
    elements: str
  reserved_ports:
    description: Load balancer ports no deployment may take.
    type: dict
  control_database:
    description: Name of the control database.
    type: str
    default: langgraph_control
  autoscale_defaults:
    description: Fleet-wide autoscaling settings the entries inherit.
    type: dict
  control_result:
    description: Name of the variable registered by M(selfhost.langgraph.control_state) step C(begin).
    type: str
    required: true
  queue_result:
    description: Name of the variable M(selfhost.langgraph.run_queues_info) registered (autoscaling), if any.
    type: str
  usage_result:
    description: Name of the variable M(selfhost.langgraph.deployment_usage) registered, if any (status shows the last use).
    type: str
    version_added: 0.2.0
  app_result:
    description: Name of the variable each app host registered with M(selfhost.langgraph.app_host_info).
    type: str
    required: true
  lb_result:
    description:
      - Name of the variable each load balancer registered with M(selfhost.langgraph.haproxy_info), or a list of
        names tried in order (the first that holds a result counts).
    type: raw
    required: true
  revision:
    description: With O(action=rollback), the revision to roll back to; the previous deployed one when omitted.
    type: int
  replicas:
    description: With O(action=scale), the container count.
    type: int
  batch_size:
    description: Containers of each deployment switched per wave, a count or a percentage.
    type: str
    default: 100%
  on_failure:
    description:
      - What a roll-out that fails after some waves switched does. V(undo) returns the switched hosts to the serving
        revision (zero downtime), V(keep) leaves the deployment as it failed for inspection until the next deploy
        or reconcile. A failure before any switch is always undone.
    type: str
    choices: [undo, keep]
    default: undo
  port_range:
    description: Host ports the containers are published on.
    type: list
    elements: int
    default: [20000, 29999]
  keep_images:
    description: Images of this many newest revisions stay on the app hosts.
    type: int
    default: 3
  purge:
    description: With O(action=delete), also drop the database and free the Redis number.
    type: bool
    default: false
  holder:
    description: Who records the new revisions.
    type: str
  lb_health_path:
    description: The path HAProxy checks on each server.
    type: str
    default: /ok
  status_format:
    description:
      - With O(action=status), what is printed, V(text) (the table) or V(json) (one JSON document, RV(status_data),
        on one line of standard error, like the table). RV(status_data) is returned and kept as the C(langgraph_status) statistic
        (as M(ansible.builtin.set_stats) does, in the job's artifacts) either way.
    type: str
    choices: [text, json]
    default: text
    version_added: 0.2.0
'''

EXAMPLES = r'''
- name: Plan every step of the run from what was observed
  selfhost.langgraph.fleet_plan:
    action: deploy
    deployments: "{{ langgraph_deployments }}"
    control_host: "{{ langgraph_control_host }}"
    app_hosts: "{{ groups['langgraph_app'] }}"
    lb_hosts: "{{ groups['langgraph_lb'] }}"
    control_result: control
    app_result: app
    lb_result: lb
  run_once: true
  register: plan
'''

RETURN = r'''
plan:
  description: The steps of the run, grouped by host (see docs/contracts.md, "The fleet control loop"); no secret.
  returned: success, unless action is status
  type: dict
run:
  description: The run's state before it acts (hosts found down) and the arguments of its later steps.
  returned: success, unless action is status
  type: dict
status:
  description: The status table, one line per element.
  returned: action is status
  type: list
  elements: str
status_data:
  description:
    - The same facts as RV(status) as data (version, deployments with serving revision, desired and running replicas,
      lock, containers with health and load balancer sessions, revisions, last scale decision, C(last_used) - at,
      idle_seconds, by, last_run_at, notified_at - or null until a run recorded it; hosts_down).
  returned: action is status
  type: dict
  version_added: 0.2.0
'''
