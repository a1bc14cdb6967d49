# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Status merges each deployment's last use into the control state it shows."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.action.fleet_plan import with_usage

CONTROL = dict(now=1.0, deployments={'bot': dict(serving=3), 'new': None})
SEEN = dict(last_used_at=0.5, last_run_at=None, used_by=None, notified_at=None, first_look=False)


@pytest.mark.parametrize('found, expected', [
    (None, {'bot': dict(serving=3), 'new': None}),
    (dict(usage={'bot': SEEN}), {'bot': dict(serving=3, usage=SEEN), 'new': {}}),
    (dict(failed=True, msg='cannot connect'), {'bot': dict(serving=3, usage=dict(error='cannot connect')),
                                               'new': dict(usage=dict(error='cannot connect'))}),
])
def test_with_usage(found, expected):
    merged = with_usage(CONTROL, found)
    assert merged['deployments'] == expected and merged['now'] == 1.0
    assert CONTROL['deployments']['bot'] == dict(serving=3)
