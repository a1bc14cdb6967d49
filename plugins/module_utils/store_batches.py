# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stores of many deployments in one call (deployment_stores module).

Each deployment's database and role live on the Postgres host it is pinned
to, its Redis number on its Redis host. The work is grouped per server: one
admin connection per Postgres server, one connection per Redis server, one
transaction per Redis instance for the numbers and one for the records. A
deployment's problem is its own (failures); the others go on.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils import control_plane
from ansible_collections.selfhost.langgraph.plugins.module_utils import postgres_store
from ansible_collections.selfhost.langgraph.plugins.module_utils import redis_instance as redis_instance_mode
from ansible_collections.selfhost.langgraph.plugins.module_utils import redis_store
from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    postgres_connect,
    postgres_try_login,
    redis_connect,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.control_schema import migrate
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import postgres_name, redis_user_name
from ansible_collections.selfhost.langgraph.plugins.module_utils.passwords import derived_password, derived_redis_password
from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import (
    SSLMODES,
    database_uri,
    mask_uri_passwords,
    redis_uri,
)

try:
    import psycopg2
except ImportError:  # reported by connection.check_libraries()
    psycopg2 = None

try:
    import redis
except ImportError:  # reported by connection.check_libraries()
    redis = None

HOSTS = (('postgres_host', 'Postgres', 'postgres_servers'), ('redis_host', 'Redis', 'redis_servers'))
RECORD_FIELDS = ('type', 'postgres_database', 'postgres_role', 'postgres_host', 'redis_host')
VERIFYING_SSLMODES = ('require', 'verify-ca', 'verify-full')


# --- decisions (pure) -----------------------------------------------------------------------------

def index_servers(servers, option):
    """{host: server}; a host listed twice is refused."""
    index = {}
    for server in servers:
        if server['host'] in index:
            raise StoreError('%s lists host %s twice: give each host once' % (option, server['host']))
        index[server['host']] = server
    return index


def plan_stores(deployments, postgres_servers, redis_servers, recorded, password_seed, allocated=None):
    """Check the input and place each deployment's stores.

    deployments: the module's entries; recorded: {name: recorded row with
    postgres_database, postgres_host and redis_host}; servers: {host:
    server}; allocated: {name: Redis instance key it has a number on} (a
    dedicated instance's: <address>:<its port>).
    Returns (entries, failed): entries [{name, state, type, postgres_host,
    redis_host, password}] to handle, failed {name: reason} for deployments
    asked to move from their pinned host. A host is the entry's, else the
    pin, else (Redis) the server of the recorded allocation; a deployment to
    remove that has nothing on one side gets None there. Input no
    deployment can be handled with raises StoreError, before anything is
    touched."""
    servers = dict(postgres_servers=postgres_servers, redis_servers=redis_servers)
    allocated = allocated or {}
    instance_hosts = dict((redis_instance(server), host) for host, server in redis_servers.items())
    shared_keys = set(instance_hosts)
    # A dedicated instance's allocation is keyed <address>:<its port>.
    dedicated = dict((redis_instance_mode.instance_key(server['address'], port), host)
                     for host, server in redis_servers.items() for port in range(*_port_bounds(server)))
    instance_hosts.update(dedicated)
    entries, failed, seen = [], {}, set()
    for deployment in deployments:
        name = deployment['name']
        if name in seen:
            raise StoreError('deployment %s is listed twice in deployments: give each once' % name)
        seen.add(name)
        if deployment['state'] == 'absent' and not deployment['purge']:
            raise StoreError('refusing to drop the stores of deployment %s: state=absent deletes its database and '
                             'flushes its Redis database; set purge: true to confirm' % name)
        entry = dict(name=name, state=deployment['state'], type=deployment.get('type'), password=None)
        if deployment['state'] == 'present':
            entry['redis_isolation'] = deployment.get('redis_isolation') or 'shared'
            problem = redis_instance_mode.isolation_problem(
                name, entry['redis_isolation'], redis_instance_mode.recorded_isolation(allocated.get(name), shared_keys, dedicated))
            if problem:
                failed[name] = problem
                continue
            if entry['redis_isolation'] == 'instance':
                try:
                    entry['redis_maxmemory'] = redis_instance_mode.parse_memory(
                        deployment.get('redis_maxmemory') or redis_instance_mode.DEFAULT_MAXMEMORY,
                        'redis_maxmemory of deployment %s' % name)
                except ValueError as e:
                    raise StoreError(str(e))
        else:
            entry['redis_isolation'] = redis_instance_mode.recorded_isolation(allocated.get(name), shared_keys, dedicated) or 'shared'
        pinned = recorded.get(name) or {}
        has_stores = dict(postgres_host=bool(pinned.get('postgres_database')), redis_host=name in allocated)
        for field, what, option in HOSTS:
            given, pin = deployment.get(field), pinned.get(field)
            if given and pin and given != pin:
                failed[name] = ('deployment %s is pinned to %s host %s (its data lives there), not %s'
                                % (name, what, pin, given))
                break
            host = given or pin
            if not host and field == 'redis_host' and name in allocated:
                host = instance_hosts.get(allocated[name])
                if not host:
                    raise StoreError('deployment %s has a Redis database on %s, which redis_servers does not list: '
                                     'add that server, or give redis_host' % (name, allocated[name]))
            if not host and deployment['state'] == 'absent' and not has_stores[field]:
                entry[field] = None  # nothing recorded there: nothing to remove
                continue
            if not host:
                raise StoreError('deployment %s has no %s host: give %s (the host control_state assigned it)'
                                 % (name, what, field))
            if host not in servers[option]:
                raise StoreError('deployment %s is on %s host %s, which %s does not list: add that host with its '
                                 'address and credentials' % (name, what, host, option))
            entry[field] = host
        if name in failed:
            continue
        if deployment['state'] == 'present':
            entry['password'] = deployment.get('postgres_password')
            if not entry['password']:
                if not password_seed:
                    raise StoreError('deployment %s has no postgres_password and password_seed is not set: give '
                                     'one of them' % name)
                entry['password'] = derived_password(password_seed, name)
            if not password_seed:
                raise StoreError('deployment %s needs password_seed: the password of its Redis user is derived from it'
                                 % name)
            entry['redis_password'] = derived_redis_password(password_seed, name)
        entries.append(entry)
    return entries, failed


