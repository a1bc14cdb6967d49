#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: deployment_stores
short_description: Ensure or remove the Postgres databases and Redis numbers of many LangGraph deployments at once
version_added: 0.2.0
description:
  - One call handles every deployment of a run. Each deployment gets its own database and owner role
    C(lg_<name>) on the Postgres host it is pinned to and its own database number on its Redis host, as
    M(selfhost.langgraph.deployment_postgres) and M(selfhost.langgraph.deployment_redis) make them for one
    deployment (roles without superuser, createdb or createrole; C(CONNECT) revoked from C(PUBLIC); numbers
    from 1, never shared, recorded in the control database) and its own Redis ACL user C(lg_<name>), allowed only
    its own database number and no command of the server or one that reaches another database (Redis 7.0 or
    later; saved with C(ACL SAVE) when the instance has an C(aclfile); see C(docs/redis-isolation.md)).
  - The work is grouped per server - one admin connection per Postgres server (O(postgres_servers)), one
    connection per Redis server (O(redis_servers)), one transaction per Redis instance for the numbers and one
    for the records in the control database (table C(deployments) - database, role, type and the hosts, which
    are pinned once the stores exist there).
  - A deployment's host is its entry's (from the plan of the run) or else the one recorded. A deployment asked
    to move from its pinned host, or whose server cannot be reached, is reported in RV(failures) and the others
    go on; the task fails only for bad input or an unreachable control database.
  - The Postgres password of a deployment is its O(deployments[].postgres_password) or else
    C(passwords.derived_password(password_seed, name)), the one the stores role derives. The password of its
    Redis user is C(passwords.derived_redis_password(password_seed, name)); C(REDIS_URI) carries that user.
    O(redis_servers[].password) is the admin's (default user's), used only by this module.
  - O(deployments[].state=absent) needs O(deployments[].purge=true) - it terminates the connections to the
    database, drops database and role, removes the Redis user (closing its connections), flushes the Redis
    database (C(FLUSHDB)) and frees its number, and
    clears the deployment's stores and pins in the control database (its revision history stays).
  - No password reaches the output. RV(uris) is returned only when the task sets C(no_log=true); RV(stores)
    holds the URIs with the passwords masked.
  - Run it on the control host; it needs psycopg2 and redis-py there and reaches the other servers over the
    network (for the control host itself, give C(login_host=127.0.0.1) in its O(postgres_servers) entry).
author:
  - selfhost.langgraph maintainers (@selfhost)
requirements:
  - psycopg2 (Debian package C(python3-psycopg2)) and redis-py (C(python3-redis)) where the module runs
extends_documentation_fragment:
  - selfhost.langgraph.postgres_servers
  - selfhost.langgraph.postgres
attributes:
  check_mode:
    support: full
    description: >-
      Reads the catalogs, the allocations, the Redis users and the records and reports the actions it would take and
      the numbers it would allocate, changing nothing (it makes and removes at once a disabled scratch Redis user
      without password, to learn how Redis shows the rules).
  diff_mode:
    support: none
    description: Returns no diff; RV(stores) lists the actions per deployment.
  idempotent:
    support: full
    description: >-
      A second run changes nothing. Whether a role's password is the wanted one is read from the stored verifier
      when the admin is a superuser, otherwise by logging in as the role; when neither is possible the password is
      set again, with a warning.
