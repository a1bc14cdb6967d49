# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app host modules (app_host_info, app_images, app_containers,
revision_migrations) against the lab's app1 and app2, with the real LangGraph
server image and real Postgres and Redis.

The session makes a throwaway Postgres role and database on pg1
(lg_it_app_<hex>) and uses Redis database 15 on redis1; at the end it removes
every container named lg-it-app-* on the app hosts (also of earlier,
interrupted runs), the database and the role, and flushes Redis database 15.
Deployments are named it-app-*, host ports are 29000-29099.
Modules always run through ansible-playbook (become), in separate processes,
from a private copy of the collection installed under APP_COLLECTIONS_PATH
(a directory holding ansible_collections/selfhost/langgraph; default
.build/collections, which `make collection` fills).
Needs the lab (make lab): lab/inventory/hosts.yml.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from urllib.parse import quote

import pytest
import yaml

# The suites' shared harness is one folder up: tests/integration/harness.py.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402 pylint: disable=wrong-import-position

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
LAB_INVENTORY = os.path.join(REPO, 'lab', 'inventory')
PREFIX = 'it-app-'
PORT_RANGE = [29000, 29099]
REDIS_DB = 15
IMAGE_REPO = '172.30.213.5:5000/langgraph-demo'


def snapshot_collection():
    return harness.snapshot_collection('APP_COLLECTIONS_PATH', 'app-it-collection-')


def ansible_env(collections):
    return harness.ansible_env(collections, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='ansible.posix.json')


def http_get(url, timeout=10):
    return harness.http_get(url, timeout)


