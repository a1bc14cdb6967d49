# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host-wide executors against a fake Docker SDK: which calls they make,
what they leave behind per deployment, and what they report."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fcntl
import os
import threading
import time

import pytest

docker = pytest.importorskip('docker')

from ansible_collections.selfhost.langgraph.plugins.module_utils import app_host  # noqa: E402
from ansible_collections.selfhost.langgraph.plugins.module_utils import docker_revisions as engine  # noqa: E402
from ansible_collections.selfhost.langgraph.plugins.module_utils import revision_plan as rp  # noqa: E402
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError  # noqa: E402

GOOD = 'reg:5000/demo:v1'
BROKEN = 'reg:5000/demo:broken'   # runs, never answers
EXITS = 'reg:5000/demo:exit'      # exits 1 at once
FP = 'f' * 16


class Response(object):
    def __init__(self, status_code):
        self.status_code = status_code
        self.reason = 'fake'
        self.url = 'fake'


class FakeDocker(object):
    """The few APIClient calls the executors make, on an in-memory engine."""

    def __init__(self, images=(GOOD, BROKEN, EXITS)):
        self.images_present = dict((image, 'sha256:%064d' % i) for i, image in enumerate(images))
        self.by_name = {}
        self.calls = []
        self.lock = threading.Lock()
        self.migration_rc = {}

    def _log(self, *call):
        with self.lock:
            self.calls.append(call)

    def count(self, method):
        return len([c for c in self.calls if c[0] == method])

    def _get(self, name):
        if name not in self.by_name:
            raise docker.errors.NotFound('No such container: %s' % name)
        return self.by_name[name]

    # -- listing
    def containers(self, filters=None, **kwargs):
        self._log('containers', filters)
        wanted = (filters or {}).get('label') or []
        if not isinstance(wanted, list):
            wanted = [wanted]
        found = []
        for c in list(self.by_name.values()):
            if all(label.split('=')[0] in c['Labels'] for label in wanted):
                ports = [{'PrivatePort': 8000, 'PublicPort': c['port'], 'Type': 'tcp'}] \
                    if c['State'] == 'running' and c['port'] else []
                found.append({'Names': ['/' + c['name']], 'Labels': c['Labels'], 'State': c['State'],
                              'Image': c['image'], 'ImageID': self.images_present.get(c['image']), 'Ports': ports})
        return found

    def images(self):
        return [{'Id': i, 'RepoTags': [ref], 'RepoDigests': []} for ref, i in self.images_present.items()]

    def inspect_image(self, image):
        self._log('inspect_image', image)
        if image not in self.images_present:
            raise docker.errors.NotFound('no such image')
        repository = app_host.split_reference(image)[0]
        return {'Id': self.images_present[image], 'RepoDigests': [repository + '@sha256:' + 'c' * 64]}

    def inspect_container(self, name):
        c = self._get(name)
        return {'State': {'ExitCode': c['exit_code'], 'Running': c['State'] == 'running'},
                'Config': {'StopTimeout': c['stop_timeout']}}

    # -- changing
    def create_host_config(self, **kwargs):
        return kwargs

    def create_container(self, image, name, environment=None, labels=None, host_config=None, command=None,
                         ports=None, stop_timeout=None):
        self._log('create_container', name)
        if image not in self.images_present:
            raise docker.errors.ImageNotFound('No such image: %s' % image)
        if name in self.by_name:
            raise docker.errors.APIError('Conflict: name in use', Response(409))
        port = None
        if host_config and host_config.get('port_bindings'):
            port = host_config['port_bindings'][8000][1]
        with self.lock:
            self.by_name[name] = dict(name=name, image=image, Labels=labels or {}, State='created', port=port,
                                      environment=environment, host_config=host_config, command=command,
                                      exit_code=0, stop_timeout=stop_timeout, restart_policy=None)
        return {'Id': name}

    def start(self, name):
        self._log('start', name)
        c = self._get(name)
        taken = [o for o in self.by_name.values() if o is not c and o['State'] == 'running' and o['port']
                 and o['port'] == c['port']]
        if taken:
            raise docker.errors.APIError('500 Server Error', Response(500), explanation='port is already allocated')
        if c['image'] == EXITS or (c['command'] and c['name'] in self.migration_rc):
            c['State'], c['exit_code'] = 'exited', self.migration_rc.get(c['name'], 1)
        elif c['command'] and c['command'] != ['hang']:
            c['State'], c['exit_code'] = 'exited', 0
        else:
            c['State'] = 'running'

    def update_container(self, name, restart_policy=None):
        self._log('update_container', name)
        self._get(name)['restart_policy'] = restart_policy

    def stop(self, name, timeout=None):
        self._log('stop', name, timeout)
        self._get(name)['State'] = 'exited'

    def kill(self, name):
        self._log('kill', name)
        self._get(name)['State'] = 'exited'

    def remove_container(self, name, v=False, force=False):
        self._log('remove_container', name, force)
        c = self._get(name)
        if c['State'] == 'running' and not force:
            raise docker.errors.APIError('running', Response(409))
        with self.lock:
            del self.by_name[name]

    def logs(self, name, tail=None):
        self._get(name)
        return b'connecting to postgresql://lg_bot:hunter2@10.0.0.1:5432/lg_bot\nTraceback: boom\n'

    def pull(self, repository, tag=None, stream=False, decode=False):
        self._log('pull', repository, tag)
        if 'nope' in tag:
            return iter([{'status': 'Pulling'}, {'error': 'manifest unknown'}])
        self.images_present['%s:%s' % (repository, tag)] = 'sha256:new-' + tag
        return iter([{'status': 'Downloaded newer image'}])

    def remove_image(self, image):
        self._log('remove_image', image)
        del self.images_present[image]

    # -- the network side
    def probe(self, port, path, host='127.0.0.1'):
        for c in self.by_name.values():
            if c['port'] == port and c['State'] == 'running':
                return 200 if c['image'] == GOOD else None
        return None


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def start_entry(deployment, replica=1, port=29000, image=GOOD, revision=1, fingerprint=FP):
    return dict(deployment=deployment, revision=revision, replica=replica, port=port, image=image, cpus=0.5,
                memory_mb=512, env={'LOG_LEVEL': 'INFO'}, fingerprint=fingerprint)


