# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dedicated Redis instances (redis_isolation: instance): a redis-server of
its own per deployment on its Redis host, run by the systemd template unit
langgraph-redis@<name>.service that the redis role installs.

The port is allocated in the control database like a database number: a
redis_allocations row (redis_instance '<address>:<port>', db_number 1): the
deployment has database 1 of its instance, as database 0 is never handed out
anywhere, and the UNIQUE constraint on (redis_instance, db_number) is what
keeps two deployments off one port.

Decisions (memory sizes, ports, the files of an instance, what to do on the
host) are pure functions here; the host side (files, systemctl, a live
CONFIG SET) is in apply_instances.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os
import re
import socket
import ssl
import subprocess
import tempfile
import time

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import redis_user_name

ISOLATIONS = ('shared', 'instance')
DEFAULT_MAXMEMORY = '256mb'
DEFAULT_PORTS = '6400-6499'
UNIT = 'langgraph-redis@%s.service'
CONFIG_DIR = '/etc/redis/langgraph'
DATA_DIR = '/var/lib/redis/langgraph'
# Advisory lock class of port allocations (second key: hashtext of the host's address).
PORT_LOCK_CLASS = 716483923

_SIZE_RE = re.compile(r'\A\s*(\d+)\s*([kmg]b?)?\s*\Z', re.IGNORECASE)
# Redis's own units: k/m/g are powers of 1000, kb/mb/gb of 1024.
_UNITS = {None: 1, 'k': 1000, 'kb': 1024, 'm': 1000 ** 2, 'mb': 1024 ** 2, 'g': 1000 ** 3, 'gb': 1024 ** 3}
MIN_MAXMEMORY = 8 * 1024 ** 2


def parse_memory(value, what='redis_maxmemory'):
    """Bytes of a Redis memory size (256mb, 1gb, 500m, 1048576); raises ValueError saying what to write."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        text = None
    match = _SIZE_RE.match(text) if text is not None else None
    if not match:
        raise ValueError('%s must be a memory size such as 256mb or 1gb (units k, kb, m, mb, g, gb), not %r'
                         % (what, value))
    size = int(match.group(1)) * _UNITS[(match.group(2) or '').lower() or None]
    if size < MIN_MAXMEMORY:
        raise ValueError('%s must be at least 8mb, so that the instance can hold a server\'s streams (got %r)'
                         % (what, value))
    return size


def parse_port_range(value, what='instance_ports'):
    """(first, last) of '6400-6499'; raises ValueError."""
    match = re.match(r'\A\s*(\d+)\s*-\s*(\d+)\s*\Z', str(value or ''))
    if not match:
        raise ValueError('%s must be a port range such as 6400-6499, not %r' % (what, value))
    first, last = int(match.group(1)), int(match.group(2))
    if not 1024 <= first <= last <= 65535:
        raise ValueError('%s must be a range within 1024-65535 with the lower port first, not %r' % (what, value))
    return first, last


def assign_ports(allocated, names, port_range, reserved=(), where='the Redis host'):
    """Ports of names' instances on one host, in one decision.

    allocated: {deployment: port} recorded on the host; a deployment keeps its
    port; the others get the lowest free one of port_range (first, last)
    that is not reserved (the shared instance's port). Returns (ports,
    failed): {name: (port, newly allocated)} and {name: reason}."""
    first, last = port_range
    taken = set(allocated.values()) | set(reserved)
    ports, failed = {}, {}
    for name in names:
        if name in allocated:
            ports[name] = (allocated[name], False)
            continue
        free = [port for port in range(first, last + 1) if port not in taken]
        if not free:
            used = len([p for p in allocated.values() if first <= p <= last])
            failed[name] = ('Redis host %s has no free port for a dedicated instance: %d of the %d ports %d-%d are '
                            'allocated; widen instance_ports (redis_instance_ports) or put the deployment on '
                            'another Redis host' % (where, used, last - first + 1, first, last))
            continue
        taken.add(free[0])
        ports[name] = (free[0], True)
    return ports, failed


DB_NUMBER = 1


def recorded_isolation(allocation_key, shared_keys, dedicated_keys):
    """'shared' or 'instance' of a deployment whose allocation is keyed allocation_key; None without an
    allocation, or one on a server not listed. shared_keys: <address>:<port> of each shared instance;
    dedicated_keys: those of each port of the servers' instance_ports."""
    if allocation_key in shared_keys:
        return 'shared'
    return 'instance' if allocation_key in dedicated_keys else None


