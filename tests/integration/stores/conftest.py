# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Targets for the store modules' integration tests.

STORES_TARGET=lab   the lab's pg1 and redis1 (lab/inventory), the default when
                    lab/inventory/hosts.yml exists; Postgres and Redis must be
                    installed there (playbooks/site.yml).
STORES_TARGET=local Postgres 15 and Redis from Debian's packages on this host,
                    on loopback and unusual ports (STORES_LOCAL_PG_PORT,
                    STORES_LOCAL_REDIS_PORT); started here when not running and
                    stopped at the end if started here. Needs root and the
                    packages postgresql, redis-server, python3-psycopg2 and
                    python3-redis (the module host's Python is /usr/bin/python3,
                    with Debian 12's psycopg2 2.9.5 and redis-py 4.3.4).

The modules always run through ansible-playbook, in separate processes, from
a private copy of the collection `make collection` installed, or of the one
under STORES_COLLECTIONS_PATH (a directory holding
ansible_collections/selfhost/langgraph, e.g. from `ansible-galaxy collection
install -p`) when set.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from urllib.parse import quote, quote_plus

import psycopg2
import pytest
import redis
import yaml

# The suites' shared harness is one folder up: tests/integration/harness.py.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402 pylint: disable=wrong-import-position

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
LAB_INVENTORY = os.path.join(REPO, 'lab', 'inventory')
# Every deployment a test makes starts with it; so do its database and role
# (lg_it_cs_...). Other engineers' tests share the lab: clean up only these.
PREFIX = 'it-cs-'
PG_PREFIX = 'lg_' + PREFIX.replace('-', '_')

# The deployments' Redis users get passwords derived from it (deployment_redis password_seed).
PASSWORD_SEED = 'itest-seed-Pw:/@%#?&'

ADMIN_PASSWORD_LOCAL = 'itest-admin-Pw:/@%#?&\u00e4'
REDIS_PASSWORD_LOCAL = 'itest-redis-Pw:/@%#?&\u00e4'


_SNAPSHOT = []


def ansible_env():
    if not _SNAPSHOT:
        _SNAPSHOT.append(harness.snapshot_collection('STORES_COLLECTIONS_PATH', 'stores-it-collection-'))
    return harness.ansible_env(_SNAPSHOT[0], ANSIBLE_HOST_KEY_CHECKING='False')


class Target(object):
    """Where the modules run and how the tests reach the servers themselves."""

    def __init__(self, name, inventory, pg_host, pg_address, pg_port, admin_password,
                 redis_address, redis_port, redis_password, restart_redis, redis_host='redis'):
        self.name = name
        self.inventory = inventory
        self.pg_host = pg_host
        self.redis_host = redis_host
        self.pg_address = pg_address
        self.pg_port = pg_port
        self.admin_password = admin_password
        self.redis_address = redis_address
        self.redis_port = redis_port
        self.redis_password = redis_password
        self.restart_redis = restart_redis
        self.workdir = tempfile.mkdtemp(prefix='stores-it-')
        self.env = ansible_env()

    @property
    def instance(self):
        return '%s:%s' % (self.redis_address, self.redis_port)

    # --- connection options the modules get -----------------------------------------------
    def pg_args(self):
        return dict(login_host=self.pg_address, login_port=self.pg_port,
                    login_password=self.admin_password)

    def redis_args(self):
        args = self.pg_args()
        args.update(redis_host=self.redis_address, redis_port=self.redis_port,
                    redis_password=self.redis_password, password_seed=PASSWORD_SEED)
        return args

    def postgres_server(self, host=None, login_host='127.0.0.1'):
        """An entry of deployment_stores' postgres_servers: the modules run on
        the Postgres host, so the admin logs in over loopback; another host
        name with login_host=None reaches the same server over the network."""
        return dict(host=host or self.pg_host, address=self.pg_address, port=self.pg_port,
                    login_host=login_host, admin_password=self.admin_password)

    def redis_server(self):
        return dict(host=self.redis_host, address=self.redis_address, port=self.redis_port,
                    password=self.redis_password)

    # --- running modules and playbooks -----------------------------------------------------
    def playbook_command(self, playbook, verbosity=0, extra=()):
        cmd = ['ansible-playbook', '-i', self.inventory, playbook]
        if verbosity:
            cmd.append('-' + 'v' * verbosity)
        return cmd + list(extra)

    def write_module_play(self, module, args, check=False, no_log=False):
        """A playbook running one module task; returns (playbook path, result path)."""
        token = uuid.uuid4().hex
        result_path = os.path.join(self.workdir, 'result-%s.json' % token)
        play = [{
            'name': 'Run %s' % module,
            'hosts': self.pg_host,
            'gather_facts': False,
            'tasks': [
                {'name': 'Run the module', 'selfhost.langgraph.' + module: args, 'register': 'r',
                 'ignore_errors': True, 'no_log': no_log, 'check_mode': check},
                {'name': 'Save the result', 'ansible.builtin.copy': {
                    'content': '{{ r | to_json }}', 'dest': result_path, 'mode': '0600'},
                 'delegate_to': 'localhost', 'no_log': True},
            ],
        }]
        path = os.path.join(self.workdir, 'play-%s.yml' % token)
        with open(path, 'w') as f:
            json.dump(play, f)  # JSON is YAML, and keeps any password intact
        return path, result_path

    def start_module(self, module, args, check=False, no_log=False, verbosity=0):
        """Start the module in its own ansible-playbook process; returns a handle for finish()."""
        path, result_path = self.write_module_play(module, args, check, no_log)
        # Each job its own SSH master (sshd refuses more than MaxSessions=10
        # sessions on one), and retries for the handshakes sshd's MaxStartups
        # drops when 30 jobs connect at once, as parallel AWX jobs would.
        env = dict(self.env, ANSIBLE_SSH_RETRIES='10',
                   ANSIBLE_SSH_CONTROL_PATH_DIR=tempfile.mkdtemp(prefix='cp-', dir=self.workdir))
        proc = subprocess.Popen(self.playbook_command(path, verbosity), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return proc, result_path

    @staticmethod
    def finish(handle, timeout=300):
        proc, result_path = handle
        output = proc.communicate(timeout=timeout)[0].decode('utf-8', 'replace')
        if not os.path.exists(result_path):
            raise AssertionError('ansible-playbook failed (rc=%s):\n%s' % (proc.returncode, output))
        with open(result_path) as f:
            result = json.load(f)
        os.unlink(result_path)
        return result, output

    def module_output(self, module, args, check=False, no_log=False, verbosity=0):
        """Run a module; returns (result dict, whole output)."""
        return self.finish(self.start_module(module, args, check, no_log, verbosity))

    def module(self, module, args, check=False, no_log=False):
        """Run a module; returns its result."""
        return self.module_output(module, args, check, no_log)[0]

    def playbook(self, playbook, verbosity=0, extra=()):
        cmd = self.playbook_command(playbook, verbosity, extra)
        proc = subprocess.run(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=600, check=False)
        return proc.returncode, proc.stdout.decode('utf-8', 'replace')

    # --- looking at the servers directly --------------------------------------------------
    def pg(self, database='postgres', user='langgraph_admin', password=None):
        conn = psycopg2.connect(host=self.pg_address, port=self.pg_port, user=user,
                                password=self.admin_password if password is None else password,
                                dbname=database, connect_timeout=10)
        conn.autocommit = True
        return conn

    def query(self, sql, args=None, database='langgraph_control'):
        conn = self.pg(database)
        try:
            cur = conn.cursor()
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def redis(self, db=0):
        return redis.Redis(host=self.redis_address, port=self.redis_port, db=db,
                           password=self.redis_password, socket_connect_timeout=10)

    def cleanup(self):
        """Remove every test deployment (names starting with PREFIX) from both
        servers and the control database, and the test's own databases."""
        conn = self.pg()
        pattern = PG_PREFIX.replace('_', '\\_') + '%'
        try:
            cur = conn.cursor()
            cur.execute('SELECT datname FROM pg_database WHERE datname LIKE %s', (pattern,))
            for (name,) in cur.fetchall():
                cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
            cur.execute('SELECT rolname FROM pg_roles WHERE rolname LIKE %s', (pattern,))
            for (name,) in cur.fetchall():
                cur.execute('DROP ROLE IF EXISTS "%s"' % name)
            cur.execute("SELECT 1 FROM pg_database WHERE datname = 'langgraph_control'")
            has_control = cur.fetchone()
        finally:
            conn.close()
        client = self.redis()
        try:
            for user in client.execute_command('ACL', 'USERS'):
                user = user.decode() if isinstance(user, bytes) else user
                if user.startswith(PG_PREFIX):
                    client.execute_command('ACL', 'DELUSER', user)
        finally:
            client.close()
        if not has_control:
            return
        self.forget(PREFIX + '%')

    def forget(self, pattern):
        """Flush the Redis numbers of the deployments whose names are LIKE
        pattern and delete their rows, children first."""
        tables = dict(self.query("SELECT t, to_regclass(t) IS NOT NULL FROM unnest(%s::text[]) AS t",
                                 (['scale_events', 'deploy_locks', 'revisions', 'redis_allocations'],)))
        if tables['redis_allocations']:
            rows = self.query('SELECT redis_instance, db_number FROM redis_allocations WHERE deployment LIKE %s',
                              (pattern,))
            for instance, number in rows:
                if instance == self.instance:
                    self.redis(number).flushdb()
        for table in ('scale_events', 'deploy_locks', 'revisions', 'redis_allocations'):
            if tables[table]:
                self.query('DELETE FROM %s WHERE deployment LIKE %%s' % table, (pattern,))
        self.query('DELETE FROM deployments WHERE name LIKE %s', (pattern,))


# --- the local target -------------------------------------------------------------------------

def _local_postgres(port):
    """Ensure cluster 15/itest on port with the admin role; returns True if started here."""
    started = False
    clusters = subprocess.check_output(['pg_lsclusters', '--no-header']).decode()
    if not any(line.split()[:2] == ['15', 'itest'] for line in clusters.splitlines()):
        subprocess.check_call(['pg_createcluster', '15', 'itest', '-p', str(port), '--',
                               '--auth-local=peer', '--auth-host=scram-sha-256'],
                              stdout=subprocess.DEVNULL)
        conf = '/etc/postgresql/15/itest/conf.d/itest.conf'
        with open(conf, 'w') as f:
            f.write("listen_addresses = '127.0.0.1'\nport = %d\n" % port)
    status = subprocess.run(['pg_ctlcluster', '15', 'itest', 'status'], stdout=subprocess.DEVNULL, check=False)
    if status.returncode != 0:
        subprocess.check_call(['pg_ctlcluster', '15', 'itest', 'start'])
        started = True
    sql = ("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'langgraph_admin') "
           "THEN CREATE ROLE langgraph_admin LOGIN CREATEDB CREATEROLE; END IF; END $$; "
           "ALTER ROLE langgraph_admin PASSWORD '%s'; GRANT pg_signal_backend TO langgraph_admin;"
           % ADMIN_PASSWORD_LOCAL.replace("'", "''"))
    subprocess.run(['su', 'postgres', '-c', 'psql -q -p %d -d postgres -v ON_ERROR_STOP=1' % port],
                   input=sql.encode(), stdout=subprocess.DEVNULL, check=True)
    return started


class LocalRedis(object):
    def __init__(self, port, workdir):
        self.port = port
        self.workdir = workdir
        self.pidfile = os.path.join(workdir, 'redis.pid')
        self.started = False

    def running(self):
        try:
            redis.Redis(port=self.port, password=REDIS_PASSWORD_LOCAL, socket_connect_timeout=2).ping()
            return True
        except redis.exceptions.ConnectionError:
            return False

    def start(self):
        subprocess.check_call([
            'redis-server', '--port', str(self.port), '--bind', '127.0.0.1',
            '--requirepass', REDIS_PASSWORD_LOCAL, '--databases', '64', '--save', '',
            '--appendonly', 'no', '--daemonize', 'yes', '--pidfile', self.pidfile,
            '--logfile', os.path.join(self.workdir, 'redis.log'), '--dir', self.workdir])
        for _attempt in range(50):
            if self.running():
                self.started = True
                return
            time.sleep(0.1)
        raise RuntimeError('redis-server did not start on port %d' % self.port)

    def stop(self):
        if not os.path.exists(self.pidfile):
            return
        with open(self.pidfile) as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGTERM)
        for _attempt in range(100):
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.1)

    def restart(self):
        self.stop()
        self.start()


