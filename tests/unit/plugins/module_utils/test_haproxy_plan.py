# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import render
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_plan import plan


def want(name, state='ready', address='10.0.0.1', port=8000):
    return dict(name=name, address=address, port=port, state=state)


def live(name, status='UP', address='10.0.0.1', port=8000, weight=1, raw=None, scur=0):
    return dict(name=name, address=address, port=port, status=status, raw_status=raw or status,
                check_status='L7OK', weight=weight, scur=scur, stot=0, qcur=0, admin_state=0)


def view(*servers, **kw):
    return dict(frontend=kw.get('frontend', True), backend=kw.get('backend', True),
                servers=dict((s['name'], s) for s in servers))


NONE = dict(frontend=False, backend=False, servers={})


def file_of(*servers, **kw):
    return render('app', kw.get('port', 8101), '*', kw.get('health', '/ok'), list(servers))


def steps(p):
    return [(s['action'], s['server']['name']) for s in p.steps]


def make(desired, observed, old_text, **kw):
    args = dict(bind_port=8101, bind_address='*', health_path='/ok')
    args.update(kw)
    return plan('app', args.pop('state', 'present'), desired, observed, old_text, **args)


# (case, desired, observed view, servers in the file, expected steps, write, reload, file servers after)
CASES = [
    ('new deployment: file and reload, no runtime steps',
     [want('a'), want('b', 'drain')], NONE, None,
     [('add', 'a'), ('add', 'b')], True, True, [('a', 'ready'), ('b', 'drain')]),
    ('nothing to do',
     [want('a')], view(live('a')), [want('a')], [], False, False, [('a', 'ready')]),
    ('a DOWN server stays registered without change',
     [want('a')], view(live('a', 'DOWN')), [want('a')], [], False, False, [('a', 'ready')]),
    ('add at run time',
     [want('b')], view(live('a')), [want('a')], [('add', 'b')], True, False, [('a', 'ready'), ('b', 'ready')]),
    ('drain at run time',
     [want('a', 'drain')], view(live('a')), [want('a')], [('drain', 'a')], True, False, [('a', 'drain')]),
    ('already drained',
     [want('a', 'drain')], view(live('a', 'DRAIN')), [want('a', 'drain')], [], False, False, [('a', 'drain')]),
    ('drain wanted, in maintenance: left alone',
     [want('a', 'drain')], view(live('a', 'MAINT')), [want('a', 'maint')], [], False, False, [('a', 'maint')]),
    ('drained by weight 0 after a reload, wanted ready',
     [want('a')], view(live('a', 'DRAIN', weight=0, raw='UP')), [want('a', 'drain')],
     [('ready', 'a')], True, False, [('a', 'ready')]),
    ('ready from maintenance',
     [want('a')], view(live('a', 'MAINT')), [want('a', 'maint')], [('ready', 'a')], True, False, [('a', 'ready')]),
    ('checks off (no check) get enabled',
     [want('a')], view(live('a', 'UP', raw='no check')), [want('a')], [('ready', 'a')], False, False,
     [('a', 'ready')]),
    ('remove at run time',
     [want('a', 'absent')], view(live('a'), live('b')), [want('a'), want('b')], [('remove', 'a')], True, False,
     [('b', 'ready')]),
    ('remove what is not there: nothing',
     [want('z', 'absent')], view(live('a')), [want('a')], [], False, False, [('a', 'ready')]),
    ('unlisted servers are kept',
     [want('b')], view(live('a'), live('b')), [want('a'), want('b')], [], False, False,
     [('a', 'ready'), ('b', 'ready')]),
    ('roll-out order: adds, then drains, then removals',
     [want('old1', 'absent'), want('new1'), want('old2', 'drain'), want('new2')],
     view(live('old1'), live('old2')), [want('old1'), want('old2')],
     [('add', 'new1'), ('add', 'new2'), ('drain', 'old2'), ('remove', 'old1')], True, False,
     [('new1', 'ready'), ('new2', 'ready'), ('old2', 'drain')]),
    ('same name at a new address: removed, then added',
     [want('a', port=9000)], view(live('a')), [want('a')], [('remove', 'a'), ('add', 'a')], True, False,
     [('a', 'ready')]),
    ('file out of date (runtime is the truth): rewritten without reload',
     [want('a')], view(live('a'), live('b')), [want('a')], [], True, False, [('a', 'ready'), ('b', 'ready')]),
    ('no file but backend running: written, reloaded (its settings are unknown)',
     [want('a')], view(live('a')), None, [], True, True, [('a', 'ready')]),
    ('file there, HAProxy lost the backend: reload',
     [want('a')], NONE, [want('a')], [], False, True, [('a', 'ready')]),
    ('frontend missing: reload',
     [want('a')], view(live('a'), frontend=False), [want('a')], [], False, True, [('a', 'ready')]),
]


@pytest.mark.parametrize('case, desired, observed, in_file, expected, write, reload, after',
                         CASES, ids=[c[0] for c in CASES])
def test_plan(case, desired, observed, in_file, expected, write, reload, after):
    old_text = None if in_file is None else file_of(*in_file)
    p = make(desired, observed, old_text)
    assert steps(p) == expected
    assert (p.write, p.reload) == (write, reload)
    assert [(s['name'], s['state']) for s in p.servers_after] == after
    assert p.changed == bool(expected or write or reload)
    assert p.live == observed['backend']


def test_port_or_health_path_change_reloads_after_runtime_steps():
    p = make([want('a'), want('b')], view(live('a')), file_of(want('a')), bind_port=8102)
    assert steps(p) == [('add', 'b')] and p.write and p.reload
    p = make([want('a')], view(live('a')), file_of(want('a')), health_path='/ok?check_db=1')
    assert steps(p) == [] and p.write and p.reload


def test_purge_removes_unlisted():
    p = make([want('b')], view(live('a'), live('b')), file_of(want('a'), want('b')), purge=True)
    assert steps(p) == [('remove', 'a')]
    assert [s['name'] for s in p.servers_after] == ['b']


def test_servers_omitted_changes_no_server():
    p = make([], view(live('a', 'DRAIN')), file_of(want('a', 'drain')), purge=True, manage_servers=False)
    assert not p.changed and steps(p) == []


@pytest.mark.parametrize('observed, in_file, changed, reload', [
    (view(live('a')), True, True, True),
    (view(live('a')), False, True, True),     # no file, still loaded: reload drops it
    (NONE, True, True, True),                 # file only: remove it, reload
    (NONE, False, False, False),              # nothing anywhere
])
def test_absent(observed, in_file, changed, reload):
    old_text = file_of(want('a')) if in_file else None
    p = make([], observed, old_text, state='absent')
    assert p.changed == changed and p.reload == reload
    assert p.remove_file == in_file and p.new_text is None


def test_describe():
    p = make([want('n'), want('o', 'absent')], view(live('o')), file_of(want('o')), bind_port=8102)
    words = p.describe('app', '/etc/haproxy/conf.d/langgraph-app.cfg')
    assert words == ['add server n (10.0.0.1:8000, ready) at run time',
                     'drain and remove server o (10.0.0.1:8000) at run time',
                     'write /etc/haproxy/conf.d/langgraph-app.cfg',
                     'reload HAProxy (load the frontend and backend of app)']
