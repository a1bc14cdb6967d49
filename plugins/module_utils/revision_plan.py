# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Revision containers on one app host: names, labels, ports and the plan.

Pure functions: observed containers and the desired revision in, steps out.
The executor (docker_revisions.py) carries the steps out.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import re

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
# Re-exported: revision_containers names its containers through this module.
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import container_name  # noqa: F401  pylint: disable=unused-import

LABEL_MANAGED = 'selfhost.langgraph.managed'
LABEL_DEPLOYMENT = 'selfhost.langgraph.deployment'
LABEL_REVISION = 'selfhost.langgraph.revision'
LABEL_REPLICA = 'selfhost.langgraph.replica'
LABEL_PORT = 'selfhost.langgraph.port'
LABEL_FINGERPRINT = 'selfhost.langgraph.fingerprint'
LABEL_IMAGE = 'selfhost.langgraph.image'
# One-off migration containers: never counted as replicas (no managed label).
LABEL_MIGRATION = 'selfhost.langgraph.migration'

SERVER_PORT = 8000
DEFAULT_SHUTDOWN_GRACE = 180
# Docker kills a container this long after SIGTERM; the server needs its full
# shutdown grace to put background runs back in the queue, plus a margin.
STOP_TIMEOUT_MARGIN = 20

# name[:tag][@digest], with an optional registry host[:port] and path.
_IMAGE_RE = re.compile(
    r'\A(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*'
    r'(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?\Z')
_ENV_NAME_RE = re.compile(r'\A[A-Za-z_][A-Za-z0-9_]*\Z')


class Observed(object):
    """A managed container found on the host."""

    def __init__(self, name, revision, replica, port, fingerprint, running):
        self.name = name
        self.revision = revision
        self.replica = replica
        self.port = port
        self.fingerprint = fingerprint
        self.running = running

    def as_dict(self):
        return dict(name=self.name, revision=self.revision, replica=self.replica,
                    port=self.port, running=self.running)


class Plan(object):
    """What to do on one host: containers to create (replica numbers), to
    start again (names) and to remove (names)."""

    def __init__(self, create, start, remove):
        self.create = create
        self.start = start
        self.remove = remove

    @property
    def changed(self):
        return bool(self.create or self.start or self.remove)


def container_labels(deployment, revision, replica, port, fingerprint, image=None):
    """The labels a replica carries: how every later run finds and reads it."""
    labels = {
        LABEL_MANAGED: 'true',
        LABEL_DEPLOYMENT: deployment,
        LABEL_REVISION: str(revision),
        LABEL_REPLICA: str(replica),
        LABEL_PORT: str(port),
        LABEL_FINGERPRINT: fingerprint,
    }
    if image:
        labels[LABEL_IMAGE] = image
    return labels


def migration_labels(deployment, revision):
    return {LABEL_MIGRATION: 'true', LABEL_DEPLOYMENT: deployment, LABEL_REVISION: str(revision)}


def validate_image(image):
    if not _IMAGE_RE.match(image or ''):
        raise StoreError("invalid image reference %r: expected [registry[:port]/]name[:tag][@sha256:digest], "
                         "for example registry.example.com/support-bot:2024-11-20" % (image,))


def validate_env(env, what):
    for key, value in env.items():
        if not _ENV_NAME_RE.match(key):
            raise StoreError("%s name %r is not a valid environment variable name" % (what, key))
        if value is None:
            raise StoreError("%s %s has no value" % (what, key))


def stop_timeout(env):
    """Seconds Docker waits after SIGTERM before killing a replica."""
    grace = env.get('BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS', DEFAULT_SHUTDOWN_GRACE)
    try:
        grace = int(grace)
    except (TypeError, ValueError):
        raise StoreError("BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS must be a whole number of seconds, got %r" % (grace,))
    return grace + STOP_TIMEOUT_MARGIN


def fingerprint(image, env, secrets):
    """Identity of a revision's configuration: image, environment and secret
    *names* (never their values), so a label can carry it."""
    material = json.dumps({'image': image, 'env': sorted(env.items()), 'secrets': sorted(secrets)},
                          sort_keys=True)
    return hashlib.sha256(material.encode('utf-8')).hexdigest()[:16]


def plan_revision(observed, revision, replicas, wanted_fingerprint):
    """Steps that make exactly `replicas` running containers of `revision`.

    Other revisions are left alone: the roll-out removes them only after they
    are drained. Replicas above the count are removed highest number first.
    """
    mine = sorted((c for c in observed if c.revision == revision), key=lambda c: c.replica)
    for container in mine:
        if container.fingerprint != wanted_fingerprint:
            raise StoreError("container %s runs revision %d with another image or environment; revisions "
                             "are immutable, so create a new revision instead" % (container.name, revision))
    keep = mine[:replicas]
    remove = [c.name for c in mine[replicas:]]
    start = [c.name for c in keep if not c.running]
    taken = set(c.replica for c in keep)
    create = []
    candidate = 1
    while len(keep) + len(create) < replicas:
        if candidate not in taken:
            create.append(candidate)
        candidate += 1
    return Plan(create=create, start=start, remove=remove)


def plan_removal(observed, revisions):
    """Names of the containers of the given revisions (all when None)."""
    return [c.name for c in observed if revisions is None or c.revision in revisions]


def pick_ports(count, used, low, high):
    """The `count` lowest free ports in [low, high]."""
    ports = []
    for port in range(low, high + 1):
        if len(ports) == count:
            break
        if port not in used:
            ports.append(port)
    if len(ports) < count:
        raise StoreError("no free host port for %d more container(s) in %d-%d (%d in use); widen port_range"
                         % (count, low, high, len([p for p in used if low <= p <= high])))
    return ports


def listening_ports(proc_net_tcp_text):
    """Local ports in LISTEN state from the text of /proc/net/tcp or tcp6."""
    ports = set()
    for line in proc_net_tcp_text.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == '0A':
            ports.add(int(fields[1].rsplit(':', 1)[1], 16))
    return ports
