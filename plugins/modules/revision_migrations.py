#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: revision_migrations
short_description: Run the database migrations of new revisions of many deployments on an app host
version_added: 0.2.0
description:
  - Replicas starting at once on a fresh database race on the schema migration, so each new revision migrates
    once before its replicas start, in a one-off container of the revision's own image running its migration
    command with the full environment of the revision (C(DATABASE_URI) and C(REDIS_URI) included).
  - All listed migrations run at once, each in a container named C(lg-<deployment>-r<revision>-migrate) (a
    leftover of that name from an interrupted run is removed first). The module waits for each up to
    O(timeout) seconds, keeps its exit code and last output lines (URI passwords masked), and removes the
    container; one still running at the deadline is killed.
  - Failures are per deployment. A non-zero exit, a timeout, a missing image or a container Docker refuses is
    reported in RV(failures); the other migrations go on and the task does not fail. It fails only for bad input
    or an engine that does not answer.
  - Runs on an app host (group C(langgraph_app)) as root.
author:
  - selfhost.langgraph maintainers (@selfhost)
requirements:
  - Docker SDK for Python (Debian package C(python3-docker)) on the app host
attributes:
  check_mode:
    support: full
    description: Reports the migration containers that would run (RV(containers)) and missing images; runs nothing.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: none
    description: Every call runs the migrations again; a migration command is expected to change nothing on a
      migrated database (the LangGraph server's does).
options:
  migrations:
    description: The migrations to run, at most one per deployment.
    type: list
    elements: dict
    required: true
    suboptions:
      deployment:
        description: Deployment name.
        type: str
        required: true
      revision:
        description: Revision number.
        type: int
        required: true
      image:
        description: Image of the revision; it must be on the host (see M(selfhost.langgraph.app_images)).
        type: str
        required: true
      command:
        description: The migration command, for example V([migrate]) for the image's entry point.
        type: list
        elements: str
        required: true
      env:
        description: The revision's environment (not secret).
        type: dict
        default: {}
  secrets:
    description: Secret environment per deployment name, each a dict of variable names and values, including C(DATABASE_URI) and
      C(REDIS_URI) (normalized as M(selfhost.langgraph.app_containers) does). Never logged or returned.
    type: dict
    default: {}
  skip:
    description: Deployments to leave alone (those that failed earlier in the run).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds each migration may run (1 to 86400).
    type: int
    default: 600
  tls_ca:
    description:
      - Mount the fleet's CA certificate (C(/etc/selfhost-langgraph/tls/ca.crt), which the docker role installs from
        C(langgraph_tls_ca_file)) read-only at the same path into every container this call starts; the URIs with
        TLS name it (C(sslrootcert), C(ssl_ca_certs)). Refused before anything starts when the file is missing.
    type: bool
    default: false
  docker_host:
    description: The Docker engine's API address.
    type: str
    default: unix:///var/run/docker.sock
'''

EXAMPLES = r'''
- name: Migrate the new revisions once, before their replicas start
  selfhost.langgraph.revision_migrations:
    migrations:
      - deployment: support-bot
        revision: 4
        image: registry.example.com/support-bot:2024-11-20
        command: [migrate]
        env:
          LOG_LEVEL: INFO
    secrets:
      support-bot:
        DATABASE_URI: "{{ support_bot_database_uri }}"
        REDIS_URI: "{{ support_bot_redis_uri }}"
  become: true
  register: migrated
'''

RETURN = r'''
outcomes:
  description: Per deployment, the migration's outcome.
  returned: always
  type: dict
  sample: {support-bot: {revision: 4, rc: 0, output: "migrate: done"}}
  contains:
    revision:
      description: Revision number.
      type: int
    rc:
      description: Exit code of the migration (null when it timed out or did not start).
      type: int
    output:
      description: Its last output lines (stdout and stderr, URI passwords masked).
      type: str
failures:
  description: The deployments whose migration failed, with the reason (passwords masked).
  returned: always
  type: dict
  sample: {support-bot: "the migration of revision 4 (migrate) exited 1; its last output lines: ..."}
containers:
  description: Names of the migration containers that ran and were removed (in check mode, that would run).
  returned: always
  type: list
  elements: str
  sample: [lg-support-bot-r4-migrate]
left_alone:
  description: Deployments of O(migrations) left alone because O(skip) lists them.
  returned: always
  type: list
  elements: str
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import validate_deployment_name
from ansible_collections.selfhost.langgraph.plugins.module_utils import app_host
from ansible_collections.selfhost.langgraph.plugins.module_utils import docker_revisions as engine


def main():
    argument_spec = dict(
        migrations=dict(type='list', elements='dict', required=True, options=dict(
            deployment=dict(type='str', required=True),
            revision=dict(type='int', required=True),
            image=dict(type='str', required=True),
            command=dict(type='list', elements='str', required=True),
            env=dict(type='dict', default={}),
        )),
        secrets=dict(type='dict', default={}, no_log=True),
        skip=dict(type='list', elements='str', default=[]),
        timeout=dict(type='int', default=600),
        tls_ca=dict(type='bool', default=False),
    )
    argument_spec.update(engine.docker_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if engine.DOCKER_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('docker (python3-docker)'), exception=str(engine.DOCKER_IMPORT_ERROR))
    params = module.params
    try:
        migrations = app_host.validate_migrations(params['migrations'])
        app_host.validate_secrets(params['secrets'])
        skip = set(validate_deployment_name(name) for name in params['skip'])
        if not 1 <= params['timeout'] <= 86400:
            raise StoreError("timeout must be 1 to 86400 seconds, got %d" % params['timeout'])
        binds = app_host.ca_binds(params['tls_ca'])
        client = engine.connect(params['docker_host'])
        result = engine.run_migrations(client, [m for m in migrations if m.deployment not in skip],
                                       params['secrets'], params['timeout'], module.check_mode, binds=binds)
    except StoreError as exc:
        module.fail_json(msg=str(exc))
    except engine.host_errors() as exc:
        module.fail_json(msg="Docker engine at %s: %s" % (params['docker_host'], exc))
    result['left_alone'] = sorted(m.deployment for m in migrations if m.deployment in skip)
    module.exit_json(changed=bool(result['containers']), **result)


if __name__ == '__main__':
    main()
