# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deployments from source: the shape of `source`, what makes an app, the content hash and the image name."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils import app_source

GRAPHS = {'agent': './app/graph.py:graph'}


def make_app(root, config=None, files=('app/graph.py',)):
    root.mkdir(parents=True, exist_ok=True)
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('graph = None\n')
    if config is not None:
        (root / 'langgraph.json').write_text(config if isinstance(config, str) else json.dumps(config))
    return root


@pytest.mark.parametrize('source, words', [
    ({'path': 'lab/sample-app'}, None),
    ({'git': 'https://example.com/app.git', 'ref': 'main'}, None),
    ({'git': 'https://example.com/app.git', 'ref': 'a' * 40}, None),
    ('lab/sample-app', 'source must be {path: DIRECTORY} or {git: URL, ref: BRANCH|TAG|COMMIT}'),
    ({}, 'source must be {path: DIRECTORY}'),
    ({'path': 'a', 'git': 'b', 'ref': 'main'}, 'source has both path and git'),
    ({'path': ''}, 'source.path must be the directory'),
    ({'path': 'a', 'ref': 'main'}, 'source.ref goes with source.git'),
    ({'git': 'https://example.com/app.git'}, 'source.ref is missing'),
    ({'git': '--upload-pack=x', 'ref': 'main'}, 'source.git must be the URL'),
    ({'git': 'https://example.com/app.git', 'ref': 'a..b'}, 'source.ref must be a branch, tag or commit'),
    ({'git': 'https://example.com/app.git', 'ref': '-x'}, 'source.ref must be a branch, tag or commit'),
    ({'path': 'a', 'branch': 'main'}, "source has an unknown key 'branch'"),
])
def test_source_shape(source, words):
    problems = app_source.source_problems(source)
    if words is None:
        assert problems == []
    else:
        assert any(words in p for p in problems), problems


@pytest.mark.parametrize('config, files, words', [
    ({'dependencies': ['.'], 'graphs': GRAPHS}, ('app/graph.py',), None),
    ({'dependencies': ['.'], 'graphs': {'agent': 'my_pkg.graph:graph'}}, (), None),
    ({'dependencies': ['.'], 'graphs': {'agent': {'path': './app/graph.py:graph'}}}, ('app/graph.py',), None),
    (None, ('app/graph.py',), 'has no langgraph.json: the source must be a LangGraph app'),
    ('{not json', (), 'langgraph.json of SRC is not valid JSON'),
    ([], (), 'must be a JSON object'),
    ({'dependencies': ['.']}, (), 'names no graphs'),
    ({'dependencies': ['.'], 'graphs': {'agent': './app/missing.py:graph'}}, ('app/graph.py',),
     'graph agent of SRC: ./app/missing.py does not exist in the source'),
    ({'dependencies': ['.'], 'graphs': {'agent': '../outside.py:graph'}}, (),
     'graph agent of SRC: ../outside.py does not exist in the source'),
    ({'dependencies': ['.'], 'graphs': {'agent': './app/graph.py'}}, ('app/graph.py',),
     'graph agent of SRC must be "path/to/file.py:variable"'),
    ({'dependencies': ['./libs/missing'], 'graphs': GRAPHS}, ('app/graph.py',),
     'dependency ./libs/missing of SRC does not exist'),
    ({'dependencies': [], 'graphs': GRAPHS}, ('app/graph.py',), 'dependencies in langgraph.json of SRC is empty'),
    ({'dependencies': '.', 'graphs': GRAPHS}, ('app/graph.py',), 'must be a list of strings'),
])
def test_what_makes_an_app(tmp_path, config, files, words):
    root = make_app(tmp_path / 'app-root', config, files)
    problems = app_source.app_problems(str(root), 'SRC')
    if words is None:
        assert problems == []
    else:
        assert any(words in p for p in problems), problems


def test_content_hash_follows_the_app_not_its_caches(tmp_path):
    root = make_app(tmp_path / 'a', {'graphs': GRAPHS})
    first = app_source.tree_hash(str(root))
    (root / '.git').mkdir()
    (root / '.git' / 'HEAD').write_text('ref: main\n')
    (root / 'app' / '__pycache__').mkdir()
    (root / 'app' / '__pycache__' / 'graph.cpython-311.pyc').write_bytes(b'x')
    (root / 'app' / 'graph.pyc').write_bytes(b'x')
    assert app_source.tree_hash(str(root)) == first
    # The same content elsewhere hashes the same: the hash names content, not a place.
    assert app_source.tree_hash(str(make_app(tmp_path / 'b', {'graphs': GRAPHS}))) == first
    (root / 'app' / 'graph.py').write_text('graph = 1\n')
    changed = app_source.tree_hash(str(root))
    assert changed != first
    os.chmod(str(root / 'app' / 'graph.py'), 0o755)
    assert app_source.tree_hash(str(root)) != changed
    (root / 'app' / 'graph.py').rename(root / 'app' / 'other.py')
    assert app_source.tree_hash(str(root)) not in (first, changed)


def test_image_is_named_by_content_and_dockerfile():
    key = app_source.build_key('c' * 64, 'FROM base:3.11\n')
    assert key == app_source.build_key('c' * 64, 'FROM base:3.11\n')
    assert key != app_source.build_key('c' * 64, 'FROM other:3.11\n')
    assert key != app_source.build_key('d' * 64, 'FROM base:3.11\n')
    assert app_source.image_of('reg:5000/', 'bot', key) == 'reg:5000/bot:src-' + key[:24]


@pytest.mark.parametrize('source, label', [
    ({'path': 'app'}, 'dir sha256:' + 'c' * 64),
    ({'git': 'https://example.com/app.git', 'ref': 'main'}, 'git https://example.com/app.git@' + 'f' * 40),
])
def test_source_label(source, label):
    assert app_source.source_label(source, 'c' * 64, 'f' * 40) == label


def test_built_entry_has_the_image_instead_of_the_source():
    entry = {'name': 'bot', 'source': {'path': 'app'}, 'env': {'A': '1'}, 'lb_port': 8123}
    built = app_source.built_entry(entry, 'reg/bot:src-1@sha256:' + 'a' * 64, 'dir sha256:x')
    assert built == {'name': 'bot', 'image': 'reg/bot:src-1@sha256:' + 'a' * 64, 'lb_port': 8123,
                     'env': {'A': '1', 'LANGGRAPH_APP_SOURCE': 'dir sha256:x'}}
    assert entry['env'] == {'A': '1'} and 'source' in entry


def test_built_entries_joins_the_builds_to_the_entries_by_name():
    from ansible_collections.selfhost.langgraph.plugins.filter.built_entries import built_entries
    entries = [{'name': 'a', 'source': {'path': 'x'}, 'secrets': {'K': 'v'}},
               {'name': 'b', 'image': 'reg/b:1'},
               {'name': 'c', 'source': {'path': 'y'}}]
    builds = [{'name': 'a', 'pinned': 'reg/a:src-1@sha256:' + 'a' * 64, 'source': 'dir sha256:x'}]
    out = built_entries(entries, builds)
    assert out[0] == {'name': 'a', 'image': 'reg/a:src-1@sha256:' + 'a' * 64, 'secrets': {'K': 'v'},
                      'env': {'LANGGRAPH_APP_SOURCE': 'dir sha256:x'}}
    # Not built (another deployment chosen, or check mode of an action that builds nothing): as given.
    assert out[1:] == entries[1:]
    assert built_entries(entries, []) == entries