def _local_target():
    pg_port = int(os.environ.get('STORES_LOCAL_PG_PORT', '55532'))
    redis_port = int(os.environ.get('STORES_LOCAL_REDIS_PORT', '56479'))
    for tool in ('pg_createcluster', 'redis-server'):
        if shutil.which(tool) is None:
            pytest.skip('STORES_TARGET=local needs %s (apt-get install postgresql redis-server)' % tool)
    pg_started = _local_postgres(pg_port)
    redis_dir = tempfile.mkdtemp(prefix='stores-it-redis-')
    local_redis = LocalRedis(redis_port, redis_dir)
    if not local_redis.running():
        local_redis.start()
    workdir = tempfile.mkdtemp(prefix='stores-it-inv-')
    inventory = os.path.join(workdir, 'hosts.yml')
    local = dict(ansible_connection='local', ansible_python_interpreter='/usr/bin/python3')
    with open(inventory, 'w') as f:
        yaml.safe_dump({'all': {
            'vars': dict(postgres_port=pg_port, postgres_admin_password=ADMIN_PASSWORD_LOCAL,
                         redis_port=redis_port, redis_password=REDIS_PASSWORD_LOCAL),
            'children': {
                'langgraph_postgres': {'hosts': {'pgtest': dict(local, langgraph_private_address='127.0.0.1')}},
                'langgraph_redis': {'hosts': {'redistest': dict(local, langgraph_private_address='127.0.0.1')}},
            }}}, f)
    target = Target('local', inventory, 'pgtest', '127.0.0.1', pg_port, ADMIN_PASSWORD_LOCAL,
                    '127.0.0.1', redis_port, REDIS_PASSWORD_LOCAL, local_redis.restart, 'redistest')

    def stop():
        if local_redis.started:
            local_redis.stop()
        if pg_started:
            subprocess.call(['pg_ctlcluster', '15', 'itest', 'stop'])
    return target, stop


