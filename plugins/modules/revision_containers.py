#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: revision_containers
short_description: Run the containers of one revision of a LangGraph deployment on an app host
version_added: 0.1.0
description:
  - Ensures that exactly O(replicas) containers of revision O(revision) of deployment O(deployment) run on
    this host's Docker engine, each publishing the server's port 8000 on a free host port, and waits until
    every new one answers 200 on O(health_path).
  - Containers are named C(lg-<deployment>-r<revision>-<replica>) and labelled with the deployment, revision,
    replica and host port, so the roll-out and the load balancer can find them.
  - If a new container does not become healthy, the containers this run created are removed and the module
    fails with the reason and the container's last log lines; containers of other revisions are never touched.
  - With O(state=absent), stops (SIGTERM, then up to the server's shutdown grace) and removes the containers
    of O(revision), or of every revision when O(revision) is omitted. Drain them in the load balancer first.
  - Runs on an app host (group C(langgraph_app)).
author:
  - selfhost.langgraph maintainers (@selfhost)
requirements:
  - Docker SDK for Python (Debian package C(python3-docker)) on the app host
attributes:
  check_mode:
    support: full
    description: Reports the containers that would be created, started or removed.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: With the same input and healthy containers, a second run changes nothing.
options:
  deployment:
    description: Name of the deployment (C([a-z][a-z0-9-]{1,38}[a-z0-9])).
    type: str
    required: true
  revision:
    description:
      - Revision number. Required with O(state=present).
    type: int
  state:
    description: V(present) runs exactly O(replicas) containers of the revision; V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
  image:
    description: Image of the revision, for example C(registry.example.com/support-bot:2024-11-20). It must
      already be on the host (pull it first). Required with O(state=present).
    type: str
  replicas:
    description: Containers of this revision on this host.
    type: int
    default: 1
  type:
    description: Deployment type, which sets each container's limits (V(development) 1 CPU and 1 GB, at most
      1 container; V(production) 2 CPUs and 2 GB, at most 10).
    type: str
    choices: [development, production]
    default: production
  env:
    description: Environment of the revision.
    type: dict
    default: {}
  secrets:
    description: Secret environment of the revision, for example C(LANGSMITH_API_KEY). Never logged.
    type: dict
    default: {}
  database_uri:
    description: The deployment's C(DATABASE_URI).
    type: str
  redis_uri:
    description: The deployment's C(REDIS_URI).
    type: str
  port_range:
    description: Host ports to publish the containers on, as V([first, last]).
    type: list
    elements: int
    default: [20000, 29999]
  bind_address:
    description: Host address the ports are published on.
    type: str
    default: 0.0.0.0
  health_path:
    description: Path that answers 200 when a container is ready. C(/ok?check_db=1) also checks the database;
      plain C(/ok) stays 200 while Postgres is down.
    type: str
    default: /ok?check_db=1
  health_timeout:
    description: Seconds a new container has to become healthy.
    type: int
    default: 90
  docker_host:
    description: The Docker engine's API address.
    type: str
    default: unix:///var/run/docker.sock
'''

EXAMPLES = r'''
- name: Run two containers of revision 3 of support-bot on this app host
  selfhost.langgraph.revision_containers:
    deployment: support-bot
    revision: 3
    image: registry.example.com/support-bot:2024-11-20
    replicas: 2
    type: production
    env:
      LOG_LEVEL: INFO
    secrets:
      LANGSMITH_API_KEY: "{{ vault_support_bot_langsmith_key }}"
    database_uri: "{{ support_bot_database_uri }}"
    redis_uri: "{{ support_bot_redis_uri }}"
  register: revision_3

- name: Remove the containers of revision 2 after they were drained
  selfhost.langgraph.revision_containers:
    deployment: support-bot
    revision: 2
    state: absent
'''

RETURN = r'''
containers:
  description: The deployment's containers on this host after the run, every revision.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Container name.
      type: str
      sample: lg-support-bot-r3-1
    revision:
      description: Revision number.
      type: int
      sample: 3
    replica:
      description: Replica number within the revision on this host.
      type: int
      sample: 1
    port:
      description: Host port the server listens on.
      type: int
      sample: 20000
    running:
      description: Whether the container runs.
      type: bool
      sample: true
created:
  description: Names of the containers created.
  returned: always
  type: list
  elements: str
  sample: [lg-support-bot-r3-1]
started:
  description: Names of stopped containers of the revision that were started again.
  returned: always
  type: list
  elements: str
  sample: []
removed:
  description: Names of the containers removed.
  returned: always
  type: list
  elements: str
  sample: [lg-support-bot-r2-1]
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import validate_deployment_name
from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment_types import type_limits
from ansible_collections.selfhost.langgraph.plugins.module_utils import revision_plan as rp
from ansible_collections.selfhost.langgraph.plugins.module_utils import docker_revisions as engine
from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import normalize_uri


