# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Fleet-wide settings that shape every deployment's revision and where it is served: validate_deployments and
    fleet_plan take them all."""

    DOCUMENTATION = r'''
options:
  secrets_key:
    description:
      - Key of the keyed hash (HMAC-SHA256) of each deployment's secret values that joins its fingerprint, so that
        changing a secret makes a new revision; required when an entry has secrets. Keep it in Ansible Vault.
    type: str
  tracing:
    description:
      - The fleet's LangSmith settings and license key (C(tracing), C(api_key), C(endpoint), C(license_key), the deploy
        role's C(deploy_tracing)). With the entries' C(tracing), C(tracing_project) and C(langsmith_api_key) they give each
        deployment its C(LANGSMITH_*), C(LANGCHAIN_*) and C(LANGGRAPH_CLOUD_LICENSE_KEY) variables (docs/tracing.md).
        Tracing on without an API key is refused. Keep the keys in Ansible Vault.
    type: dict
  domain:
    description: C(langgraph_domain); an entry without C(hostname) is served as C(<name>.<domain>) on the HTTPS edge.
    type: str
    default: ""
  lb_without_edge:
    description:
      - The load balancers without the HTTPS edge (their C(haproxy_edge_enabled) is off); omit when unknown.
      - When a run puts deployments on the load balancers (not V(status), V(delete) or V(stores)), an entry without
        C(lb_port), or with C(hostname), is refused while any is listed, before anything changes. An entry's
        host name derived from O(domain) is dropped while any is listed (nothing routes it).
    type: list
    elements: str
'''
