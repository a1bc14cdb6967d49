#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: revision_containers_info
short_description: List a LangGraph deployment's containers on an app host
version_added: 0.1.0
description:
  - Lists the containers that M(selfhost.langgraph.revision_containers) runs for a deployment on this host,
    every revision, with their host port, state and (optionally) health.
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
  deployment:
    description: Name of the deployment.
    type: str
    required: true
  health_path:
    description: When set, each running container is probed on this path and RV(containers[].health) holds
      the HTTP status (null when nothing answers).
    type: str
  docker_host:
    description: The Docker engine's API address.
    type: str
    default: unix:///var/run/docker.sock
'''

EXAMPLES = r'''
- name: List support-bot's containers with their health
  selfhost.langgraph.revision_containers_info:
    deployment: support-bot
    health_path: /ok
  register: support_bot_containers
'''

RETURN = r'''
containers:
  description: The deployment's containers on this host, by revision and replica.
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
    health:
      description: HTTP status of O(health_path), when O(health_path) is set.
      type: int
      sample: 200
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import validate_deployment_name
from ansible_collections.selfhost.langgraph.plugins.module_utils import docker_revisions as engine


def main():
    module = AnsibleModule(
        argument_spec=dict(
            deployment=dict(type='str', required=True),
            health_path=dict(type='str'),
            docker_host=dict(type='str', default='unix:///var/run/docker.sock'),
        ),
        supports_check_mode=True,
    )
    if engine.DOCKER_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('docker (python3-docker)'), exception=str(engine.DOCKER_IMPORT_ERROR))
    try:
        validate_deployment_name(module.params['deployment'])
        client = engine.connect(module.params['docker_host'])
        containers = []
        for container in engine.observe(client, module.params['deployment']):
            entry = container.as_dict()
            if module.params['health_path']:
                entry['health'] = engine.probe(container.port, module.params['health_path']) if container.running else None
            containers.append(entry)
    except StoreError as exc:
        module.fail_json(msg=str(exc))
    except engine.docker.errors.DockerException as exc:
        module.fail_json(msg="Docker engine at %s: %s" % (module.params['docker_host'], exc))
    module.exit_json(changed=False, containers=containers)


if __name__ == '__main__':
    main()