RANGE = (29000, 29099)


def apply(fake, entries, stop=(), skip=(), check_mode=False, secrets=None, timeout=10, port_range=RANGE):
    clock = Clock()
    starts = app_host.validate_starts(entries)
    return engine.apply_containers(fake, starts, list(stop), secrets or {}, set(skip), '/ok?check_db=1', timeout,
                                   '0.0.0.0', check_mode, port_range, probe_fn=fake.probe, sleep=clock.sleep,
                                   clock=clock)


@pytest.fixture(autouse=True)
def no_listening_ports(monkeypatch):
    monkeypatch.setattr(engine, 'listening_ports', set)


@pytest.fixture(autouse=True)
def private_lock(monkeypatch, tmp_path):
    path = str(tmp_path / 'lock' / 'containers.lock')
    monkeypatch.setattr(engine, 'CONTAINERS_LOCK', path)
    return path


THREE = [start_entry('it-a', port=29000), start_entry('it-a', 2, 29001), start_entry('it-b', port=29002),
         start_entry('it-c', port=29003)]


def test_three_deployments_start_in_one_call_and_again_change_nothing():
    fake = FakeDocker()
    secrets = {'it-a': {'DATABASE_URI': 'postgresql://u:%61b@10.0.0.1:5432/d', 'API_KEY': 'k'}}
    result = apply(fake, THREE, secrets=secrets)
    assert result['failures'] == {} and result['removed'] == [] and result['kept'] == []
    assert [s['name'] for s in result['started']] == ['lg-it-a-r1-1', 'lg-it-a-r1-2', 'lg-it-b-r1-1', 'lg-it-c-r1-1']
    a1 = fake.by_name['lg-it-a-r1-1']
    assert a1['environment'] == {'LOG_LEVEL': 'INFO', 'API_KEY': 'k', 'DATABASE_URI': 'postgresql://u:ab@10.0.0.1:5432/d'}
    assert a1['Labels'][rp.LABEL_IMAGE] == GOOD and a1['Labels'][rp.LABEL_FINGERPRINT] == FP
    assert (a1['Labels'][rp.LABEL_CPUS], a1['Labels'][rp.LABEL_MEMORY_MB]) == ('0.5', '512')
    assert result['moved_ports'] == {}
    assert a1['host_config']['nano_cpus'] == 500000000 and a1['host_config']['mem_limit'] == '512m'
    assert a1['stop_timeout'] == 200
    assert a1['restart_policy'] == {'Name': 'unless-stopped'}
    # One list to plan, one per health round: not one per deployment.
    assert fake.count('containers') == 2

    fake.calls = []
    again = apply(fake, THREE, secrets=secrets)
    assert again['started'] == [] and again['failures'] == {} and len(again['kept']) == 4
    assert [c[0] for c in fake.calls if c[0] not in ('containers', 'inspect_image')] == []


