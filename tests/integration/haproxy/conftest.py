# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The haproxy role and the haproxy_backend, haproxy_backends and haproxy_info modules
against the lab's lb1, with real backends.

The session applies the haproxy role to the first langgraph_lb host and starts
tests/integration/haproxy/backend.py (a tiny HTTP server) on the first two
langgraph_app hosts as transient systemd units; both are stopped at the end, and
every deployment a test made (names it-hx-* and it-hb-*, also those left by an
interrupted run) is removed from HAProxy, at the start and at the end, in one call.
Frontend ports: it-hx-* use 18300-18399, it-hb-* 18400-18449.
Modules always run through ansible-playbook, in a separate process, from the collection
under HAPROXY_COLLECTIONS_PATH (a directory holding ansible_collections/selfhost/langgraph,
for a private install while others rebuild .build/collections), else .build/collections.
Needs the lab (make lab): lab/inventory/hosts.yml.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import yaml

# The suites' shared harness is one folder up: tests/integration/harness.py.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402 pylint: disable=wrong-import-position

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
LAB_INVENTORY = os.path.join(REPO, 'lab', 'inventory')
BACKEND_PORT = 18281
PREFIX = 'it-hx-'
FLEET_PREFIX = 'it-hb-'
PREFIXES = (PREFIX, FLEET_PREFIX)
CONFIG_DIR = '/etc/haproxy/conf.d'


def ansible_env():
    return harness.ansible_env(os.environ.get('HAPROXY_COLLECTIONS_PATH') or os.path.join(REPO, '.build', 'collections'))


http_get = harness.http_get


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

    def note(self, args):
        """Remember the test deployments args touch, so that teardown removes them."""
        names = [args.get('deployment')] + [b.get('deployment') for b in args.get('backends') or []]
        self.deployments.update(n for n in names if isinstance(n, str) and n.startswith(PREFIXES))

    def start_task(self, module, args, check=False, diff=False):
        """Run a module on lb1 in its own process; returns a handle for finish()."""
        self.note(args)
        token = uuid.uuid4().hex
        result_path = os.path.join(self.workdir, 'result-%s.json' % token)
        play = [{
            'name': 'Run %s' % module, 'hosts': self.lb_host, 'gather_facts': False, 'become': True,
            'tasks': [
                {'name': 'Run the module', module: args, 'register': 'r',
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

    def start_module(self, args, check=False, diff=False):
        """Run haproxy_backend on lb1 in its own process; returns a handle for finish()."""
        return self.start_task('selfhost.langgraph.haproxy_backend', args, check, diff)

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

    def task(self, module, args, check=False, diff=False):
        return self.finish(self.start_task(module, args, check, diff))

    def backends(self, entries, check=False, **options):
        """haproxy_backends with these backends entries and options."""
        return self.task('selfhost.langgraph.haproxy_backends', dict(options, backends=entries), check)

    def info(self, **options):
        return self.task('selfhost.langgraph.haproxy_info', options)

    def remove_deployments(self, names):
        """Remove deployments from HAProxy in one call; raises if any could not be removed."""
        if not names:
            return
        result = self.backends([dict(deployment=name, state='absent') for name in sorted(names)])
        if result.get('failed') or result.get('failures'):
            raise AssertionError('could not remove test deployments from HAProxy: %s'
                                 % (result.get('msg') or result.get('failures')))
        self.deployments.difference_update(names)

    def leftovers(self):
        """Test deployments that have a file on lb1 (also those of earlier, interrupted runs)."""
        text = self.lb_shell('cd %s && ls %s 2>/dev/null || true' % (
            CONFIG_DIR, ' '.join('langgraph-%s*.cfg' % prefix for prefix in PREFIXES)))
        return set(f[len('langgraph-'):-len('.cfg')] for f in text.split() if f.endswith('.cfg'))

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
        self.remove_deployments(self.leftovers())

    def teardown(self):
        unit = 'lg-it-haproxy-backend-%d' % BACKEND_PORT
        try:
            self.remove_deployments(self.deployments | self.leftovers())
        finally:
            self.playbook([{'name': 'Stop test backends', 'hosts': ','.join(name for name, _a in self.apps),
                            'become': True, 'gather_facts': False, 'tasks': [
                                {'name': 'Stop the unit', 'ansible.builtin.command': 'systemctl stop %s' % unit,
                                 'failed_when': False, 'changed_when': True},
                                {'name': 'Remove the backend', 'ansible.builtin.file': {
                                    'path': '/usr/local/lib/lg-it-haproxy-backend.py', 'state': 'absent'}}]}])

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


class Ports(object):
    """Frontend ports of a range, handed out in turn; a released port is used again."""

    def __init__(self, low, high, start=None):
        self.free = list(range(start or low, high + 1)) + list(range(low, start or low))

    def take(self):
        if not self.free:
            raise AssertionError('no free frontend port left for the tests')
        return self.free.pop(0)

    def release(self, port):
        self.free.append(port)


HX_PORTS = Ports(18300, 18399, random.randint(18300, 18350))
HB_PORTS = Ports(18400, 18449)


@pytest.fixture
def deployment():
    """A fresh deployment name and a frontend port no other test uses."""
    return PREFIX + uuid.uuid4().hex[:6], HX_PORTS.take()


@pytest.fixture
def spare_port():
    """Another frontend port of the it-hx range."""
    return HX_PORTS.take()


class Fleet(object):
    """it-hb-* deployments of one test, each with its frontend port; removed (one call) after the test."""

    def __init__(self, lab):
        self.lab = lab
        self.made = []

    def new(self, count):
        made = [(FLEET_PREFIX + uuid.uuid4().hex[:6], HB_PORTS.take()) for _i in range(count)]
        self.made.extend(made)
        return made

    def cleanup(self):
        self.lab.remove_deployments(set(name for name, _port in self.made))
        for _name, port in self.made:
            HB_PORTS.release(port)


@pytest.fixture
def fleet(lab):
    made = Fleet(lab)
    try:
        yield made
    finally:
        made.cleanup()
