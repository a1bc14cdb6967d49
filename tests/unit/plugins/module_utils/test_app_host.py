# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One app host, every deployment at once: the pure decisions, as tables."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils import app_host
from ansible_collections.selfhost.langgraph.plugins.module_utils import revision_plan as rp
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

FP = 'f' * 16
IMAGE = '172.30.213.5:5000/langgraph-demo:v1'


def summary(name, labels=None, state='running', ports=(), image=IMAGE):
    return {'Names': ['/' + name], 'Labels': labels, 'State': state, 'Image': image,
            'Ports': [{'PrivatePort': 8000, 'PublicPort': p, 'Type': 'tcp'} for p in ports]}


def replica(deployment, revision, replica_, port, state='running', fingerprint=FP, image=None, cpus=None,
            memory_mb=None):
    labels = rp.container_labels(deployment, revision, replica_, port, fingerprint, image, cpus, memory_mb)
    return summary('lg-%s-r%d-%d' % (deployment, revision, replica_), labels, state,
                   [port] if state == 'running' else [])


# --- decoding what the host runs -----------------------------------------------------------

@pytest.mark.parametrize('entry, expected', [
    (replica('bot', 3, 1, 20000, image='reg/bot:3', cpus=0.5, memory_mb=512),
     dict(name='lg-bot-r3-1', deployment='bot', revision=3, replica=1, port=20000, running=True,
          image='reg/bot:3', fingerprint=FP, cpus=0.5, memory_mb=512)),
    # Made before the image and size labels: Docker's record of the image, no size.
    (replica('bot', 3, 2, 20001, state='exited'),
     dict(name='lg-bot-r3-2', deployment='bot', revision=3, replica=2, port=20001, running=False,
          image=IMAGE, fingerprint=FP, cpus=None, memory_mb=None)),
    # A size label that cannot be read is no size, not an unreadable container.
    (summary('lg-bot-r3-3', dict(rp.container_labels('bot', 3, 3, 20002, FP), **{
        rp.LABEL_CPUS: 'lots', rp.LABEL_MEMORY_MB: '2048'})),
     dict(name='lg-bot-r3-3', deployment='bot', revision=3, replica=3, port=20002, running=True,
          image=IMAGE, fingerprint=FP, cpus=None, memory_mb=2048)),
    (summary('postgres', {'maintainer': 'x'}), None),
    (summary('plain', None), None),
], ids=['labels-with-image-and-size', 'stopped-without-image-and-size-labels', 'unreadable-size', 'not-ours',
        'no-labels'])
def test_decode_container(entry, expected):
    assert app_host.decode_container(entry) == expected


def test_unreadable_labels_are_set_apart_and_the_rest_sorted():
    broken = summary('lg-bad-r1-1', {rp.LABEL_MANAGED: 'true', rp.LABEL_REVISION: 'x'})
    found, unreadable = app_host.managed_containers(
        [replica('zed', 1, 1, 20005), replica('bot', 2, 1, 20003), replica('bot', 1, 2, 20002),
         replica('bot', 1, 1, 20001), broken, summary('other', None)])
    assert [c['name'] for c in found] == ['lg-bot-r1-1', 'lg-bot-r1-2', 'lg-bot-r2-1', 'lg-zed-r1-1']
    assert unreadable == ['lg-bad-r1-1']


def test_deployment_filter():
    found, dummy = app_host.managed_containers([replica('zed', 1, 1, 20005), replica('bot', 1, 1, 20001)], {'bot'})
    assert [c['name'] for c in found] == ['lg-bot-r1-1']


def test_port_owners_and_used_ports():
    summaries = [
        replica('bot', 1, 1, 20001),
        replica('bot', 1, 2, 20002, state='exited'),          # label only
        summary('web', None, ports=[20003, 8080]),             # not ours, but publishes
        summary('stray', {rp.LABEL_PORT: '20009'}, state='exited'),  # a port label without managed: not a claim
    ]
    owners = app_host.port_owners(summaries, {22, 20004})
    assert owners[20001] == 'container lg-bot-r1-1'
    assert owners[20002] == 'container lg-bot-r1-2'
    assert owners[20003] == 'container web'
    assert owners[20004] == 'a program listening on it'
    assert 20009 not in owners
    assert app_host.ports_in_range(owners, 20000, 20003) == [20001, 20002, 20003]


