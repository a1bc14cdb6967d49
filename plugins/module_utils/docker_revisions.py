# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carries out revision_plan steps on one host's Docker engine (Docker SDK)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils import revision_plan as rp
from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import mask_uri_passwords

try:
    import docker
    DOCKER_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    docker = None
    DOCKER_IMPORT_ERROR = exc


def connect(docker_host, timeout=60):
    return docker.APIClient(base_url=docker_host, version='auto', timeout=timeout)


def observe(client, deployment):
    """The managed containers of a deployment on this engine, any revision."""
    found = []
    filters = {'label': ['%s=%s' % (rp.LABEL_DEPLOYMENT, deployment), rp.LABEL_MANAGED]}
    for summary in client.containers(all=True, filters=filters):
        labels = summary.get('Labels') or {}
        found.append(rp.Observed(
            name=summary['Names'][0].lstrip('/'),
            revision=int(labels[rp.LABEL_REVISION]),
            replica=int(labels[rp.LABEL_REPLICA]),
            port=int(labels[rp.LABEL_PORT]),
            fingerprint=labels.get(rp.LABEL_FINGERPRINT),
            running=summary.get('State') == 'running'))
    return sorted(found, key=lambda c: (c.revision, c.replica))


def used_host_ports(client):
    """Host ports that containers publish or that programs listen on."""
    used = set()
    for summary in client.containers(all=True):
        for binding in summary.get('Ports') or []:
            if binding.get('PublicPort'):
                used.add(int(binding['PublicPort']))
            # Stopped containers keep their port in the label only.
        label = (summary.get('Labels') or {}).get(rp.LABEL_PORT)
        if label:
            used.add(int(label))
    for path in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(path) as proc_file:
                used |= rp.listening_ports(proc_file.read())
        except IOError:
            pass
    return used


def create_replica(client, spec, replica, port):
    """Creates and starts one replica; returns its name."""
    name = rp.container_name(spec['deployment'], spec['revision'], replica)
    labels = {
        rp.LABEL_MANAGED: 'true',
        rp.LABEL_DEPLOYMENT: spec['deployment'],
        rp.LABEL_REVISION: str(spec['revision']),
        rp.LABEL_REPLICA: str(replica),
        rp.LABEL_PORT: str(port),
        rp.LABEL_FINGERPRINT: spec['fingerprint'],
    }
    host_config = client.create_host_config(
        port_bindings={rp.SERVER_PORT: (spec['bind_address'], port)},
        restart_policy={'Name': 'unless-stopped'},
        nano_cpus=int(spec['cpus'] * 1e9),
        mem_limit='%dm' % spec['memory_mb'],
    )
    client.create_container(
        image=spec['image'], name=name, environment=spec['environment'], labels=labels,
        ports=[rp.SERVER_PORT], host_config=host_config, stop_timeout=spec['stop_timeout'])
    client.start(name)
    return name


def remove(client, name, stop_timeout):
    """Stops a container with SIGTERM (the server drains) and removes it."""
    try:
        client.stop(name, timeout=stop_timeout)
        client.remove_container(name, v=True)
    except docker.errors.NotFound:
        pass


def probe(port, path, timeout=2):
    """HTTP status of GET path on 127.0.0.1:port, or None when nothing answers."""
    try:
        return open_url('http://127.0.0.1:%d%s' % (port, path), timeout=timeout, use_proxy=False).getcode()
    except HTTPError as exc:
        return exc.code
    except (URLError, IOError, ValueError):
        return None


def wait_healthy(client, containers, path, timeout):
    """Waits until every (name, port) answers 200 on path; raises with the
    reason and the log tail of the first that does not."""
    pending = dict(containers)
    deadline = time.time() + timeout
    last = {}
    while pending:
        for name, port in list(pending.items()):
            last[name] = probe(port, path)
            if last[name] == 200:
                del pending[name]
                continue
            state = client.inspect_container(name)['State']
            if not state.get('Running'):
                raise StoreError("container %s exited (code %s) before it was healthy; its last log lines:\n%s"
                                 % (name, state.get('ExitCode'), log_tail(client, name)))
        if not pending:
            break
        if time.time() > deadline:
            name = sorted(pending)[0]
            raise StoreError("container %s was not healthy within %d s (GET %s answered %s); its last log lines:\n%s"
                             % (name, timeout, path, last.get(name) or 'nothing', log_tail(client, name)))
        time.sleep(0.25)


def log_tail(client, name, lines=20):
    try:
        return mask_uri_passwords(client.logs(name, tail=lines).decode('utf-8', 'replace').rstrip())
    except docker.errors.APIError as exc:
        return '(logs unavailable: %s)' % exc