def _port_bounds(server):
    """range() bounds of the server's dedicated-instance ports."""
    try:
        first, last = redis_instance_mode.parse_port_range(
            server.get('instance_ports') or redis_instance_mode.DEFAULT_PORTS,
            'instance_ports of Redis host %s' % server['host'])
    except ValueError as e:
        raise StoreError(str(e))
    return first, last + 1


def redis_instance(server):
    """Key of a Redis server in redis_allocations: the address, as deployment_redis keys it."""
    return '%s:%s' % (server['address'], server['port'])


def group_by(entries, field):
    """{value of field: [entries]} in the entries' order."""
    groups = {}
    for entry in entries:
        groups.setdefault(entry[field], []).append(entry)
    return groups


def admin_sslmode(sslmode, ca_cert=None):
    """libpq sslmode of the admin connection: encrypted when the URIs are; with
    the fleet's CA the certificate is verified (verify-ca), not the host name,
    since login_host (127.0.0.1 on the host itself) need not be a name the
    certificate carries."""
    if sslmode not in VERIFYING_SSLMODES:
        return 'prefer'
    return 'verify-ca' if ca_cert else 'require'


def plan_record(entry, recorded, postgres_done, redis_done):
    """The deployments row of entry after the run ({field: value}), or None
    when it stays as it is. Pins are set when the stores were made there
    and cleared when they were purged; type when given."""
    before = dict((f, (recorded or {}).get(f)) for f in RECORD_FIELDS)
    after = dict(before)
    role = postgres_name(entry['name'])
    if entry['state'] == 'present':
        if entry.get('type'):
            after['type'] = entry['type']
        if postgres_done:
            after.update(postgres_database=role, postgres_role=role)
            after['postgres_host'] = before['postgres_host'] or entry['postgres_host']
        if redis_done:
            after['redis_host'] = before['redis_host'] or entry['redis_host']
    else:
        if recorded is None:
            return None
        if postgres_done:
            after.update(postgres_database=None, postgres_role=None, postgres_host=None)
        if redis_done:
            after['redis_host'] = None
    if recorded is not None and after == before:
        return None
    return after