def test_image_references_skip_untagged():
    images = [{'RepoTags': ['reg/a:1', 'reg/a:latest'], 'RepoDigests': ['reg/a@sha256:' + 'a' * 64]},
              {'RepoTags': ['<none>:<none>'], 'RepoDigests': ['<none>@<none>']},
              {'RepoTags': None, 'RepoDigests': None}]
    assert app_host.image_references(images) == ['reg/a:1', 'reg/a:latest', 'reg/a@sha256:' + 'a' * 64]


def test_memory_mb():
    assert app_host.memory_mb('MemTotal:       16318540 kB\nMemFree:  1 kB\n') == 15936
    with pytest.raises(StoreError):
        app_host.memory_mb('MemFree: 1 kB\n')


@pytest.mark.parametrize('bind, host', [
    ('0.0.0.0', '127.0.0.1'), ('::', '127.0.0.1'), ('10.0.0.5', '10.0.0.5'), ('fd00::5', '[fd00::5]'),
])
def test_probe_host(bind, host):
    assert app_host.probe_host(bind) == host


@pytest.mark.parametrize('port_range', [[1], [2000, 1000], [0, 10], [1, 70000]])
def test_bad_port_range(port_range):
    with pytest.raises(StoreError, match='port_range'):
        app_host.validate_port_range(port_range)


# --- start entries -------------------------------------------------------------------------

def entry(deployment='bot', revision=1, replica_=1, port=29000, **kw):
    base = dict(deployment=deployment, revision=revision, replica=replica_, port=port, image=IMAGE,
                cpus=2.0, memory_mb=2048, env={}, fingerprint=FP)
    base.update(kw)
    return base


def test_validate_starts_sorts_and_derives():
    starts = app_host.validate_starts([entry('zed', port=29001), entry('bot', env={'BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS': 30})])
    assert [(s.name, s.stop_timeout) for s in starts] == [('lg-bot-r1-1', 50), ('lg-zed-r1-1', 200)]
    assert starts[0].env == {'BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS': '30'}
    labels = starts[0].labels()
    assert (labels[rp.LABEL_IMAGE], labels[rp.LABEL_CPUS], labels[rp.LABEL_MEMORY_MB]) == (IMAGE, '2', '2048')
    assert rp.container_size(labels) == (2.0, 2048)
    moved = starts[0].on_port(29005)
    assert (moved.port, moved.planned_port, moved.moved) == (29005, 29000, True)
    assert (starts[0].port, starts[0].moved) == (29000, False)
    assert moved.labels()[rp.LABEL_PORT] == '29005' and moved.as_dict()['port'] == 29005


@pytest.mark.parametrize('entries, message', [
    ([entry(deployment='Bad')], 'invalid deployment name'),
    ([entry(revision=0)], 'revision and replica must be 1 or more'),
    ([entry(port=70000)], 'port must be 1 to 65535'),
    ([entry(image='Bad Image')], 'invalid image reference'),
    ([entry(cpus=0)], 'cpus must be more than 0'),
    ([entry(memory_mb=1)], 'memory_mb must be 6 or more'),
    ([entry(fingerprint='a b')], 'fingerprint must be'),
    ([entry(env={'1X': 'y'})], 'not a valid environment variable name'),
    ([entry(env={'BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS': 'soon'})], 'whole number of seconds'),
    ([entry(), entry(port=29001)], 'listed twice'),
    ([entry(), entry(replica_=2)], 'port 29000 is given to both lg-bot-r1-1 and lg-bot-r1-2'),
], ids=['name', 'revision', 'port', 'image', 'cpus', 'memory', 'fingerprint', 'env-name', 'grace',
        'duplicate-name', 'duplicate-port'])
def test_validate_starts_refuses(entries, message):
    with pytest.raises(StoreError, match=message):
        app_host.validate_starts(entries)


@pytest.mark.parametrize('names, message', [
    (['web'], 'not a container name of this collection'),
    (['lg-bot-r1-migrate'], 'not a container name'),
    (['lg-bot-r1-1'], 'both start and stop'),
])
def test_validate_stops_refuses(names, message):
    with pytest.raises(StoreError, match=message):
        app_host.validate_stops(names, app_host.validate_starts([entry()]))


