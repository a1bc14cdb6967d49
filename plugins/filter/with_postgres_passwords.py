# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: with_postgres_passwords
short_description: Add the entries' explicit Postgres passwords to the stores step
version_added: 0.2.0
description:
  - The plan's stores entries hold no secret; this adds C(postgres_password) from the deployment entries that set
    one, for M(selfhost.langgraph.deployment_stores) (whose option is C(no_log)). Without one the module derives
    the password from the seed.
author:
  - selfhost.langgraph maintainers (@selfhost)
options:
  _input:
    description: The stores entries (each with C(name)).
    type: list
    elements: dict
    required: true
  entries:
    description: The deployment entries (C(langgraph_deployments)).
    type: list
    elements: dict
    required: true
'''

EXAMPLES = r'''
deployments: "{{ plan.stores | selfhost.langgraph.with_postgres_passwords(langgraph_deployments) }}"
'''

RETURN = r'''
_value:
  description: The stores entries, with C(postgres_password) where the deployment entry sets one.
  type: list
  elements: dict
'''


def with_postgres_passwords(stores, entries):
    passwords = dict((e.get('name'), e['postgres_password']) for e in entries or []
                     if isinstance(e, dict) and e.get('postgres_password'))
    result = []
    for store in stores or []:
        store = dict(store)
        if store.get('name') in passwords:
            store['postgres_password'] = str(passwords[store['name']])
        result.append(store)
    return result


class FilterModule(object):
    def filters(self):
        return {'with_postgres_passwords': with_postgres_passwords}
