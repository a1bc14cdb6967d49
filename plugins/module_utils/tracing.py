# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""LangSmith tracing and the license key: the environment a deployment's
server gets from the fleet's settings and its entry's overrides. Pure.

The fleet's settings (the deploy role's variables, keys from Ansible Vault):
    tracing      deploy_langsmith_tracing   send traces (bool)
    api_key      deploy_langsmith_api_key   LangSmith API key (secret)
    endpoint     deploy_langsmith_endpoint  a self-hosted LangSmith; empty: the public one
    license_key  deploy_license_key         LANGGRAPH_CLOUD_LICENSE_KEY (secret)
The entry's overrides: tracing (bool), tracing_project, langsmith_api_key (secret).

Each value is given under the current LANGSMITH_* name and the LANGCHAIN_*
name the LangGraph Platform documents. The switch is written out whenever a
key is present, because langgraph-api turns tracing on by itself when it has
an API key and no switch. With no key and tracing off nothing is added, so
fleets that do not use these settings keep their revisions' fingerprints.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

TRACING_NAMES = ('LANGSMITH_TRACING', 'LANGCHAIN_TRACING_V2')
API_KEY_NAMES = ('LANGSMITH_API_KEY', 'LANGCHAIN_API_KEY')
PROJECT_NAMES = ('LANGSMITH_PROJECT', 'LANGCHAIN_PROJECT')
ENDPOINT_NAMES = ('LANGSMITH_ENDPOINT', 'LANGCHAIN_ENDPOINT')
LICENSE_NAME = 'LANGGRAPH_CLOUD_LICENSE_KEY'
PUBLIC_ENDPOINT = 'https://api.smith.langchain.com'

# Where each fleet setting comes from, for messages.
SETTING = {
    'tracing': 'deploy_langsmith_tracing',
    'api_key': 'deploy_langsmith_api_key',
    'endpoint': 'deploy_langsmith_endpoint',
    'license_key': 'deploy_license_key',
}
_URL_RE = re.compile(r'\Ahttps?://[^\s/]+(/\S*)?\Z')
_TRUE = ('true', 'yes', 'on', '1')
_FALSE = ('false', 'no', 'off', '0', '')


def _bool(value):
    """True, False or None (not a boolean)."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _text(value):
    return '' if value is None else str(value).strip()


def fleet_settings(raw):
    """(settings, problems) of the fleet's settings: tracing (bool), api_key, endpoint, license_key (strings).

    raw is a dict with those keys (missing or empty ones are off/empty); the values are never put in a problem.
    """
    raw = raw or {}
    problems = []
    if not isinstance(raw, dict):
        return fleet_settings({})[0], ['the tracing settings must be a mapping of %s' % ', '.join(sorted(SETTING))]
    tracing = _bool(raw.get('tracing'))
    if tracing is None:
        problems.append('%s must be true or false, not %r' % (SETTING['tracing'], raw.get('tracing')))
        tracing = False
    endpoint = _text(raw.get('endpoint')).rstrip('/')
    if endpoint and not _URL_RE.match(endpoint):
        problems.append('%s must be the http(s) URL of a self-hosted LangSmith API, such as '
                        'https://langsmith.example.com/api/v1, or empty for the public one (got %r)'
                        % (SETTING['endpoint'], endpoint))
    return dict(tracing=tracing, api_key=_text(raw.get('api_key')), endpoint=endpoint,
                license_key=_text(raw.get('license_key'))), problems


def environment(name, fleet, tracing=None, project=None, api_key=None):
    """(env, secrets, problems) a deployment's server gets from the tracing settings.

    name: the deployment's name (the project unless project is given); fleet: fleet_settings()'s
    settings; tracing, project, api_key: the entry's overrides (None: the fleet's).
    env holds the switch, project and endpoint (recorded with the revision); secrets the API key and
    the license key (only their names and a keyed hash are recorded).
    """
    enabled = fleet['tracing'] if tracing is None else bool(tracing)
    key = _text(api_key) or fleet['api_key']
    env, secrets, problems = {}, {}, []
    if enabled and not key:
        why = "the entry's tracing is true" if tracing else '%s is true' % SETTING['tracing']
        problems.append('tracing is on (%s) but no LangSmith API key is set: set %s (in Ansible Vault) or the '
                        "entry's langsmith_api_key, or set the entry's tracing to false"
                        % (why, SETTING['api_key']))
    if enabled or key:
        for var in TRACING_NAMES:
            env[var] = 'true' if enabled else 'false'
    if enabled:
        for var in PROJECT_NAMES:
            env[var] = _text(project) or name
    if fleet['endpoint'] and (enabled or key):
        for var in ENDPOINT_NAMES:
            env[var] = fleet['endpoint']
    if key:
        for var in API_KEY_NAMES:
            secrets[var] = key
    if fleet['license_key']:
        secrets[LICENSE_NAME] = fleet['license_key']
    return env, secrets, problems


def merge(env, secrets, derived_env, derived_secrets):
    """(env, secrets) with the derived variables under the entry's own: a name the entry sets in its env or
    its secrets keeps the entry's value, in the entry's place."""
    own = set(env) | set(secrets)
    merged_env = dict((k, v) for k, v in derived_env.items() if k not in own)
    merged_env.update(env)
    merged_secrets = dict((k, v) for k, v in derived_secrets.items() if k not in own)
    merged_secrets.update(secrets)
    return merged_env, merged_secrets


def _first(env, names):
    for var in names:
        if env.get(var):
            return env[var]
    return None


def summary(env, secret_names=()):
    """What a server with this environment does, as langgraph-api reads it: {'tracing': bool, 'project',
    'endpoint'} (project and endpoint None when tracing is off). Never looks at a secret's value."""
    switch = None
    for var in ('LANGSMITH_TRACING', 'LANGSMITH_TRACING_V2', 'LANGCHAIN_TRACING_V2', 'LANGCHAIN_TRACING'):
        if env.get(var) not in (None, ''):
            switch = _bool(env[var])
            break
    has_key = any(var in secret_names or env.get(var) for var in API_KEY_NAMES + ('LANGSMITH_CONTROL_PLANE_API_KEY',))
    enabled = bool(switch) if switch is not None else has_key
    if not enabled:
        return dict(tracing=False, project=None, endpoint=None)
    return dict(tracing=True, project=_first(env, PROJECT_NAMES) or 'default',
                endpoint=_first(env, ENDPOINT_NAMES) or PUBLIC_ENDPOINT)


def summary_text(env, secret_names=()):
    """'tracing on: project P at ENDPOINT' or 'tracing off', for the status table."""
    found = summary(env, secret_names)
    if not found['tracing']:
        return 'tracing off'
    return 'tracing on: project %s at %s' % (found['project'], found['endpoint'])
