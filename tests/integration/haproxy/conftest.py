# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The haproxy role and haproxy_backend module against the lab's lb1, with real backends.

The session applies the haproxy role to the first langgraph_lb host and starts
tests/integration/haproxy/backend.py (a tiny HTTP server) on the first two
langgraph_app hosts as transient systemd units; both are stopped at the end, and
every deployment a test made (names it-hx-*) is removed from HAProxy.
The module always runs through ansible-playbook, in a separate process.
Needs the lab (make lab): lab/inventory/hosts.yml.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest
import yaml

try:
    from urllib.request import urlopen
    from urllib.error import HTTPError, URLError
except ImportError:  # pragma: no cover
    raise

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
LAB_INVENTORY = os.path.join(REPO, 'lab', 'inventory')
BACKEND_PORT = 18281
PREFIX = 'it-hx-'


def ansible_env():
    site = subprocess.check_output(
        [os.path.join(REPO, '.venv', 'bin', 'python'), '-c',
         'import sysconfig; print(sysconfig.get_paths()["purelib"])']).decode().strip()
    env = dict(os.environ)
    env.update(
        PATH=os.path.join(REPO, '.venv', 'bin') + os.pathsep + env.get('PATH', ''),
        ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'collections') + os.pathsep + site,
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_FORCE_COLOR='0',
        ANSIBLE_RETRY_FILES_ENABLED='0',
    )
    return env


def http_get(url, timeout=30):
    """(status, body) of GET url; never raises for HTTP errors."""
    try:
        response = urlopen(url, timeout=timeout)
        return response.status, response.read().decode()
    except HTTPError as e:
        return e.code, e.read().decode()
    except (URLError, OSError) as e:
        return None, str(e)


