#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: app_host_info
short_description: Observe a LangGraph app host (every deployment's containers, capacity, ports and images)
version_added: 0.2.0
description:
  - Reads what one app host runs for every deployment at once, for the observe step of the fleet control loop.
    It reports the containers labelled C(selfhost.langgraph.managed) with their deployment, revision, replica, host port,
    image, fingerprint, CPUs and memory, the host's CPUs and memory, the host ports in use within O(port_range) and the images
    present on the engine.
  - One container list and one image list from the Docker engine, whatever the number of deployments; with
    O(health_path), the running containers are probed at once (threads), not one after another.
  - A container with the managed label whose labels cannot be read is left out with a warning.
  - Runs on an app host (group C(langgraph_app)) as root.
author:
  - selfhost.langgraph maintainers (@selfhost)
requirements:
  - Docker SDK for Python (Debian package C(python3-docker)) on the app host
attributes:
  check_mode:
    support: full
    description: Read only; runs the same in check mode.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: Read only.
options:
  deployments:
    description: Report only the containers of these deployments (all when omitted). Ports and images are
      always the host's.
    type: list
    elements: str
  health_path:
    description: When set, every running container is probed with C(GET) on this path at its host port and
      RV(containers[].health) holds the HTTP status (null when nothing answers within 2 s).
    type: str
  health_address:
    description: Address the probes go to; the containers publish their ports on it (see the
      O(selfhost.langgraph.app_containers#module:bind_address) option of M(selfhost.langgraph.app_containers)).
    type: str
    default: 0.0.0.0
  port_range:
    description: Host ports that RV(used_ports) covers, as V([low, high]).
    type: list
    elements: int
    default: [20000, 29999]
  docker_host:
    description: The Docker engine's API address.
    type: str
    default: unix:///var/run/docker.sock
'''

EXAMPLES = r'''
- name: Observe every app host (all deployments at once)
  selfhost.langgraph.app_host_info:
    health_path: /ok
  become: true
  register: app_host

- name: Show the containers of support-bot on this host
  ansible.builtin.debug:
    msg: "{{ app_host.containers | selectattr('deployment', '==', 'support-bot') | map(attribute='name') }}"
'''

RETURN = r'''
containers:
  description: The managed containers, sorted by deployment, revision and replica.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Container name.
      type: str
      sample: lg-support-bot-r3-1
    deployment:
      description: Deployment name.
      type: str
      sample: support-bot
    revision:
      description: Revision number.
      type: int
      sample: 3
    replica:
      description: Replica number within the revision on this host.
      type: int
      sample: 1
    port:
      description: Host port the server is published on.
      type: int
      sample: 20000
    running:
      description: Whether the container runs.
      type: bool
      sample: true
    image:
      description: Image reference the container was created from.
      type: str
      sample: registry.example.com/support-bot:2024-11-20
    fingerprint:
      description: Fingerprint of the revision's image and environment (null on containers made without one).
      type: str
      sample: 3f2a9c1b0d4e5f67
    cpus:
      description:
        - CPU limit of the container, from its C(selfhost.langgraph.cpus) label.
        - Null for containers made before that label existed; Docker's container list does not give limits and
          this module does not inspect containers one by one. Count those by their deployment's type.
      type: float
      sample: 2.0
    memory_mb:
      description:
        - Memory limit of the container in MB, from its C(selfhost.langgraph.memory_mb) label.
        - Null for containers made before that label existed, as RV(containers[].cpus).
      type: int
      sample: 2048
    health:
      description: HTTP status of O(health_path) (null when nothing answers or the container is stopped).
      returned: when O(health_path) is set
      type: int
      sample: 200
capacity:
  description: What the host has, as it reports it.
  returned: always
  type: dict
  contains:
    cpus:
      description: Number of CPUs.
      type: int
      sample: 8
    memory_mb:
      description: Total memory (C(MemTotal) of C(/proc/meminfo)) in MB.
      type: int
      sample: 15936
used_ports:
  description: Sorted host ports within O(port_range) that a container publishes, a stopped managed container
    will publish again (its port label), or a program listens on.
  returned: always
  type: list
  elements: int
  sample: [20000, 20001]
images:
  description: Sorted references of the images on the engine (repo:tag and repo@digest).
  returned: always
  type: list
  elements: str
  sample: [registry.example.com/support-bot:2024-11-20, registry.example.com/support-bot@sha256:0a1b...]
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import validate_deployment_name
from ansible_collections.selfhost.langgraph.plugins.module_utils import app_host
from ansible_collections.selfhost.langgraph.plugins.module_utils import docker_revisions as engine


def main():
    argument_spec = dict(
        deployments=dict(type='list', elements='str'),
        health_path=dict(type='str'),
        health_address=dict(type='str', default='0.0.0.0'),
        port_range=dict(type='list', elements='int', default=[20000, 29999]),
    )
    argument_spec.update(engine.docker_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if engine.DOCKER_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('docker (python3-docker)'), exception=str(engine.DOCKER_IMPORT_ERROR))
    params = module.params
    try:
        deployments = params['deployments']
        if deployments is not None:
            deployments = set(validate_deployment_name(name) for name in deployments)
        low, high = app_host.validate_port_range(params['port_range'])
        client = engine.connect(params['docker_host'])
        seen = engine.observe_host(client, deployments, params['health_path'],
                                   app_host.probe_host(params['health_address']))
        capacity = engine.host_capacity()
    except StoreError as exc:
        module.fail_json(msg=str(exc))
    except engine.host_errors() as exc:
        module.fail_json(msg="Docker engine at %s: %s" % (params['docker_host'], exc))
    for name in seen['unreadable']:
        module.warn("container %s carries the %s label but its labels cannot be read; left out"
                    % (name, engine.rp.LABEL_MANAGED))
    module.exit_json(changed=False, containers=seen['containers'], capacity=capacity,
                     used_ports=app_host.ports_in_range(seen['port_owners'], low, high), images=seen['images'])


if __name__ == '__main__':
    main()