options:
  deployments:
    description: The deployments whose stores to ensure or remove.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the deployment, matching C([a-z][a-z0-9-]{1,38}[a-z0-9]); not a reserved name.
        type: str
        required: true
      type:
        description: Type recorded for the deployment; left as recorded when omitted.
        type: str
        choices: [development, production]
      postgres_host:
        description: Inventory name of the Postgres host (an O(postgres_servers[].host)); defaults to the recorded pin.
        type: str
      redis_host:
        description: Inventory name of the Redis host (an O(redis_servers[].host)); defaults to the recorded pin.
        type: str
      redis_isolation:
        description:
          - V(shared) - a database number and ACL user on the Redis of O(deployments[].redis_host).
          - V(instance) - a dedicated redis-server on that host - a port of O(redis_servers[].instance_ports) is
            allocated and recorded here, and RV(instances) says what M(selfhost.langgraph.redis_instances) must run
            there; C(REDIS_URI) points at that port, database 1 - with O(redis_servers[].tls), C(rediss://) (the
            instance then speaks TLS only) with the same TLS parameters as the shared instance's.
          - A deployment cannot move between the two while it exists (refused in RV(failures)).
          - With O(deployments[].state=absent) the recorded mode is used.
        type: str
        choices: [shared, instance]
        default: shared
        version_added: 0.3.0
      redis_maxmemory:
        description: Memory limit of the dedicated instance (V(256mb), V(1gb), ...); V(256mb) when omitted.
        type: str
        version_added: 0.3.0
      postgres_password:
        description: Password of the deployment's role; derived from O(password_seed) when omitted.
        type: str
      state:
        description: Whether the stores should exist.
        type: str
        default: present
        choices: [present, absent]
      purge:
        description: Must be V(true) with O(deployments[].state=absent); dropping a deployment's data is never implicit.
        type: bool
        default: false
  redis_servers:
    description: The Redis hosts the deployments are on.
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: Inventory name of the host.
        type: str
        required: true
      address:
        description:
          - Address of Redis, for the module and in the URIs. The allocations are recorded under C(<address>:<port>),
            as M(selfhost.langgraph.deployment_redis) records them.
        type: str
        required: true
      port:
        description: Port of Redis.
        type: int
        default: 6379
      password:
        description: Password of Redis (C(redis_password)), for the module's own connection; the deployments log in as their own users.
        type: str
      tls:
        description: Connect with TLS; the URIs then start with C(rediss://).
        type: bool
        default: false
      tls_port:
        description:
          - Port of Redis's TLS listener when O(redis_servers[].tls); O(redis_servers[].port) when omitted. The module and the
            URIs connect there; the allocations stay recorded under O(redis_servers[].port).
        type: int
      ca_cert:
        description:
          - CA certificate file that verifies the Redis server's certificate and host name, at the same path on the host the
            module runs on and in the LangGraph servers' containers (C(ssl_ca_certs) in the URIs). Without it a TLS connection
            is encrypted but not verified.
        type: path
      tls_cert_file:
        description:
          - Server certificate on the Redis host (the redis role's) that its dedicated instances serve TLS with when
            O(redis_servers[].tls); passed on in RV(instances).
        type: path
        default: /etc/redis/tls/server.crt
        version_added: 0.3.0
      tls_key_file:
        description: Private key of O(redis_servers[].tls_cert_file) on the Redis host.
        type: path
        default: /etc/redis/tls/server.key
        version_added: 0.3.0
      databases:
        description: Number of databases of the instance, used only when C(CONFIG GET databases) is not allowed.
        type: int
      instance_ports:
        description: Ports of the host the dedicated instances (O(deployments[].redis_isolation=instance)) get, as a range.
        type: str
        default: 6400-6499
        version_added: 0.3.0
  password_seed:
    description:
      - Secret the deployments' Postgres passwords are derived from when their entry gives none, and the passwords
        of their Redis users always; needed for every deployment with O(deployments[].state=present).
    type: str
seealso:
  - module: selfhost.langgraph.control_state
  - module: selfhost.langgraph.deployment_postgres
  - module: selfhost.langgraph.deployment_redis
'''

EXAMPLES = r'''
- name: Ensure the stores of every deployment of the run
  selfhost.langgraph.deployment_stores:
    deployments:
      - {name: support-bot, type: production, postgres_host: pg1, redis_host: redis1}
      - {name: faq-bot, type: development, postgres_host: pg1, redis_host: redis1}
    postgres_servers:
      - host: pg1
        address: "{{ hostvars['pg1']['langgraph_private_address'] }}"
        login_host: 127.0.0.1
        admin_password: "{{ postgres_admin_password }}"
    redis_servers:
      - host: redis1
        address: "{{ hostvars['redis1']['langgraph_private_address'] }}"
        password: "{{ redis_password }}"
    password_seed: "{{ stores_password_seed }}"
  delegate_to: "{{ langgraph_control_host }}"
  run_once: true
  no_log: true  # without it, uris is not returned
  register: __stores

- name: Remove the stores of a deleted deployment
  selfhost.langgraph.deployment_stores:
    deployments:
      - {name: old-bot, state: absent, purge: true}
    postgres_servers: "{{ __postgres_servers }}"
    redis_servers: "{{ __redis_servers }}"
  delegate_to: "{{ langgraph_control_host }}"
  run_once: true
'''

RETURN = r'''
instances:
  description:
    - Per Redis host, the dedicated instances of the deployments with O(deployments[].redis_isolation=instance) -
      C(name), C(port), C(maxmemory) (bytes), C(bind) and, when the host has TLS, C(tls_cert_file),
      C(tls_key_file) and C(ca_cert) - as M(selfhost.langgraph.redis_instances) takes them on that host (with
      the same O(password_seed)). No secret.
  returned: always
  type: dict
  sample: {redis1: [{name: support-bot, port: 6400, maxmemory: 268435456, bind: [127.0.0.1, 172.30.213.12]}]}
uris:
  description:
    - C(DATABASE_URI) and C(REDIS_URI) of each deployment with O(deployments[].state=present) that did not fail,
      every password character percent-encoded.
    - Returned only when the task sets C(no_log=true), so that no password reaches the output.
  returned: the task has no_log
  type: dict
  sample: {support-bot: {database_uri: "postgresql://lg_support_bot:%73%65...@172.30.213.11:5432/lg_support_bot",
                         redis_uri: "redis://lg_support_bot:%73%65...@172.30.213.12:6379/3"}}
stores:
  description:
    - Each deployment that did not fail - C(database) (and role), C(postgres_host), C(redis_host), C(redis_db)
      (null after a removal), C(redis_isolation), C(redis_port) (of a dedicated instance, else null),
      C(database_uri_masked) and C(redis_uri_masked) (state present), C(actions) taken
      (in check mode, that would be) and whether its record changed (C(recorded)).
  returned: always
  type: dict
  sample: {support-bot: {database: lg_support_bot, postgres_host: pg1, redis_host: redis1, redis_db: 3,
                         redis_isolation: shared, redis_port: null,
                         database_uri_masked: "postgresql://lg_support_bot:********@172.30.213.11:5432/lg_support_bot",
                         redis_uri_masked: "redis://lg_support_bot:********@172.30.213.12:6379/3",
                         actions: ["allocate database 3 on 172.30.213.12:6379",
                                   "create Redis user lg_support_bot on 172.30.213.12:6379, allowed only database 3"],
                         recorded: true}}
failures:
  description:
    - Reason per deployment that failed (no secret in it); the others were handled and the task does not fail.
    - Not named C(failed), which Ansible reads as the task's own outcome (a non-empty dict fails the task).
  returned: always
  type: dict
  sample: {faq-bot: "Redis at 172.30.213.12:6379 has no free database: 15 of 15 are allocated; raise redis_databases"}
actions:
  description: "Everything done (in check mode, that would be done), as C(<deployment>: <action>)."
  returned: always
  type: list
  elements: str
  sample: ["support-bot: create database lg_support_bot owned by lg_support_bot"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    check_libraries,
    postgres_common_argument_spec,
    postgres_connect,
    psycopg2,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils import redis_instance
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import validate_deployment_name
from ansible_collections.selfhost.langgraph.plugins.module_utils.store_batches import postgres_servers_option, run_stores


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        deployments=dict(type='list', elements='dict', required=True, options=dict(
            name=dict(type='str', required=True),
            type=dict(type='str', choices=['development', 'production']),
            postgres_host=dict(type='str'),
            redis_host=dict(type='str'),
            redis_isolation=dict(type='str', default='shared', choices=list(redis_instance.ISOLATIONS)),
            redis_maxmemory=dict(type='str'),
            postgres_password=dict(type='str', no_log=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            purge=dict(type='bool', default=False),
        )),
        postgres_servers=postgres_servers_option(),
        redis_servers=dict(type='list', elements='dict', default=[], options=dict(
            host=dict(type='str', required=True),
            address=dict(type='str', required=True),
            port=dict(type='int', default=6379),
            password=dict(type='str', no_log=True),
            tls=dict(type='bool', default=False),
            tls_port=dict(type='int'),
            ca_cert=dict(type='path'),
            tls_cert_file=dict(type='path', default='/etc/redis/tls/server.crt'),
            tls_key_file=dict(type='path', default='/etc/redis/tls/server.key'),
            databases=dict(type='int'),
            instance_ports=dict(type='str', default=redis_instance.DEFAULT_PORTS),
        )),
        password_seed=dict(type='str', no_log=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    try:
        # Names first: nothing is touched for a bad one.
        for deployment in p['deployments']:
            validate_deployment_name(deployment['name'], p['control_database'])
        for server in p['redis_servers']:
            if server['databases'] is not None and server['databases'] < 2:
                raise StoreError('redis_servers: databases of %s must be at least 2 (database 0 is never handed out)'
                                 % server['host'])
            try:
                redis_instance.parse_port_range(server['instance_ports'], 'redis_servers: instance_ports of %s'
                                                % server['host'])
            except ValueError as e:
                raise StoreError(str(e))
        for deployment in p['deployments']:
            if deployment['redis_maxmemory'] is not None:
                try:
                    redis_instance.parse_memory(deployment['redis_maxmemory'],
                                                'redis_maxmemory of deployment %s' % deployment['name'])
                except ValueError as e:
                    raise StoreError(str(e))
        check_libraries(module, need_postgres=True, need_redis=True)
        control = postgres_connect(p, p['control_database'])
        try:
            result = run_stores(control, p, module.check_mode, module.no_log, module.warn)
        finally:
            control.close()  # also releases the per-deployment advisory locks
    except StoreError as e:
        module.fail_json(msg=str(e))
    except psycopg2.Error as e:
        module.fail_json(msg='the control database %s could not be read or written: %s'
                             % (p['control_database'], str(e).strip()))
    if not module.no_log:
        result.pop('uris')
        if result['stores']:
            module.warn('uris is returned only when the task sets no_log: true, so that no password reaches the '
                        'output; stores holds the URIs with the passwords masked')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