def test_validate_secrets_never_shows_a_value():
    with pytest.raises(StoreError) as caught:
        app_host.validate_secrets({'bot': {'BAD-NAME': 's3cr3t-value'}})
    assert 'BAD-NAME' in str(caught.value) and 's3cr3t-value' not in str(caught.value)
    with pytest.raises(StoreError, match='invalid deployment name'):
        app_host.validate_secrets({'Bot': {}})


def test_container_environment_merges_secrets_and_normalizes_uris():
    env = app_host.container_environment(
        {'LOG_LEVEL': 'INFO', 'N_JOBS_PER_WORKER': '5'},
        {'DATABASE_URI': 'postgresql://lg_bot:%61%62%2F@10.0.0.1:5432/lg_bot', 'N_JOBS_PER_WORKER': 7,
         'REDIS_URI': 'redis://:%41@10.0.0.2:6379/3'})
    assert env == {'LOG_LEVEL': 'INFO', 'N_JOBS_PER_WORKER': '7',
                   'DATABASE_URI': 'postgresql://lg_bot:ab%2F@10.0.0.1:5432/lg_bot',
                   'REDIS_URI': 'redis://:A@10.0.0.2:6379/3'}


# --- which containers a call creates, keeps, restarts or fails -----------------------------

def existing(name, running=True, fingerprint=FP, port=29000, managed=True):
    return {name: dict(name=name, running=running, fingerprint=fingerprint, port=port, managed=managed)}


RANGE = (29000, 29009)


def plan(entries, found=None, owners=None, missing=(), skip=()):
    result = app_host.plan_starts(app_host.validate_starts(entries), found or {}, owners or {}, set(missing), skip,
                                  RANGE)
    return names(result.create), names(result.restart), names(result.keep), result.failed, result.skipped


def names(starts):
    return [s.name for s in starts]


@pytest.mark.parametrize('entries, found, owners, missing, skip, expected', [
    ([entry(), entry('zed', port=29001)], {}, {}, (), (),
     (['lg-bot-r1-1', 'lg-zed-r1-1'], [], [], {}, [])),
    ([entry()], existing('lg-bot-r1-1'), {29000: 'container lg-bot-r1-1'}, (), (),
     ([], [], ['lg-bot-r1-1'], {}, [])),
    ([entry()], existing('lg-bot-r1-1', running=False), {29000: 'container lg-bot-r1-1'}, (), (),
     ([], ['lg-bot-r1-1'], [], {}, [])),
    ([entry(), entry(replica_=2, port=29001), entry('zed', port=29002)], existing('lg-bot-r1-1', fingerprint='0' * 16),
     {}, (), (),
     (['lg-zed-r1-1'], [], [], {'bot': 'container lg-bot-r1-1 exists with another image or environment '
                                       '(fingerprint 0000000000000000, wanted ffffffffffffffff); revisions are '
                                       'immutable: start a new revision'}, [])),
    # On another port than planned (a call moved it): kept where it is (see test_port_choice).
    ([entry()], existing('lg-bot-r1-1', port=29005), {29005: 'container lg-bot-r1-1'}, (), (),
     ([], [], ['lg-bot-r1-1'], {}, [])),
    ([entry()], existing('lg-bot-r1-1', managed=False), {}, (), (),
     ([], [], [], {'bot': 'a container named lg-bot-r1-1 exists that selfhost.langgraph does not manage '
                          '(no selfhost.langgraph.managed label); remove or rename it'}, [])),
    # A taken port is no failure: another is chosen (see test_port_choice).
    ([entry(), entry('zed', port=29001)], {}, {29000: 'a program listening on it'}, (), (),
     (['lg-bot-r1-1', 'lg-zed-r1-1'], [], [], {}, [])),
    ([entry(), entry('zed', port=29001, image='reg/zed:2')], {}, {}, ('reg/zed:2',), (),
     (['lg-bot-r1-1'], [], [], {'zed': 'image reg/zed:2 is not on this host: pull it first (app_images)'}, [])),
    ([entry(), entry('zed', port=29001)], {}, {29001: 'container x'}, ('reg/none',), ('zed',),
     (['lg-bot-r1-1'], [], [], {}, ['zed'])),
    # One bad entry sinks the whole deployment, also its entries that were fine.
    ([entry(), entry(replica_=2, port=29001), entry(replica_=3, port=29002, image='reg/bot:9')],
     existing('lg-bot-r1-1'), {29000: 'container lg-bot-r1-1'}, ('reg/bot:9',), (),
     ([], [], [], {'bot': 'image reg/bot:9 is not on this host: pull it first (app_images)'}, [])),
], ids=['fresh', 'keep-running', 'restart-stopped', 'other-fingerprint', 'other-port', 'not-managed',
        'port-taken', 'image-missing', 'skipped', 'one-bad-entry-sinks-its-deployment'])