def isolation_problem(name, wanted, has):
    """Why a deployment cannot have the isolation it asks for, or None.

    has: its recorded_isolation (None without an allocation). Moving between
    the modes is refused: the data and the running containers' REDIS_URI
    would have to move with it."""
    if has is None or has == wanted:
        return None
    return ('deployment %s has redis_isolation: %s (its Redis data is there) and cannot move to %s while it exists: '
            'set redis_isolation: %s back, or delete it with purge (delete.yml -e purge=true) and deploy it again'
            % (name, has, wanted, has))


# --- the instance's files (pure) ------------------------------------------------------------------

def password_hash(password):
    return hashlib.sha256(password.encode('utf-8')).hexdigest()


def paths(name, config_dir=CONFIG_DIR, data_dir=DATA_DIR):
    return dict(config=os.path.join(config_dir, name + '.conf'), acl=os.path.join(config_dir, name + '.acl'),
                data=os.path.join(data_dir, name), unit=UNIT % name)


def render_config(name, port, bind, maxmemory, config_dir=CONFIG_DIR, data_dir=DATA_DIR, tls=None):
    """redis.conf of a deployment's instance. It holds no password: the users
    (as hashes) are in the ACL file. Nothing is kept on disk, like the shared
    instance; the memory limit refuses writes when full (noeviction) rather
    than dropping a stream's keys.

    tls: {cert_file, key_file} of the host's server certificate when the
    host has TLS on; the instance then speaks TLS only on its port (one port
    cannot carry both, and a plain port next to the host's TLS one would be
    a way around it)."""
    where = paths(name, config_dir, data_dir)
    if tls:
        listen = ['port 0', 'tls-port %d' % int(port), 'tls-cert-file %s' % tls['cert_file'],
                  'tls-key-file %s' % tls['key_file'], 'tls-auth-clients no', 'tls-protocols "TLSv1.2 TLSv1.3"']
    else:
        listen = ['port %d' % int(port)]
    lines = [
        '# Managed by selfhost.langgraph: the dedicated Redis of deployment %s. Do not edit.' % name,
    ] + listen + [
        'bind %s' % ' '.join(bind),
        'protected-mode yes',
        'databases 2',
        'maxmemory %d' % int(maxmemory),
        'maxmemory-policy noeviction',
        'save ""',
        'appendonly no',
        'dir %s' % where['data'],
        'aclfile %s' % where['acl'],
        'daemonize no',
        'supervised systemd',
        'logfile ""',
        'enable-debug-command no',
        'enable-module-command no',
        'enable-protected-configs no',
    ]
    return '\n'.join(lines) + '\n'


def user_rules(password):
    """ACL rules of the deployment's user on its own instance: every key, channel and database of it, every
    command but the server's (@admin: CONFIG, ACL, DEBUG, MODULE, SHUTDOWN, REPLICAOF ...), so that it cannot
    lift its memory limit or reach the host; FLUSHALL and the like touch only its own data."""
    return ['on', '#' + password_hash(password), '~*', '&*', '+@all', '-@admin']


def render_acl(name, password, admin_password):
    """The instance's ACL file: the default user is the collection's admin (redis_password), the deployment's
    user lg_<name> logs in with its own password. Both only as hashes."""
    return 'user default on #%s ~* &* +@all\nuser %s %s\n' % (
        password_hash(admin_password), redis_user_name(name), ' '.join(user_rules(password)))


def plan_instance(desired, observed):
    """Actions that make one instance what desired says.

    desired: None (remove) or {config, acl} texts; observed: {config, acl (file
    texts or None), active (bool), data (data dir exists)}. Returns a list of
    'write config', 'write acl', 'start', 'set maxmemory', 'load acl',
    'restart', 'stop', 'remove files'. A running instance takes a new memory
    limit and new users live; only another port or address restarts it."""
    if desired is None:
        actions = []
        if observed.get('active') or observed.get('enabled'):
            actions.append('stop')
        if observed.get('config') is not None or observed.get('acl') is not None or observed.get('data'):
            actions.append('remove files')
        return actions
    actions = []
    config_changed = observed.get('config') != desired['config']
    acl_changed = observed.get('acl') != desired['acl']
    if config_changed:
        actions.append('write config')
    if acl_changed:
        actions.append('write acl')
    if not observed.get('active') or not observed.get('enabled'):
        actions.append('start')
        return actions
    if config_changed:
        if _without(observed.get('config'), 'maxmemory ') == _without(desired['config'], 'maxmemory '):
            actions.append('set maxmemory')
        else:
            actions.append('restart')
            return actions
    if acl_changed:
        actions.append('load acl')
    return actions


