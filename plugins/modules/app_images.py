#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: app_images
short_description: Pull and remove the images of LangGraph deployments on an app host
version_added: 0.2.0
description:
  - Pulls a list of images on an app host's Docker engine, a few at once, and reports the digest the registry
    gave each, so that a revision can be recorded with its image pinned. An image is pulled only when it is
    missing, or every time with O(pull[].always=true).
  - Removes a list of images afterwards. An image that a container uses (running or stopped) stays and is
    reported in RV(in_use), not as an error; one that is not there is already gone.
  - Failures are per image (a registry that refuses, a tag that does not exist) in RV(failures); the other images
    go on and the task does not fail. It fails only for bad input or an engine that does not answer.
  - Registry credentials are those of the engine's user (C(docker login) as root, as the
    P(selfhost.langgraph.docker#role) role sets up).
  - Runs on an app host (group C(langgraph_app)) as root.
author:
  - selfhost.langgraph maintainers (@selfhost)
requirements:
  - Docker SDK for Python (Debian package C(python3-docker)) on the app host
attributes:
  check_mode:
    support: full
    description: Reports missing images as pulled and the images that would be removed; pulls and removes nothing.
      Whether an O(pull[].always) pull of a present image would bring a new one is not foreseen.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: A second run pulls nothing missing and reports no change; an O(pull[].always) pull changes
      something only when the registry has a new image for the reference.
options:
  pull:
    description: Images to pull.
    type: list
    elements: dict
    default: []
    suboptions:
      image:
        description: Image reference, C([registry[:port]/]name[:tag][@sha256:digest]); no tag means C(latest).
        type: str
        required: true
      always:
        description: Pull even when the engine has the reference (a moving tag); V(false) pulls only a missing one.
        type: bool
        default: false
  remove:
    description: Image references to remove after the pulls (the last revisions' images are kept for rollbacks).
    type: list
    elements: str
    default: []
  docker_host:
    description: The Docker engine's API address.
    type: str
    default: unix:///var/run/docker.sock
'''

EXAMPLES = r'''
- name: Pull the images this host will run
  selfhost.langgraph.app_images:
    pull:
      - image: registry.example.com/support-bot:2024-11-20
      - image: registry.example.com/triage:latest
        always: true
  become: true
  register: pulled

- name: Remove an image no revision kept needs
  selfhost.langgraph.app_images:
    remove:
      - registry.example.com/support-bot:2024-10-01
  become: true
'''

RETURN = r'''
images:
  description: Per pulled reference, its digest and whether it was pulled (in check mode, whether it would be).
  returned: always
  type: dict
  sample:
    registry.example.com/support-bot:2024-11-20:
      digest: sha256:4f1c0b1e6f0d5a3e9c2b7a8d6e5f4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3
      pinned: registry.example.com/support-bot@sha256:4f1c0b1e6f0d5a3e9c2b7a8d6e5f4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3
      pulled: true
  contains:
    digest:
      description: The repository digest of the image (C(sha256:...)); null for an image that came from no
        registry (or is missing in check mode).
      type: str
    pinned:
      description: The reference with the digest instead of the tag, naming exactly this image; null without a
        digest.
      type: str
    pulled:
      description: Whether the image was pulled.
      type: bool
failures:
  description: The references that could not be pulled or removed, with the reason.
  returned: always
  type: dict
  sample: {registry.example.com/support-bot:nope: "pulling registry.example.com/support-bot:nope failed: manifest unknown"}
removed:
  description: References removed (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [registry.example.com/support-bot:2024-10-01]
in_use:
  description: References of O(remove) kept because a container uses the image.
  returned: always
  type: list
  elements: str
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.revision_plan import validate_image
from ansible_collections.selfhost.langgraph.plugins.module_utils import docker_revisions as engine


def main():
    argument_spec = dict(
        pull=dict(type='list', elements='dict', default=[], options=dict(
            image=dict(type='str', required=True),
            always=dict(type='bool', default=False),
        )),
        remove=dict(type='list', elements='str', default=[]),
    )
    argument_spec.update(engine.docker_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if engine.DOCKER_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('docker (python3-docker)'), exception=str(engine.DOCKER_IMPORT_ERROR))
    params = module.params
    try:
        always = {}
        for entry in params['pull']:
            validate_image(entry['image'])
            always[entry['image']] = always.get(entry['image'], False) or entry['always']
        pulls = sorted(always.items())
        for image in params['remove']:
            validate_image(image)
        both = set(image for image, dummy in pulls) & set(params['remove'])
        if both:
            raise StoreError("%s listed in both pull and remove" % ', '.join(sorted(both)))
        client = engine.connect(params['docker_host'])
        images, failed, changed = engine.ensure_images(client, pulls, module.check_mode)
        removed, in_use, remove_failed = engine.remove_images(client, sorted(set(params['remove'])), module.check_mode)
    except StoreError as exc:
        module.fail_json(msg=str(exc))
    except engine.host_errors() as exc:
        module.fail_json(msg="Docker engine at %s: %s" % (params['docker_host'], exc))
    failed.update(remove_failed)
    module.exit_json(changed=changed or bool(removed), images=images, failures=failed, removed=removed, in_use=in_use)


if __name__ == '__main__':
    main()
