#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: deployment_redis
short_description: Allocate a LangGraph deployment's own Redis database number and ACL user
version_added: 0.1.0
description:
  - Gives deployment O(name) its own database number on a shared Redis instance and its own ACL user
    C(lg_<name>) (C(-) becomes C(_)), and returns the C(REDIS_URI) for the LangGraph server, which logs in
    as that user.
  - The user may use only its own database (C(SELECT) of any other number is refused) and no command of the
    server or one that reaches another database (C(@admin), C(@dangerous), C(MOVE), C(COPY), C(SWAPDB),
    C(FLUSHALL), C(MIGRATE), C(ACL), C(CONFIG), C(FUNCTION), C(SCRIPT FLUSH), C(SCRIPT KILL), C(PUBSUB)).
    Needs Redis 7.0 or later. When the instance has an C(aclfile), the users are saved to it (C(ACL SAVE)).
    Pub/sub channels are global in Redis; see C(docs/redis-isolation.md).
  - The allocation is recorded in the control database (table C(redis_allocations)), whose UNIQUE
    constraints guarantee that two deployments never share a number, even from parallel jobs. A
    deployment always gets its number back, also after Redis restarted (Redis keeps nothing; the
    record lives in Postgres). Database 0 is never handed out.
  - The number of databases is read from the instance with C(CONFIG GET databases); when C(CONFIG) is
    renamed or forbidden, O(databases) is used. When every number is taken the module fails and says
    which instance, how many and which variable to raise.
  - O(state=absent) removes the deployment's user (which closes its connections), flushes its database
    (C(FLUSHDB)) and frees its number.
  - The password never reaches the output. RV(redis_uri_masked) is always returned; RV(redis_uri) only
    when the task sets C(no_log=true).
  - Runs on the Postgres host (it needs the control database), which reaches Redis over the network.
author:
  - selfhost.langgraph maintainers (@selfhost)
requirements:
  - psycopg2 (Debian package C(python3-psycopg2)) and redis-py (C(python3-redis)) where the module runs
extends_documentation_fragment:
  - selfhost.langgraph.postgres
attributes:
  check_mode:
    support: full
    description: >-
      Reports the number that would be allocated or released and the user that would be made or removed, changing
      nothing (it makes and removes at once a disabled scratch user to learn how Redis shows the rules).
  diff_mode:
    support: full
    description: Shows the deployment's database number before and after.
  idempotent:
    support: full
    description: A second run returns the same number, finds the user as it should be and reports no change.
