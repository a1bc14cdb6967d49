#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: app_build
short_description: Build the images of deployments given as application source (langgraph.json)
version_added: 0.3.0
description:
  - For the entries of C(langgraph_deployments) that give C(source) (a directory on the controller, or a git URL and
    ref) instead of C(image). On the controller it checks every source first (a C(langgraph.json) with graphs whose
    files exist, local dependencies that exist, not both C(image) and C(source)) and fails with one message listing
    every problem, before anything is built or changed.
  - It stages each app (VCS data and caches left out) with the Dockerfile that langgraph-cli's C(langgraph dockerfile)
    writes for it on O(base_image), and names the image C(REGISTRY/NAME:src-KEY), KEY a hash of the app's content
    and that Dockerfile. Then on the builder (the task's C(delegate_to)) it builds with the classic Docker builder
    (its layer cache makes a rebuild after a small change quick) and pushes only the images the registry does not
    have yet, so the same source is never built twice.
  - A failed build fails the task with the tail of the build's log; nothing is pushed.
  - Returns what each source became (RV(builds)); the filter P(selfhost.langgraph.built_entries#filter) gives the
    entries with C(image) (pinned by digest) instead of C(source), and the source recorded in the
    C(LANGGRAPH_APP_SOURCE) variable of their env (C(git URL@COMMIT) or C(dir sha256:HASH)), which each revision keeps.
  - Needs langgraph-cli on the controller and git for git sources; Docker on the builder.
author:
  - selfhost.langgraph maintainers (@selfhost)
attributes:
  check_mode:
    support: full
    description: Stages on the controller and looks the images up, builds and pushes nothing.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: An image the registry already has is not built again.
  action:
    support: full
    description: The checks and staging run on the controller, the build on the builder.
options:
  deployments:
    description: The entries (C(langgraph_deployments)); required. Those without C(source) are left alone.
    type: list
    elements: dict
  deployment:
    description: Build for this deployment only (C(-e deployment=NAME)); empty for all.
    type: str
    default: ""
  registry:
    description: The registry, C(host[:port]), that images built from source are pushed to and pulled from.
    type: str
  base_image:
    description:
      - Base image of the builds, without tag (langgraph-cli adds the C(python_version) of C(langgraph.json), such as
        C(3.11)). The licensed C(langchain/langgraph-api) image, or an open one built from PyPI's C(langgraph-api) and
        C(langgraph-runtime-pg) laid out the same way (the lab's C(langgraph-open-base)).
    type: str
    default: langchain/langgraph-api
  staging_dir:
    description: Directory on the controller for staging and the cache of git sources.
    type: str
    default: ~/.cache/selfhost-langgraph
  log_lines:
    description: Lines of a failed build's log to show.
    type: int
    default: 40
  builds:
    description: Internal (set by the action plugin) the images to build, C(name) and C(image).
    type: list
    elements: dict
  bundle:
    description: Internal (set by the action plugin) the staged apps on the builder.
    type: path
'''

EXAMPLES = r'''
- name: Build the images of source deployments
  selfhost.langgraph.app_build:
    deployments: "{{ langgraph_deployments }}"
    registry: registry.example.com:5000
    base_image: registry.example.com:5000/langgraph-open-base
  delegate_to: "{{ groups['langgraph_builder'][0] }}"
  become: true
  run_once: true
  register: built

- name: Go on with the built images
  ansible.builtin.set_fact:
    names: "{{ langgraph_deployments | selfhost.langgraph.built_entries(built.builds) | map(attribute='image') }}"
'''

RETURN = r'''
builds:
  description: One per source entry, C(name), C(image) (the tag), C(pinned), C(digest), C(source) and C(built)
    (false when the registry had the image).
  returned: success
  type: list
  elements: dict
'''

import os
import shutil
import tarfile
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCKERFILE = 'Dockerfile.langgraph'


def _repo(image):
    return image.rsplit(':', 1)[0]


def _digest(module, image):
    """The registry digest docker knows for image (sha256:...), or None."""
    code, out, dummy = module.run_command(['docker', 'image', 'inspect', '--format',
                                           '{{range .RepoDigests}}{{println .}}{{end}}', image])
    if code:
        return None
    prefix = _repo(image) + '@'
    for line in out.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return None


def _tail(text, lines):
    return '\n'.join(text.rstrip().splitlines()[-lines:])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            deployments=dict(type='list', elements='dict'),
            deployment=dict(type='str', default=''),
            registry=dict(type='str'),
            base_image=dict(type='str', default='langchain/langgraph-api'),
            staging_dir=dict(type='str', default='~/.cache/selfhost-langgraph'),
            log_lines=dict(type='int', default=40),
            builds=dict(type='list', elements='dict'),
            bundle=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    if module.params['builds'] is None or not module.params['bundle']:
        module.fail_json(msg='app_build runs through its action plugin (selfhost.langgraph.app_build in a task), '
                             'which stages the sources and passes builds and bundle')
    builds, lines = module.params['builds'], module.params['log_lines']
    results, work = [], None
    try:
        for build in builds:
            name, image = build['name'], build['image']
            digest = _digest(module, image)
            if not digest:
                # Another builder, or this one before its images were pruned, may have pushed it.
                code, dummy, dummy = module.run_command(['docker', 'pull', '--quiet', image])
                digest = _digest(module, image) if code == 0 else None
            if digest:
                results.append(dict(name=name, image=image, digest=digest, pinned='%s@%s' % (image, digest),
                                    built=False))
                continue
            if module.check_mode:
                results.append(dict(name=name, image=image, digest=None, pinned=image, built=True))
                continue
            if work is None:
                work = tempfile.mkdtemp(prefix='langgraph-build-')
                with tarfile.open(module.params['bundle']) as tar:
                    for member in tar.getmembers():
                        if member.name.startswith('/') or '..' in member.name.split('/') or not (
                                member.isfile() or member.isdir() or member.issym()):
                            module.fail_json(msg='the build bundle holds an unexpected entry %s' % member.name)
                    tar.extractall(work)
            context = os.path.join(work, name)
            # The classic builder (Debian's docker.io has no buildx); --pull takes a re-pushed base tag,
            # the layer cache keeps a rebuild after a small change quick.
            code, out, err = module.run_command(
                ['docker', 'build', '--pull', '-f', os.path.join(context, DOCKERFILE), '-t', image, context],
                environ_update={'DOCKER_BUILDKIT': '0'})
            if code:
                module.fail_json(msg='building %s for deployment %s failed (exit %d); nothing was pushed or rolled '
                                     'out. The last %d lines of its log:\n%s'
                                     % (image, name, code, lines, _tail(out + err, lines)), builds=results)
            code, out, err = module.run_command(['docker', 'push', image])
            digest = _digest(module, image) if code == 0 else None
            if not digest:
                module.fail_json(msg='pushing %s for deployment %s failed; nothing was rolled out:\n%s'
                                     % (image, name, _tail(out + err, lines)), builds=results)
            results.append(dict(name=name, image=image, digest=digest, pinned='%s@%s' % (image, digest), built=True))
    finally:
        if work:
            shutil.rmtree(work, ignore_errors=True)
    built = [r['name'] for r in results if r['built']]
    module.exit_json(changed=bool(built), builds=results,
                     msg=('built %s' % ', '.join(built)) if built else 'every source image is in the registry')


if __name__ == '__main__':
    main()
