# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment entry: its keys, defaults, types and limits, and its
validation. The only home of these: the planner, the modules and the roles'
argument specs (generated from FIELDS, see tools/argument-specs.py) use them.

parse_deployments() turns the inventory's `langgraph_deployments` into
normalized dicts that hold no secret value, or raises DeploymentError with
every problem of every entry in one message.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import difflib
import re

from ansible_collections.selfhost.langgraph.plugins.module_utils.app_source import source_problems
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import deployment_name_problem
from ansible_collections.selfhost.langgraph.plugins.module_utils.revision_plan import (
    fingerprint, secrets_mac, validate_image)
from ansible_collections.selfhost.langgraph.plugins.module_utils import redis_instance
from ansible_collections.selfhost.langgraph.plugins.module_utils import edge
from ansible_collections.selfhost.langgraph.plugins.module_utils import tracing as tracing_env

# Seed 001: development 1 CPU, 1 GB, one container; production 2 CPU, 2 GB, up to 10.
TYPES = {
    'development': {'cpus': 1, 'memory_mb': 1024, 'max_replicas': 1},
    'production': {'cpus': 2, 'memory_mb': 2048, 'max_replicas': 10},
}
DEFAULT_TYPE = 'production'

# Fleet-wide defaults of the autoscaling keys (the autoscale role's variables
# override them for the fleet, an entry for itself).
AUTOSCALE_DEFAULTS = {
    'target_concurrency': 10.0,
    'jobs_per_container': 10,
    'autoscale_queue': True,
    'autoscale_tolerance': 0.1,
    'scale_down_delay': '30m',
}

# Variables the collection sets in every container; an entry may not set them.
RESERVED_ENV = frozenset(['DATABASE_URI', 'POSTGRES_URI', 'REDIS_URI'])

_ENV_NAME_RE = re.compile(r'\A[A-Za-z_][A-Za-z0-9_]*\Z')
_DURATION_RE = re.compile(r'\A\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*\Z')


class DeploymentError(StoreError):
    """Problems with the deployment entries; the message lists every one."""


class Field(object):
    def __init__(self, key, kind, description, default=None, choices=None, elements=None, secret=False):
        self.key = key
        self.kind = kind
        self.description = description
        self.default = default
        self.choices = choices
        self.elements = elements
        self.secret = secret


