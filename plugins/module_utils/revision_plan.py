# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a revision's containers carry on an app host: labels, image
reference and environment checks, stop timeout, configuration fingerprint,
and the host ports in use. Pure functions; app_host.py decides with them and
docker_revisions.py does the Docker calls.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import hmac
import json
import re

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

LABEL_MANAGED = 'selfhost.langgraph.managed'
LABEL_DEPLOYMENT = 'selfhost.langgraph.deployment'
LABEL_REVISION = 'selfhost.langgraph.revision'
LABEL_REPLICA = 'selfhost.langgraph.replica'
LABEL_PORT = 'selfhost.langgraph.port'
LABEL_FINGERPRINT = 'selfhost.langgraph.fingerprint'
LABEL_IMAGE = 'selfhost.langgraph.image'
# The container's limits, so that a planner sees what every container takes,
# also of deployments it is not acting on (Docker's list call does not give limits).
LABEL_CPUS = 'selfhost.langgraph.cpus'
LABEL_MEMORY_MB = 'selfhost.langgraph.memory_mb'
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


def container_labels(deployment, revision, replica, port, fingerprint, image=None, cpus=None, memory_mb=None):
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
    if cpus is not None:
        labels[LABEL_CPUS] = '%g' % cpus
    if memory_mb is not None:
        labels[LABEL_MEMORY_MB] = str(int(memory_mb))
    return labels


def container_size(labels):
    """(cpus as float, memory_mb as int) from a replica's labels; None for a
    label that is missing (containers made before it existed) or unreadable."""
    return _number(labels.get(LABEL_CPUS), float), _number(labels.get(LABEL_MEMORY_MB), int)


def _number(text, kind):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        return None
    # nan and inf are floats too; no container has a limit near 10**9.
    return value if 0 < value < 10 ** 9 else None


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


# How a server authenticates to Redis (REDIS_URI). Part of every fingerprint,
# so that a change of it (the shared password -> a per-deployment ACL user)
# rolls every deployment out once, beside its old containers.
REDIS_AUTH = 'acl-user'


def fingerprint(image, env, secrets, secrets_mac=None, redis_auth=REDIS_AUTH):
    """Identity of a revision's configuration: image, environment, secret names
    and a keyed MAC of the secret values (secrets_mac), so that changing a
    secret makes a new revision while no value, nor an unkeyed hash of one,
    is kept anywhere; and the Redis authentication mode (redis_auth)."""
    identity = {'image': image, 'env': sorted(env.items()), 'secrets': sorted(secrets), 'redis_auth': redis_auth}
    if secrets_mac:
        identity['secrets_mac'] = secrets_mac
    material = json.dumps(identity, sort_keys=True)
    return hashlib.sha256(material.encode('utf-8')).hexdigest()[:16]


def secrets_mac(secrets, key):
    """HMAC-SHA256, under the fleet's key, of a deployment's secret values; None without secrets."""
    if not secrets:
        return None
    if not key:
        raise StoreError('secrets need a key for their fingerprint: set stores_password_seed (Ansible Vault)')
    material = json.dumps(sorted((str(k), str(v)) for k, v in secrets.items()))
    return hmac.new(key.encode('utf-8'), material.encode('utf-8'), hashlib.sha256).hexdigest()


def listening_ports(proc_net_tcp_text):
    """Local ports in LISTEN state from the text of /proc/net/tcp or tcp6."""
    ports = set()
    for line in proc_net_tcp_text.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == '0A':
            ports.add(int(fields[1].rsplit(':', 1)[1], 16))
    return ports
