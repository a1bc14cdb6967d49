#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: lease_keeper
short_description: Keep a run's deploy locks alive while ansible-playbook runs
version_added: 0.2.0
description:
  - Deploy locks are leases of O(lock_ttl) seconds. This action renews the leases of O(holder) once at once, then
    leaves a small keeper process behind that renews them every quarter lease over the task's connection to the
    control host (M(selfhost.langgraph.control_state) step C(renew)), for as long as the C(ansible-playbook)
    process lives.
  - When the run ends in any way (success, failure, Ctrl-C, SIGKILL, a lost host), the keeper stops renewing
    within a second; the run's C(finish) step releases the locks, and a lock it could not release is taken over by
    the next job once its lease runs out.
  - Delegate it to the control host (C(langgraph_control_host)), once per run, after the locks were taken.
author:
  - selfhost.langgraph maintainers (@selfhost)
attributes:
  check_mode:
    support: full
    description: In check mode no lock was taken, so nothing is kept.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: none
    description: Starts a keeper process each time.
  action:
    support: full
    description: Implemented as an action plugin; it runs control_state on the delegated host.
extends_documentation_fragment:
  - selfhost.langgraph.postgres
options:
  holder:
    description: The run whose locks are kept (as given to M(selfhost.langgraph.control_state)).
    type: str
    required: true
  lock_ttl:
    description: Lease length in seconds; the keeper renews every quarter of it.
    type: int
    default: 120
'''

EXAMPLES = r'''
- name: Keep this run's deploy locks alive while it runs
  selfhost.langgraph.lease_keeper:
    holder: "{{ run_holder }}"
    lock_ttl: 120
  delegate_to: "{{ langgraph_control_host }}"
  run_once: true
'''

RETURN = r'''
keeper_pid:
  description: Process id of the keeper on the controller.
  returned: not check mode
  type: int
interval:
  description: Seconds between renewals.
  returned: not check mode
  type: int
renewed:
  description: The deployments whose locks the first renewal kept.
  returned: not check mode
  type: list
  elements: str
'''