def test_a_broken_deployment_loses_what_the_call_made_and_the_others_stay():
    fake = FakeDocker()
    entries = THREE[:2] + [start_entry('it-b', port=29002, image=BROKEN), start_entry('it-b', 2, 29004),
                           start_entry('it-c', port=29003)]
    result = apply(fake, entries, timeout=5)
    assert sorted(result['failures']) == ['it-b']
    reason = result['failures']['it-b']
    assert reason.startswith('container lg-it-b-r1-1 was not healthy within 5 s (GET /ok?check_db=1 answered nothing)')
    assert 'hunter2' not in reason and 'lg_bot:********@' in reason
    assert result['removed'] == ['lg-it-b-r1-1', 'lg-it-b-r1-2']
    assert sorted(fake.by_name) == ['lg-it-a-r1-1', 'lg-it-a-r1-2', 'lg-it-c-r1-1']
    assert [s['name'] for s in result['started']] == ['lg-it-a-r1-1', 'lg-it-a-r1-2', 'lg-it-c-r1-1']


def test_an_exiting_container_fails_its_deployment_at_once():
    fake = FakeDocker()
    result = apply(fake, [start_entry('it-a', image=EXITS), start_entry('it-b', port=29001)], timeout=90)
    assert result['failures']['it-a'].startswith('container lg-it-a-r1-1 exited (code 1) before it was healthy')
    assert sorted(fake.by_name) == ['lg-it-b-r1-1']


def test_missing_image_fails_and_a_taken_port_moves_to_the_lowest_free_one():
    fake = FakeDocker()
    apply(fake, [start_entry('it-x', port=29001)])
    result = apply(fake, [start_entry('it-a', image='reg:5000/demo:gone'), start_entry('it-b', port=29001),
                          start_entry('it-c', port=29002)])
    assert result['failures'] == {'it-a': 'image reg:5000/demo:gone is not on this host: pull it first (app_images)'}
    assert 'lg-it-a-r1-1' not in fake.by_name
    # 29001 is held by it-x, 29002 planned for it-c; it-a, which planned 29000, failed before.
    assert [(s['name'], s['port']) for s in result['started']] == [('lg-it-b-r1-1', 29000), ('lg-it-c-r1-1', 29002)]
    assert result['moved_ports'] == {'lg-it-b-r1-1': dict(planned=29001, port=29000)}
    b1 = fake.by_name['lg-it-b-r1-1']
    assert b1['port'] == 29000 and b1['Labels'][rp.LABEL_PORT] == '29000' and b1['State'] == 'running'

    again = apply(fake, [start_entry('it-b', port=29001)])
    assert again['started'] == [] and again['kept'] == [dict(deployment='it-b', revision=1, replica=1,
                                                             name='lg-it-b-r1-1', port=29000)]
    assert again['moved_ports'] == {'lg-it-b-r1-1': dict(planned=29001, port=29000)}


def test_no_free_port_is_that_deployments_failure():
    fake = FakeDocker()
    apply(fake, [start_entry('it-x', port=29000), start_entry('it-y', port=29001)])
    result = apply(fake, [start_entry('it-a', port=29000), start_entry('it-b', port=29005)], port_range=(29000, 29001))
    assert result['failures'] == {'it-a': 'host port 29000 of lg-it-a-r1-1 is taken by container lg-it-x-r1-1 '
                                          'and no port of 29000-29001 is free'}
    assert [s['name'] for s in result['started']] == ['lg-it-b-r1-1'] and 'lg-it-a-r1-1' not in fake.by_name


def hide_intruder(fake, port):
    """Another engine user takes `port` between our look and our start."""
    fake.create_container(GOOD, 'intruder', host_config={'port_bindings': {8000: ('0.0.0.0', port)}})
    real_containers = fake.containers

    def containers_hiding_intruder(filters=None, **kwargs):
        found = real_containers(filters, **kwargs)
        return [c for c in found if c['Names'] != ['/intruder']]
    fake.containers = containers_hiding_intruder
    fake.start('intruder')