# --- doing ----------------------------------------------------------------------------------------

def postgres_servers_option(required=False):
    """The postgres_servers option (the postgres_servers filter's list) of every module that logs in to the
    deployments' Postgres hosts as the admin."""
    option = dict(type='list', elements='dict', options=dict(
        host=dict(type='str', required=True),
        address=dict(type='str', required=True),
        port=dict(type='int', default=5432),
        login_host=dict(type='str'),
        admin_user=dict(type='str', default='langgraph_admin'),
        admin_password=dict(type='str', no_log=True),
        sslmode=dict(type='str', choices=list(SSLMODES)),
        ca_cert=dict(type='path'),
    ))
    if required:
        option['required'] = True
    else:
        option['default'] = []
    return option


def postgres_login(server, connect_timeout):
    """postgres_connect's parameters for one postgres_servers entry, as the admin."""
    return dict(login_host=server.get('login_host') or server['address'], login_port=server['port'],
                login_user=server['admin_user'], login_password=server.get('admin_password'),
                ssl_mode=admin_sslmode(server.get('sslmode'), server.get('ca_cert')), ca_cert=server.get('ca_cert'),
                connect_timeout=connect_timeout)


def _postgres_params(server, p):
    return postgres_login(server, p['connect_timeout'])


def postgres_stage(server, entries, p, check_mode, warn):
    """Databases and roles of entries on one server, over one admin
    connection. Returns (done, failed): {name: [actions]}, {name: reason}."""
    params = _postgres_params(server, p)
    done, failed = {}, {}
    try:
        admin = postgres_connect(params, p['maintenance_db'], autocommit=True)
    except StoreError as e:
        return done, dict((entry['name'], str(e)) for entry in entries)
    try:
        cur = admin.cursor()
        roles = dict((entry['name'], postgres_name(entry['name'])) for entry in entries)
        states = postgres_store.observe_many(cur, roles.values())

        def try_login(role, password, database):
            # First where the servers connect (pg_hba.conf admits deployment roles from the app
            # network), then where the admin does.
            result = None
            for host, port, sslmode in ((server['address'], server['port'], server.get('sslmode') or 'prefer'),
                                        (params['login_host'], params['login_port'], params['ssl_mode'])):
                result = postgres_try_login(host, port, role, password, database or p['maintenance_db'],
                                            sslmode, p['connect_timeout'], server.get('ca_cert'))
                if result is not None:
                    break
            return result
        verdicts = postgres_store.check_passwords(
            cur, states, dict((roles[e['name']], e['password']) for e in entries if e['state'] == 'present'),
            try_login)
        for entry in entries:
            name, role = entry['name'], roles[entry['name']]
            verdict = verdicts.get(role, True)
            if verdict is None:
                warn('could not verify the current password of role %s on %s: pg_hba.conf does not let it log in '
                     'from this host, and %s is no superuser; so the password is set again'
                     % (role, server['host'], states[role]['admin']))
            actions = postgres_store.plan_postgres(states[role], entry['state'], role, verdict)
            if actions and not check_mode:
                try:
                    postgres_store.apply_actions(admin, actions, role, role, entry['password'])
                except psycopg2.Error as e:
                    failed[name] = 'Postgres on %s: %s' % (server['host'], mask_uri_passwords(str(e).strip()))
                    continue
            done[name] = postgres_store.describe(actions, role, role, states[role]['admin'])
    finally:
        admin.close()
    return done, failed


def redis_port(server):
    """The port to connect to: the TLS port when the server has TLS. The
    instance stays named by its plain port (redis_instance), which the
    allocations are recorded under."""
    return (server.get('tls_port') or server['port']) if server.get('tls') else server['port']


def _redis_params(server, p):
    return dict(redis_host=server['address'], redis_port=redis_port(server), redis_password=server.get('password'),
                redis_tls=server.get('tls'), redis_ca_cert=server.get('ca_cert'),
                redis_validate_certs=bool(server.get('ca_cert')), connect_timeout=p['connect_timeout'])