def _window(task):
    """(start, end) of a task in epoch seconds, from the JSON callback's ISO timestamps (UTC)."""
    from datetime import datetime, timezone
    return tuple(datetime.strptime(task['duration'][k], '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=timezone.utc).timestamp()
                 for k in ('start', 'end'))


def _duration(task):
    """Seconds a task took."""
    start, end = _window(task)
    return end - start


class Lab(object):

    def __init__(self):
        with open(os.path.join(LAB_INVENTORY, 'hosts.yml')) as f:
            groups = yaml.safe_load(f)['all']['children']
        self.apps = dict((name, host['langgraph_private_address'])
                         for name, host in sorted(groups['langgraph_app']['hosts'].items())[:2])
        self.pg_address = list(groups['langgraph_postgres']['hosts'].values())[0]['langgraph_private_address']
        self.redis_address = list(groups['langgraph_redis']['hosts'].values())[0]['langgraph_private_address']
        with open(os.path.join(LAB_INVENTORY, 'group_vars', 'all.yml')) as f:
            self.redis_password = yaml.safe_load(f)['redis_password']
        self.workdir = tempfile.mkdtemp(prefix='app-it-')
        self.collections = snapshot_collection()
        self.env = ansible_env(self.collections)
        token = uuid.uuid4().hex[:8]
        self.database = 'lg_it_app_' + token
        # Unreserved characters only (as the collection's derived passwords): the
        # server's Alembic config reads '%' as interpolation.
        self.db_password = 'itApp-%s.x_y~z' % token

    # --- ansible ---------------------------------------------------------------------------
    def module(self, hosts, module, args, check=False):
        """Runs selfhost.langgraph.<module> on hosts (become) in its own
        ansible-playbook; returns ({host: result}, {host: seconds of the task},
        (start, end) of the task, epoch)."""
        play = [{'name': 'Run %s' % module, 'hosts': hosts, 'gather_facts': False, 'become': True,
                 'tasks': [{'name': module, 'selfhost.langgraph.' + module: args, 'check_mode': check,
                            'ignore_errors': True}]}]
        path = os.path.join(self.workdir, 'play-%s.json' % uuid.uuid4().hex)
        with open(path, 'w') as f:
            json.dump(play, f)
        proc = subprocess.run(['ansible-playbook', '-i', LAB_INVENTORY, path], env=self.env, check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900)
        os.unlink(path)
        try:
            task = json.loads(proc.stdout.decode('utf-8', 'replace'))['plays'][0]['tasks'][0]
        except (ValueError, KeyError, IndexError):
            raise AssertionError('ansible-playbook failed (rc=%d):\n%s\n%s' % (
                proc.returncode, proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace')))
        seconds = _duration(task['task'])
        return task['hosts'], dict((host, seconds) for host in task['hosts']), _window(task['task'])

    def on(self, host, module, args, check=False):
        """One host's result of a module, with '_seconds' (the task's duration),
        '_window' ((start, end) of the task, epoch) and '_output' (the result
        as JSON text, to look for leaked secrets)."""
        results, seconds, window = self.module(host, module, args, check)
        result = results[host]
        result['_output'] = json.dumps(result)
        result['_seconds'] = seconds[host]
        result['_window'] = window
        return result

    # --- the VMs ---------------------------------------------------------------------------
    @staticmethod
    def vm(host, *command, check=True):
        proc = subprocess.run(['docker', 'exec', 'selfhost-lab-' + host] + list(command), check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        text = proc.stdout.decode('utf-8', 'replace')
        if check and proc.returncode != 0:
            raise AssertionError('%s on %s failed (%d):\n%s' % (' '.join(command), host, proc.returncode, text))
        return text

    def containers(self, host, prefix='lg-' + PREFIX):
        """Names of the containers on host (any state) starting with prefix."""
        out = self.vm(host, 'docker', 'ps', '-a', '--format', '{{.Names}}')
        return sorted(name for name in out.split() if name.startswith(prefix))

    def psql(self, sql, database='postgres'):
        return self.vm('pg1', 'runuser', '-u', 'postgres', '--', 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
                       '-d', database, '-c', sql)

    def redis(self, *command):
        return self.vm('redis1', 'redis-cli', '--no-auth-warning', '-a', self.redis_password, '-n', str(REDIS_DB),
                       *command)

    # --- the session -----------------------------------------------------------------------
    def setup(self):
        self.remove_containers()
        password = self.db_password.replace("'", "''")
        self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (self.database, password))
        self.psql('CREATE DATABASE %s OWNER %s' % (self.database, self.database))
        self.redis('FLUSHDB')

    def teardown(self):
        try:
            self.remove_containers()
        finally:
            self.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'" % self.database)
            self.psql('DROP DATABASE IF EXISTS %s' % self.database)
            self.psql('DROP ROLE IF EXISTS %s' % self.database)
            self.redis('FLUSHDB')
            shutil.rmtree(self.workdir, ignore_errors=True)
            shutil.rmtree(self.collections, ignore_errors=True)

    def remove_containers(self):
        for host in self.apps:
            names = self.containers(host)
            if names:
                self.vm(host, 'docker', 'rm', '-f', '-v', *names)

    # --- what the tests pass ---------------------------------------------------------------
    def secrets(self, *deployments):
        # Every byte of the password percent-encoded, as uris.database_uri does: the
        # server starts only if app_containers normalizes the URI it gets.
        encoded = ''.join('%%%02X' % b for b in bytearray(self.db_password.encode('utf-8')))
        database_uri = 'postgresql://%s:%s@%s:5432/%s' % (self.database, encoded, self.pg_address, self.database)
        redis_uri = 'redis://:%s@%s:6379/%d' % (quote(self.redis_password, safe=''), self.redis_address, REDIS_DB)
        return dict((d, {'DATABASE_URI': database_uri, 'REDIS_URI': redis_uri}) for d in deployments)

    def url(self, host, port, path='/ok?check_db=1'):
        return 'http://%s:%d%s' % (self.apps[host], port, path)


@pytest.fixture(scope='session')
def lab():
    if not os.path.exists(os.path.join(LAB_INVENTORY, 'hosts.yml')):
        pytest.skip('the lab is not up (make lab)')
    lab = Lab()
    lab.setup()
    try:
        yield lab
    finally:
        lab.teardown()


@pytest.fixture(scope='session')
def migrated(lab):
    """The test database, migrated once by revision_migrations (the image's `migrate`)."""
    started = time.monotonic()
    result = lab.on('app1', 'revision_migrations', dict(
        migrations=[dict(deployment=PREFIX + 'mig', revision=1, image=IMAGE_REPO + ':v1', command=['migrate'])],
        secrets=lab.secrets(PREFIX + 'mig'), timeout=300))
    assert not result.get('failed') and result['failures'] == {}, result
    assert result['outcomes'][PREFIX + 'mig']['rc'] == 0
    lab.migration_seconds = time.monotonic() - started
    return result


_PORTS = iter(range(PORT_RANGE[0], PORT_RANGE[1] + 1))


@pytest.fixture
def ports():
    """Host ports no other test of the session uses: ports(3) -> [p, p+1, p+2]."""
    return lambda count: [next(_PORTS) for _i in range(count)]


@pytest.fixture
def names():
    """Fresh deployment names it-app-<hex>-<letter>."""
    token = uuid.uuid4().hex[:4]
    return [PREFIX + '%s-%s' % (token, letter) for letter in 'abcdef']
