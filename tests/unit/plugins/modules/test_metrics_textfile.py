# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""metrics_textfile: input refused with what to fix, atomic replacement that leaves no temporary file,
the same content again changes nothing, and a failed write leaves the old file."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.selfhost.langgraph.plugins.modules import metrics_textfile as mt


@pytest.mark.parametrize('name, mode, problem', [
    ('langgraph.prom', '0644', None),
    ('langgraph.prom', '644', None),
    ('langgraph.txt', '0644', 'must end in .prom'),
    ('missing/langgraph.prom', '0644', 'does not exist'),
    ('langgraph.prom', 'rw-r--r--', 'mode must be octal'),
    ('langgraph.prom', '99999', 'mode must be octal'),
])
def test_check_input(tmp_path, name, mode, problem):
    found = mt.check_input(str(tmp_path / name), mode)
    if problem is None:
        assert found is None
    else:
        assert problem in found


def test_a_relative_path_is_refused():
    assert 'must be absolute' in mt.check_input('langgraph.prom', '0644')


def test_the_file_is_replaced_whole_and_nothing_else_is_left(tmp_path):
    path = str(tmp_path / 'langgraph.prom')
    mt.write_atomically(path, b'a 1\n', 0o644)
    old = os.stat(path).st_ino
    mt.write_atomically(path, b'a 2\n', 0o640)
    assert open(path, 'rb').read() == b'a 2\n'
    assert os.stat(path).st_ino != old  # renamed over, not rewritten in place
    assert os.stat(path).st_mode & 0o7777 == 0o640
    assert os.listdir(str(tmp_path)) == ['langgraph.prom']


def test_the_same_content_and_mode_is_no_change(tmp_path):
    path = str(tmp_path / 'langgraph.prom')
    assert not mt.unchanged(path, b'a 1\n', 0o644)  # no file yet
    mt.write_atomically(path, b'a 1\n', 0o644)
    assert mt.unchanged(path, b'a 1\n', 0o644)
    assert not mt.unchanged(path, b'a 2\n', 0o644)
    assert not mt.unchanged(path, b'a 1\n', 0o600)


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path, monkeypatch):
    path = str(tmp_path / 'langgraph.prom')
    mt.write_atomically(path, b'a 1\n', 0o644)

    def broken(*args):
        raise OSError('disk full')
    monkeypatch.setattr(mt.os, 'rename', broken)
    with pytest.raises(OSError):
        mt.write_atomically(path, b'a 2\n', 0o644)
    assert open(path, 'rb').read() == b'a 1\n'
    assert os.listdir(str(tmp_path)) == ['langgraph.prom']


def test_a_limited_tick_keeps_the_files_other_deployments(tmp_path):
    path = str(tmp_path / 'langgraph.prom')
    old = ('# HELP langgraph_deployment_lock_held h\n# TYPE langgraph_deployment_lock_held gauge\n'
           'langgraph_deployment_lock_held{deployment="a"} 1\nlanggraph_deployment_lock_held{deployment="b"} 0\n')
    new = ('# HELP langgraph_deployment_lock_held h\n# TYPE langgraph_deployment_lock_held gauge\n'
           'langgraph_deployment_lock_held{deployment="a"} 0\n')
    assert mt.content_for(path, new, ['a']) == new  # no file yet
    mt.write_atomically(path, old.encode(), 0o644)
    assert mt.content_for(path, new, None) == new  # the whole fleet: replaced
    assert mt.content_for(path, new, ['a']) == new + 'langgraph_deployment_lock_held{deployment="b"} 0\n'