class Lab(object):

    def __init__(self):
        with open(os.path.join(LAB_INVENTORY, 'hosts.yml')) as f:
            groups = yaml.safe_load(f)['all']['children']
        self.lb_host, lb = sorted(groups['langgraph_lb']['hosts'].items())[0]
        self.lb_address = lb['langgraph_private_address']
        apps = sorted(groups['langgraph_app']['hosts'].items())[:2]
        self.apps = [(name, host['langgraph_private_address']) for name, host in apps]
        self.env = ansible_env()
        self.workdir = tempfile.mkdtemp(prefix='haproxy-it-')
        self.deployments = set()

    # --- ansible ---------------------------------------------------------------------------
    def playbook(self, plays, timeout=600):
        path = os.path.join(self.workdir, 'play-%s.yml' % uuid.uuid4().hex)
        with open(path, 'w') as f:
            json.dump(plays, f)
        proc = subprocess.run(['ansible-playbook', '-i', LAB_INVENTORY, path], env=self.env, check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        output = proc.stdout.decode('utf-8', 'replace')
        if proc.returncode != 0:
            raise AssertionError('ansible-playbook failed (rc=%d):\n%s' % (proc.returncode, output))
        return output

    def start_module(self, args, check=False, diff=False):
        """Run haproxy_backend on lb1 in its own process; returns a handle for finish()."""
        if args.get('deployment', '').startswith(PREFIX):
            self.deployments.add(args['deployment'])
        token = uuid.uuid4().hex
        result_path = os.path.join(self.workdir, 'result-%s.json' % token)
        play = [{
            'name': 'Run haproxy_backend', 'hosts': self.lb_host, 'gather_facts': False, 'become': True,
            'tasks': [
                {'name': 'Run the module', 'selfhost.langgraph.haproxy_backend': args, 'register': 'r',
                 'ignore_errors': True, 'check_mode': check, 'diff': diff},
                {'name': 'Save the result', 'ansible.builtin.copy': {
                    'content': '{{ r | to_json }}', 'dest': result_path, 'mode': '0600'},
                 'delegate_to': 'localhost', 'become': False},
            ],
        }]
        path = os.path.join(self.workdir, 'play-%s.yml' % token)
        with open(path, 'w') as f:
            json.dump(play, f)
        proc = subprocess.Popen(['ansible-playbook', '-i', LAB_INVENTORY, path], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return proc, result_path, time.monotonic()

    @staticmethod
    def finish(handle, timeout=300):
        proc, result_path, started = handle
        output = proc.communicate(timeout=timeout)[0].decode('utf-8', 'replace')
        if not os.path.exists(result_path):
            raise AssertionError('ansible-playbook failed (rc=%s):\n%s' % (proc.returncode, output))
        with open(result_path) as f:
            result = json.load(f)
        os.unlink(result_path)
        result['_seconds'] = time.monotonic() - started
        return result

    def module(self, args, check=False, diff=False):
        return self.finish(self.start_module(args, check, diff))

    def lb_shell(self, command):
        """Run a shell command as root on lb1; returns its stdout."""
        out = subprocess.run(['ansible', '-i', LAB_INVENTORY, self.lb_host, '-b', '-o', '-m',
                              'ansible.builtin.shell', '-a', command], env=self.env, check=False,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        text = out.stdout.decode('utf-8', 'replace')
        if out.returncode != 0:
            raise AssertionError('%s failed on %s:\n%s' % (command, self.lb_host, text))
        return text.split('(stdout)', 1)[-1].replace('\\n', '\n').strip()

    # --- the fleet --------------------------------------------------------------------------
    def setup(self):
        backend = os.path.join(os.path.dirname(__file__), 'backend.py')
        unit = 'lg-it-haproxy-backend-%d' % BACKEND_PORT
        start = ('systemctl stop {0} 2>/dev/null; systemctl reset-failed {0} 2>/dev/null; '
                 'systemd-run --unit {0} /usr/bin/python3 /usr/local/lib/lg-it-haproxy-backend.py {1} '
                 '{{{{ inventory_hostname }}}}').format(unit, BACKEND_PORT)
        backends = [
            {'name': 'Copy the backend', 'ansible.builtin.copy': {
                'src': backend, 'dest': '/usr/local/lib/lg-it-haproxy-backend.py', 'mode': '0644'}},
            {'name': 'Start it as a transient unit (restarted, so it starts healthy)', 'ansible.builtin.shell': start},
            {'name': 'Wait for it', 'ansible.builtin.wait_for': {'port': BACKEND_PORT, 'timeout': 20}},
        ]
        self.playbook([
            {'name': 'Install HAProxy', 'hosts': self.lb_host, 'become': True, 'gather_facts': True,
             'roles': ['selfhost.langgraph.haproxy']},
            {'name': 'Start test backends', 'hosts': ','.join(name for name, _a in self.apps),
             'become': True, 'gather_facts': False, 'tasks': backends},
        ])

    def teardown(self):
        unit = 'lg-it-haproxy-backend-%d' % BACKEND_PORT
        # Every test deployment, also those of earlier, interrupted runs.
        left = self.lb_shell('cd /etc/haproxy/conf.d && ls %s*.cfg 2>/dev/null || true' % ('langgraph-' + PREFIX))
        names = set(self.deployments)
        names.update(f[len('langgraph-'):-len('.cfg')] for f in left.split() if f.endswith('.cfg'))
        failures = []
        for name in sorted(names):
            result = self.module(dict(deployment=name, state='absent'))
            if result.get('failed'):
                failures.append('%s: %s' % (name, result.get('msg')))
        self.playbook([{'name': 'Stop test backends', 'hosts': ','.join(name for name, _a in self.apps),
                        'become': True, 'gather_facts': False, 'tasks': [
                            {'name': 'Stop the unit', 'ansible.builtin.command': 'systemctl stop %s' % unit,
                             'failed_when': False, 'changed_when': True},
                            {'name': 'Remove the backend', 'ansible.builtin.file': {
                                'path': '/usr/local/lib/lg-it-haproxy-backend.py', 'state': 'absent'}}]}])
        if failures:
            raise AssertionError('could not remove test deployments from HAProxy: %s' % '; '.join(failures))

    # --- helpers ----------------------------------------------------------------------------
    def server(self, index, name=None, state='ready', port=BACKEND_PORT):
        host, address = self.apps[index]
        return dict(name=name or host, address=address, port=port, state=state)

    def url(self, port, path='/'):
        return 'http://%s:%d%s' % (self.lb_address, port, path)


@pytest.fixture(scope='session')
def lab():
    if not os.path.exists(os.path.join(LAB_INVENTORY, 'hosts.yml')):
        pytest.skip('the lab is not up (make lab)')
    lab = Lab()
    lab.setup()
    try:
        yield lab
    finally:
        try:
            lab.teardown()
        finally:
            shutil.rmtree(lab.workdir, ignore_errors=True)


_PORTS = iter(range(random.randint(18300, 18350), 18400))


@pytest.fixture
def deployment():
    """A fresh deployment name and a frontend port no other test uses."""
    return PREFIX + uuid.uuid4().hex[:6], next(_PORTS)