def plan_users(entries, numbers, observed, shown_for_one):
    """[(action, user, number, password)] that make each entry's ACL user
    what it should be: entries present with their number (numbers {name:
    (number, new)}; those without one are skipped), users of entries absent
    removed. observed {user: parse_getuser or None}."""
    changes = []
    for entry in entries:
        user = redis_user_name(entry['name'])
        if entry['state'] == 'present':
            if entry['name'] not in numbers:
                continue
            number = numbers[entry['name']][0]
            action = redis_store.plan_user(observed.get(user), 'present', number, entry['redis_password'],
                                           shown_for_one)
            if action:
                changes.append((action, user, number, entry['redis_password']))
        elif redis_store.plan_user(observed.get(user), 'absent'):
            changes.append(('delete', user, None, None))
    return changes


def redis_stage(server, entries, control, p, check_mode, warn):
    """Numbers and ACL users of entries on one Redis server, over one
    connection. Returns (done, failed): {name: (number or None, [actions])},
    {name: reason}."""
    instance = redis_instance(server)
    done, failed = {}, {}
    try:
        client = redis_connect(_redis_params(server, p))
    except StoreError as e:
        return done, dict((entry['name'], str(e)) for entry in entries)
    try:
        present = [e['name'] for e in entries if e['state'] == 'present']
        absent = [e['name'] for e in entries if e['state'] == 'absent']
        if present:
            problem = redis_store.acl_version_problem(redis_store.redis_version(client), instance)
            if problem:
                failed.update((name, problem) for name in present)
                entries = [e for e in entries if e['name'] not in failed]
                present = []
        observed = redis_store.observe_users(client, [redis_user_name(e['name']) for e in entries])
        removals = plan_users([e for e in entries if e['state'] == 'absent'], {}, observed, None)
        if removals and not check_mode:
            # First the users (ACL DELUSER closes their connections), then the data.
            if redis_store.apply_users(client, removals) is False:
                warn_unsaved(warn, instance)
        removed = set(user for _action, user, _number, _password in removals)
        if present:
            try:
                count = redis_store.read_databases(client, server.get('databases'), instance)[0]
                numbers, refused = redis_store.allocate_many(control, instance, present, count, check_mode,
                                                             who=p['login_user'])
            except StoreError as e:
                numbers, refused = {}, dict((name, str(e)) for name in present)
            failed.update(refused)
            new = sorted(number for number, is_new in numbers.values() if is_new)
            keys = {} if check_mode else redis_store.per_database(client, new, 'DBSIZE')
            for name, (number, is_new) in numbers.items():
                done[name] = (number, ['allocate database %d on %s' % (number, instance)] if is_new else [])
                if keys.get(number):
                    warn('Redis database %d on %s, newly allocated to %s, already holds %d keys (left over from '
                         'before the allocations were recorded?); flush it if they are not %s\'s'
                         % (number, instance, name, keys[number], name))
            if numbers:
                try:
                    users = plan_users([e for e in entries if e['state'] == 'present'], numbers, observed,
                                       redis_store.shown_rules(client))
                    if users and not check_mode and redis_store.apply_users(client, users) is False:
                        warn_unsaved(warn, instance)
                except redis.exceptions.RedisError as e:
                    for name in numbers:
                        done.pop(name, None)
                        failed[name] = ('Redis at %s: the deployment users could not be made (%s); the admin '
                                        'connection needs the ACL command' % (instance, e))
                    users = []
                by_user = dict((redis_user_name(name), name) for name in numbers)
                for action, user, number, _password in users:
                    done[by_user[user]][1].append(redis_store.describe_user(action, user, number, instance))
        if absent:
            released = redis_store.release_many(
                control, instance, absent, lambda numbers: redis_store.per_database(client, numbers, 'FLUSHDB'),
                check_mode)
            for name in absent:
                number = released.get(name)
                actions = [redis_store.describe_user('delete', redis_user_name(name), None, instance)] \
                    if redis_user_name(name) in removed else []
                if number is not None:
                    actions.append('flush database %d on %s and free its number' % (number, instance))
                done[name] = (None, actions)
    except redis.exceptions.RedisError as e:
        for entry in entries:
            if entry['name'] not in done:
                failed.setdefault(entry['name'], 'Redis at %s: %s' % (instance, e))
    finally:
        client.close()
    return done, failed