def validated_spec(params):
    """Checks every input before anything is touched; returns the container spec."""
    validate_deployment_name(params['deployment'])
    if params['state'] == 'absent':
        if params['revision'] is not None and params['revision'] < 1:
            raise StoreError("revision must be 1 or more, got %d" % params['revision'])
        return None
    for required in ('revision', 'image'):
        if params[required] is None:
            raise StoreError("%s is required with state=present" % required)
    if params['revision'] < 1:
        raise StoreError("revision must be 1 or more, got %d" % params['revision'])
    rp.validate_image(params['image'])
    limits = type_limits(params['type'])
    if not 0 <= params['replicas'] <= limits['max_replicas']:
        raise StoreError("replicas must be between 0 and %d for a %s deployment, got %d"
                         % (limits['max_replicas'], params['type'], params['replicas']))
    low_high = params['port_range']
    if len(low_high) != 2 or not 1024 <= low_high[0] <= low_high[1] <= 65535:
        raise StoreError("port_range must be [first, last] with 1024 <= first <= last <= 65535, got %s" % low_high)
    rp.validate_env(params['env'], 'env')
    rp.validate_env(params['secrets'], 'secret')
    env = dict((k, str(v)) for k, v in params['env'].items())
    secrets = dict((k, str(v)) for k, v in params['secrets'].items())
    environment = dict(env)
    environment.update(secrets)
    for key, value in (('DATABASE_URI', params['database_uri']), ('REDIS_URI', params['redis_uri'])):
        if value:
            environment[key] = normalize_uri(value)
    return dict(
        deployment=params['deployment'], revision=params['revision'], image=params['image'],
        environment=environment, bind_address=params['bind_address'],
        cpus=limits['cpus'], memory_mb=limits['memory_mb'],
        stop_timeout=rp.stop_timeout(env),
        fingerprint=rp.fingerprint(params['image'], env, secrets.keys()))


def run(module, client, spec):
    params = module.params
    observed = engine.observe(client, params['deployment'])
    result = dict(created=[], started=[], removed=[])
    if spec is None:
        wanted = None if params['revision'] is None else [params['revision']]
        result['removed'] = rp.plan_removal(observed, wanted)
        if not module.check_mode:
            for name in result['removed']:
                engine.remove(client, name, rp.stop_timeout({}))
        return result

    plan = rp.plan_revision(observed, spec['revision'], params['replicas'], spec['fingerprint'])
    result.update(started=plan.start, removed=plan.remove)
    if module.check_mode:
        result['created'] = [rp.container_name(spec['deployment'], spec['revision'], r) for r in plan.create]
        return result
    if plan.create and not client.images(name=spec['image']):
        raise StoreError("image %s is not on this host; pull it before starting revision %d"
                         % (spec['image'], spec['revision']))

    low, high = params['port_range']
    ports = rp.pick_ports(len(plan.create), engine.used_host_ports(client), low, high)
    created = []
    try:
        for replica, port in zip(plan.create, ports):
            created.append((engine.create_replica(client, spec, replica, port), port))
        for name in plan.start:
            client.start(name)
        by_name = dict((c.name, c.port) for c in observed)
        to_check = created + [(name, by_name[name]) for name in plan.start]
        engine.wait_healthy(client, to_check, params['health_path'], params['health_timeout'])
    except Exception:
        # Nothing half-done: the containers this run made go away again, killed
        # at once (a server whose graph failed to load ignores SIGTERM).
        for name, dummy in created:
            engine.remove(client, name, 0)
        raise
    for name in plan.remove:
        engine.remove(client, name, spec['stop_timeout'])
    result['created'] = [name for name, dummy in created]
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            deployment=dict(type='str', required=True),
            revision=dict(type='int'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            image=dict(type='str'),
            replicas=dict(type='int', default=1),
            type=dict(type='str', default='production', choices=['development', 'production']),
            env=dict(type='dict', default={}),
            secrets=dict(type='dict', default={}, no_log=True),
            database_uri=dict(type='str', no_log=True),
            redis_uri=dict(type='str', no_log=True),
            port_range=dict(type='list', elements='int', default=[20000, 29999]),
            bind_address=dict(type='str', default='0.0.0.0'),
            health_path=dict(type='str', default='/ok?check_db=1'),
            health_timeout=dict(type='int', default=90),
            docker_host=dict(type='str', default='unix:///var/run/docker.sock'),
        ),
        supports_check_mode=True,
    )
    if engine.DOCKER_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('docker (python3-docker)'), exception=str(engine.DOCKER_IMPORT_ERROR))
    try:
        spec = validated_spec(module.params)
        client = engine.connect(module.params['docker_host'])
        result = run(module, client, spec)
        result['containers'] = [c.as_dict() for c in engine.observe(client, module.params['deployment'])]
    except StoreError as exc:
        module.fail_json(msg=str(exc))
    except engine.docker.errors.DockerException as exc:
        module.fail_json(msg="Docker engine at %s: %s" % (module.params['docker_host'], exc))
    changed = bool(result['created'] or result['started'] or result['removed'])
    module.exit_json(changed=changed, **result)


if __name__ == '__main__':
    main()