def test_port_taken_at_start_time_moves_to_the_next_free_port():
    fake = FakeDocker()
    hide_intruder(fake, 29000)
    result = apply(fake, [start_entry('it-a'), start_entry('it-b', port=29001)])
    assert result['failures'] == {}
    assert [(s['name'], s['port']) for s in result['started']] == [('lg-it-a-r1-1', 29002), ('lg-it-b-r1-1', 29001)]
    assert result['moved_ports'] == {'lg-it-a-r1-1': dict(planned=29000, port=29002)}
    assert fake.by_name['lg-it-a-r1-1']['Labels'][rp.LABEL_PORT] == '29002'


def test_port_taken_at_start_time_with_no_other_port_is_that_deployments_failure():
    fake = FakeDocker()
    hide_intruder(fake, 29000)
    result = apply(fake, [start_entry('it-a'), start_entry('it-b', port=29001)], port_range=(29000, 29001))
    assert result['failures']['it-a'] == 'container lg-it-a-r1-1 could not be started: port is already allocated'
    assert 'lg-it-a-r1-1' not in fake.by_name and 'lg-it-b-r1-1' in fake.by_name


def test_two_calls_at_once_never_choose_the_same_port(private_lock):
    os.makedirs(os.path.dirname(private_lock))
    fake = FakeDocker()
    real_containers = fake.containers

    def slow_containers(filters=None, **kwargs):
        # Without the lock, both calls would look before either created.
        found = real_containers(filters, **kwargs)
        time.sleep(0.05)
        return found
    fake.containers = slow_containers
    lock_free_during_gate = []
    real_probe = fake.probe

    def probe(port, path, host='127.0.0.1'):
        with open(private_lock, 'a') as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                lock_free_during_gate.append(True)
            except (IOError, OSError):
                lock_free_during_gate.append(False)
        return real_probe(port, path, host)

    results = {}

    def call(deployment):
        starts = app_host.validate_starts([start_entry(deployment, port=29000)])
        try:
            results[deployment] = engine.apply_containers(fake, starts, [], {}, set(), '/ok', 10, '0.0.0.0', False,
                                                          RANGE, probe_fn=probe, sleep=Clock().sleep, clock=Clock())
        except Exception as exc:  # shown by the assertion below
            results[deployment] = exc
    threads = [threading.Thread(target=call, args=(d,)) for d in ('it-a', 'it-b')]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r['failures'] for r in results.values()] == [{}, {}]
    ports = sorted(r['started'][0]['port'] for r in results.values())
    assert ports == [29000, 29001]
    assert sorted(len(r['moved_ports']) for r in results.values()) == [0, 1]
    # The second call saw the first's container: no start refused, no retry.
    assert fake.count('start') == 2 and fake.count('create_container') == 2
    # The health gate runs without the lock (probes of a call may overlap the other's creation).
    assert lock_free_during_gate and any(lock_free_during_gate)


def test_the_lock_wait_is_bounded_and_says_what_holds_it(private_lock):
    assert not os.path.exists(os.path.dirname(private_lock))
    with engine.host_lock(private_lock):
        started = time.monotonic()
        with pytest.raises(StoreError, match='another app_containers call on this host has held .* for more than 0 s'):
            with engine.host_lock(private_lock, wait=0.2):
                pass
        assert time.monotonic() - started >= 0.2
    with engine.host_lock(private_lock, wait=0):
        pass


def test_another_fingerprint_fails_without_touching_the_existing_container():
    fake = FakeDocker()
    apply(fake, [start_entry('it-a')])
    result = apply(fake, [start_entry('it-a', fingerprint='0' * 16)])
    assert 'exists with another image or environment' in result['failures']['it-a']
    assert fake.by_name['lg-it-a-r1-1']['State'] == 'running'


def test_a_stopped_container_is_started_again_and_checked():
    fake = FakeDocker()
    apply(fake, [start_entry('it-a')])
    fake.by_name['lg-it-a-r1-1']['State'] = 'exited'
    result = apply(fake, [start_entry('it-a')])
    assert [s['name'] for s in result['started']] == ['lg-it-a-r1-1'] and result['kept'] == []
    assert fake.by_name['lg-it-a-r1-1']['State'] == 'running'