def test_plan_starts(entries, found, owners, missing, skip, expected):
    assert plan(entries, found, owners, missing, skip) == expected


def port_choice(entries, owners, found=None, port_range=RANGE):
    result = app_host.plan_starts(app_host.validate_starts(entries), found or {}, owners, set(), (), port_range)
    placed = result.create + result.restart + result.keep
    return dict((s.name, s.port) for s in placed), app_host.moved_ports(placed), result.failed


@pytest.mark.parametrize('entries, owners, found, port_range, expected', [
    ([entry(), entry('zed', port=29001)], {29005: 'container x'}, None, RANGE,
     ({'lg-bot-r1-1': 29000, 'lg-zed-r1-1': 29001}, {}, {})),
    # The lowest free port: not 29001, which another entry of the call plans.
    ([entry(), entry('zed', port=29001)], {29000: 'container lg-demo-r5-1'}, None, RANGE,
     ({'lg-bot-r1-1': 29002, 'lg-zed-r1-1': 29001}, {'lg-bot-r1-1': dict(planned=29000, port=29002)}, {})),
    ([entry()], {29000: 'a program listening on it', 29001: 'container y'}, None, RANGE,
     ({'lg-bot-r1-1': 29002}, {'lg-bot-r1-1': dict(planned=29000, port=29002)}, {})),
    # Two entries moved get two ports; a planned port outside the range is fine when free.
    ([entry(), entry('zed', port=29001), entry('web', port=30000)], {29000: 'container x', 29001: 'container y'},
     None, RANGE,
     ({'lg-bot-r1-1': 29002, 'lg-zed-r1-1': 29003, 'lg-web-r1-1': 30000},
      {'lg-bot-r1-1': dict(planned=29000, port=29002), 'lg-zed-r1-1': dict(planned=29001, port=29003)}, {})),
    ([entry(), entry('zed', port=29005)], {29000: 'container x', 29001: 'a program listening on it'}, None,
     (29000, 29001),
     ({'lg-zed-r1-1': 29005}, {}, {'bot': 'host port 29000 of lg-bot-r1-1 is taken by container x and no port of '
                                          '29000-29001 is free'})),
    # Its own container: kept on the port it has, whatever the plan said.
    ([entry(port=29000)], {29003: 'container lg-bot-r1-1'}, existing('lg-bot-r1-1', port=29003), RANGE,
     ({'lg-bot-r1-1': 29003}, {'lg-bot-r1-1': dict(planned=29000, port=29003)}, {})),
], ids=['planned-free', 'taken-by-a-container', 'taken-by-a-listening-socket', 'two-moved', 'none-free',
        'existing-on-its-own-port'])
def test_port_choice(entries, owners, found, port_range, expected):
    assert port_choice(entries, owners, found, port_range) == expected


@pytest.mark.parametrize('taken, low, high, expected', [
    (set(), 20000, 20002, 20000), ({20000, 20002}, 20000, 20002, 20001), ({20000, 20001, 20002}, 20000, 20002, None),
    ({20000}, 20000, 20000, None),
])
def test_lowest_free_port(taken, low, high, expected):
    assert app_host.lowest_free_port(taken, low, high) == expected


@pytest.mark.parametrize('text, expected', [
    ('driver failed programming external connectivity on endpoint lg-bot-r1-1: Bind for 0.0.0.0:29000 failed: '
     'port is already allocated', True),
    ('Error starting userland proxy: listen tcp4 0.0.0.0:29000: bind: address already in use', True),
    ('No such image: reg/bot:9', False),
])
def test_port_in_use_error(text, expected):
    assert app_host.port_in_use_error(text) is expected


