# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The README's example inventory works as written: its groups are the
inventory contract's, every variable it sets is one a role reads, the inputs
the roles require are set, Postgres admits the app hosts and the control host
is a Postgres host."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import ipaddress
import os
import re

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def readme_inventory():
    with open(os.path.join(ROOT, 'README.md')) as f:
        text = f.read()
    block = re.search(r'```yaml\n# inventory/hosts.yml\n(.*?)```', text, re.S).group(1)
    return yaml.safe_load(block)['all']


def role_options(role='*'):
    options = {}
    for path in glob.glob(os.path.join(ROOT, 'roles', role, 'meta', 'argument_specs.yml')):
        with open(path) as f:
            for spec in yaml.safe_load(f)['argument_specs'].values():
                for name, option in (spec.get('options') or {}).items():
                    options[name] = option
    return options


def roles_text():
    texts = []
    for path in glob.glob(os.path.join(ROOT, 'roles', '*', '*', '*.yml')) + \
            glob.glob(os.path.join(ROOT, 'plugins', '*', '*.py')):
        with open(path) as f:
            texts.append(f.read())
    return '\n'.join(texts)


def hosts_of(inventory, group):
    return inventory['children'][group]['hosts']


def test_groups_are_the_inventory_contract():
    groups = ['langgraph_app', 'langgraph_lb', 'langgraph_postgres', 'langgraph_redis']
    assert sorted(readme_inventory()['children']) == groups


def test_every_variable_is_one_the_collection_reads():
    inventory = readme_inventory()
    options, text = role_options(), roles_text()
    names = set(inventory['vars'])
    for group in inventory['children'].values():
        for host_vars in group['hosts'].values():
            names |= set(host_vars or {})
    for name in names:
        assert name.startswith('ansible_') or name in options or re.search(r'\b%s\b' % name, text), name


def test_required_inputs_are_set():
    """The inputs the roles of site.yml require (the fleet roles read theirs from the same variables)."""
    inventory = readme_inventory()
    required = []
    for role in ('postgres', 'redis', 'docker', 'haproxy'):
        required += [name for name, option in role_options(role).items() if option.get('required')]
    assert sorted(required) == ['postgres_admin_password', 'redis_password']
    for name in required:
        assert inventory['vars'].get(name), name


def test_postgres_admits_every_app_host_and_the_control_host_holds_postgres():
    inventory = readme_inventory()
    networks = [ipaddress.ip_network(n) for n in inventory['vars']['postgres_allowed_networks']]
    for host, host_vars in hosts_of(inventory, 'langgraph_app').items():
        address = ipaddress.ip_address(host_vars['langgraph_private_address'])
        assert any(address in network for network in networks), host
    assert inventory['vars']['langgraph_control_host'] in hosts_of(inventory, 'langgraph_postgres')
