# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """The postgres_servers option of store_batches.postgres_servers_option(): every module that logs in to the
    deployments' Postgres hosts as the admin."""

    DOCUMENTATION = r'''
options:
  postgres_servers:
    description: The Postgres hosts of the deployments and how to reach each as the admin (the C(postgres_servers) filter's list).
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: Inventory name of the host.
        type: str
        required: true
      address:
        description: Address the LangGraph servers reach it at (in the URIs).
        type: str
        required: true
      port:
        description: Port of Postgres.
        type: int
        default: 5432
      login_host:
        description: Address the module logs in at as the admin; V(127.0.0.1) for the host the module runs on. Defaults to O(postgres_servers[].address).
        type: str
      admin_user:
        description: Admin role (C(postgres_admin_user)); needs C(CREATEDB) and C(CREATEROLE).
        type: str
        default: langgraph_admin
      admin_password:
        description: Password of the admin role.
        type: str
      sslmode:
        description:
          - C(sslmode) added to the database URIs (set it when the server has TLS, V(verify-full) with O(postgres_servers[].ca_cert)).
          - With it the admin connection requires TLS too, and with O(postgres_servers[].ca_cert) verifies the certificate
            (C(verify-ca), not its host name, since O(postgres_servers[].login_host) may be loopback).
        type: str
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
      ca_cert:
        description:
          - CA certificate file that verifies the server's certificate, at the same path on the host the module runs on and
            in the LangGraph servers' containers; added to the database URIs as C(sslrootcert).
        type: path
'''