@pytest.mark.parametrize('answers, states, timed_out, healthy, failed', [
    ({'a': 200, 'b': None}, {'a': 'running', 'b': 'running'}, False, ['a'], {}),
    ({'a': 500, 'b': None}, {'a': 'running', 'b': 'exited'}, False, [], {'b': 'exited'}),
    ({'a': None, 'b': 503}, {'a': 'running'}, False, [], {'b': 'gone'}),
    ({'a': None, 'b': 200}, {'a': 'running', 'b': 'running'}, True, ['b'], {'a': 'timeout'}),
    # An answer wins over a state read a moment later.
    ({'a': 200, 'b': 200}, {}, True, ['a', 'b'], {}),
], ids=['one-healthy', 'exited', 'gone', 'timeout', 'answered'])
def test_judge_health(answers, states, timed_out, healthy, failed):
    assert app_host.judge_health(['a', 'b'], answers, states, timed_out) == (healthy, failed)


def test_first_failure_speaks_for_its_deployment():
    failures = {'lg-bot-r1-2': 'second', 'lg-bot-r1-1': 'first', 'lg-zed-r1-1': 'zed'}
    deployment_of = {'lg-bot-r1-1': 'bot', 'lg-bot-r1-2': 'bot', 'lg-zed-r1-1': 'zed'}
    assert app_host.first_failure_per_deployment(failures, deployment_of) == {'bot': 'first', 'zed': 'zed'}


def test_merge_failures_keeps_the_first_reason():
    assert app_host.merge_failures({'a': 1}, {'a': 2, 'b': 3}, {}) == {'a': 1, 'b': 3}


def test_undo_removes_only_what_the_call_created_for_failed_deployments():
    starts = app_host.validate_starts([entry(), entry(replica_=2, port=29001), entry(replica_=3, port=29002),
                                       entry('zed', port=29003)])
    found = {}
    found.update(existing('lg-bot-r1-2', running=False, port=29001))
    found.update(existing('lg-bot-r1-3', port=29002))
    result = app_host.plan_starts(starts, found, {}, set(), ())
    # lg-bot-r1-1 created, r1-2 started again, r1-3 kept; zed created.
    remove, stop = app_host.undo_steps(result, {'lg-bot-r1-1', 'lg-zed-r1-1'}, {'bot': 'why'})
    assert (remove, stop) == (['lg-bot-r1-1'], ['lg-bot-r1-2'])
    # A container that never got created is not removed.
    assert app_host.undo_steps(result, set(), {'bot': 'why'}) == ([], ['lg-bot-r1-2'])


@pytest.mark.parametrize('names, found, skip, expected', [
    (['lg-bot-r1-1'], existing('lg-bot-r1-1'), (), (['lg-bot-r1-1'], {})),
    (['lg-bot-r1-1'], {}, (), ([], {})),                       # already gone: no error
    (['lg-bot-r1-1'], existing('lg-bot-r1-1'), ('bot',), ([], {})),
    (['lg-bot-r1-1'], existing('lg-bot-r1-1', managed=False), (),
     ([], {'bot': 'container lg-bot-r1-1 is not managed by selfhost.langgraph (no selfhost.langgraph.managed label); '
                  'left alone'})),
], ids=['stop', 'gone', 'skipped', 'not-managed'])
def test_plan_stops(names, found, skip, expected):
    assert app_host.plan_stops(names, found, set(skip)) == expected


# --- migrations ----------------------------------------------------------------------------

def migration(deployment='bot', revision=2, command=('migrate',), **kw):
    base = dict(deployment=deployment, revision=revision, image=IMAGE, command=list(command), env={})
    base.update(kw)
    return base


def test_validate_migrations():
    found = app_host.validate_migrations([migration('zed'), migration(env={'A': 1})])
    assert [(m.name, m.command, m.env) for m in found] == [
        ('lg-bot-r2-migrate', ['migrate'], {'A': '1'}), ('lg-zed-r2-migrate', ['migrate'], {})]


@pytest.mark.parametrize('entries, message', [
    ([migration(), migration(revision=3)], 'one migration per deployment'),
    ([migration(command=())], 'command must name the migration'),
    ([migration(revision=0)], 'revision must be 1 or more'),
    ([migration(image='x y')], 'invalid image reference'),
])
def test_validate_migrations_refuses(entries, message):
    with pytest.raises(StoreError, match=message):
        app_host.validate_migrations(entries)


