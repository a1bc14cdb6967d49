# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_backends_plan import (
    awaited,
    loaded_view,
    plan_backend,
    plan_backends,
    port_problems,
    split_steps,
    validate_backends,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import (
    HAProxyError,
    bound_ports,
    parse_servers,
    render,
)

PATH = '/etc/haproxy/conf.d/langgraph-app.cfg'


def want(name, state='ready', port=8000):
    return dict(name=name, address='10.0.0.1', port=port, state=state)


def live(name, status='UP', weight=1):
    return dict(name=name, address='10.0.0.1', port=8000, status=status, raw_status=status, check_status='L7OK',
                weight=weight, scur=0, stot=0, qcur=0, admin_state=0)


def view(*servers, **kw):
    return dict(frontend=kw.get('frontend', True), backend=kw.get('backend', True),
                servers=dict((s['name'], s) for s in servers))


NONE = dict(frontend=False, backend=False, servers={})


def entry(servers=None, **kw):
    e = dict(deployment='app', state='present', bind_port=8101, bind_address='*', health_path='/ok',
             servers=servers, purge=False)
    e.update(kw)
    return e


def file_of(*servers, **kw):
    return render('app', kw.get('port', 8101), '*', kw.get('health', '/ok'), list(servers))


def file_for(servers):
    """The file of the servers; a server with port None stands for a file without frontend."""
    port = None if any(s['port'] is None for s in servers) else 8101
    return file_of(*[dict(s, port=s['port'] or 8000) for s in servers], port=port)


def steps(p):
    return [(s['action'], s['server']['name']) for s in p.steps]


def servers_of(text):
    return None if text is None else [(s['name'], s['state']) for s in parse_servers(text)]


# (case, entry, observed view, file servers (None: no file), reload, servers written before the reload,
#  runtime steps, file servers at the end)
CASES = [
    ('new deployment: empty file, one reload, servers added at run time',
     entry([want('a'), want('b', 'drain')]), NONE, None,
     True, [], [('add', 'a'), ('add', 'b')], [('a', 'ready'), ('b', 'drain')]),
    ('nothing to do',
     entry([want('a')]), view(live('a')), [want('a')], False, None, [], [('a', 'ready')]),
    ('live: everything at run time, no reload',
     entry([want('n'), want('a', 'absent'), want('b', 'drain')]), view(live('a'), live('b')), [want('a'), want('b')],
     False, None, [('add', 'n'), ('drain', 'b'), ('remove', 'a')], [('b', 'drain'), ('n', 'ready')]),
    ('new port: the live servers are kept through the reload, then changed at run time',
     entry([want('n'), want('a', 'absent')], bind_port=8102), view(live('a'), live('d', 'DRAIN')),
     [want('a'), want('d', 'drain')],
     True, [('a', 'ready'), ('d', 'drain')], [('add', 'n'), ('remove', 'a')], [('d', 'drain'), ('n', 'ready')]),
    ('drained at run time, wanted ready after a reload: weight 0 in the new worker, readied',
     entry([want('d')], health_path='/ok?check_db=1'), view(live('d', 'DRAIN')), [want('d', 'drain')],
     True, [('d', 'drain')], [('ready', 'd')], [('d', 'ready')]),
    ('file there, HAProxy lost the backend: the file servers come back with the reload',
     entry([want('a'), want('b')]), NONE, [want('a')],
     True, [('a', 'ready')], [('add', 'b')], [('a', 'ready'), ('b', 'ready')]),
    ('backend running without a file: written with its servers, reloaded',
     entry([want('a')]), view(live('a')), None, True, [('a', 'ready')], [], [('a', 'ready')]),
    ('servers omitted: kept as they are, the file follows the runtime',
     entry(None), view(live('a'), live('b')), [want('a')], False, None, [], [('a', 'ready'), ('b', 'ready')]),
    ('new deployment served by host name only: a backend without frontend, one reload',
     entry([want('a')], bind_port=None), NONE, None, True, [], [('add', 'a')], [('a', 'ready')]),
    ('host name only and in shape: nothing to do',
     entry([want('a')], bind_port=None), view(live('a'), frontend=False), [want('a', port=None)], False, None, [],
     [('a', 'ready')]),
    ('lb_port dropped: the frontend goes with one reload, the servers stay',
     entry([want('a')], bind_port=None), view(live('a')), [want('a')], True, [('a', 'ready')], [], [('a', 'ready')]),
    ('lb_port given back: the frontend comes back with one reload',
     entry([want('a')]), view(live('a'), frontend=False), [want('a', port=None)], True, [('a', 'ready')], [],
     [('a', 'ready')]),
    ('purge removes the unlisted',
     entry([want('b')], purge=True), view(live('a'), live('b')), [want('a'), want('b')],
     False, None, [('remove', 'a')], [('b', 'ready')]),
]