def _lab_target():
    with open(os.path.join(LAB_INVENTORY, 'group_vars', 'all.yml')) as f:
        group_vars = yaml.safe_load(f)
    with open(os.path.join(LAB_INVENTORY, 'hosts.yml')) as f:
        hosts = yaml.safe_load(f)['all']['children']
    pg_name, pg = sorted(hosts['langgraph_postgres']['hosts'].items())[0]
    redis_name, rd = sorted(hosts['langgraph_redis']['hosts'].items())[0]
    env = ansible_env()

    def restart_redis():
        subprocess.run(['ansible', '-i', LAB_INVENTORY, redis_name, '-b', '-m', 'ansible.builtin.systemd_service',
                        '-a', 'name=redis-server state=restarted'], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        for _attempt in range(100):
            try:
                redis.Redis(host=rd['langgraph_private_address'], port=group_vars.get('redis_port', 6379),
                            password=group_vars['redis_password'], socket_connect_timeout=2).ping()
                return
            except redis.exceptions.ConnectionError:
                time.sleep(0.2)

    target = Target('lab', LAB_INVENTORY, pg_name, pg['langgraph_private_address'],
                    group_vars.get('postgres_port', 5432), group_vars['postgres_admin_password'],
                    rd['langgraph_private_address'], group_vars.get('redis_port', 6379),
                    group_vars['redis_password'], restart_redis, redis_name)
    return target, lambda: None


@pytest.fixture(scope='session')
def target():
    default = 'lab' if os.path.exists(os.path.join(LAB_INVENTORY, 'hosts.yml')) else 'local'
    kind = os.environ.get('STORES_TARGET', default)
    if kind == 'local':
        tgt, stop = _local_target()
    elif kind == 'lab':
        tgt, stop = _lab_target()
    else:
        raise pytest.UsageError('STORES_TARGET must be lab or local, not %r' % kind)
    try:
        tgt.module('control_db', tgt.pg_args())
        tgt.cleanup()
        yield tgt
        tgt.cleanup()
    finally:
        stop()
        shutil.rmtree(tgt.workdir, ignore_errors=True)
        for path in _SNAPSHOT:
            shutil.rmtree(path, ignore_errors=True)


def forms(secret):
    """The password as it could appear in output: plain, URL-encoded in three ways."""
    every = ''.join('%%%02X' % b for b in bytearray(secret.encode('utf-8')))
    return {secret, quote(secret, safe=''), quote_plus(secret), quote(secret), every, every.lower()}


def assert_hidden(output, secrets):
    for secret in secrets:
        for form in forms(secret):
            assert form not in output, 'a password (%r form) appears in the output' % form


@pytest.fixture
def names(target):
    """Fresh deployment names for one test: names(3) -> ['it-1a2b3c-1', ...]."""
    def make(count=1):
        tag = uuid.uuid4().hex[:6]
        return ['%s%s-%d' % (PREFIX, tag, i) for i in range(1, count + 1)]
    return make
