# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An AWX survey's answers applied to the inventory's deployment entries."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.survey import survey_deployments

BOT = dict(name='bot', image='reg/bot:1', type='production', min_replicas=1, max_replicas=4, env={'A': '1'})
OTHER = dict(name='other', image='reg/other:1')


@pytest.mark.parametrize('answers, expected', [
    (dict(), [BOT, OTHER]),
    (dict(deployment='bot'), [BOT, OTHER]),
    (dict(deployment='bot', image='', deployment_type='', replicas=0), [BOT, OTHER]),
    (dict(deployment='bot', image='reg/bot:2'), [dict(BOT, image='reg/bot:2'), OTHER]),
    (dict(deployment='bot', image=' reg/bot:2 '), [dict(BOT, image='reg/bot:2'), OTHER]),
    (dict(deployment='bot', deployment_type='development'), [dict(BOT, type='development'), OTHER]),
    (dict(deployment='bot', replicas=3), [dict(BOT, min_replicas=3), OTHER]),
    (dict(deployment='bot', replicas='3'), [dict(BOT, min_replicas=3), OTHER]),
    (dict(deployment='bot', replicas=6), [dict(BOT, min_replicas=6, max_replicas=6), OTHER]),
    (dict(deployment='other', replicas=2), [BOT, dict(OTHER, min_replicas=2)]),
    (dict(deployment='other', image='reg/other:2', deployment_type='production', replicas=2),
     [BOT, dict(OTHER, image='reg/other:2', type='production', min_replicas=2)]),
])
def test_answers_change_the_named_entry_only(answers, expected):
    deployments = [dict(BOT), dict(OTHER)]
    assert survey_deployments(deployments, **answers) == expected
    assert deployments == [BOT, OTHER]  # the inventory's list is not changed


@pytest.mark.parametrize('deployments, answers, message', [
    ([BOT], dict(image='reg/bot:2'), 'answer deployment too'),
    ([BOT], dict(deployment='new', image='reg/new:1'), 'deployment new is not in langgraph_deployments: declare it'),
    ([], dict(deployment='bot', replicas=1), 'deployment bot is not in langgraph_deployments'),
    ([BOT], dict(deployment='bot', replicas='many'), "replicas must be a whole number, not 'many'"),
    ([BOT], dict(deployment='bot', replicas=-1), 'replicas must be 0'),
])
def test_answers_that_cannot_apply_are_refused(deployments, answers, message):
    with pytest.raises(StoreError) as error:
        survey_deployments(deployments, **answers)
    assert message in str(error.value)


def test_no_deployments_and_no_answers():
    assert survey_deployments(None) == []
