# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app host modules on app1 and app2 with the real server image."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import threading

from conftest import IMAGE_REPO, PORT_RANGE, PREFIX, http_get

V1 = IMAGE_REPO + ':v1'
V2 = IMAGE_REPO + ':v2'
BROKEN = IMAGE_REPO + ':broken'
# Short shutdown grace: a stop waits 5 + 20 s at most.
ENV = {'LOG_LEVEL': 'WARNING', 'BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS': '5'}


def entry(deployment, port, image=V1, revision=1, replica=1, fingerprint=None):
    return dict(deployment=deployment, revision=revision, replica=replica, port=port, image=image, cpus=0.5,
                memory_mb=512, env=ENV, fingerprint=fingerprint or 'fp-' + image.rsplit(':', 1)[1])


def container(deployment, revision=1, replica=1):
    return 'lg-%s-r%d-%d' % (deployment, revision, replica)


def migration(deployment, revision=1):
    return 'lg-%s-r%d-migrate' % (deployment, revision)


def names_of(entries):
    return sorted(e['name'] for e in entries)


def inspect(lab, host, name, template):
    return lab.vm(host, 'docker', 'inspect', '--format', template, name).strip()


def test_images_pull_report_digests_and_keep_what_is_in_use(lab):
    nope = IMAGE_REPO + ':nope'
    first = lab.on('app1', 'app_images', dict(pull=[dict(image=V1), dict(image=V2, always=True), dict(image=BROKEN),
                                                    dict(image=nope)]))
    assert not first.get('failed'), first
    assert list(first['failures']) == [nope] and 'manifest unknown' in first['failures'][nope]
    assert sorted(first['images']) == [BROKEN, V1, V2] and first['images'][V2]['pulled']
    for image in (V1, V2, BROKEN):
        repo_digest = inspect(lab, 'app1', image, '{{index .RepoDigests 0}}')
        assert first['images'][image]['pinned'] == repo_digest
        assert first['images'][image]['digest'] == repo_digest.split('@')[1]

    again = lab.on('app1', 'app_images', dict(pull=[dict(image=V1), dict(image=V2), dict(image=BROKEN)]))
    assert not again['changed'] and not any(i['pulled'] for i in again['images'].values()), again

    # An image of our own (never one others may need), used by a container, then not.
    scratch = PREFIX + 'scratch:1'
    user = 'lg-' + PREFIX + 'scratch-user'
    lab.vm('app1', 'docker', 'create', '--name', user, V1, 'true')
    lab.vm('app1', 'docker', 'commit', user, scratch)
    lab.vm('app1', 'docker', 'rm', user)
    lab.vm('app1', 'docker', 'create', '--name', user, scratch, 'true')
    kept = lab.on('app1', 'app_images', dict(remove=[scratch, PREFIX + 'absent:1']))
    assert not kept['changed'] and kept['in_use'] == [scratch] and kept['removed'] == [] and kept['failures'] == {}
    lab.vm('app1', 'docker', 'rm', user)
    checked = lab.on('app1', 'app_images', dict(remove=[scratch]), check=True)
    assert checked['changed'] and checked['removed'] == [scratch]
    assert lab.vm('app1', 'docker', 'images', '-q', scratch).strip()
    removed = lab.on('app1', 'app_images', dict(remove=[scratch]))
    assert removed['changed'] and removed['removed'] == [scratch]
    assert not lab.vm('app1', 'docker', 'images', '-q', scratch).strip()


def test_migrations_report_per_deployment(lab, migrated, names):
    good, bad, slow = names[:3]
    print('\nfirst migration of a fresh database: %.1f s (task)' % migrated['_seconds'])
    result = lab.on('app1', 'revision_migrations', dict(
        migrations=[dict(deployment=good, revision=2, image=V1, command=['migrate'], env=ENV),
                    dict(deployment=bad, revision=1, image=V1, command=['false'])],
        secrets=lab.secrets(good, bad)))
    assert not result.get('failed'), result
    assert result['changed'] and result['containers'] == sorted([migration(good, 2), migration(bad)])
    assert result['outcomes'][good]['rc'] == 0 and 'migrate:' in result['outcomes'][good]['output']
    assert list(result['failures']) == [bad] and result['outcomes'][bad]['rc'] == 1
    assert result['failures'][bad].startswith('the migration of revision 1 (false) exited 1')
    assert lab.db_password not in result['_output']
    assert not [n for n in lab.containers('app1') if n.endswith('-migrate')]

    timed_out = lab.on('app1', 'revision_migrations', dict(
        migrations=[dict(deployment=slow, revision=1, image=V1, command=['sleep', '120'])], timeout=3))
    assert timed_out['outcomes'][slow]['rc'] is None
    assert 'did not finish within 3 s and was killed' in timed_out['failures'][slow]
    assert timed_out['_seconds'] < 30
    assert not [n for n in lab.containers('app1') if n.endswith('-migrate')]