FIELDS = [
    Field('name', 'str', 'Name of the deployment: 3 to 40 characters, [a-z][a-z0-9-]{1,38}[a-z0-9].'),
    Field('image', 'str', 'Image of the LangGraph API server, [registry[:port]/]name[:tag][@sha256:digest]. '
                          'Required to deploy, unless source is given.'),
    Field('source', 'dict', 'Instead of image: the LangGraph app to build, {path: DIRECTORY on the controller} or '
                            '{git: URL, ref: BRANCH|TAG|COMMIT}, with langgraph.json at its top (docs/build.md).'),
    Field('type', 'str', 'development (1 CPU, 1 GB, one container) or production (2 CPU, 2 GB, up to 10 '
                         'containers).', default=DEFAULT_TYPE, choices=sorted(TYPES)),
    Field('min_replicas', 'int', 'Fewest containers (1 or more).', default=1),
    Field('max_replicas', 'int', "Most containers, at most the type's limit (development 1, production 10); "
                                 "the type's limit when omitted."),
    Field('lb_port', 'int', 'Port on every load balancer that serves the deployment as plain HTTP. Optional with '
                            'a host name (hostname, or langgraph_domain): the HTTPS edge serves it then.'),
    Field('hostname', 'str', 'Host name the HTTPS edge of every load balancer serves the deployment on '
                             '(docs/edge.md); <name>.<langgraph_domain> when omitted.'),
    Field('env', 'dict', 'Environment of the server (not secret: it is recorded with each revision).',
          default={}),
    Field('secrets', 'dict', 'Secret environment (from Ansible Vault): only the names are recorded.',
          default={}, secret=True),
    Field('migrate_command', 'list', 'Command of the image that migrates the database, run once per '
                                     'revision before its containers start.', elements='str'),
    Field('postgres_password', 'str', 'Password of the deployment\'s Postgres role; derived from '
                                      'stores_password_seed when omitted.', secret=True),
    Field('postgres_host', 'str', 'Postgres host (inventory name) of the deployment\'s database; the one '
                                  'with the fewest deployments when omitted. Fixed once assigned.'),
    Field('redis_host', 'str', 'Redis host (inventory name) of the deployment\'s database number; the one '
                               'with the fewest deployments when omitted. Fixed once assigned.'),
    Field('redis_isolation', 'str', 'shared: a database number and an ACL user on the shared Redis of its host; '
                                    'instance: a redis-server of its own on its Redis host (own port, password and '
                                    'memory limit), for tenants that must not see the others\' pub/sub traffic '
                                    '(docs/redis-isolation.md). Fixed while the deployment exists.',
          default='shared', choices=list(redis_instance.ISOLATIONS)),
    Field('redis_maxmemory', 'raw', 'Memory limit of its dedicated Redis (redis_isolation: instance), such as 256mb '
                                    'or 1gb; %s when omitted.' % redis_instance.DEFAULT_MAXMEMORY),
    Field('autoscale', 'bool', 'Whether the autoscaler sets the container count.', default=True),
    Field('keep', 'bool', 'Whether the idle reaper (playbooks/reap.yml) leaves the deployment alone however long '
                          'it is unused.', default=False),
    Field('target_concurrency', 'float', 'Concurrent requests per container the autoscaler aims at '
                                         '(autoscale_target_concurrency when omitted).'),
    Field('jobs_per_container', 'int', 'Runs one container executes at once, for the queue rule '
                                       '(autoscale_jobs_per_container when omitted).'),
    Field('autoscale_queue', 'bool', 'Whether pending runs count for autoscaling (autoscale_queue when '
                                     'omitted).'),
    Field('autoscale_tolerance', 'float', 'Fraction of the current count within which the load does not '
                                          'move it (autoscale_tolerance when omitted).'),
    Field('scale_down_delay', 'raw', 'How long a lower count must hold before it is applied: 90s, 30m, 1h '
                                     'or seconds (autoscale_scale_down_delay when omitted).'),
    Field('tracing', 'bool', 'Whether the server sends LangSmith traces (deploy_langsmith_tracing when omitted); '
                             'see docs/tracing.md.'),
    Field('tracing_project', 'str', "LangSmith project of the deployment's traces; its name when omitted."),
    Field('langsmith_api_key', 'str', 'Its own LangSmith API key (from Ansible Vault) instead of '
                                      'deploy_langsmith_api_key: only a keyed hash is recorded.', secret=True),
]
FIELD_BY_KEY = dict((f.key, f) for f in FIELDS)


def type_limits(deployment_type):
    """Limits of a type: dict with cpus, memory_mb and max_replicas."""
    try:
        return dict(TYPES[deployment_type])
    except KeyError:
        raise DeploymentError("unknown deployment type %r: use one of %s"
                              % (deployment_type, ', '.join(sorted(TYPES))))


def replica_bounds(deployment_type, min_replicas=None, max_replicas=None):
    """(min, max) of an entry, or a problem: (None, message)."""
    cap = TYPES[deployment_type]['max_replicas']
    low = 1 if min_replicas is None else min_replicas
    high = cap if max_replicas is None else max_replicas
    if not 1 <= low <= high <= cap:
        return None, ('replicas must satisfy 1 <= min_replicas <= max_replicas <= %d for a %s deployment '
                      '(got %d..%d)' % (cap, deployment_type, low, high))
    return (low, high), None