def test_check_mode_reports_and_changes_nothing():
    fake = FakeDocker()
    apply(fake, [start_entry('it-old')])
    fake.calls = []
    result = apply(fake, [start_entry('it-a', port=29001), start_entry('it-b', port=29000)],
                   stop=['lg-it-old-r1-1', 'lg-it-gone-r1-1'], check_mode=True)
    assert [(s['name'], s['port']) for s in result['started']] == [('lg-it-a-r1-1', 29001), ('lg-it-b-r1-1', 29002)]
    assert result['moved_ports'] == {'lg-it-b-r1-1': dict(planned=29000, port=29002)} and result['failures'] == {}
    assert result['stopped'] == ['lg-it-old-r1-1']
    assert [c[0] for c in fake.calls if c[0] not in ('containers', 'inspect_image')] == []


def test_stop_uses_each_containers_own_timeout_and_ignores_unknown_names():
    fake = FakeDocker()
    apply(fake, [start_entry('it-a'), start_entry('it-b', port=29001)])
    fake.by_name['lg-it-b-r1-1']['stop_timeout'] = 50
    result = apply(fake, [], stop=['lg-it-a-r1-1', 'lg-it-b-r1-1', 'lg-it-gone-r1-1'])
    assert result['stopped'] == ['lg-it-a-r1-1', 'lg-it-b-r1-1'] and result['failures'] == {}
    assert sorted(c[1:] for c in fake.calls if c[0] == 'stop') == [('lg-it-a-r1-1', 200), ('lg-it-b-r1-1', 50)]
    assert fake.by_name == {}


def test_skip_leaves_a_deployment_alone():
    fake = FakeDocker()
    apply(fake, [start_entry('it-a')])
    result = apply(fake, [start_entry('it-b', port=29001)], stop=['lg-it-a-r1-1'], skip=['it-a', 'it-b'])
    assert result['left_alone'] == ['it-b'] and result['stopped'] == [] and result['started'] == []
    assert sorted(fake.by_name) == ['lg-it-a-r1-1']


def test_stops_of_a_deployment_that_failed_in_the_call_are_not_done():
    fake = FakeDocker()
    apply(fake, [start_entry('it-a')])
    result = apply(fake, [start_entry('it-a', revision=2, port=29001, image=EXITS)], stop=['lg-it-a-r1-1'])
    assert 'it-a' in result['failures'] and result['stopped'] == []
    assert sorted(fake.by_name) == ['lg-it-a-r1-1']


# --- app_host_info -------------------------------------------------------------------------

def test_observe_host_lists_every_deployment_in_one_call_and_probes():
    fake = FakeDocker()
    apply(fake, THREE)
    fake.by_name['lg-it-c-r1-1']['State'] = 'exited'
    fake.calls = []
    seen = engine.observe_host(fake, None, '/ok', probe_fn=fake.probe)
    assert fake.count('containers') == 1
    assert [(c['name'], c['health'], c['cpus'], c['memory_mb']) for c in seen['containers']] == [
        ('lg-it-a-r1-1', 200, 0.5, 512), ('lg-it-a-r1-2', 200, 0.5, 512), ('lg-it-b-r1-1', 200, 0.5, 512),
        ('lg-it-c-r1-1', None, 0.5, 512)]
    assert app_host.ports_in_range(seen['port_owners'], 29000, 29099) == [29000, 29001, 29002, 29003]
    assert GOOD in seen['images']


# --- revision_migrations -------------------------------------------------------------------

def migrations(*entries):
    return app_host.validate_migrations([dict(deployment=d, revision=1, image=image, command=command, env={})
                                         for d, image, command in entries])


def test_migrations_run_at_once_and_report_per_deployment():
    fake = FakeDocker()
    fake.migration_rc['lg-it-b-r1-migrate'] = 3
    clock = Clock()
    result = engine.run_migrations(
        fake, migrations(('it-a', GOOD, ['migrate']), ('it-b', GOOD, ['false']), ('it-c', 'reg:5000/none:1', ['migrate']),
                         ('it-d', GOOD, ['hang'])),
        {'it-a': {'DATABASE_URI': 'postgresql://u:%41@h:1/d'}}, 30, False, sleep=clock.sleep, clock=clock)
    assert result['outcomes']['it-a'] == dict(revision=1, rc=0, output=result['outcomes']['it-a']['output'])
    assert 'hunter2' not in result['outcomes']['it-a']['output']
    assert result['outcomes']['it-b']['rc'] == 3
    assert result['outcomes']['it-d']['rc'] is None
    assert sorted(result['failures']) == ['it-b', 'it-c', 'it-d']
    assert 'exited 3' in result['failures']['it-b']
    assert 'did not finish within 30 s and was killed' in result['failures']['it-d']
    assert result['failures']['it-c'].startswith('image reg:5000/none:1 is not on this host')
    assert fake.by_name == {}
    assert result['containers'] == ['lg-it-a-r1-migrate', 'lg-it-b-r1-migrate', 'lg-it-d-r1-migrate']