def _without(text, prefix):
    return [line for line in (text or '').splitlines() if not line.startswith(prefix)]


def maxmemory_of(config):
    for line in config.splitlines():
        if line.startswith('maxmemory '):
            return line.split()[1]
    return None


# --- on the Redis host -----------------------------------------------------------------------------

def client_context(tls, ca_file=None):
    """The ssl context of the module's connections to an instance with TLS (None without): with the fleet's
    CA the certificate and the name 127.0.0.1 are verified, as the clients verify theirs; without one (a
    self-signed certificate) encrypted only."""
    if not tls:
        return None
    context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not ca_file:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class Resp(object):
    """The few commands the module sends its instance (AUTH, PING, CONFIG SET, ACL LOAD), in RESP, over a
    plain or TLS socket (context, from client_context): the Redis hosts need no Python Redis client."""

    def __init__(self, port, timeout=5.0, host='127.0.0.1', context=None):
        sock = socket.create_connection((host, port), timeout)
        if context is not None:
            try:
                sock = context.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        self.buffer = b''

    def close(self):
        self.sock.close()

    def command(self, *args):
        parts = [b'*%d\r\n' % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode('utf-8')
            parts.append(b'$%d\r\n%s\r\n' % (len(data), data))
        self.sock.sendall(b''.join(parts))
        return self._reply()

    def _line(self):
        while b'\r\n' not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise StoreError('the Redis instance closed the connection')
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b'\r\n', 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:].decode('utf-8', 'replace')
        if kind == b'-':
            raise StoreError(rest)
        if kind in (b'+', b':'):
            return rest
        if kind == b'$':
            size = int(rest)
            if size < 0:
                return None
            while len(self.buffer) < size + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise StoreError('the Redis instance closed the connection')
                self.buffer += chunk
            data, self.buffer = self.buffer[:size], self.buffer[size + 2:]
            return data.decode('utf-8', 'replace')
        if kind == b'*':
            return [self._reply() for dummy in range(max(int(rest), 0))]
        raise StoreError('unexpected reply from the Redis instance: %r' % line[:40])


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _systemctl(*args):
    proc = subprocess.run(('systemctl',) + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def observe(name, config_dir=CONFIG_DIR, data_dir=DATA_DIR):
    where = paths(name, config_dir, data_dir)
    active = _systemctl('is-active', '--quiet', where['unit'])[0] == 0
    enabled = _systemctl('is-enabled', '--quiet', where['unit'])[0] == 0
    return dict(config=_read(where['config']), acl=_read(where['acl']), active=active, enabled=enabled,
                data=os.path.isdir(where['data']))


def _write(path, text, uid, gid, mode):
    handle, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.' + os.path.basename(path))
    try:
        with os.fdopen(handle, 'w') as out:
            out.write(text)
        os.chown(temp, uid, gid)
        os.chmod(temp, mode)
        os.rename(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def _admin(port, admin_password, timeout, context=None):
    client = Resp(port, timeout, context=context)
    client.command('AUTH', 'default', admin_password)
    return client


def wait_ready(name, port, password, timeout, context=None):
    """PING as the deployment's user until the instance answers; raises StoreError after timeout seconds."""
    deadline = time.time() + timeout
    problem = None
    while True:
        try:
            client = Resp(port, 2.0, context=context)
            try:
                client.command('AUTH', redis_user_name(name), password)
                if client.command('PING') == 'PONG':
                    return
            finally:
                client.close()
        except (StoreError, socket.error, ssl.SSLError) as e:
            problem = str(e)
        if time.time() > deadline:
            code, status = _systemctl('status', '--no-pager', '--lines=5', UNIT % name)
            raise StoreError('the dedicated Redis of %s did not answer on port %d within %ds (%s): %s'
                             % (name, port, timeout, problem, status))
        time.sleep(0.2)


def apply_instance(instance, actions, admin_password, uid, gid, config_dir, data_dir, timeout):
    """Carry out plan_instance's actions for one instance (desired texts in instance['config'/'acl'];
    with instance['tls'] the module's connections use TLS, verified with instance['ca_cert'] when given)."""
    name = instance['name']
    where = paths(name, config_dir, data_dir)
    removal = 'config' not in instance
    if 'stop' in actions:
        code, out = _systemctl('disable', '--now', where['unit'])
        if code != 0:
            raise StoreError('could not stop %s: %s' % (where['unit'], out))
    if 'remove files' in actions:
        for path in (where['config'], where['acl']):
            if os.path.exists(path):
                os.unlink(path)
        if os.path.isdir(where['data']):
            for entry in os.listdir(where['data']):
                os.unlink(os.path.join(where['data'], entry))
            os.rmdir(where['data'])
    if removal:
        return
    if not os.path.isdir(where['data']):
        os.mkdir(where['data'], 0o750)
        os.chown(where['data'], uid, gid)
    if 'write acl' in actions:
        _write(where['acl'], instance['acl'], uid, gid, 0o640)
    if 'write config' in actions:
        _write(where['config'], instance['config'], uid, gid, 0o640)
    context = client_context(instance.get('tls'), instance.get('ca_cert'))
    if 'start' in actions or 'restart' in actions:
        code, out = _systemctl('enable', where['unit'])
        if code == 0:
            code, out = _systemctl('restart' if 'restart' in actions else 'start', where['unit'])
        if code != 0:
            raise StoreError('could not start %s: %s' % (where['unit'], out))
    elif 'set maxmemory' in actions or 'load acl' in actions:
        client = _admin(instance['port'], admin_password, timeout, context)
        try:
            if 'set maxmemory' in actions:
                client.command('CONFIG', 'SET', 'maxmemory', maxmemory_of(instance['config']))
            if 'load acl' in actions:
                client.command('ACL', 'LOAD')
        finally:
            client.close()
    wait_ready(name, instance['port'], instance['password'], timeout, context)


# --- ports in the control database -----------------------------------------------------------------

def instance_key(address, port):
    """redis_instance of a dedicated instance's allocation row (as the shared instance's is keyed)."""
    return '%s:%d' % (address, int(port))


def _instance_ports(cur, address, shared_port, names=None):
    """{deployment: port} of the dedicated instances allocated on the host at address (every allocation
    there but the shared instance's)."""
    query = ("SELECT deployment, substring(redis_instance from ':([0-9]+)$')::int FROM redis_allocations "
             "WHERE regexp_replace(redis_instance, ':[0-9]+$', '') = %s AND redis_instance <> %s")
    args = [address, instance_key(address, shared_port)]
    if names is not None:
        query += ' AND deployment = ANY(%s)'
        args.append(list(names))
    cur.execute(query, args)
    return dict(cur.fetchall())


def allocate_ports(conn, address, shared_port, names, port_range, check_mode=False, who=None, where=None):
    """assign_ports for names on the host at address, recorded in one transaction under the host's lock.
    Returns (ports, failed); in check mode nothing is written."""
    with conn:
        cur = conn.cursor()
        cur.execute("SELECT to_regclass('redis_allocations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return assign_ports({}, names, port_range, [shared_port], where or address)
        if not check_mode:
            cur.execute('SELECT pg_advisory_xact_lock(%s, hashtext(%s))', (PORT_LOCK_CLASS, address))
        ports, failed = assign_ports(_instance_ports(cur, address, shared_port), names, port_range, [shared_port],
                                     where or address)
        new = sorted((name, port) for name, (port, is_new) in ports.items() if is_new)
        if new and not check_mode:
            cur.execute('INSERT INTO deployments (name) SELECT unnest(%s::text[]) ON CONFLICT (name) DO NOTHING',
                        ([name for name, _port in new],))
            cur.execute('INSERT INTO redis_allocations (redis_instance, db_number, deployment, allocated_by) '
                        'SELECT i, %s, d, %s FROM unnest(%s::text[], %s::text[]) AS t(d, i)',
                        (DB_NUMBER, who, [name for name, _port in new], [instance_key(address, port) for _name, port in new]))
    return ports, failed


def release_ports(conn, address, shared_port, names, check_mode=False):
    """Free the ports of names' instances on the host at address; returns {name: port} (would be) freed."""
    with conn:
        cur = conn.cursor()
        cur.execute("SELECT to_regclass('redis_allocations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return {}
        if not check_mode:
            cur.execute('SELECT pg_advisory_xact_lock(%s, hashtext(%s))', (PORT_LOCK_CLASS, address))
        released = _instance_ports(cur, address, shared_port, names)
        if released and not check_mode:
            cur.execute('DELETE FROM redis_allocations WHERE deployment = ANY(%s) AND redis_instance = ANY(%s)',
                        (sorted(released), [instance_key(address, port) for port in released.values()]))
    return released
