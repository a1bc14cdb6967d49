#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: deployment_redis
short_description: Allocate a LangGraph deployment's own Redis database number
version_added: 0.1.0
description:
  - Gives deployment O(name) its own database number on a shared Redis instance and returns it with
    the C(REDIS_URI) for the LangGraph server.
  - The allocation is recorded in the control database (table C(redis_allocations)), whose UNIQUE
    constraints guarantee that two deployments never share a number, even from parallel jobs. A
    deployment always gets its number back, also after Redis restarted (Redis keeps nothing; the
    record lives in Postgres). Database 0 is never handed out.
  - The number of databases is read from the instance with C(CONFIG GET databases); when C(CONFIG) is
    renamed or forbidden, O(databases) is used. When every number is taken the module fails and says
    which instance, how many and which variable to raise.
  - O(state=absent) flushes the deployment's database (C(FLUSHDB)) and frees its number.
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
    description: Reports the number that would be allocated or released, changing nothing.
  diff_mode:
    support: full
    description: Shows the deployment's database number before and after.
  idempotent:
    support: full
    description: A second run returns the same number and reports no change.
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
    description: CA certificate file that verifies the Redis server's certificate.
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
  sample: redis://:%73%65%63%72%65%74@172.30.213.12:6379/3
redis_uri_masked:
  description: RV(redis_uri) with the password replaced by C(********), safe to show.
  returned: state is present
  type: str
  sample: redis://:********@172.30.213.12:6379/3
actions:
  description: What was done (in check mode, what would be done), in words.
  returned: always
  type: list
  elements: str
  sample: ["allocate database 3 on 172.30.213.12:6379"]
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
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import validate_deployment_name
from ansible_collections.selfhost.langgraph.plugins.module_utils import redis_store
from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import redis_uri


def run(module):
    p = module.params
    name = validate_deployment_name(p['name'], p['control_database'])
    if p['databases'] is not None and p['databases'] < 2:
        raise StoreError('databases must be at least 2 (database 0 is never handed out)')
    instance = p['redis_instance'] or '%s:%s' % (p['redis_host'], p['redis_port'])
    where = '%s:%s' % (p['redis_host'], p['redis_port'])

    # Connect to both servers before changing anything.
    client = redis_connect(p)
    control = postgres_connect(p, p['control_database'])
    result = dict(changed=False, deployment=name, redis_instance=instance, actions=[])
    try:
        migrated = migrate(control, module.check_mode)[2]
        if migrated:
            result['changed'] = True
            result['actions'].append('migrate the control database to schema version %d'
                                     % migrated[-1].version)
        if p['state'] == 'absent':
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
    uri_host = p['uri_host'] or p['redis_host']
    uri_port = p['uri_port'] or p['redis_port']
    result['redis_uri_masked'] = redis_uri(p['redis_password'], uri_host, uri_port, number,
                                           p['redis_tls'], p['redis_user'], mask=True)
    if module.no_log:
        uri = redis_uri(p['redis_password'], uri_host, uri_port, number, p['redis_tls'], p['redis_user'])
        if p['redis_password'] and p['redis_password'] in uri:
            raise StoreError('the Redis password is too short or too regular to be hidden in the URI; '
                             'use a longer random password')
        result['redis_uri'] = uri
    else:
        module.warn('redis_uri is returned only when the task sets no_log: true, so that the '
                    'password never reaches the output; redis_uri_masked is returned instead')
    return result


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
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        validate_deployment_name(module.params['name'], module.params['control_database'])
        check_libraries(module, need_postgres=True, need_redis=True)
        result = run(module)
    except StoreError as e:
        module.fail_json(msg=str(e))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
