#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_instances
short_description: Run or remove the dedicated Redis instances of LangGraph deployments on one Redis host
version_added: 0.3.0
description:
  - Runs on a Redis host (the C(langgraph_redis) group, with the redis role applied) and makes each deployment
    of O(instances) a redis-server of its own - the systemd unit C(langgraph-redis@<name>.service) the redis role
    installs, with C(/etc/redis/langgraph/<name>.conf) (its port, addresses, memory limit, nothing kept on disk)
    and C(/etc/redis/langgraph/<name>.acl) (the C(default) user is the collection's admin, O(admin_password);
    the deployment's user C(lg_<name>) may run every command but the server's, C(@admin)). Both files hold
    passwords only as SHA-256 hashes.
  - On a Redis host with TLS on, each instance speaks TLS only, with the host's server certificate
    (O(instances[].tls_cert_file)), and the module's own connections to it use TLS too.
  - All deployments of the host in one call. A changed memory limit (C(CONFIG SET maxmemory)) or password
    (C(ACL LOAD)) is applied to the running instance without a restart; only a changed port or address
    restarts it. The module ends when every instance answers C(PING) as its deployment's user.
  - O(remove) stops and disables the units of those deployments and removes their files and data. Deployments
    without an instance on the host are ignored, so the names of a purge can be given to every Redis host.
  - The ports and passwords come from M(selfhost.langgraph.deployment_stores) (its RV(selfhost.langgraph.deployment_stores#module:instances)),
    which records the ports in the control database. See C(docs/redis-isolation.md).
author:
  - selfhost.langgraph maintainers (@selfhost)
attributes:
  check_mode:
    support: full
    description: Reads the files and the units and reports what it would do, changing nothing.
  diff_mode:
    support: none
    description: Returns no diff (the files hold password hashes); RV(actions) lists what changed.
  idempotent:
    support: full
    description: A second run finds the files and units as they should be and changes nothing.
options:
  instances:
    description: The dedicated instances this host must run.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the deployment.
        type: str
        required: true
      port:
        description: Port of its instance.
        type: int
        required: true
      maxmemory:
        description: Memory limit in bytes.
        type: int
        required: true
      bind:
        description: Addresses the instance listens on.
        type: list
        elements: str
        required: true
      tls_cert_file:
        description:
          - Server certificate on this host (the redis role's, C(redis_tls_cert_path) or C(/etc/redis/tls/server.crt))
            when the host has C(redis_tls_enabled). The instance then speaks TLS only on its O(instances[].port)
            (C(port 0), C(tls-port)), clients connect with C(rediss://). Give it with O(instances[].tls_key_file).
          - Changing it on a running instance restarts that instance.
        type: path
      tls_key_file:
        description: Private key of O(instances[].tls_cert_file), readable by O(owner).
        type: path
      ca_cert:
        description:
          - The fleet's CA certificate on this host, with which the module verifies the instance's certificate
            (for the name C(127.0.0.1)) when it has TLS. Without it, the module's connection is encrypted only.
        type: path
  password_seed:
    description:
      - Secret the password of each deployment's user C(lg_<name>) is derived from
        (C(passwords.derived_redis_password)), the O(selfhost.langgraph.deployment_stores#module:password_seed)
        that put the password in its C(REDIS_URI). Needed with O(instances).
    type: str
  remove:
    description: Deployments whose instance (if any on this host) to stop and remove, with its data.
    type: list
    elements: str
    default: []
  admin_password:
    description: Password of the C(default) user of every instance (C(redis_password)), with which the module applies changes live.
    type: str
  timeout:
    description: Seconds to wait for an instance to answer after a start or change.
    type: int
    default: 30
  config_dir:
    description: Directory of the instances' configuration (the redis role's).
    type: path
    default: /etc/redis/langgraph
  data_dir:
    description: Directory of the instances' working directories (the redis role's).
    type: path
    default: /var/lib/redis/langgraph
  owner:
    description: User the instances run as, owner of their files.
    type: str
    default: redis
seealso:
  - module: selfhost.langgraph.deployment_stores
'''

EXAMPLES = r'''
- name: Run the dedicated Redis instances of the deployments on each Redis host
  selfhost.langgraph.redis_instances:
    instances: "{{ item.value }}"
    password_seed: "{{ stores_password_seed }}"
    admin_password: "{{ hostvars[item.key]['redis_password'] }}"
  loop: "{{ __stores.instances | dict2items }}"
  loop_control:
    label: "{{ item.key }}"
  delegate_to: "{{ item.key }}"
  become: true

- name: Remove the dedicated Redis of a purged deployment
  selfhost.langgraph.redis_instances:
    remove: [old-bot]
  become: true
'''

RETURN = r'''
actions:
  description: "What was done (in check mode, would be done), as C(<deployment>: <action>)."
  returned: always
  type: list
  elements: str
  sample: ["support-bot: write config", "support-bot: start"]
instances:
  description: Per deployment of O(instances), its C(unit), C(port), whether it speaks C(tls) and the C(actions) taken.
  returned: always
  type: dict
  sample: {support-bot: {unit: langgraph-redis@support-bot.service, port: 6400, tls: true, actions: [write config, start]}}
'''

import grp
import os
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils import redis_instance as ri
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import deployment_name_problem
from ansible_collections.selfhost.langgraph.plugins.module_utils.passwords import derived_redis_password


def check_input(p):
    """Problems of the input, before anything is touched."""
    problems = []
    names = [i['name'] for i in p['instances']] + list(p['remove'])
    for name in names:
        problem = deployment_name_problem(name)
        if problem:
            problems.append(problem)
    if len(set(names)) != len(names):
        problems.append('a deployment is listed twice in instances and remove: give each once')
    ports = [i['port'] for i in p['instances']]
    if len(set(ports)) != len(ports):
        problems.append('two instances have the same port: each needs its own')
    for instance in p['instances']:
        if not 1024 <= instance['port'] <= 65535:
            problems.append('port of %s must be from 1024 to 65535, not %d' % (instance['name'], instance['port']))
        if instance['maxmemory'] < ri.MIN_MAXMEMORY:
            problems.append('maxmemory of %s must be at least %d bytes (8mb)' % (instance['name'], ri.MIN_MAXMEMORY))
        if not instance['bind']:
            problems.append('bind of %s must list at least one address' % instance['name'])
        if bool(instance['tls_cert_file']) != bool(instance['tls_key_file']):
            problems.append('%s needs both tls_cert_file and tls_key_file, or neither' % instance['name'])
        for option in ('tls_cert_file', 'tls_key_file', 'ca_cert'):
            if instance[option] and not os.path.isfile(instance[option]):
                problems.append('%s of %s is %s, which does not exist on this host: apply the redis role with '
                                'redis_tls_enabled (and langgraph_tls_ca_file) to it first'
                                % (option, instance['name'], instance[option]))
    for option in ('admin_password', 'password_seed'):
        if p['instances'] and not p[option]:
            problems.append('%s is needed to run instances' % option)
    return problems


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instances=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                port=dict(type='int', required=True),
                maxmemory=dict(type='int', required=True),
                bind=dict(type='list', elements='str', required=True),
                tls_cert_file=dict(type='path'),
                tls_key_file=dict(type='path'),
                ca_cert=dict(type='path'),
            )),
            password_seed=dict(type='str', no_log=True),
            remove=dict(type='list', elements='str', default=[]),
            admin_password=dict(type='str', no_log=True),
            timeout=dict(type='int', default=30),
            config_dir=dict(type='path', default=ri.CONFIG_DIR),
            data_dir=dict(type='path', default=ri.DATA_DIR),
            owner=dict(type='str', default='redis'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    problems = check_input(p)
    if problems:
        module.fail_json(msg='; '.join(problems))
    for directory in (p['config_dir'], p['data_dir']):
        if not os.path.isdir(directory):
            module.fail_json(msg='%s does not exist on this host: apply the redis role (selfhost.langgraph.redis) '
                                 'to it first, which installs the langgraph-redis@ unit' % directory)
    try:
        uid, gid = pwd.getpwnam(p['owner']).pw_uid, grp.getgrnam(p['owner']).gr_gid
    except KeyError:
        module.fail_json(msg='user %s does not exist on this host: apply the redis role to it first' % p['owner'])

    work = []
    for instance in p['instances']:
        tls = dict(cert_file=instance['tls_cert_file'], key_file=instance['tls_key_file']) \
            if instance['tls_cert_file'] else None
        desired = dict(instance, password=derived_redis_password(p['password_seed'], instance['name']), tls=tls,
                       config=ri.render_config(instance['name'], instance['port'], instance['bind'],
                                               instance['maxmemory'], p['config_dir'], p['data_dir'], tls))
        desired['acl'] = ri.render_acl(instance['name'], desired['password'], p['admin_password'])
        work.append((desired, ri.plan_instance(desired, ri.observe(instance['name'], p['config_dir'], p['data_dir']))))
    for name in p['remove']:
        work.append((dict(name=name), ri.plan_instance(None, ri.observe(name, p['config_dir'], p['data_dir']))))

    result, actions = {}, []
    for desired, planned in work:
        name = desired['name']
        actions += ['%s: %s' % (name, action) for action in planned]
        if 'port' in desired:
            result[name] = dict(unit=ri.UNIT % name, port=desired['port'], tls=bool(desired['tls']), actions=planned)
        if module.check_mode:
            continue
        try:
            ri.apply_instance(desired, planned, p['admin_password'], uid, gid, p['config_dir'], p['data_dir'],
                              p['timeout'])
        except (StoreError, OSError) as e:
            module.fail_json(msg='the dedicated Redis of %s: %s' % (name, e), actions=actions, instances=result)
    module.exit_json(changed=bool(actions), actions=actions, instances=result)


if __name__ == '__main__':
    main()