def test_three_deployments_in_one_call_idempotent_observed_and_stopped(lab, migrated, names, ports):
    a, b, c, d = names[:4]
    pa, pb, pc, pd = ports(4)
    start = [entry(a, pa), entry(b, pb), entry(c, pc)]
    args = dict(start=start, secrets=lab.secrets(a, b, c), health_timeout=120)

    planned = lab.on('app1', 'app_containers', args, check=True)
    assert planned['changed'] and names_of(planned['started']) == sorted(container(x) for x in (a, b, c)), planned
    assert lab.containers('app1') == []

    first = lab.on('app1', 'app_containers', args)
    print('\napp_containers starting 3 containers (health-gated on /ok?check_db=1): %.1f s (task)' % first['_seconds'])
    assert not first.get('failed') and first['failures'] == {}, first
    assert first['changed'] and names_of(first['started']) == sorted(container(x) for x in (a, b, c))
    assert lab.db_password not in first['_output'] and 'itApp' not in first['_output']
    for port in (pa, pb, pc):
        assert http_get(lab.url('app1', port))[0] == 200
    name = container(a)
    assert inspect(lab, 'app1', name, '{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}} '
                   '{{.Config.StopTimeout}}') == '500000000 536870912 unless-stopped 25'
    assert inspect(lab, 'app1', name, '{{index .Config.Labels "selfhost.langgraph.image"}}') == V1

    again = lab.on('app1', 'app_containers', args)
    assert not again['changed'] and again['started'] == [] and again['failures'] == {}, again
    assert names_of(again['kept']) == sorted(container(x) for x in (a, b, c))

    # A taken port moves the container to the lowest free port of port_range.
    moved = lab.on('app1', 'app_containers', dict(start=[entry(d, pa)], secrets=lab.secrets(d), port_range=PORT_RANGE,
                                                  health_timeout=120))
    assert moved['changed'] and moved['failures'] == {}, moved
    [got] = moved['started']
    assert got['name'] == container(d) and got['port'] not in (pa, pb, pc), moved
    assert PORT_RANGE[0] <= got['port'] <= PORT_RANGE[1]
    assert moved['moved_ports'] == {container(d): dict(planned=pa, port=got['port'])}
    assert http_get(lab.url('app1', got['port']))[0] == 200
    assert inspect(lab, 'app1', container(d), '{{index .Config.Labels "selfhost.langgraph.port"}}') == str(got['port'])
    assert lab.on('app1', 'app_containers', dict(stop=[container(d)]))['stopped'] == [container(d)]

    # Another fingerprint fails its deployment only, before anything starts.
    changed = lab.on('app1', 'app_containers', dict(start=[entry(a, pa, fingerprint='fp-other')]))
    assert not changed['changed'] and 'exists with another image or environment' in changed['failures'][a], changed
    assert lab.containers('app1') == sorted(container(x) for x in (a, b, c))

    observe = dict(deployments=[a, b, c], health_path='/ok', port_range=PORT_RANGE)
    seen, dummy, dummy = lab.module('app1,app2', 'app_host_info', observe)
    one = seen['app1']
    assert [(x['name'], x['running'], x['health'], x['image']) for x in one['containers']] == [
        (container(x), True, 200, V1) for x in sorted((a, b, c))]
    assert [x['port'] for x in one['containers']] == [pa, pb, pc]
    assert [(x['cpus'], x['memory_mb']) for x in one['containers']] == [(0.5, 512)] * 3
    assert set([pa, pb, pc]) <= set(one['used_ports']) and all(PORT_RANGE[0] <= p <= PORT_RANGE[1]
                                                               for p in one['used_ports'])
    assert one['capacity']['cpus'] >= 1 and one['capacity']['memory_mb'] > 500
    assert V1 in one['images']
    assert seen['app2']['containers'] == [] and seen['app2']['capacity']['cpus'] >= 1

    stop = [container(x) for x in (a, b, c)] + [container(PREFIX + 'gone')]
    checked = lab.on('app1', 'app_containers', dict(stop=stop), check=True)
    assert checked['changed'] and checked['stopped'] == sorted(container(x) for x in (a, b, c))
    assert len(lab.containers('app1')) == 3
    stopped = lab.on('app1', 'app_containers', dict(stop=stop))
    print('app_containers stopping 3 containers (SIGTERM): %.1f s (task)' % stopped['_seconds'])
    assert stopped['changed'] and stopped['stopped'] == sorted(container(x) for x in (a, b, c)), stopped
    assert lab.containers('app1') == []
    assert not lab.on('app1', 'app_containers', dict(stop=stop))['changed']


