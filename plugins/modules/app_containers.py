#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: app_containers
short_description: Start and stop the LangGraph server containers of many deployments on an app host in one call
version_added: 0.2.0
description:
  - The executor of the fleet control loop on an app host. O(start) lists exactly the containers to run, of
    any number of deployments, as the planner placed them; O(stop) lists the containers to stop.
  - Every container of O(start) is created and started at once, beside whatever runs, named
    C(lg-<deployment>-r<revision>-<replica>), labelled with its deployment, revision, replica, host port, image,
    fingerprint, CPUs and memory, publishing the server's port 8000 on a host port, limited to its
    O(start[].cpus) and O(start[].memory_mb), with Docker's stop timeout set to
    C(BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS) (default 180) plus 20 s. Then one health gate probes all of them
    together until they answer 200 on O(health_path), at most O(health_timeout) seconds. Healthy containers get
    the restart policy C(unless-stopped).
  - The host port of a new container is its O(start[].port) when no container (running or stopped) and no
    listening program holds it; otherwise the lowest free port of O(port_range), and RV(moved_ports) says so.
    RV(started) and RV(kept) always carry the port a container actually has. Only when no port of
    O(port_range) is free is it that deployment's failure.
  - Calls on one host take an exclusive lock (C(flock) on C(/run/lock/selfhost-langgraph-containers.lock))
    while they look at the host, choose ports and create containers, and release it before the health gate;
    two calls at once (a deploy and the reconcile timer, say) never choose the same port.
  - A container of the same name and fingerprint that exists is kept on its own port (started again if
    stopped) and goes through the health gate too. One of the same name with another fingerprint is that
    deployment's failure.
  - Failures are per deployment. When any container of a deployment cannot be started (its image is missing,
    no host port is free, Docker refuses it), exits, or is not healthy in time, every container this call
    created for that deployment is killed and removed (RV(removed)), stopped ones it started again are stopped
    again, and RV(failures) says why, with the container's last log lines (URI passwords masked). The other
    deployments go on and the task does not fail; it fails only for bad input or an engine that does not answer.
  - O(stop) containers are stopped with SIGTERM, waited for up to their own stop timeout (the server puts its
    background runs back in the queue), and removed, all at once. Names that do not exist are already gone (no
    error). Stops of a deployment that failed in this call are not done. Drain them in the load balancer first.
  - Deployments in O(skip) are left alone (neither started nor stopped).
  - Runs on an app host (group C(langgraph_app)) as root.
author:
  - selfhost.langgraph maintainers (@selfhost)
requirements:
  - Docker SDK for Python (Debian package C(python3-docker)) on the app host
attributes:
  check_mode:
    support: full
    description: Reads the host (without the lock) and reports what would be started, kept and stopped, on which
      ports, and the failures it can foresee (missing image, no free port, another fingerprint); starts and stops
      nothing.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: With the same input and healthy containers, a second run keeps everything and reports no change.
options:
  start:
    description: Exactly the containers to run, of any deployments.
    type: list
    elements: dict
    default: []
    suboptions:
      deployment:
        description: Deployment name (C([a-z][a-z0-9-]{1,38}[a-z0-9])).
        type: str
        required: true
      revision:
        description: Revision number.
        type: int
        required: true
      replica:
        description: Replica number of the revision on this host.
        type: int
        required: true
      port:
        description: Host port the planner chose to publish the server on. When it is taken, the container gets
          the lowest free port of O(port_range) instead (see RV(moved_ports)).
        type: int
        required: true
      image:
        description: Image of the revision; it must be on the host (see M(selfhost.langgraph.app_images)).
        type: str
        required: true
      cpus:
        description: CPU limit of the container.
        type: float
        required: true
      memory_mb:
        description: Memory limit of the container in MB.
        type: int
        required: true
      env:
        description: The revision's environment (not secret).
        type: dict
        default: {}
      fingerprint:
        description: Identity of the revision's image and environment (as the planner computes it), kept in a
          label; a container of the same name with another fingerprint is a failure, never replaced.
        type: str
        required: true
  stop:
    description: Names of containers to stop and remove (C(lg-<deployment>-r<revision>-<replica>)).
    type: list
    elements: str
    default: []
  secrets:
    description:
      - Secret environment per deployment name, each a dict of variable names and values, including C(DATABASE_URI) and
        C(REDIS_URI); merged over O(start[].env) of that deployment's containers. C(DATABASE_URI) and
        C(REDIS_URI) are normalized (percent-encoded unreserved characters decoded; the server's Postgres
        runtime reads C(%) as interpolation). Never logged or returned.
    type: dict
    default: {}
  skip:
    description: Deployments to leave alone (those that failed earlier in the run).
    type: list
    elements: str
    default: []
  health_path:
    description: Path that answers 200 when a container is ready. C(/ok?check_db=1) also checks the database;
      plain C(/ok) stays 200 while Postgres is down.
    type: str
    default: /ok?check_db=1
  health_timeout:
    description: Seconds the new containers have, together, to become healthy.
    type: int
    default: 90
  port_range:
    description: Host ports, as V([low, high]), a new container may get when its planned port is taken.
    type: list
    elements: int
    default: [20000, 29999]
  tls_ca:
    description:
      - Mount the fleet's CA certificate (C(/etc/selfhost-langgraph/tls/ca.crt), which the docker role installs from
        C(langgraph_tls_ca_file)) read-only at the same path into every container this call starts; the URIs with
        TLS name it (C(sslrootcert), C(ssl_ca_certs)). Refused before anything starts when the file is missing.
    type: bool
    default: false
  bind_address:
    description: Host address the ports are published on; the health probes go there (127.0.0.1 for
      V(0.0.0.0)).
    type: str
    default: 0.0.0.0
  docker_host:
    description: The Docker engine's API address.
    type: str
    default: unix:///var/run/docker.sock