def instance_stage(server, entries, control, p, check_mode):
    """Ports of the dedicated instances of entries on one Redis host, in the
    control database (the instances themselves are made on the host by the
    redis_instances module, with RV(instances)). Returns (done, failed,
    ports): {name: (database number, [actions])}, {name: reason}, {name: port}."""
    address = server['address']
    done, failed, ports = {}, {}, {}
    present = [e['name'] for e in entries if e['state'] == 'present']
    absent = [e['name'] for e in entries if e['state'] == 'absent']
    first, stop = _port_bounds(server)
    if present:
        assigned, refused = redis_instance_mode.allocate_ports(
            control, address, server['port'], present, (first, stop - 1), check_mode, who=p['login_user'],
            where=server['host'])
        failed.update(refused)
        for name, (port, is_new) in assigned.items():
            ports[name] = port
            done[name] = (redis_instance_mode.DB_NUMBER, ['allocate port %d on %s for its dedicated Redis' % (port, server['host'])]
                          if is_new else [])
    if absent:
        released = redis_instance_mode.release_ports(control, address, server['port'], absent, check_mode)
        for name in absent:
            done[name] = (None, ['free port %d on %s of its dedicated Redis' % (released[name], server['host'])]
                          if name in released else [])
    return done, failed, ports


def warn_unsaved(warn, instance):
    warn('Redis at %s has no aclfile: the deployments\' users live in its memory only, and after a restart of Redis '
         'the servers cannot log in until the next deploy makes the users again; set aclfile (the redis role does)'
         % instance)


def store_uris(entry, pg, rd, redis_db):
    """DATABASE_URI and REDIS_URI of a deployment, and whether a password
    would show in them as it is (too short or regular to be hidden)."""
    role = postgres_name(entry['name'])
    pair = {}
    for mask in (False, True):
        suffix = '_masked' if mask else ''
        pair['database_uri' + suffix] = database_uri(role, entry['password'], pg['address'], pg['port'], role,
                                                     pg.get('sslmode'), mask=mask, sslrootcert=pg.get('ca_cert'))
        # A dedicated instance (redis_isolation: instance) has a port of its own, with TLS when its host has.
        port = entry.get('redis_port') or redis_port(rd)
        pair['redis_uri' + suffix] = redis_uri(entry['redis_password'], rd['address'], port, redis_db,
                                               rd.get('tls'), username=redis_user_name(entry['name']), mask=mask,
                                               ca_file=rd.get('ca_cert'))
    pair['password_visible'] = entry['password'] in pair['database_uri'] or \
        entry['redis_password'] in pair['redis_uri']
    return pair


def record_stores(control, entries, postgres_done, redis_done, check_mode, version):
    """Write the deployments rows that change, in one transaction; returns
    the names whose record changed (would change)."""
    names = [e['name'] for e in entries]
    with control:
        cur = control.cursor()
        if not check_mode and names:
            cur.execute('SELECT name FROM deployments WHERE name = ANY(%s) ORDER BY name FOR NO KEY UPDATE', (names,))
        recorded = control_plane.recorded_deployments(cur, names, version)
        rows = {}
        for entry in entries:
            row = plan_record(entry, recorded.get(entry['name']), entry['name'] in postgres_done,
                              entry['name'] in redis_done)
            if row is not None:
                rows[entry['name']] = row
        if rows and not check_mode:
            control_plane.write_deployments(cur, rows)
    return sorted(rows)