options:
  name:
    description: Name of the deployment, matching C([a-z][a-z0-9-]{1,38}[a-z0-9]); not a reserved name.
    type: str
    required: true
  state:
    description: Whether the deployment should have a database number on the instance.
    type: str
    default: present
    choices: [present, absent]
  redis_instance:
    description:
      - Key of the Redis instance in the control database. Every job must use the same key for the same
        instance. Defaults to C(<redis_host>:<redis_port>).
    type: str
  databases:
    description:
      - Number of databases of the instance (C(redis_databases)), used only when C(CONFIG GET databases)
        is not allowed.
    type: int
  user_password:
    description:
      - Password of the deployment's ACL user. Derived from O(password_seed) and O(name) when omitted.
      - One of O(user_password) and O(password_seed) is needed with O(state=present).
    type: str
  password_seed:
    description:
      - Secret the user's password is derived from (C(passwords.derived_redis_password)), as
        M(selfhost.langgraph.deployment_stores) derives it.
    type: str
  uri_host:
    description: Host the LangGraph server reaches Redis at, for RV(redis_uri). Defaults to O(redis_host).
    type: str
  uri_port:
    description: Port for RV(redis_uri). Defaults to O(redis_port).
    type: int
  redis_host:
    description: Host of the Redis instance.
    type: str
    required: true
  redis_port:
    description: Port of the Redis instance.
    type: int
    default: 6379
  redis_user:
    description: ACL user to authenticate as (C(AUTH user password)); omit for the default user.
    type: str
  redis_password:
    description: Password of the Redis instance (C(redis_password), keep it in Ansible Vault).
    type: str
  redis_tls:
    description: Connect with TLS; RV(redis_uri) then starts with C(rediss://).
    type: bool
    default: false
  redis_ca_cert:
    description:
      - CA certificate file that verifies the Redis server's certificate. With O(redis_validate_certs) it is also named in
        RV(redis_uri) (C(ssl_ca_certs), with host-name checks), so the server must find it at the same path; without it
        RV(redis_uri) says C(ssl_cert_reqs=none) (encrypted, not verified).
    type: path
  redis_validate_certs:
    description: Verify the Redis server's certificate when O(redis_tls=true).
    type: bool
    default: true
seealso:
  - module: selfhost.langgraph.deployment_postgres
  - module: selfhost.langgraph.control_db
'''

EXAMPLES = r'''
- name: Allocate the Redis database of support-bot
  selfhost.langgraph.deployment_redis:
    name: support-bot
    redis_host: "{{ hostvars[groups['langgraph_redis'][0]]['langgraph_private_address'] }}"
    redis_password: "{{ redis_password }}"
    password_seed: "{{ stores_password_seed }}"
    databases: "{{ redis_databases }}"
    login_password: "{{ postgres_admin_password }}"
  delegate_to: "{{ groups['langgraph_postgres'][0] }}"
  no_log: true  # without it, redis_uri is not returned
  register: __support_bot_redis

- name: Flush and free the Redis database of an old deployment
  selfhost.langgraph.deployment_redis:
    name: old-bot
    state: absent
    redis_host: 172.30.213.12
    redis_password: "{{ redis_password }}"
    login_password: "{{ postgres_admin_password }}"
'''

RETURN = r'''
deployment:
  description: Name of the deployment.
  returned: always
  type: str
  sample: support-bot
db:
  description:
    - The deployment's database number (with O(state=absent), the one released, or null when it had none).
  returned: always
  type: int
  sample: 3
redis_instance:
  description: Key of the instance in the control database.
  returned: always
  type: str
  sample: 172.30.213.12:6379
databases:
  description: Number of databases of the instance, and where that figure came from.
  returned: state is present
  type: dict
  contains:
    count:
      description: Number of databases.
      type: int
    source:
      description: C(CONFIG GET databases) or the O(databases) option.
      type: str
  sample: {"count": 1024, "source": "CONFIG GET databases"}
redis_uri:
  description:
    - The C(REDIS_URI) for the LangGraph server, every password character percent-encoded.
    - Returned only when the task sets C(no_log=true), so that it never reaches the output.
  returned: state is present and the task has no_log
  type: str
  sample: redis://lg_support_bot:%73%65%63%72%65%74@172.30.213.12:6379/3
redis_uri_masked:
  description: RV(redis_uri) with the password replaced by C(********), safe to show.
  returned: state is present
  type: str
  sample: redis://lg_support_bot:********@172.30.213.12:6379/3
user:
  description: The deployment's ACL user.
  returned: always
  type: str
  sample: lg_support_bot
actions:
  description: What was done (in check mode, what would be done), in words.
  returned: always
  type: list
  elements: str
  sample: ["allocate database 3 on 172.30.213.12:6379",
           "create Redis user lg_support_bot on 172.30.213.12:6379, allowed only database 3"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    check_libraries,
    postgres_common_argument_spec,
    postgres_connect,
    redis_common_argument_spec,
    redis_connect,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.control_schema import migrate
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import redis_user_name, validate_deployment_name
from ansible_collections.selfhost.langgraph.plugins.module_utils.passwords import derived_redis_password
from ansible_collections.selfhost.langgraph.plugins.module_utils import redis_store
from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import redis_uri


def run(module):
    p = module.params
    name = validate_deployment_name(p['name'], p['control_database'])
    if p['databases'] is not None and p['databases'] < 2:
        raise StoreError('databases must be at least 2 (database 0 is never handed out)')
    instance = p['redis_instance'] or '%s:%s' % (p['redis_host'], p['redis_port'])
    where = '%s:%s' % (p['redis_host'], p['redis_port'])
    user = redis_user_name(name)
    password = p['user_password']
    if p['state'] == 'present' and not password:
        if not p['password_seed']:
            raise StoreError('deployment %s needs the password of its Redis user: give user_password or password_seed'
                             % name)
        password = derived_redis_password(p['password_seed'], name)

    # Connect to both servers before changing anything.
    client = redis_connect(p)
    control = postgres_connect(p, p['control_database'])
    result = dict(changed=False, deployment=name, redis_instance=instance, user=user, actions=[])
    if p['state'] == 'present':
        problem = redis_store.acl_version_problem(redis_store.redis_version(client), where)
        if problem:
            control.close()
            raise StoreError(problem)
    observed = redis_store.observe_users(client, [user])[user]
    try:
        migrated = migrate(control, module.check_mode)[2]
        if migrated:
            result['changed'] = True
            result['actions'].append('migrate the control database to schema version %d'
                                     % migrated[-1].version)
        if p['state'] == 'absent':
            if observed is not None:
                result['changed'] = True
                result['actions'].append(redis_store.describe_user('delete', user, None, instance))
                if not module.check_mode:
                    save_or_warn(module, client, [('delete', user, None, None)], where)

            def flush(number):
                redis_connect(p, db=number).flushdb()
            number = redis_store.release(control, instance, name, flush, module.check_mode)
            result['db'] = number
            if number is not None:
                result['changed'] = True
                result['actions'].append('flush database %d on %s and free its number' % (number, instance))
            result['diff'] = dict(before={'db': number}, after={'db': None})
            return result

        count, source = redis_store.read_databases(client, p['databases'], where)
        number, new = redis_store.allocate(control, instance, name, count, module.check_mode,
                                           who=p['login_user'])
    finally:
        control.close()
    result.update(db=number, databases=dict(count=count, source=source),
                  diff=dict(before={'db': None if new else number}, after={'db': number}))
    if new:
        result['changed'] = True
        result['actions'].append('allocate database %d on %s' % (number, instance))
        keys = 0 if module.check_mode else redis_connect(p, db=number).dbsize()
        if keys:
            module.warn('Redis database %d on %s, newly allocated to %s, already holds %d keys '
                        '(left over from before the allocations were recorded?); flush it if they '
                        'are not %s\'s' % (number, instance, name, keys, name))
    action = redis_store.plan_user(observed, 'present', number, password, redis_store.shown_rules(client))
    if action:
        result['changed'] = True
        result['actions'].append(redis_store.describe_user(action, user, number, instance))
        if not module.check_mode:
            save_or_warn(module, client, [(action, user, number, password)], where)
    uri_host = p['uri_host'] or p['redis_host']
    uri_port = p['uri_port'] or p['redis_port']
    uri_ca = p['redis_ca_cert'] if p['redis_validate_certs'] else None
    result['redis_uri_masked'] = redis_uri(password, uri_host, uri_port, number, p['redis_tls'], user, mask=True,
                                           ca_file=uri_ca)
    if module.no_log:
        uri = redis_uri(password, uri_host, uri_port, number, p['redis_tls'], user, ca_file=uri_ca)
        if password in uri:
            raise StoreError('the password of the Redis user is too short or too regular to be hidden in the URI; '
                             'use a longer random password')
        result['redis_uri'] = uri
    else:
        module.warn('redis_uri is returned only when the task sets no_log: true, so that the '
                    'password never reaches the output; redis_uri_masked is returned instead')
    return result


def save_or_warn(module, client, changes, where):
    if redis_store.apply_users(client, changes) is False:
        module.warn('Redis at %s has no aclfile: the deployment users live in its memory only, and after a restart '
                    'of Redis they are gone until this module runs again; set aclfile' % where)


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(redis_common_argument_spec())
    argument_spec.update(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        redis_instance=dict(type='str'),
        databases=dict(type='int'),
        uri_host=dict(type='str'),
        uri_port=dict(type='int'),
        user_password=dict(type='str', no_log=True),
        password_seed=dict(type='str', no_log=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        validate_deployment_name(module.params['name'], module.params['control_database'])
        check_libraries(module, need_postgres=True, need_redis=True)
        result = run(module)
    except StoreError as e:
        module.fail_json(msg=str(e))
    except redis_store.redis.exceptions.RedisError as e:
        # An ACL command refused to the admin connection, a connection lost midway.
        module.fail_json(msg='Redis at %s:%s: %s (the admin connection needs the ACL, CONFIG GET, INFO, SELECT, '
                             'FLUSHDB and DBSIZE commands)' % (module.params['redis_host'], module.params['redis_port'], e))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
