# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles' argument specs describe the deployment entry exactly as the model does."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest
import yaml

from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment import argument_spec_options

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


@pytest.mark.parametrize('role, option', [('deploy', 'deploy_deployments'), ('autoscale', 'autoscale_deployments'),
                                          ('stores', 'stores_deployments')])
def test_entry_suboptions_match_the_model(role, option):
    path = os.path.join(REPO, 'roles', role, 'meta', 'argument_specs.yml')
    if not os.path.exists(path):
        pytest.skip('roles are not part of this tree')
    with open(path) as handle:
        specs = yaml.safe_load(handle)
    found = specs['argument_specs']['main']['options'][option].get('options')
    assert found == argument_spec_options(), 'run tools/argument-specs.py'