@pytest.mark.parametrize('case, e, observed, in_file, reload, before_reload, expected, after',
                         CASES, ids=[c[0] for c in CASES])
def test_plan_backend(case, e, observed, in_file, reload, before_reload, expected, after):
    old_text = None if in_file is None else file_for(in_file)
    p = plan_backend(e, observed, old_text, PATH)
    assert p.reload == reload
    assert servers_of(p.reload_text) == before_reload
    assert steps(p) == expected
    assert servers_of(p.final_text) == after
    assert p.changed == bool(reload or expected or p.final_text != old_text)
    if reload:
        assert [s['name'] for s in p.carried] == [n for n, _s in before_reload]
        assert bound_ports(p.reload_text) == set([e['bind_port']] if e['bind_port'] else [])


@pytest.mark.parametrize('observed, in_file, reload, words', [
    (view(live('a')), True, True, ['remove %s' % PATH, 'reload HAProxy (remove the frontend and backend of app)']),
    (view(live('a')), False, True, ['reload HAProxy (remove the frontend and backend of app)']),
    (NONE, True, True, ['remove %s' % PATH, 'reload HAProxy (remove the frontend and backend of app)']),
    (NONE, False, False, []),
])
def test_absent(observed, in_file, reload, words):
    p = plan_backend(entry(None, state='absent', bind_port=None), observed, file_of(want('a')) if in_file else None,
                     PATH)
    assert (p.reload, p.steps, p.final_text, p.changed) == (reload, [], None, reload)
    assert p.describe() == words


@pytest.mark.parametrize('e, observed, in_file, words', [
    (entry([want('a')]), NONE, None,
     ['write %s' % PATH, 'reload HAProxy (load the frontend and backend of app)',
      'add server a (10.0.0.1:8000, ready) at run time']),
    (entry([want('n'), want('a', 'absent')]), view(live('a')), [want('a')],
     ['add server n (10.0.0.1:8000, ready) at run time', 'drain and remove server a (10.0.0.1:8000) at run time',
      'write %s' % PATH]),
    (entry([want('a', 'drain')]), view(live('a')), [want('a')], ['drain server a at run time', 'write %s' % PATH]),
    (entry([want('a')]), view(live('a', 'MAINT')), [want('a', 'maint')],
     ['set server a ready at run time', 'write %s' % PATH]),
    (entry([want('a')]), NONE, [want('a')], ['reload HAProxy (load the frontend and backend of app)']),
    (entry([want('a')]), view(live('a')), [want('a')], []),
])
def test_describe(e, observed, in_file, words):
    old_text = None if in_file is None else file_of(*in_file)
    assert plan_backend(e, observed, old_text, PATH).describe() == words


def test_loaded_view_is_what_a_new_worker_shows():
    assert loaded_view([], frontend=False)['frontend'] is False
    v = loaded_view([want('a'), want('d', 'drain'), want('m', 'maint')])
    assert v['frontend'] is True
    assert [(n, s['status'], s['weight']) for n, s in sorted(v['servers'].items())] == \
        [('a', 'UP', 1), ('d', 'DRAIN', 0), ('m', 'MAINT', 1)]


MAIN = '/etc/haproxy/haproxy.cfg'
D = '/etc/haproxy/conf.d/'


def plans_for(*entries, **kw):
    views = kw.get('views', {})
    files = dict(kw.get('files', {}))
    files.setdefault(MAIN, 'frontend stats\n    bind 127.0.0.1:8404\n')
    return plan_backends(list(entries), views, files, '/etc/haproxy/conf.d')


def dep(name, port, state='present'):
    return dict(deployment=name, state=state, bind_port=port, bind_address='*', health_path='/ok', servers=[],
                purge=False)


def text(name, port):
    return render(name, port, '*', '/ok', [])