def test_migration_leftover_is_replaced():
    fake = FakeDocker()
    fake.create_container(GOOD, 'lg-it-a-r1-migrate', command=['migrate'])
    result = engine.run_migrations(fake, migrations(('it-a', GOOD, ['migrate'])), {}, 30, False,
                                   sleep=Clock().sleep)
    assert result['failures'] == {} and result['outcomes']['it-a']['rc'] == 0 and fake.by_name == {}


def test_migrations_check_mode_runs_nothing():
    fake = FakeDocker()
    result = engine.run_migrations(fake, migrations(('it-a', GOOD, ['migrate'])), {}, 30, True)
    assert result['containers'] == ['lg-it-a-r1-migrate'] and fake.count('create_container') == 0


# --- app_images ----------------------------------------------------------------------------

def test_pull_only_missing_unless_always_and_report_digests():
    fake = FakeDocker(images=[GOOD])
    images, failed, changed = engine.ensure_images(
        fake, [(GOOD, False), ('reg:5000/demo:v2', False), ('reg:5000/demo:nope', False)], False)
    assert failed == {'reg:5000/demo:nope': 'pulling reg:5000/demo:nope failed: manifest unknown'}
    assert images[GOOD] == dict(digest='sha256:' + 'c' * 64, pinned='reg:5000/demo@sha256:' + 'c' * 64, pulled=False)
    assert images['reg:5000/demo:v2']['pulled'] and changed
    assert [c[1:] for c in fake.calls if c[0] == 'pull'] == [('reg:5000/demo', 'v2'), ('reg:5000/demo', 'nope')] or \
        sorted(c[1:] for c in fake.calls if c[0] == 'pull') == [('reg:5000/demo', 'nope'), ('reg:5000/demo', 'v2')]

    images, failed, changed = engine.ensure_images(fake, [(GOOD, False), ('reg:5000/demo:v2', False)], False)
    assert not changed and not any(i['pulled'] for i in images.values())


def test_pull_check_mode_predicts_missing_only():
    fake = FakeDocker(images=[GOOD])
    images, failed, changed = engine.ensure_images(fake, [(GOOD, True), ('reg:5000/demo:v2', False)], True)
    assert changed and images['reg:5000/demo:v2'] == dict(digest=None, pinned=None, pulled=True)
    assert not images[GOOD]['pulled'] and fake.count('pull') == 0


def test_remove_keeps_images_in_use():
    fake = FakeDocker(images=[GOOD, 'reg:5000/demo:old'])
    apply(fake, [start_entry('it-a')])
    removed, in_use, failed = engine.remove_images(fake, [GOOD, 'reg:5000/demo:old', 'reg:5000/demo:absent'], False)
    assert (removed, in_use, failed) == (['reg:5000/demo:old'], [GOOD], {})
    assert sorted(fake.images_present) == [GOOD]


class WithoutDigests(FakeDocker):
    """Images present under a tag without their registry digest until pulled again."""

    def __init__(self, undigested, **kw):
        FakeDocker.__init__(self, **kw)
        self.undigested = set(undigested)

    def inspect_image(self, image):
        info = FakeDocker.inspect_image(self, image)
        return dict(info, RepoDigests=[]) if image in self.undigested else info

    def pull(self, repository, tag=None, stream=False, decode=False):
        self.undigested.discard('%s:%s' % (repository, tag))
        return FakeDocker.pull(self, repository, tag, stream, decode)


def test_a_present_image_without_its_digest_is_pulled_again_or_kept_unpinned():
    fake = WithoutDigests(['reg:5000/demo:v1', 'reg:5000/demo:nope'], images=['reg:5000/demo:v1', 'reg:5000/demo:nope'])
    images, failed, dummy = engine.ensure_images(fake, [('reg:5000/demo:v1', False), ('reg:5000/demo:nope', False)],
                                                 False)
    assert images['reg:5000/demo:v1']['digest'] == 'sha256:' + 'c' * 64 and images['reg:5000/demo:v1']['pulled']
    # The registry cannot say (here: it refuses the pull): the image runs as it is, unpinned, not a failure.
    assert failed == {} and images['reg:5000/demo:nope'] == dict(digest=None, pinned=None, pulled=False)
