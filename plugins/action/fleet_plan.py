# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.selfhost.langgraph.plugins.action.validate_deployments import context_of
from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment import (
    DeploymentError, parse_deployments, select)
from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_plan import PlanError, plan_run
from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_run import new_run, refresh
from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_status import FORMATS, status_data, status_lines
from ansible_collections.selfhost.langgraph.plugins.plugin_utils.fleet import (
    app_hosts, lb_hosts, result_of, say)

OPTION_KEYS = ('revision', 'replicas', 'batch_size', 'on_failure', 'port_range', 'keep_images', 'purge', 'holder',
               'lb_health_path')


def with_queues(control, queues):
    """The control state with each deployment's queue depth (or why it is missing) merged in."""
    if not queues:
        return control
    control = dict(control)
    states = dict((name, dict(state or {})) for name, state in (control.get('deployments') or {}).items())
    problem = None if not (queues.get('failed') or queues.get('unreachable')) else queues.get('msg', 'no answer')
    for name, state in states.items():
        if problem:
            state['queue'] = dict(error=problem)
        elif name in (queues.get('queues') or {}):
            state['queue'] = dict(queues['queues'][name])
        else:
            state['queue'] = dict(error=(queues.get('failures') or {}).get(name, 'not counted'))
    control['deployments'] = states
    return control


def with_usage(control, found):
    """The control state with each deployment's last use (deployment_usage's result) merged in."""
    if not found:
        return control
    control = dict(control)
    states = dict((name, dict(state or {})) for name, state in (control.get('deployments') or {}).items())
    problem = None if not (found.get('failed') or found.get('unreachable')) else found.get('msg', 'no answer')
    for name, state in states.items():
        if problem:
            state['usage'] = dict(error=problem)
        elif name in (found.get('usage') or {}):
            state['usage'] = dict(found['usage'][name])
    control['deployments'] = states
    return control


def observed(task_vars, args, control):
    """What the run observed, as its registered results hold it: the control state (control_state step=begin's
    result) with the queue counts and last use merged in, the app hosts and the load balancers."""
    me = task_vars['inventory_hostname']
    control = with_queues(control, result_of(task_vars, me, args.get('queue_result') or '__no_queue_result'))
    control = with_usage(control, result_of(task_vars, me, args.get('usage_result') or '__no_usage_result'))
    return (control, app_hosts(task_vars, args.get('app_hosts') or [], args['app_result']),
            lb_hosts(task_vars, args.get('lb_hosts') or [], args['lb_result']))


class ActionModule(ActionBase):
    """Plans the run on the controller from what every host reported (see the module documentation)."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        action = args.get('action', 'deploy')
        try:
            everything = parse_deployments(args.get('deployments'), context_of(args))
            chosen = select(everything, args.get('deployment') or '')
        except DeploymentError as exc:
            raise AnsibleActionFail(str(exc))
        control = result_of(task_vars, task_vars['inventory_hostname'], args['control_result'])
        if not control or control.get('failed') or control.get('unreachable'):
            raise AnsibleActionFail('the control database on %s could not be read: %s' % (
                args.get('control_host'), (control or {}).get('msg', 'no result')))
        control, apps, lbs = observed(task_vars, args, control)

        if action == 'status':
            status_format = args.get('status_format') or 'text'
            if status_format not in FORMATS:
                raise AnsibleActionFail('status_format must be one of %s, not %r' % (', '.join(FORMATS), status_format))
            lines = status_lines(chosen, apps, lbs, control)
            data = status_data(chosen, apps, lbs, control)
            if status_format == 'json':
                say(json.dumps(data, sort_keys=True))
            else:
                for line in lines:
                    say(line)
            # Kept as set_stats keeps it: AWX shows it in the job's artifacts.
            result.update(changed=False, status=lines, status_data=data,
                          ansible_stats=dict(data=dict(langgraph_status=data), per_host=False, aggregate=False))
            return result

        options = dict((key, args[key]) for key in OPTION_KEYS if args.get(key) is not None)
        options.update(check_mode=bool(self._task.check_mode), control_host=args.get('control_host'),
                       postgres_hosts=list(args.get('postgres_hosts') or []),
                       redis_hosts=list(args.get('redis_hosts') or []))
        try:
            plan = plan_run(dict(action=action, deployments=chosen, all_deployments=everything, app_hosts=apps,
                                 lb_hosts=lbs, control=control, options=options))
        except PlanError as exc:
            raise AnsibleActionFail(str(exc))
        down = dict((h['name'], h['problem']) for h in apps + lbs if not h['reachable'])
        plan['down'] = down
        for line in plan['summary']:
            say(line)
        for host, problem in sorted(down.items()):
            say('%s is down: %s' % (host, problem))
        run = refresh(plan, new_run(down))
        result.update(changed=False, plan=plan, run=run, msg='\n'.join(plan['summary']))
        return result
