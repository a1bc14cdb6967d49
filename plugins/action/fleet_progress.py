# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.selfhost.langgraph.plugins.module_utils import fleet_run
from ansible_collections.selfhost.langgraph.plugins.plugin_utils.fleet import result_of, results_of, say

STEPS = ('pulls', 'stores', 'instances', 'migrations', 'start', 'switch', 'applied')


class ActionModule(ActionBase):
    """Folds a step's per-host results into the run (see the module documentation)."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        step = args.get('step')
        if step not in STEPS:
            raise AnsibleActionFail('step must be one of %s, not %r' % (', '.join(STEPS), step))
        plan = args['plan']
        run = copy.deepcopy(args['run'])
        name = args['results']
        lines_before = len(run['lines'])
        if step == 'pulls':
            run = fleet_run.after_pulls(plan, run, results_of(task_vars, list(plan['pulls']), name))
        elif step == 'stores':
            run = fleet_run.after_stores(plan, run, result_of(task_vars, task_vars['inventory_hostname'], name))
        elif step == 'instances':
            run = fleet_run.after_instances(plan, run, result_of(task_vars, task_vars['inventory_hostname'], name))
        elif step == 'migrations':
            run = fleet_run.after_migrations(plan, run, results_of(task_vars, list(plan['migrations']), name))
        elif step == 'start':
            wave = int(args['wave'])
            run = fleet_run.after_start(plan, run, wave,
                                        results_of(task_vars, list(plan['waves'][wave]['start']), name))
        elif step == 'switch':
            wave = int(args['wave'])
            lbs = list(args.get('lb_hosts') or [])
            run = fleet_run.after_switch(plan, run, wave, results_of(task_vars, lbs, name), lbs)
        elif step == 'applied':
            recorded = result_of(task_vars, task_vars['inventory_hostname'], name) or {}
            run['applied'] = fleet_run.applied_counts(plan, run, recorded.get('scale_event_ids') or {})
        run = fleet_run.refresh(plan, run)
        for line in run['lines'][lines_before:]:
            say(line)
        result.update(changed=False, run=run, msg='; '.join(run['lines'][lines_before:]))
        return result