@pytest.mark.parametrize('states, timed_out, expected', [
    ({'a': 'running', 'b': 'exited'}, False, (['b'], [])),
    ({'a': 'running'}, False, (['b'], [])),            # gone counts as ended
    ({'a': 'running', 'b': 'created'}, True, ([], ['a', 'b'])),
    ({'a': 'dead', 'b': 'running'}, True, (['a'], ['b'])),
])
def test_finished_migrations(states, timed_out, expected):
    assert app_host.finished_migrations(['a', 'b'], states, timed_out) == expected


@pytest.mark.parametrize('rc, reason', [
    (0, None),
    (1, 'the migration of revision 2 (migrate) exited 1; its last output lines:\nboom'),
    (None, 'the migration of revision 2 (migrate) did not finish within 60 s and was killed; its last output '
           'lines:\nboom'),
])
def test_migration_outcome(rc, reason):
    m = app_host.validate_migrations([migration()])[0]
    assert app_host.migration_outcome(m, rc, 'boom', 60) == (dict(revision=2, rc=rc, output='boom'), reason)


# --- images --------------------------------------------------------------------------------

@pytest.mark.parametrize('image, expected', [
    ('redis', ('redis', 'latest')),
    ('redis:7', ('redis', '7')),
    ('172.30.213.5:5000/langgraph-demo', ('172.30.213.5:5000/langgraph-demo', 'latest')),
    ('172.30.213.5:5000/langgraph-demo:v1', ('172.30.213.5:5000/langgraph-demo', 'v1')),
    ('reg.io/a/b@sha256:' + 'a' * 64, ('reg.io/a/b', 'sha256:' + 'a' * 64)),
    ('reg.io:5000/a/b:v1@sha256:' + 'a' * 64, ('reg.io:5000/a/b', 'sha256:' + 'a' * 64)),
])
def test_split_reference(image, expected):
    assert app_host.split_reference(image) == expected


D = 'sha256:' + 'b' * 64


@pytest.mark.parametrize('image, repo_digests, expected', [
    ('172.30.213.5:5000/langgraph-demo:v1', ['172.30.213.5:5000/langgraph-demo@' + D], D),
    ('docker.io/library/redis:7', ['redis@' + D], D),
    ('redis', ['redis@' + D], D),
    ('reg/a:1', ['reg/other@' + D], None),
    ('reg/a:1', [], None),
    ('reg/a:1', None, None),
])
def test_repo_digest(image, repo_digests, expected):
    assert app_host.repo_digest(image, repo_digests) == expected


def test_pinned_reference():
    assert app_host.pinned_reference('reg:5000/a:v1', D) == 'reg:5000/a@' + D
    assert app_host.pinned_reference('reg:5000/a:v1', None) is None


def test_removal_plan_keeps_images_in_use():
    ids = {'a:1': 'sha256:1', 'b:1': 'sha256:2', 'c:1': None, 'a:alias': 'sha256:1'}
    assert app_host.removal_plan(['a:1', 'a:alias', 'b:1', 'c:1'], ids, {'sha256:1'}) == (['b:1'], ['a:1', 'a:alias'])


def test_removal_plan_keeps_a_digest_reference_whose_image_keeps_a_tag():
    ids = {'r/a@sha256:1': 'sha256:a', 'r/b@sha256:2': 'sha256:b', 'r/b:old': 'sha256:b', 'r/c@sha256:3': 'sha256:c'}
    tags = {'r/a@sha256:1': ['r/a:broken'], 'r/b@sha256:2': ['r/b:old'], 'r/c@sha256:3': []}
    # r/a's tag stays (another revision may run it): its digest reference stays too, or the tag loses its digest.
    assert app_host.removal_plan(sorted(ids), ids, set(), tags) == (['r/b:old', 'r/b@sha256:2', 'r/c@sha256:3'], [])


@pytest.mark.parametrize('tls_ca, exists, expected', [
    (False, False, {}),
    (False, True, {}),
    (True, True, {'/etc/selfhost-langgraph/tls/ca.crt': {'bind': '/etc/selfhost-langgraph/tls/ca.crt', 'mode': 'ro'}}),
])
def test_ca_binds(tls_ca, exists, expected):
    assert app_host.ca_binds(tls_ca, exists=lambda path: exists) == expected


def test_ca_binds_refuses_a_missing_ca_before_anything_starts():
    with pytest.raises(StoreError, match='ca.crt is missing on this host: run playbooks/site.yml'):
        app_host.ca_binds(True, exists=lambda path: False)
