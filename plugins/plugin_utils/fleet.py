# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side glue of the fleet actions: reading what each host's step
returned (registered variables in hostvars) into the plain dicts the pure
planner takes, and printing progress lines."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.utils.display import Display

from ansible_collections.selfhost.langgraph.plugins.module_utils.placement import OVERRIDES, host_capacity

display = Display()


def say(line):
    """A progress line for the person watching; stderr keeps JSON output on stdout clean."""
    display.display(line, stderr=True)


def host_vars(task_vars, host):
    hostvars = task_vars.get('hostvars') or {}
    try:
        return hostvars[host]
    except KeyError:
        raise AnsibleActionFail('host %s is not in the inventory' % host)


def result_of(task_vars, host, name):
    """A host's registered result, or None when its step was skipped or never ran."""
    value = host_vars(task_vars, host).get(name)
    if not value or value.get('skipped'):
        return None
    return dict(value)


def observation_of(task_vars, host, names):
    """What observing a host returned: the first of the registered names (a name or a list) that
    holds a result. A host that does not answer leaves a result that says so; no result at all means
    the observation never ran, which must not pass for a fleet in shape."""
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        result = result_of(task_vars, host, name)
        if result is not None:
            return result
    raise AnsibleActionFail('%s was not observed (no %s result): the observe tasks and the plan disagree'
                            % (host, ' or '.join(names)))


def answered(result):
    return bool(result) and not result.get('unreachable') and not result.get('failed')


def results_of(task_vars, hosts, name):
    return dict((host, result_of(task_vars, host, name)) for host in hosts)


def _address(task_vars, host):
    address = host_vars(task_vars, host).get('langgraph_private_address')
    if not address:
        raise AnsibleActionFail('app host %s has no langgraph_private_address: set the address the load '
                                'balancers reach it on in the inventory' % host)
    return str(address)


def app_hosts(task_vars, names, result_name):
    """[{name, reachable, address, drain, capacity, containers, used_ports, images, problem}]."""
    hosts = []
    for name in names:
        variables = host_vars(task_vars, name)
        result = observation_of(task_vars, name, result_name)
        ok = answered(result)
        overrides = dict((key, variables.get(key)) for key in OVERRIDES)
        hosts.append(dict(
            name=name, reachable=ok, address=_address(task_vars, name),
            drain=_bool(variables.get('langgraph_app_drain', False)),
            capacity=host_capacity((result or {}).get('capacity') if ok else None, overrides),
            reported=(result or {}).get('capacity'),
            containers=list((result or {}).get('containers') or []) if ok else [],
            used_ports=list((result or {}).get('used_ports') or []) if ok else [],
            images=list((result or {}).get('images') or []) if ok else [],
            problem=None if ok else _problem(result)))
    return hosts


def lb_hosts(task_vars, names, result_name):
    lbs = []
    for name in names:
        result = observation_of(task_vars, name, result_name)
        ok = answered(result)
        lbs.append(dict(name=name, reachable=ok, backends=dict((result or {}).get('backends') or {}) if ok else {},
                        sampled_at=(result or {}).get('sampled_at'), problem=None if ok else _problem(result),
                        certificates=list((result or {}).get('certificates') or []) if ok else []))
    return lbs


def _problem(result):
    if result is None:
        return 'not observed'
    return (result.get('msg') or ('unreachable' if result.get('unreachable') else 'failed')).strip()


def _bool(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ('true', 'yes', 'on', '1')
