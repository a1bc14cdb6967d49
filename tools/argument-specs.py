#!/usr/bin/env python3
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writes the deployment entry's keys (plugins/module_utils/deployment.py, their
only home) as suboptions into the roles' argument specs, so that Ansible
refuses an unknown key too. tests/unit checks the files are current.

  .venv/bin/python tools/argument-specs.py
"""

import os
import sys

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
# (role, entry point, option holding the deployment entries)
TARGETS = [('deploy', 'main', 'deploy_deployments'),
           ('autoscale', 'main', 'autoscale_deployments'),
           ('stores', 'main', 'stores_deployments')]


class Dumper(yaml.SafeDumper):
    """Lists indented under their key, as yamllint (ansible-lint) wants them."""

    def increase_indent(self, flow=False, indentless=False):
        return super(Dumper, self).increase_indent(flow, False)


def import_model():
    tree = os.path.join(REPO, '.build', 'argument-specs-tree')
    link = os.path.join(tree, 'ansible_collections', 'selfhost', 'langgraph')
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)
    sys.path.insert(0, tree)
    from ansible_collections.selfhost.langgraph.plugins.module_utils import deployment
    return deployment


def main():
    options = import_model().argument_spec_options()
    for role, entry_point, option in TARGETS:
        path = os.path.join(REPO, 'roles', role, 'meta', 'argument_specs.yml')
        with open(path) as handle:
            specs = yaml.safe_load(handle)
        specs['argument_specs'][entry_point]['options'][option]['options'] = options
        with open(path, 'w') as handle:
            handle.write('---\n# The suboptions of %s are written by tools/argument-specs.py from\n'
                         '# plugins/module_utils/deployment.py: change them there.\n' % option)
            yaml.dump(specs, handle, Dumper=Dumper, sort_keys=False, width=110, default_flow_style=False)
        print('wrote %s' % path)


if __name__ == '__main__':
    main()