def run_stores(control, p, check_mode, return_uris, warn):
    """The whole call: returns dict(stores, failures, uris, changed, actions)."""
    postgres_servers = index_servers(p['postgres_servers'], 'postgres_servers')
    redis_servers = index_servers(p['redis_servers'], 'redis_servers')
    before, after, migrated = migrate(control, check_mode)
    version = before if check_mode else after
    names = [d['name'] for d in p['deployments']]
    with control:
        cur = control.cursor()
        recorded = control_plane.recorded_deployments(cur, names, version)
        allocated = dict((name, a['redis_instance']) for name, a in control_plane.allocations_of(cur, names, version).items())
    entries, failed = plan_stores(p['deployments'], postgres_servers, redis_servers, recorded, p['password_seed'],
                                  allocated)
    if not check_mode and entries:
        # The same per-deployment lock deployment_postgres takes; released when the connection closes.
        with control:
            cur = control.cursor()
            cur.execute('SELECT pg_advisory_lock(%s, hashtext(d)) FROM unnest(%s::text[]) AS d',
                        (postgres_store.DEPLOYMENT_LOCK_CLASS, sorted(e['name'] for e in entries)))
            cur.fetchall()
    # A deployment to remove with nothing on one side is done there.
    postgres_done = dict((e['name'], []) for e in entries if e['postgres_host'] is None)
    redis_done = dict((e['name'], (None, [])) for e in entries if e['redis_host'] is None)
    for host, group in sorted(group_by([e for e in entries if e['postgres_host']], 'postgres_host').items()):
        done, stage_failed = postgres_stage(postgres_servers[host], group, p, check_mode, warn)
        postgres_done.update(done)
        failed.update(stage_failed)
    instances = {}
    for host, group in sorted(group_by([e for e in entries if e['redis_host']], 'redis_host').items()):
        group = [e for e in group if e['name'] not in failed]
        shared = [e for e in group if e['redis_isolation'] == 'shared']
        dedicated = [e for e in group if e['redis_isolation'] == 'instance']
        if shared:
            done, stage_failed = redis_stage(redis_servers[host], shared, control, p, check_mode, warn)
            redis_done.update(done)
            failed.update(stage_failed)
        if dedicated:
            done, stage_failed, ports = instance_stage(redis_servers[host], dedicated, control, p, check_mode)
            redis_done.update(done)
            failed.update(stage_failed)
            for entry in dedicated:
                if entry['name'] in ports:
                    entry['redis_port'] = ports[entry['name']]
                    instances.setdefault(host, []).append(instance_spec(entry, redis_servers[host]))
    recorded_changes = record_stores(control, entries, postgres_done, redis_done, check_mode, version)

    stores, uris, actions = {}, {}, []
    if migrated:
        actions.append('migrate the control database to schema version %d' % migrated[-1].version)
    for entry in entries:
        name = entry['name']
        done = postgres_done.get(name, []) + redis_done.get(name, (None, []))[1]
        actions += ['%s: %s' % (name, action) for action in done]
        if name in failed:
            continue
        stores[name] = dict(database=postgres_name(name), postgres_host=entry['postgres_host'],
                            redis_host=entry['redis_host'], redis_db=redis_done[name][0], actions=done,
                            recorded=name in recorded_changes, redis_isolation=entry['redis_isolation'],
                            redis_port=entry.get('redis_port'))
        if entry['state'] == 'present':
            pair = store_uris(entry, postgres_servers[entry['postgres_host']], redis_servers[entry['redis_host']],
                              stores[name]['redis_db'])
            stores[name].update(database_uri_masked=pair['database_uri_masked'],
                                redis_uri_masked=pair['redis_uri_masked'])
            if return_uris:
                if pair['password_visible']:
                    failed[name] = ('the Postgres or Redis password of %s is too short or too regular to be hidden '
                                    'in its URI: use a longer random password' % name)
                    del stores[name]
                    continue
                uris[name] = dict(database_uri=pair['database_uri'], redis_uri=pair['redis_uri'])
    changed = bool(migrated) or bool(actions) or bool(recorded_changes)
    instances = dict((host, [i for i in group if i['name'] in stores]) for host, group in instances.items())
    return dict(stores=stores, failures=failed, uris=uris, changed=changed, actions=actions,
                instances=dict((host, group) for host, group in instances.items() if group))


def instance_spec(entry, server):
    """What redis_instances needs to run the entry's dedicated instance on its host (no secret: the module
    derives the user's password from the seed, as here). On a host with TLS on, the instance serves TLS with
    the host's certificate, and the module verifies it with the fleet's CA."""
    spec = dict(name=entry['name'], port=entry['redis_port'], maxmemory=entry['redis_maxmemory'],
                bind=sorted(set(['127.0.0.1', server['address']])))
    if server.get('tls'):
        spec.update(tls_cert_file=server['tls_cert_file'], tls_key_file=server['tls_key_file'],
                    ca_cert=server.get('ca_cert'))
    return spec
