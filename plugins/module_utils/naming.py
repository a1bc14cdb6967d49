# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deployment names and the Postgres names derived from them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

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


class InvalidDeploymentName(StoreError):
    pass


def postgres_name(name):
    """Database and role name of a deployment: support-bot -> lg_support_bot."""
    return POSTGRES_PREFIX + name.replace('-', '_')


def validate_deployment_name(name, control_database=DEFAULT_CONTROL_DATABASE):
    """Return name if it is a valid deployment name, else raise InvalidDeploymentName."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidDeploymentName(
            "invalid deployment name %r: it must match %s (3 to 40 characters: "
            "lower-case letters, digits and '-', starting with a letter and not "
            "ending with '-')" % (name, NAME_PATTERN))
    reserved = set(RESERVED_NAMES)
    if control_database:
        reserved.add(control_database)
    if name in reserved or postgres_name(name) in reserved:
        raise InvalidDeploymentName(
            "deployment name %r is reserved (%s are the cluster's own and the "
            "control database's names): choose another name"
            % (name, ', '.join(sorted(reserved))))
    return name
