# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every name derived from a deployment's name, in one place: the Postgres
database and role, the Redis user, the containers, the HAProxy frontend,
backend, server and file. Modules, the planner and the roles import them;
nothing re-derives them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os
import re

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

NAME_PATTERN = r'[a-z][a-z0-9-]{1,38}[a-z0-9]'
_NAME_RE = re.compile(r'\A' + NAME_PATTERN + r'\Z')

# Databases every cluster has; a deployment may never be named like them.
RESERVED_NAMES = frozenset(['postgres', 'template0', 'template1'])

DEFAULT_CONTROL_DATABASE = 'langgraph_control'

# Prefix of the database and role names, so that deployment objects are easy
# to tell apart from anything else in the cluster.
POSTGRES_PREFIX = 'lg_'

CONTAINER_PREFIX = 'lg-'
_CONTAINER_RE = re.compile(r'\Alg-(' + NAME_PATTERN + r')-r([0-9]+)-([0-9]+)\Z')

HAPROXY_FILE_PREFIX = 'langgraph-'
FRONTEND_PREFIX = 'fe_'
BACKEND_PREFIX = 'be_'
# HAProxy accepts longer server names, but they show in every log line and stats page.
SERVER_NAME_MAX = 63


class InvalidDeploymentName(StoreError):
    pass


def postgres_name(name):
    """Database and role name of a deployment: support-bot -> lg_support_bot."""
    return POSTGRES_PREFIX + name.replace('-', '_')


def redis_user_name(name):
    """Redis ACL user of a deployment: support-bot -> lg_support_bot (as its Postgres role)."""
    return POSTGRES_PREFIX + name.replace('-', '_')


def validate_deployment_name(name, control_database=DEFAULT_CONTROL_DATABASE):
    """Return name if it is a valid deployment name, else raise InvalidDeploymentName."""
    problem = deployment_name_problem(name, control_database)
    if problem:
        raise InvalidDeploymentName(problem)
    return name


def deployment_name_problem(name, control_database=DEFAULT_CONTROL_DATABASE):
    """What is wrong with a deployment name, or None."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return ("invalid deployment name %r: it must match %s (3 to 40 characters: "
                "lower-case letters, digits and '-', starting with a letter and not "
                "ending with '-')" % (name, NAME_PATTERN))
    reserved = set(RESERVED_NAMES)
    if control_database:
        reserved.add(control_database)
    if name in reserved or postgres_name(name) in reserved:
        return ("deployment name %r is reserved (%s are the cluster's own and the "
                "control database's names): choose another name"
                % (name, ', '.join(sorted(reserved))))
    return None


def container_name(deployment, revision, replica):
    """lg-support-bot-r3-1: replica 1 of revision 3 on its host."""
    return '%s%s-r%d-%d' % (CONTAINER_PREFIX, deployment, revision, replica)


def parse_container_name(name):
    """(deployment, revision, replica) of a container name, or None."""
    match = _CONTAINER_RE.match(name or '')
    if not match:
        return None
    return match.group(1), int(match.group(2)), int(match.group(3))


def migration_container_name(deployment, revision):
    return '%s%s-r%d-migrate' % (CONTAINER_PREFIX, deployment, revision)


def server_name(host, revision, replica):
    """The HAProxy server of a container: app1-r3-1. An inventory name too long
    for a readable server name keeps its start and gains a short hash, so two
    long names never collide."""
    suffix = '-r%d-%d' % (revision, replica)
    name = host + suffix
    if len(name) <= SERVER_NAME_MAX and re.match(r'\A[A-Za-z0-9][A-Za-z0-9_.-]*\Z', host):
        return name
    digest = hashlib.sha256(host.encode('utf-8')).hexdigest()[:8]
    cleaned = re.sub(r'[^A-Za-z0-9_.-]', '-', host).lstrip('-_.') or 'host'
    head = cleaned[:SERVER_NAME_MAX - len(suffix) - len(digest) - 1]
    return '%s-%s%s' % (head, digest, suffix)


def frontend_name(deployment):
    return FRONTEND_PREFIX + deployment


def backend_name(deployment):
    return BACKEND_PREFIX + deployment


def haproxy_config_path(config_dir, deployment):
    """The file holding a deployment's frontend and backend on a load balancer."""
    return os.path.join(config_dir, '%s%s.cfg' % (HAPROXY_FILE_PREFIX, deployment))
