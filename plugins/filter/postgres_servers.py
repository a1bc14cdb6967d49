# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: postgres_servers
short_description: How the control host reaches each Postgres host as the admin
version_added: 0.2.0
description:
  - For each host of group C(langgraph_postgres), its address, port, admin role and password, as
    M(selfhost.langgraph.deployment_stores) takes them. The control host reaches its own Postgres over loopback,
    the others at their C(langgraph_private_address).
  - With C(postgres_tls_enabled) on a host, its URIs say C(sslmode=verify-full) and C(sslrootcert) when the fleet has a CA
    (C(langgraph_tls_ca_file)), else C(sslmode=require) (encrypted, not verified).
  - The result holds passwords; give it only to an option marked C(no_log).
author:
  - selfhost.langgraph maintainers (@selfhost)
options:
  _input:
    description: The Postgres hosts.
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
  control_host:
    description: The control host (C(langgraph_control_host)).
    type: str
    required: true
'''

EXAMPLES = r'''
postgres_servers: "{{ groups['langgraph_postgres'] | selfhost.langgraph.postgres_servers(hostvars, langgraph_control_host) }}"
'''

RETURN = r'''
_value:
  description: One dict per host with host, address, port, login_host, admin_user, admin_password, sslmode and ca_cert.
  type: list
  elements: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import fleet_ca_file, is_true


def postgres_servers(hosts, hostvars, control_host):
    servers = []
    for host in hosts or []:
        variables = hostvars[host]
        address = variables.get('langgraph_private_address')
        if not address:
            raise AnsibleFilterError('Postgres host %s has no langgraph_private_address' % host)
        tls = is_true(variables.get('postgres_tls_enabled', False))
        ca_cert = fleet_ca_file(variables) if tls else None
        servers.append(dict(
            host=host, address=str(address), port=int(variables.get('postgres_port', 5432)),
            login_host='127.0.0.1' if host == control_host else str(address),
            admin_user=variables.get('postgres_admin_user', 'langgraph_admin'),
            admin_password=variables.get('postgres_admin_password'),
            sslmode=('verify-full' if ca_cert else 'require') if tls else 'prefer', ca_cert=ca_cert))
    return servers


class FilterModule(object):
    def filters(self):
        return {'postgres_servers': postgres_servers}
