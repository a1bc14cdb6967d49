# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: redis_servers
short_description: How the control host reaches each Redis host
version_added: 0.2.0
description:
  - For each host of group C(langgraph_redis), its address, port, password, TLS switch, number of databases and
    the ports of its dedicated instances (C(redis_instance_ports), default C(6400-6499)), as
    M(selfhost.langgraph.deployment_stores) takes them.
  - With C(redis_tls_enabled) on a host, the module and the URIs connect to its C(redis_tls_port) (C(rediss://)),
    verifying the certificate and host name when the fleet has a CA (C(langgraph_tls_ca_file)).
  - With TLS on, also the paths of the host's server certificate and key (C(redis_tls_cert_path) and
    C(redis_tls_key_path), default C(/etc/redis/tls/server.crt) and C(server.key), as the redis role places
    them), which its dedicated instances (C(redis_isolation) V(instance)) serve TLS with.
  - The result holds passwords; give it only to an option marked C(no_log).
author:
  - selfhost.langgraph maintainers (@selfhost)
options:
  _input:
    description: The Redis hosts.
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
'''

EXAMPLES = r'''
redis_servers: "{{ groups['langgraph_redis'] | selfhost.langgraph.redis_servers(hostvars) }}"
'''

RETURN = r'''
_value:
  description: One dict per host with host, address, port, password, tls, tls_port, ca_cert, tls_cert_file,
    tls_key_file, databases and instance_ports.
  type: list
  elements: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import fleet_ca_file, is_true


# Where the redis role puts the server certificate and key (its __redis_tls_cert_file / __redis_tls_key_file),
# which the dedicated instances serve TLS with.
REDIS_TLS_DIR = '/etc/redis/tls'


def tls_file(variables, kind, default):
    return str(variables.get('redis_tls_%s_path' % kind) or '%s/%s' % (REDIS_TLS_DIR, default))


def redis_servers(hosts, hostvars):
    servers = []
    for host in hosts or []:
        variables = hostvars[host]
        address = variables.get('langgraph_private_address')
        if not address:
            raise AnsibleFilterError('Redis host %s has no langgraph_private_address' % host)
        databases = variables.get('redis_databases')
        tls = is_true(variables.get('redis_tls_enabled', False))
        servers.append(dict(
            host=host, address=str(address), port=int(variables.get('redis_port', 6379)),
            password=variables.get('redis_password'), tls=tls,
            tls_port=int(variables.get('redis_tls_port', 6380)) if tls else None,
            ca_cert=fleet_ca_file(variables) if tls else None,
            tls_cert_file=tls_file(variables, 'cert', 'server.crt') if tls else None,
            tls_key_file=tls_file(variables, 'key', 'server.key') if tls else None,
            databases=int(databases) if databases else None,
            instance_ports=str(variables.get('redis_instance_ports') or '6400-6499')))
    return servers


class FilterModule(object):
    def filters(self):
        return {'redis_servers': redis_servers}
