# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Options of postgres_common_argument_spec() in module_utils/connection.py."""

    DOCUMENTATION = r'''
options:
  login_host:
    description: Host of the Postgres server.
    type: str
    default: localhost
  login_port:
    description: Port of the Postgres server.
    type: int
    default: 5432
  login_user:
    description: Admin role the module connects as (C(postgres_admin_user)).
    type: str
    default: langgraph_admin
  login_password:
    description: Password of O(login_user) (C(postgres_admin_password), keep it in Ansible Vault).
    type: str
  maintenance_db:
    description: Database to connect to when the control database does not exist yet.
    type: str
    default: postgres
  control_database:
    description: Name of the control database (C(postgres_control_database)).
    type: str
    default: langgraph_control
  ssl_mode:
    description: libpq C(sslmode) of the admin connection.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description: CA certificate file that verifies the server (for O(ssl_mode=verify-ca) and O(ssl_mode=verify-full)).
    type: path
  connect_timeout:
    description: Seconds to wait for a connection.
    type: int
    default: 10
requirements:
  - psycopg2 (Debian package C(python3-psycopg2)) on the host where the module runs
'''