notes:
  - A container whose deployment failed is killed at once (a server whose graph failed to load ignores SIGTERM).
'''

EXAMPLES = r'''
- name: Start the containers the plan placed on this host
  selfhost.langgraph.app_containers:
    start: "{{ fleet_plan.hosts[inventory_hostname].start }}"
    secrets: "{{ deployment_secrets }}"
    skip: "{{ fleet_failed }}"
  become: true
  no_log: true
  register: started

- name: Stop two drained containers of revision 2
  selfhost.langgraph.app_containers:
    stop:
      - lg-support-bot-r2-1
      - lg-support-bot-r2-2
  become: true
'''

RETURN = r'''
started:
  description: The containers this call created or started again, now healthy (in check mode, those it would).
  returned: always
  type: list
  elements: dict
  contains:
    deployment:
      description: Deployment name.
      type: str
      sample: support-bot
    revision:
      description: Revision number.
      type: int
      sample: 3
    replica:
      description: Replica number on this host.
      type: int
      sample: 1
    name:
      description: Container name.
      type: str
      sample: lg-support-bot-r3-1
    port:
      description: Host port the container actually publishes on (not always the planned one, see
        RV(moved_ports)).
      type: int
      sample: 20000
kept:
  description: Containers of O(start) that already ran with the same fingerprint and are healthy, in the form of
    RV(started).
  returned: always
  type: list
  elements: dict
  sample: []
moved_ports:
  description: The containers of RV(started) and RV(kept) that are on another host port than their
    O(start[].port), by name, with the planned and the actual port.
  returned: always
  type: dict
  sample: {lg-support-bot-r3-1: {planned: 20010, port: 20011}}
failures:
  description: The deployments that failed, with the reason (passwords masked).
  returned: always
  type: dict
  sample: {support-bot: "container lg-support-bot-r3-1 exited (code 1) before it was healthy; its last log lines: ..."}
removed:
  description: Containers this call created and removed again because their deployment failed.
  returned: always
  type: list
  elements: str
  sample: [lg-support-bot-r3-1]
stopped:
  description: Names of the O(stop) containers stopped and removed (in check mode, those that would be).
  returned: always
  type: list
  elements: str
  sample: [lg-support-bot-r2-1]
left_alone:
  description: Deployments of O(start) left alone because O(skip) lists them.
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
        start=dict(type='list', elements='dict', default=[], options=dict(
            deployment=dict(type='str', required=True),
            revision=dict(type='int', required=True),
            replica=dict(type='int', required=True),
            port=dict(type='int', required=True),
            image=dict(type='str', required=True),
            cpus=dict(type='float', required=True),
            memory_mb=dict(type='int', required=True),
            env=dict(type='dict', default={}),
            fingerprint=dict(type='str', required=True),
        )),
        stop=dict(type='list', elements='str', default=[]),
        secrets=dict(type='dict', default={}, no_log=True),
        skip=dict(type='list', elements='str', default=[]),
        health_path=dict(type='str', default='/ok?check_db=1'),
        health_timeout=dict(type='int', default=90),
        port_range=dict(type='list', elements='int', default=[20000, 29999]),
        bind_address=dict(type='str', default='0.0.0.0'),
        tls_ca=dict(type='bool', default=False),
    )
    argument_spec.update(engine.docker_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if engine.DOCKER_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('docker (python3-docker)'), exception=str(engine.DOCKER_IMPORT_ERROR))
    params = module.params
    try:
        starts = app_host.validate_starts(params['start'])
        stops = app_host.validate_stops(params['stop'], starts)
        app_host.validate_secrets(params['secrets'])
        skip = set(validate_deployment_name(name) for name in params['skip'])
        port_range = app_host.validate_port_range(params['port_range'])
        if not 1 <= params['health_timeout'] <= 3600:
            raise StoreError("health_timeout must be 1 to 3600 seconds, got %d" % params['health_timeout'])
        binds = app_host.ca_binds(params['tls_ca'])
        client = engine.connect(params['docker_host'])
        result = engine.apply_containers(
            client, starts, stops, params['secrets'], skip, params['health_path'], params['health_timeout'],
            params['bind_address'], module.check_mode, port_range, binds=binds)
    except StoreError as exc:
        module.fail_json(msg=str(exc))
    except engine.host_errors() as exc:
        module.fail_json(msg="Docker engine at %s: %s" % (params['docker_host'], exc))
    changed = bool(result['started'] or result['stopped'] or result['removed'])
    module.exit_json(changed=changed, **result)


if __name__ == '__main__':
    main()