def test_a_broken_deployment_fails_alone_and_leaves_nothing(lab, migrated, names, ports):
    a, b, c = names[:3]
    pa, pb1, pb2, pc = ports(4)
    start = [entry(a, pa), entry(b, pb1, image=BROKEN), entry(b, pb2, image=BROKEN, replica=2), entry(c, pc)]
    result = lab.on('app1', 'app_containers', dict(start=start, secrets=lab.secrets(a, b, c), health_timeout=20))
    print('\napp_containers with one broken deployment (health_timeout 20 s): %.1f s (task)' % result['_seconds'])
    assert not result.get('failed'), result
    assert list(result['failures']) == [b], result
    reason = result['failures'][b]
    # Its graph fails to load: the server exits (or, in some versions, hangs without
    # listening); whichever replica fails first speaks for the deployment.
    assert re.match(r'container %s-[12] (exited \(code \d+\)|was not healthy within 20 s)' % container(b)[:-2],
                    reason), reason
    assert 'broken on purpose' in reason and lab.db_password not in result['_output']
    assert result['removed'] == [container(b), container(b, replica=2)]
    assert names_of(result['started']) == sorted([container(a), container(c)])
    assert lab.containers('app1') == sorted([container(a), container(c)])
    for port in (pa, pc):
        assert http_get(lab.url('app1', port))[0] == 200

    stopped = lab.on('app1', 'app_containers', dict(stop=[container(a), container(c)]))
    assert stopped['stopped'] == sorted([container(a), container(c)]) and lab.containers('app1') == []


def test_two_calls_at_once_with_the_same_planned_port_both_start(lab, migrated, names, ports):
    """A deploy and the reconcile timer, say: two app_containers calls on one
    host for two deployments whose entries plan the same free port."""
    a, b = names[:2]
    [planned] = ports(1)
    outcomes = {}

    def call(deployment):
        outcomes[deployment] = lab.on('app1', 'app_containers', dict(
            start=[entry(deployment, planned)], secrets=lab.secrets(deployment), port_range=PORT_RANGE,
            health_timeout=120))
    threads = [threading.Thread(target=call, args=(d,)) for d in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        for deployment in (a, b):
            result = outcomes[deployment]
            assert not result.get('failed') and result['failures'] == {}, result
            assert [s['name'] for s in result['started']] == [container(deployment)], result
        windows = [outcomes[d]['_window'] for d in (a, b)]
        print('\ntwo app_containers calls at once: tasks %.1f-%.1f s and %.1f-%.1f s after the first start'
              % tuple(w - windows[0][0] for w in windows[0] + windows[1]))
        # The two tasks ran at the same time (else this test proves nothing).
        assert windows[0][0] < windows[1][1] and windows[1][0] < windows[0][1], windows

        port = dict((d, outcomes[d]['started'][0]['port']) for d in (a, b))
        assert port[a] != port[b] and planned in port.values(), port
        moved = [d for d in (a, b) if port[d] != planned]
        assert len(moved) == 1
        assert outcomes[moved[0]]['moved_ports'] == {container(moved[0]): dict(planned=planned, port=port[moved[0]])}
        stayed = [d for d in (a, b) if d not in moved][0]
        assert outcomes[stayed]['moved_ports'] == {}
        for deployment in (a, b):
            assert http_get(lab.url('app1', port[deployment]))[0] == 200

        seen = lab.on('app1', 'app_host_info', dict(deployments=[a, b], port_range=PORT_RANGE))
        assert [(c['name'], c['port'], c['cpus'], c['memory_mb']) for c in seen['containers']] == sorted(
            (container(d), port[d], 0.5, 512) for d in (a, b))
        assert set(port.values()) <= set(seen['used_ports'])
    finally:
        stopped = lab.on('app1', 'app_containers', dict(stop=[container(a), container(b)]))
    assert stopped['stopped'] == sorted([container(a), container(b)])
