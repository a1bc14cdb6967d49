# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deployments built from application source (an entry's `source:`).

The only home of: the shape of `source`, what makes a LangGraph app
(langgraph.json, its graphs and local dependencies), the content hash of a
source tree, and the image a source builds to (its tag is the hash, so the
same source is never built twice). Pure functions but for reading the tree.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os
import re
import stat

CONFIG = 'langgraph.json'
# The file the controller writes into each build context (a user's own
# Dockerfile, if any, stays untouched).
DOCKERFILE = 'Dockerfile.langgraph'
# The variable that records in each revision what it was built from.
SOURCE_ENV = 'LANGGRAPH_APP_SOURCE'
# Never part of an app's content: VCS data, caches, local environments.
SKIP_DIRS = frozenset(['.git', '.hg', '.svn', '__pycache__', '.venv', 'venv', '.mypy_cache', '.pytest_cache',
                       '.ruff_cache', 'node_modules', '.langgraph_api'])
SKIP_SUFFIXES = ('.pyc', '.pyo')
SOURCE_KEYS = ('path', 'git', 'ref')
_REF_RE = re.compile(r'\A[A-Za-z0-9][A-Za-z0-9._/+-]{0,199}\Z')
_SHA_RE = re.compile(r'\A[0-9a-f]{40}\Z')


def source_problems(source):
    """Problems with the shape of an entry's source (list of str)."""
    shape = 'source must be {path: DIRECTORY} or {git: URL, ref: BRANCH|TAG|COMMIT}'
    if not isinstance(source, dict):
        return [shape + ', not %r' % (source,)]
    problems = ['source has an unknown key %r (%s)' % (k, shape) for k in sorted(source) if k not in SOURCE_KEYS]
    path, git, ref = source.get('path'), source.get('git'), source.get('ref')
    if path is not None and git is not None:
        problems.append('source has both path and git: give one')
    elif path is None and git is None:
        problems.append(shape)
    elif path is not None:
        if not isinstance(path, str) or not path.strip():
            problems.append('source.path must be the directory of the app (holding langgraph.json)')
        if ref is not None:
            problems.append('source.ref goes with source.git, not with source.path')
    else:
        if not isinstance(git, str) or not git.strip() or git.strip().startswith('-'):
            problems.append('source.git must be the URL of a git repository')
        if ref is None:
            problems.append('source.ref is missing: the branch, tag or commit of source.git to build')
        elif not isinstance(ref, str) or not _REF_RE.match(ref) or '..' in ref:
            problems.append('source.ref must be a branch, tag or commit name, not %r' % (ref,))
    return problems


def is_commit(ref):
    return bool(_SHA_RE.match(ref or ''))


_FILE_SUFFIXES = ('.py', '.js', '.ts', '.mts', '.cts', '.mjs', '.cjs', '.tsx', '.jsx')


def _graph_target(spec):
    """The part before ':variable' of a graph spec ('./src/graph.py:graph', 'pkg.mod:graph' or
    {'path': ...}), or None when the spec has no such form."""
    if isinstance(spec, dict):
        spec = spec.get('path')
    if not isinstance(spec, str) or ':' not in spec or not spec.rsplit(':', 1)[1]:
        return None
    return spec.rsplit(':', 1)[0]


def app_problems(directory, label):
    """Problems that make `directory` no LangGraph app: no or bad langgraph.json, a graph file or a local
    dependency that does not exist. label names the source in the messages."""
    config_path = os.path.join(directory, CONFIG)
    if not os.path.isfile(config_path):
        return ['%s has no %s: the source must be a LangGraph app, with %s at its top (its graphs and '
                'dependencies)' % (label, CONFIG, CONFIG)]
    try:
        with open(config_path, 'rb') as handle:
            config = json.loads(handle.read().decode('utf-8'))
    except (ValueError, UnicodeDecodeError) as exc:
        return ['%s of %s is not valid JSON: %s' % (CONFIG, label, exc)]
    if not isinstance(config, dict):
        return ['%s of %s must be a JSON object with graphs and dependencies' % (CONFIG, label)]
    problems = []
    graphs = config.get('graphs')
    if not isinstance(graphs, dict) or not graphs:
        problems.append('%s of %s names no graphs: add "graphs": {"agent": "./path/to/graph.py:graph"}'
                        % (CONFIG, label))
        graphs = {}
    root = os.path.realpath(directory)
    for graph_id in sorted(graphs):
        target = _graph_target(graphs[graph_id])
        if not target:
            problems.append('graph %s of %s must be "path/to/file.py:variable", not %r'
                            % (graph_id, label, graphs[graph_id]))
        elif target.endswith(_FILE_SUFFIXES) or '/' in target:
            path = os.path.realpath(os.path.join(directory, target))
            if not (path == root or path.startswith(root + os.sep)) or not os.path.isfile(path):
                problems.append('graph %s of %s: %s does not exist in the source' % (graph_id, label, target))
    dependencies = config.get('dependencies', [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        problems.append('dependencies in %s of %s must be a list of strings such as ["."]' % (CONFIG, label))
        dependencies = []
    if not dependencies and 'dependencies' in config:
        problems.append('dependencies in %s of %s is empty: list "." for the app itself' % (CONFIG, label))
    for dependency in dependencies:
        if dependency.startswith('.'):
            path = os.path.realpath(os.path.join(directory, dependency))
            if not (path == root or path.startswith(root + os.sep)) or not os.path.isdir(path):
                problems.append('dependency %s of %s does not exist in the source' % (dependency, label))
    return problems


def app_files(directory):
    """Relative paths of the app's files, sorted (SKIP_DIRS and bytecode left out)."""
    found = []
    for top, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in files:
            if name.endswith(SKIP_SUFFIXES):
                continue
            found.append(os.path.relpath(os.path.join(top, name), directory))
    return sorted(found)


def tree_hash(directory):
    """sha256 of the app's content: each file's path, executable bit and bytes (links: their target)."""
    digest = hashlib.sha256()
    for rel in app_files(directory):
        path = os.path.join(directory, rel)
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            kind, data = b'l', os.readlink(path).encode('utf-8')
        else:
            kind = b'x' if info.st_mode & stat.S_IXUSR else b'f'
            with open(path, 'rb') as handle:
                data = handle.read()
        digest.update(rel.replace(os.sep, '/').encode('utf-8') + b'\0' + kind + b'\0')
        digest.update(hashlib.sha256(data).hexdigest().encode('ascii') + b'\n')
    return digest.hexdigest()


def build_key(content_hash, dockerfile):
    """What names an image: the app's content and the Dockerfile (which holds the base image)."""
    return hashlib.sha256(('%s\n%s' % (content_hash, dockerfile)).encode('utf-8')).hexdigest()


def image_of(registry, name, key):
    """The image a source builds to: REGISTRY/NAME:src-<key>, the same tag for the same source."""
    return '%s/%s:src-%s' % (registry.rstrip('/'), name, key[:24])


def source_label(source, content_hash, commit=None):
    """How a revision records its source (in SOURCE_ENV): git URL@commit, or the directory's content hash."""
    if source.get('git'):
        return 'git %s@%s' % (source['git'], commit)
    return 'dir sha256:%s' % content_hash


def built_entry(entry, image, label):
    """The entry as the roll-out sees it: `image` (pinned) instead of `source`, and the source recorded in
    its env (each revision keeps its env)."""
    built = dict((k, v) for k, v in entry.items() if k != 'source')
    built['image'] = image
    built['env'] = dict(entry.get('env') or {}, **{SOURCE_ENV: label})
    return built