@pytest.mark.parametrize('case, entries, files, problems', [
    ('free port', [dep('new', 8101)], {}, {}),
    ('the stats port of the main configuration', [dep('new', 8404)], {},
     {'new': 'bind_port 8404 of new is already bound in %s: choose a free port for the deployment' % MAIN}),
    ('a port another file binds', [dep('new', 8101)], {D + 'langgraph-old.cfg': text('old', 8101)},
     {'new': 'bind_port 8101 of new is already bound in %slanggraph-old.cfg: choose a free port for the deployment'
      % D}),
    ('its own file binds it: no problem', [dep('app', 8101)], {D + 'langgraph-app.cfg': text('app', 8101) + '#'}, {}),
    ('two deployments swap ports in one call', [dep('one', 8102), dep('two', 8101)],
     {D + 'langgraph-one.cfg': text('one', 8101), D + 'langgraph-two.cfg': text('two', 8102)}, {}),
    ('an absent deployment frees its port for a new one', [dep('old', None, 'absent'), dep('new', 8101)],
     {D + 'langgraph-old.cfg': text('old', 8101)}, {}),
    ('no port of its own (host name only): nothing to clash with', [dep('new', None), dep('other', None)],
     {D + 'langgraph-old.cfg': text('old', 8101)}, {}),
    ('a deployment that drops its port frees it for another', [dep('old', None), dep('new', 8101)],
     {D + 'langgraph-old.cfg': text('old', 8101)}, {}),
    ('skipped (not listed) deployments keep their ports', [dep('new', 8101)],
     {D + 'langgraph-skipped.cfg': text('skipped', 8101)},
     {'new': 'bind_port 8101 of new is already bound in %slanggraph-skipped.cfg: choose a free port for the '
      'deployment' % D}),
])
def test_port_problems(case, entries, files, problems):
    plans = plans_for(*entries, files=files)
    assert dict((d, p.problem) for d, p in plans.items() if p.problem) == problems
    assert port_problems(list(plans.values()), dict(files, **{MAIN: 'bind 127.0.0.1:8404'})) == problems


@pytest.mark.parametrize('entries, skip, message', [
    ([dict(deployment='Bad_Name', bind_port=8101)], (), r'backends\[0\] \(Bad_Name\): invalid deployment name'),
    ([dict(deployment='app', bind_port=0)], (), r'backends\[0\] \(app\): bind_port must be a TCP port'),
    ([dict(deployment='app', bind_port=8101), dict(deployment='app', state='absent')], (),
     r'backends\[1\] \(app\): deployment app is listed twice \(also backends\[0\]\)'),
    ([dict(deployment='one', bind_port=8101), dict(deployment='two', bind_port=8101)], (),
     r'backends\[1\] \(two\): bind_port 8101 is also the port of one'),
    ([dict(deployment='app', bind_port=8101, servers=[dict(name='a', address='app1', port=1)])], (),
     r'backends\[0\] \(app\): servers\[0\] \(a\): address .app1. is not an IP address'),
    ([dict(deployment='app', bind_port=8101, health_path='ok')], (), 'health_path must be an absolute URL path'),
    ([dict(deployment='app', bind_port=8101, state='gone')], (), 'state must be present or absent'),
    (['app'], (), r'backends\[0\]: must be a dict'),
    ([dict(deployment='bad name', bind_port=8101)], ('bad name',), 'invalid deployment name'),  # checked even if skipped
])
def test_validate_backends_rejects(entries, skip, message):
    with pytest.raises(HAProxyError, match=message):
        validate_backends(entries, skip)


def test_validate_backends_without_ports():
    result = validate_backends([dict(deployment='one'), dict(deployment='two', bind_port=None),
                                dict(deployment='three', bind_port=8101)])
    assert [e['bind_port'] for e in result] == [None, None, 8101]


def test_validate_backends_normalises_and_drops_skipped():
    result = validate_backends([
        dict(deployment='app', bind_port=8101, servers=[dict(name='a', address='10.0.0.1', port='8000')]),
        dict(deployment='old', state='absent'),
        dict(deployment='skipped', bind_port=8102),
    ], skip=['skipped'])
    assert result == [
        dict(deployment='app', state='present', bind_port=8101, bind_address='*', health_path='/ok',
             servers=[want('a')], purge=False),
        dict(deployment='old', state='absent', bind_port=None, bind_address='*', health_path='/ok', servers=None,
             purge=False),
    ]


def step(action, name, state='ready'):
    return dict(action=action, server=want(name, state))


@pytest.mark.parametrize('given, replaced, capacity, release, waited', [
    ([step('add', 'n'), step('ready', 'r'), step('drain', 'd', 'drain'), step('remove', 'o', 'absent')],
     [], ['n', 'r'], ['d', 'o'], ['n', 'r']),
    ([step('add', 'n', 'drain')], [], ['n'], [], []),  # a server added drained is not waited for
    ([step('remove', 's'), step('add', 's'), step('remove', 'o', 'absent')], ['s'], ['s'], ['o'], ['s']),
    ([], [], [], [], []),
])
def test_split_steps_and_awaited(given, replaced, capacity, release, waited):
    parts = split_steps(given)
    assert [[s['server']['name'] for s in part] for part in parts] == [replaced, capacity, release]
    assert awaited(given) == waited
