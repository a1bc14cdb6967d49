#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: fleet_progress
short_description: Fold a step's results into the run and work out the next steps
version_added: 0.2.0
description:
  - Runs on the controller (an action plugin, no remote call) after each step of the control loop. Reads what
    every host's step returned, notes the deployments that failed (with why) and the hosts that stopped
    answering, prints one progress line with counts, and returns the run with the arguments of the later steps
    (which deployments to skip, what to undo, which containers to stop, the statuses to record).
author:
  - selfhost.langgraph maintainers (@selfhost)
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
  step:
    description: The step whose results are read.
    type: str
    required: true
    choices: [pulls, stores, instances, migrations, start, switch, applied]
  wave:
    description: With O(step=start) or O(step=switch), the wave (from 0).
    type: int
  plan:
    description: RV(selfhost.langgraph.fleet_plan#module:plan).
    type: dict
    required: true
  run:
    description: The run so far (RV(selfhost.langgraph.fleet_plan#module:run) or this module's last RV(run)).
    type: dict
    required: true
  results:
    description: Name of the variable the step registered on each host.
    type: str
    required: true
  lb_hosts:
    description: With O(step=switch), the load balancers.
    type: list
    elements: str
'''

EXAMPLES = r'''
- name: Note what started in wave 1
  selfhost.langgraph.fleet_progress:
    step: start
    wave: 0
    plan: "{{ plan.plan }}"
    run: "{{ run.run }}"
    results: started
  run_once: true
  register: run
'''

RETURN = r'''
run:
  description: The run with this step folded in, and the arguments of the later steps.
  returned: success
  type: dict
  contains:
    failed:
      description: Deployments that failed, with why.
      type: dict
    down:
      description: Hosts that stopped answering, with why.
      type: dict
    skip:
      description: The failed deployments, which later steps leave alone.
      type: list
      elements: str
    lines:
      description: The progress lines so far.
      type: list
      elements: str
'''
