#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: fleet_metrics
short_description: The fleet's state as Prometheus metrics, from what a reconcile or autoscale tick observed
version_added: 0.2.0
description:
  - Runs on the controller (an action plugin, no remote call). From what the tick's observing tasks registered
    (M(selfhost.langgraph.control_state) step C(begin), M(selfhost.langgraph.app_host_info),
    M(selfhost.langgraph.haproxy_info)) and what it planned and did (M(selfhost.langgraph.fleet_plan),
    M(selfhost.langgraph.fleet_progress)), renders the metrics in the Prometheus text format that
    node_exporter's textfile collector reads; M(selfhost.langgraph.metrics_textfile) writes them.
  - Per deployment - serving revision, desired and running replicas, servers up and sessions per load balancer,
    pending and running runs, the last scale decision, last use, the deploy lock another job holds, whether the tick
    failed for it. Per host - up or down, containers, last seen. The list, with the alert rules and the Grafana
    dashboard, is in docs/monitoring.md.
author:
  - selfhost.langgraph maintainers (@selfhost)
attributes:
  check_mode:
    support: full
    description: Renders the same in check mode; it never changes anything.
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
    description: The tick that observed the fleet.
    type: str
    required: true
    choices: [reconcile, autoscale]
  plan:
    description: The RV(selfhost.langgraph.fleet_plan#module:plan) the tick made.
    type: dict
    required: true
  run:
    description: The run as M(selfhost.langgraph.fleet_progress) last returned it (which deployments failed).
    type: dict
  control_result:
    description: Name of the variable registered by M(selfhost.langgraph.control_state) step C(begin).
    type: str
    required: true
  queue_result:
    description: Name of the variable M(selfhost.langgraph.run_queues_info) registered (autoscale ticks), if any.
    type: str
  usage_result:
    description: Name of the variable M(selfhost.langgraph.deployment_usage) registered (each deployment's last use), if any.
    type: str
  app_hosts:
    description: The app hosts, in inventory order.
    type: list
    elements: str
  app_result:
    description: Name of the variable each app host registered with M(selfhost.langgraph.app_host_info).
    type: str
    required: true
  lb_hosts:
    description: The load balancers.
    type: list
    elements: str
  lb_result:
    description:
      - Name of the variable each load balancer registered with M(selfhost.langgraph.haproxy_info), or a list of
        names tried in order (the first that holds a result counts).
    type: raw
    required: true
'''

EXAMPLES = r'''
- name: Render the fleet's metrics from what the tick observed
  selfhost.langgraph.fleet_metrics:
    action: reconcile
    plan: "{{ plan.plan }}"
    run: "{{ progress.run }}"
    control_result: control
    app_hosts: "{{ groups['langgraph_app'] }}"
    app_result: app
    lb_hosts: "{{ groups['langgraph_lb'] }}"
    lb_result: lb
  run_once: true
  register: metrics
'''

RETURN = r'''
text:
  description: The metrics in the Prometheus text format, HELP and TYPE lines included, ending in a line feed.
  returned: success
  type: str
  sample: |
    # HELP langgraph_host_up Whether the host answered the tick (1) or not (0); group is app or lb.
    # TYPE langgraph_host_up gauge
    langgraph_host_up{host="app1",group="app"} 1
samples:
  description: Number of samples in RV(text).
  returned: success
  type: int
  sample: 42
'''