def parse_duration(value, what='scale_down_delay'):
    """Seconds from 1800, '1800', '90s', '30m', '1h', '1h30m'; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError('%s must be a duration such as 90s, 30m or 1h, not %r' % (what, value))
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        match = _DURATION_RE.match(text) if text else None
        if not match or not any(match.groups()):
            raise ValueError('%s must be a duration such as 90s, 30m, 1h30m or a number of seconds, not %r'
                             % (what, value))
        hours, minutes, rest = (float(g) if g else 0.0 for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + rest
    if seconds < 0:
        raise ValueError('%s must not be negative (got %r)' % (what, value))
    return seconds


# --- coercion: the forms inventories, -e and AWX surveys give ---------------------------------

def _coerce(kind, value):
    """(value, None) or (None, what was expected)."""
    if kind == 'str':
        return (value, None) if isinstance(value, str) and value != '' else (None, 'a non-empty string')
    if kind == 'int':
        if isinstance(value, bool):
            return None, 'a whole number'
        if isinstance(value, int):
            return value, None
        if isinstance(value, str) and re.match(r'\A\s*-?\d+\s*\Z', value):
            return int(value), None
        return None, 'a whole number'
    if kind == 'float':
        if isinstance(value, bool):
            return None, 'a number'
        if isinstance(value, (int, float)):
            return float(value), None
        try:
            return float(str(value)), None
        except ValueError:
            return None, 'a number'
    if kind == 'bool':
        if isinstance(value, bool):
            return value, None
        text = str(value).strip().lower()
        if text in ('true', 'yes', 'on', '1'):
            return True, None
        if text in ('false', 'no', 'off', '0'):
            return False, None
        return None, 'true or false'
    if kind == 'dict':
        return (value, None) if isinstance(value, dict) else (None, 'a mapping')
    if kind == 'list':
        return (list(value), None) if isinstance(value, (list, tuple)) else (None, 'a list')
    return value, None


def _env_problems(env, what):
    problems = []
    for key in sorted(env, key=str):
        value = env[key]
        if not isinstance(key, str) or not _ENV_NAME_RE.match(key):
            problems.append('%s name %r is not a valid environment variable name' % (what, key))
        elif key in RESERVED_ENV:
            problems.append('%s must not set %s: the collection gives every container its own' % (what, key))
        if value is None or isinstance(value, (dict, list)):
            problems.append('%s %s must be a string or a number' % (what, key))
        elif what == 'secret' and str(value) == '':
            problems.append('secret %s must not be empty: give it a value (from Ansible Vault) or remove it' % key)
    return problems


def _unknown_key_problem(key):
    close = difflib.get_close_matches(str(key), [f.key for f in FIELDS], n=1, cutoff=0.6)
    hint = ' (did you mean %s?)' % close[0] if close else ''
    return 'unknown key %s%s; valid keys: %s' % (key, hint, ', '.join(f.key for f in FIELDS))


def _with_tracing(name, values, settings):
    """(env, secrets, problems): the entry's env and secrets (values as strings) with the tracing variables
    (tracing.environment of the fleet's settings, tracing.fleet_settings) under them."""
    derived_env, derived_secrets, problems = tracing_env.environment(
        name or '', settings, values.get('tracing'), values.get('tracing_project'), values.get('langsmith_api_key'))
    env = dict((k, str(v)) for k, v in (values.get('env') or {}).items())
    secrets = dict((k, str(v)) for k, v in (values.get('secrets') or {}).items())
    env, secrets = tracing_env.merge(env, secrets, derived_env, derived_secrets)
    return env, secrets, problems


def _redis_problems(values):
    """Problems of redis_isolation and redis_maxmemory; sets the instance's default memory limit."""
    if values['redis_isolation'] not in redis_instance.ISOLATIONS:
        problem = 'redis_isolation must be %s, not %r' % (
            ' or '.join(redis_instance.ISOLATIONS), values['redis_isolation'])
        values['redis_isolation'] = 'shared'
        return [problem]
    if values['redis_isolation'] != 'instance':
        if values['redis_maxmemory'] is not None:
            return ['redis_maxmemory applies only to a dedicated Redis: set redis_isolation: instance, or remove '
                    'redis_maxmemory (the shared instance\'s limit is the redis role\'s redis_maxmemory)']
        return []
    if values['redis_maxmemory'] is None:
        values['redis_maxmemory'] = redis_instance.DEFAULT_MAXMEMORY
    try:
        redis_instance.parse_memory(values['redis_maxmemory'])
    except ValueError as exc:
        return [str(exc)]
    values['redis_maxmemory'] = str(values['redis_maxmemory']).strip()
    return []


def _parse_entry(entry, context):
    """(normalized dict, problems) of one entry."""
    problems = []
    if not isinstance(entry, dict):
        return None, ['must be a mapping of keys such as name, image and type']
    for key in entry:
        if key not in FIELD_BY_KEY:
            problems.append(_unknown_key_problem(key))
    values = {}
    for field in FIELDS:
        if field.key not in entry or entry[field.key] is None:
            values[field.key] = field.default
            continue
        value, expected = _coerce(field.kind, entry[field.key])
        if expected:
            shown = '(hidden)' if field.secret else repr(entry[field.key])
            problems.append('%s must be %s, not %s' % (field.key, expected, shown))
            values[field.key] = field.default
        else:
            values[field.key] = value

    name = values['name']
    if name is None:
        problems.append('name is missing')
    else:
        problem = deployment_name_problem(name, context.get('control_database'))
        if problem:
            problems.append(problem)
    if values['type'] not in TYPES:
        problems.append('type must be %s, not %r' % (' or '.join(sorted(TYPES)), values['type']))
        values['type'] = DEFAULT_TYPE
    bounds, problem = replica_bounds(values['type'], values['min_replicas'], values['max_replicas'])
    if problem:
        problems.append(problem)
        bounds = (1, 1)
    image = values['image']
    if image is not None and values['source'] is not None:
        problems.append('has both image and source: give image (a ready image) or source (the app to build), '
                        'not both')
    elif image is None and values['source'] is not None:
        problems += source_problems(values['source'])
    elif image is None and context.get('image_required'):
        problems.append('image is missing: name the image of the LangGraph server to deploy (or source, the '
                        'app to build)')
    elif image is not None:
        try:
            validate_image(image)
        except StoreError as exc:
            problems.append(str(exc))
    if values['lb_port'] is not None and not 1 <= values['lb_port'] <= 65535:
        problems.append('lb_port must be a port from 1 to 65535, not %d' % values['lb_port'])
    elif values['lb_port'] in context.get('reserved_ports', {}):
        problems.append('lb_port %d is taken by %s' % (values['lb_port'], context['reserved_ports'][values['lb_port']]))
    hostname, hostname_problems = _hostname(name, values, context)
    problems += hostname_problems
    problems += _env_problems(values['env'], 'env')
    problems += _env_problems(values['secrets'], 'secret')
    if values['migrate_command'] is not None and (
            not values['migrate_command'] or not all(isinstance(a, str) for a in values['migrate_command'])):
        problems.append('migrate_command must be a non-empty list of strings, such as [migrate]')
    for key, group in (('postgres_host', 'postgres_hosts'), ('redis_host', 'redis_hosts')):
        known = context.get(group)
        if values[key] is not None and known is not None and values[key] not in known:
            problems.append('%s %s is not a host of group %s (its hosts: %s)'
                            % (key, values[key], 'langgraph_' + key.split('_', 1)[0],
                               ', '.join(known) or 'none'))
    problems += _redis_problems(values)
    autoscale = dict(AUTOSCALE_DEFAULTS, **context.get('autoscale_defaults', {}))
    for key in AUTOSCALE_DEFAULTS:
        if values[key] is None:
            values[key] = autoscale[key]
    try:
        delay = parse_duration(values['scale_down_delay'])
    except ValueError as exc:
        problems.append(str(exc))
        delay = 0.0
    if values['target_concurrency'] <= 0:
        problems.append('target_concurrency must be greater than 0')
    if values['jobs_per_container'] <= 0:
        problems.append('jobs_per_container must be greater than 0')
    if not 0 <= values['autoscale_tolerance'] < 1:
        problems.append('autoscale_tolerance must be a fraction from 0 to below 1, such as 0.1')

    env, secrets, tracing_problems = _with_tracing(
        name, values, context.get('tracing_settings') or tracing_env.fleet_settings(context.get('tracing'))[0])
    problems += tracing_problems
    secret_names = sorted(secrets)
    mac = None
    try:
        mac = secrets_mac(secrets, context.get('secrets_key'))
    except StoreError as exc:
        problems.append(str(exc))
    limits = TYPES[values['type']]
    normalized = dict(
        name=name, image=image, type=values['type'], cpus=limits['cpus'], memory_mb=limits['memory_mb'],
        min_replicas=bounds[0], max_replicas=bounds[1], lb_port=values['lb_port'], hostname=hostname,
        migrate_command=values['migrate_command'], env=env, secret_names=secret_names,
        postgres_host=values['postgres_host'], redis_host=values['redis_host'],
        redis_isolation=values['redis_isolation'], redis_maxmemory=values['redis_maxmemory'],
        autoscale=values['autoscale'], keep=values['keep'], target_concurrency=values['target_concurrency'],
        jobs_per_container=values['jobs_per_container'], autoscale_queue=values['autoscale_queue'],
        autoscale_tolerance=values['autoscale_tolerance'], scale_down_delay=delay,
        fingerprint=fingerprint(image, env, secret_names, mac) if image else None,
        # Keyed, so it tells whether a revision ran today's secret values without keeping any value.
        secrets_mac=mac,
    )
    return normalized, problems


def _hostname(name, values, context):
    """(host name on the HTTPS edge or None, problems) of an entry.

    A deployment is served on its lb_port, on its host name through the HTTPS edge, or both: it needs one of
    them. context lb_without_edge: the load balancers without the edge (haproxy_edge_enabled off), None when
    unknown; edge_required: whether the run puts the deployment on the load balancers (not status, delete or
    stores), so that a deployment the edge cannot serve is refused before anything changes. Without the edge,
    a host name derived from the domain is dropped (nothing to route); one the entry gives is refused.
    """
    problems = []
    hostname = None
    explicit = values['hostname'] is not None
    if explicit:
        problem = edge.hostname_problem(values['hostname'])
        if problem:
            problems.append(problem)
        else:
            hostname = values['hostname']
    elif name is not None and context.get('domain'):
        hostname = edge.deployment_hostname(name, None, context['domain'])
    no_edge = context.get('lb_without_edge')
    where = ', '.join(sorted(no_edge or []))
    if values['lb_port'] is None and context.get('lb_port_required', True):
        if not explicit and hostname is None:
            problems.append('has neither lb_port nor a host name: set lb_port (plain HTTP on a port of its own), or '
                            'hostname (or langgraph_domain, for <name>.<domain>) to serve it on the HTTPS edge')
        elif no_edge and context.get('edge_required'):
            problems.append('has no lb_port and the load balancers have no HTTPS edge (haproxy_edge_enabled is off '
                            'on %s): set lb_port, or enable the edge' % where)
    elif explicit and no_edge and context.get('edge_required'):
        problems.append('has hostname %s but the load balancers have no HTTPS edge (haproxy_edge_enabled is off on '
                        '%s): enable the edge, or remove hostname and serve it on its lb_port'
                        % (values['hostname'], where))
    if no_edge and not explicit:
        hostname = None
    return hostname, problems


def parse_deployments(entries, context=None):
    """Normalized deployments (no secret values), in the order given.

    context: image_required, lb_port_required (an entry needs lb_port or a host name) and edge_required (bools),
    lb_without_edge (the load balancers without the HTTPS edge, None when unknown), secrets_key (the key of the
    secrets' fingerprint), tracing (the fleet's LangSmith settings, see tracing.fleet_settings),
    control_database, postgres_hosts and redis_hosts (inventory names, to check pins),
    reserved_ports ({port: what uses it}), domain (langgraph_domain: default host names), autoscale_defaults (the fleet's values of AUTOSCALE_DEFAULTS).
    Raises DeploymentError listing every problem of every entry.
    """
    context = dict(context or {})
    context['tracing_settings'], problems = tracing_env.fleet_settings(context.get('tracing'))
    problem = edge.domain_problem(context.get('domain'))
    if problem:
        problems.append(problem)
        context['domain'] = None
    if entries is None:
        entries = []
    if not isinstance(entries, (list, tuple)):
        raise DeploymentError('langgraph_deployments must be a list of deployment entries, not %s'
                              % type(entries).__name__)
    parsed = []
    for index, entry in enumerate(entries):
        normalized, entry_problems = _parse_entry(entry, context)
        label = 'entry %d' % (index + 1)
        if normalized and normalized['name']:
            label += ' (%s)' % normalized['name']
        problems += ['%s: %s' % (label, p) for p in entry_problems]
        if normalized:
            parsed.append(normalized)
    problems += _fleet_problems(parsed)
    if problems:
        raise DeploymentError('langgraph_deployments has %d problem%s; nothing was changed:\n- %s'
                              % (len(problems), '' if len(problems) == 1 else 's', '\n- '.join(problems)))
    return parsed


def _fleet_problems(parsed):
    problems = []
    for key, what in (('name', 'name'), ('lb_port', 'lb_port'), ('hostname', 'host name')):
        seen = {}
        for entry in parsed:
            value = entry[key]
            if value is None:
                continue
            if value in seen:
                problems.append('%s and %s have the same %s %s: each deployment needs its own'
                                % (seen[value], entry['name'], what, value))
            else:
                seen[value] = entry['name']
    return problems


def select(deployments, name):
    """The deployments to act on: all, or the one named (-e deployment=NAME)."""
    if not name:
        return list(deployments)
    chosen = [d for d in deployments if d['name'] == name]
    if not chosen:
        known = [d['name'] for d in deployments]
        close = difflib.get_close_matches(name, known, n=1)
        raise DeploymentError('deployment %s is not in langgraph_deployments%s (it has: %s)'
                              % (name, ' (did you mean %s?)' % close[0] if close else '',
                                 ', '.join(known) or 'none'))
    return chosen


def secrets_of(entries, tracing=None):
    """{name: {NAME: value}} of the entries' secrets, values as strings, with the tracing keys
    (tracing: the fleet's settings, see tracing.fleet_settings) under them."""
    settings = tracing_env.fleet_settings(tracing)[0]
    found = {}
    for entry in entries or []:
        if not isinstance(entry, dict) or not isinstance(entry.get('secrets') or {}, dict):
            continue
        switch = None if entry.get('tracing') is None else _coerce('bool', entry['tracing'])[0]
        values = dict(entry, env={}, tracing=switch)
        secrets = _with_tracing(entry.get('name'), values, settings)[1]
        if secrets or isinstance(entry.get('secrets'), dict):
            found[entry.get('name')] = secrets
    return found


def argument_spec_options():
    """The entry's keys as role argument-spec suboptions (see tools/argument-specs.py)."""
    options = {}
    for field in FIELDS:
        option = {'description': field.description, 'type': field.kind}
        if field.key == 'name':
            option['required'] = True
        if field.choices:
            option['choices'] = list(field.choices)
        if field.elements:
            option['elements'] = field.elements
        if field.default is not None and field.default != {}:
            option['default'] = field.default
        options[field.key] = option
    return options
