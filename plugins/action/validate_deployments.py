# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment import (
    DeploymentError, parse_deployments, select)


def context_of(args):
    """The parse context from the task's arguments."""
    return dict(
        image_required=args.get('action', 'deploy') == 'deploy',
        lb_port_required=args.get('action', 'deploy') != 'stores',
        # The runs that put deployments on the load balancers need the edge for a host name.
        edge_required=args.get('action', 'deploy') not in ('status', 'delete', 'stores'),
        lb_without_edge=None if args.get('lb_without_edge') is None else list(args['lb_without_edge']),
        control_database=args.get('control_database') or 'langgraph_control',
        postgres_hosts=list(args.get('postgres_hosts') or []),
        redis_hosts=list(args.get('redis_hosts') or []),
        reserved_ports=dict((int(port), str(what)) for port, what in (args.get('reserved_ports') or {}).items()),
        autoscale_defaults=dict(args.get('autoscale_defaults') or {}),
        secrets_key=args.get('secrets_key') or '',
        tracing=args.get('tracing') or {},
        domain=args.get('domain') or '',
    )


class ActionModule(ActionBase):
    """Checks the deployment entries on the controller (see the module documentation)."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        try:
            parsed = parse_deployments(args.get('deployments'), context_of(args))
            chosen = select(parsed, args.get('deployment') or '')
        except DeploymentError as exc:
            raise AnsibleActionFail(str(exc))
        result.update(changed=False, deployments=chosen, names=[d['name'] for d in chosen],
                      all_names=[d['name'] for d in parsed],
                      msg='%d deployment entr%s valid; acting on %s' % (
                          len(parsed), 'y is' if len(parsed) == 1 else 'ies are',
                          ', '.join(d['name'] for d in chosen) or 'none'))
        return result
