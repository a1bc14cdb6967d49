# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.selfhost.langgraph.plugins.action.fleet_plan import observed
from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_metrics import ACTIONS, exposition, tick_samples
from ansible_collections.selfhost.langgraph.plugins.plugin_utils.fleet import result_of


class ActionModule(ActionBase):
    """Renders the tick's metrics on the controller from what it observed (see the module documentation)."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        action = args.get('action')
        if action not in ACTIONS:
            raise AnsibleActionFail('action must be one of %s, not %r' % (', '.join(ACTIONS), action))
        if not isinstance(args.get('plan'), dict):
            raise AnsibleActionFail('plan must be the plan fleet_plan returned (a dict)')
        for key in ('control_result', 'app_result', 'lb_result'):
            if not args.get(key):
                raise AnsibleActionFail('%s is required: the name of the variable the observing task registered'
                                        % key)
        control = result_of(task_vars, task_vars['inventory_hostname'], args['control_result'])
        if not control or control.get('failed') or control.get('unreachable'):
            raise AnsibleActionFail('the control database was not read in this run: no metrics to write')
        control, apps, lbs = observed(task_vars, args, control)
        samples = tick_samples(action, args['plan'], args.get('run') or {}, control, apps, lbs)
        result.update(changed=False, text=exposition(samples),
                      samples=sum(len(rows) for rows in samples.values()))
        return result
