# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the inventory's TLS settings become the servers' connection settings."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.filter.postgres_servers import postgres_servers
from ansible_collections.selfhost.langgraph.plugins.filter.redis_servers import redis_servers
from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import CA_FILE

CA = {'langgraph_tls_ca_file': '/secrets/fleet-ca.crt'}


@pytest.mark.parametrize('variables, sslmode, ca_cert', [
    ({}, 'prefer', None),
    (CA, 'prefer', None),  # a CA alone turns nothing on
    ({'postgres_tls_enabled': True}, 'require', None),  # self-signed: encrypted, not verified
    ({'postgres_tls_enabled': 'true'}, 'require', None),  # from a survey or -e
    (dict(CA, postgres_tls_enabled=True), 'verify-full', CA_FILE),
    (dict(CA, postgres_tls_enabled='False'), 'prefer', None),
])
def test_postgres_servers_tls(variables, sslmode, ca_cert):
    hostvars = {'pg1': dict(variables, langgraph_private_address='10.0.1.10', postgres_admin_password='pw')}
    server, = postgres_servers(['pg1'], hostvars, 'pg1')
    assert (server['sslmode'], server['ca_cert'], server['login_host']) == (sslmode, ca_cert, '127.0.0.1')


@pytest.mark.parametrize('variables, tls, tls_port, ca_cert', [
    ({}, False, None, None),
    ({'redis_tls_enabled': True}, True, 6380, None),
    (dict(CA, redis_tls_enabled='yes', redis_tls_port=6390), True, 6390, CA_FILE),
    (dict(CA, redis_tls_enabled=False, redis_tls_port=6390), False, None, None),
])
def test_redis_servers_tls(variables, tls, tls_port, ca_cert):
    hostvars = {'redis1': dict(variables, langgraph_private_address='10.0.1.20', redis_password='pw')}
    server, = redis_servers(['redis1'], hostvars)
    assert (server['tls'], server['tls_port'], server['ca_cert'], server['port']) == (tls, tls_port, ca_cert, 6379)


@pytest.mark.parametrize('variables, files', [
    ({}, (None, None)),
    ({'redis_tls_enabled': True}, ('/etc/redis/tls/server.crt', '/etc/redis/tls/server.key')),  # the redis role's
    ({'redis_tls_enabled': True, 'redis_tls_cert_path': '/pki/r.crt', 'redis_tls_key_path': '/pki/r.key'},
     ('/pki/r.crt', '/pki/r.key')),
])
def test_redis_servers_certificate_of_the_dedicated_instances(variables, files):
    hostvars = {'redis1': dict(variables, langgraph_private_address='10.0.1.20', redis_password='pw')}
    server, = redis_servers(['redis1'], hostvars)
    assert (server['tls_cert_file'], server['tls_key_file']) == files
