# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""control_state refuses input a step cannot use, with one message, before connecting."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.modules.control_state import check_input
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError


def params(step, **given):
    p = dict(step=step, deployments=[], holder=None, purpose='deploy', lock=True, lock_wait=0, lock_ttl=120,
             history=10, revisions=[], statuses=[], assignments=[], scale_events=[], applied=[], replicas=[],
             hosts=[], audit=[], control_database='langgraph_control')
    p.update(given)
    return p


def event(deployment='a-1', action='deploy'):
    return dict(deployment=deployment, action=action, details={})


@pytest.mark.parametrize('p', [
    params('begin', deployments=['a-1'], holder='job-1'),
    params('begin', deployments=['a-1'], lock=False),
    params('renew', holder='job-1'),
    params('renew', holder='job-1', deployments=['a-1']),
    params('unlock', holder='alice', deployments=['a-1']),
    params('prepare', audit=[event()], holder='job-1'),
    params('prepare', audit=[event(deployment=None, action='reconcile')], holder='job-1'),
    params('finish', holder='job-1', replicas=[dict(deployment='a-1', replicas=0)],
           hosts=[dict(name='app1', up=True, problem=None)], audit=[event()]),
])
def test_accepted(p):
    check_input(p)


@pytest.mark.parametrize('p, message', [
    (params('renew'), 'holder is required with step=renew'),
    (params('unlock', deployments=['a-1']), 'holder is required with step=unlock: say who releases the locks'),
    (params('unlock', holder='alice'), 'step=unlock needs deployments'),
    (params('prepare', audit=[event()]), 'holder is required with audit'),
    (params('renew', holder='job-1', replicas=[dict(deployment='a-1', replicas=1)]),
     'replicas: not an option of step=renew'),
    (params('prepare', holder='job-1', hosts=[dict(name='app1', up=True, problem=None)]),
     'hosts: not an option of step=prepare'),
    (params('unlock', holder='alice', deployments=['a-1'], audit=[event()]), 'audit: not an option of step=unlock'),
    (params('finish', holder='job-1', replicas=[dict(deployment='a-1', replicas=-2)]), 'must be 0 or more, not -2'),
    (params('finish', holder='job-1', replicas=[dict(deployment='A_1', replicas=2)]), 'A_1'),
    (params('finish', holder='job-1', audit=[event(deployment='Bad Name')]), 'Bad Name'),
    (params('finish', holder='job-1', audit=[event(action='')]), 'every event needs an action'),
    (params('finish', holder='job-1', hosts=[dict(name='', up=False, problem='x')]), 'inventory name of the host'),
    (params('renew', holder='job-1', lock_ttl=0), 'lock_ttl 1 or more seconds'),
])
def test_refused(p, message):
    with pytest.raises(StoreError, match=message):
        check_input(p)
