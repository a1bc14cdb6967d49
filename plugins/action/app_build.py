# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builds the images of deployment entries that give `source` (see the module documentation).

On the controller: checks every source (one message with every problem, nothing changed), fetches git
sources, stages each app with the Dockerfile `langgraph dockerfile` writes for it, and names its image by
the content (so the same source is never built twice). On the builder (the task's delegate_to): one
bundle of the staged apps goes over, and the module builds what the registry does not have yet.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.selfhost.langgraph.plugins.module_utils import app_source
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import deployment_name_problem

GIT_TIMEOUT = 300


def _run(args, cwd=None, env=None, timeout=GIT_TIMEOUT):
    proc = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout, check=False)
    return proc.returncode, proc.stdout.decode('utf-8', 'replace')


def _git_checkout(cache, url, ref, dest):
    """Fetches ref of url into a bare cache repository and writes its tree to dest; returns (commit, problem)."""
    repo = os.path.join(cache, 'git', hashlib.sha256(url.encode('utf-8')).hexdigest()[:24] + '.git')
    env = dict(os.environ, GIT_TERMINAL_PROMPT='0')
    if not os.path.isdir(repo):
        os.makedirs(os.path.dirname(repo), exist_ok=True)
        code, out = _run(['git', 'init', '--quiet', '--bare', repo], env=env)
        if code:
            return None, 'cannot create a git cache at %s: %s' % (repo, out.strip())
    code, out = _run(['git', '-C', repo, 'fetch', '--quiet', '--force', '--depth', '1', '--', url, ref], env=env)
    if code and app_source.is_commit(ref):
        # Servers that refuse to fetch a bare commit: fetch the branches and tags, then look it up.
        code, out = _run(['git', '-C', repo, 'fetch', '--quiet', '--force', '--', url,
                          '+refs/heads/*:refs/remotes/src/*', '+refs/tags/*:refs/tags/*'], env=env)
    if code:
        return None, 'cannot fetch %s of %s: %s' % (ref, url, out.strip().splitlines()[-1] if out.strip() else code)
    target = ref if app_source.is_commit(ref) else 'FETCH_HEAD'
    code, out = _run(['git', '-C', repo, 'rev-parse', '--verify', '--quiet', target + '^{commit}'], env=env)
    if code:
        return None, '%s is not a commit of %s' % (ref, url)
    commit = out.strip()
    os.makedirs(dest)
    archive = subprocess.run(['git', '-C', repo, 'archive', '--format=tar', commit], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=GIT_TIMEOUT, check=False)
    if archive.returncode:
        return None, 'cannot read %s of %s: %s' % (commit, url, archive.stderr.decode('utf-8', 'replace').strip())
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        for member in tar.getmembers():
            if member.name.startswith('/') or '..' in member.name.split('/'):
                return None, '%s of %s has a path outside the tree: %s' % (commit, url, member.name)
        tar.extractall(dest)
    return commit, None


def _copy_app(src, dest):
    for rel in app_source.app_files(src):
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(src, rel), target, follow_symlinks=False)


def _dockerfile(context, base_image):
    """The Dockerfile langgraph-cli writes for the app in context, or raises AnsibleActionFail."""
    out = os.path.join(context, app_source.DOCKERFILE)
    env = dict(os.environ, LANGGRAPH_CLI_NO_ANALYTICS='1')
    code, log = _run([sys.executable, '-m', 'langgraph_cli', 'dockerfile', '-c',
                      os.path.join(context, app_source.CONFIG), '--base-image', base_image, out], env=env)
    if code:
        if 'No module named langgraph_cli' in log:
            raise AnsibleActionFail('langgraph-cli is missing on the controller (%s): install it with pip install '
                                    'langgraph-cli (requirements.txt of the collection)' % sys.executable)
        raise AnsibleActionFail('langgraph dockerfile refused the app of %s:\n%s'
                                % (os.path.basename(context), '\n'.join(log.strip().splitlines()[-15:])))
    with open(out) as handle:
        return handle.read()


def _bundle(work, staging, names):
    """One tar of the staged apps (fixed order, times and owners, so the same apps give the same bytes)."""
    path = os.path.join(work, 'bundle.tar')

    def plain(info):
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, '', ''
        return info
    with tarfile.open(path, 'w', format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(names):
            context = os.path.join(staging, name)
            tar.add(context, arcname=name, recursive=False, filter=plain)
            files = app_source.app_files(context)
            for rel in sorted(set(d for f in files for d in _parents(f))) + files:
                tar.add(os.path.join(context, rel), arcname='%s/%s' % (name, rel), recursive=False, filter=plain)
    return path


def _parents(rel):
    parts = rel.split(os.sep)[:-1]
    return [os.sep.join(parts[:i]) for i in range(1, len(parts) + 1)]


class ActionModule(ActionBase):

    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        entries = args.get('deployments') or []
        chosen = args.get('deployment') or ''
        registry = (args.get('registry') or '').strip()
        base_image = (args.get('base_image') or '').strip()
        staging_root = os.path.expanduser(args.get('staging_dir') or '~/.cache/selfhost-langgraph')
        basedir = self._loader.get_basedir()
        if not isinstance(entries, list) or not entries:
            raise AnsibleActionFail('deployments must be the list langgraph_deployments')

        todo, problems = [], []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or entry.get('source') is None:
                continue
            name = entry.get('name')
            if chosen and name != chosen:
                continue
            label = 'entry %d%s' % (index + 1, ' (%s)' % name if name else '')
            entry_problems = app_source.source_problems(entry['source'])
            if entry.get('image') is not None:
                entry_problems.append('has both image and source: give image (a ready image) or source (the app '
                                      'to build), not both')
            if not isinstance(name, str) or not name:
                entry_problems.append('name is missing')
            elif deployment_name_problem(name, None):
                # It names the image and the build context: checked here, before validate_deployments.
                entry_problems.append(deployment_name_problem(name, None))
            problems += ['%s: %s' % (label, p) for p in entry_problems]
            if not entry_problems:
                todo.append((label, entry))
        if todo and not registry:
            problems.append('deploy_build_registry is not set: the registry (host[:port]) the builder pushes '
                            'source-built images to, which the app hosts pull from')
        if todo and not base_image:
            problems.append('deploy_build_base_image is empty: the LangGraph API base image to build on')
        if problems:
            raise AnsibleActionFail(self._problems(problems))
        if not todo:
            result.update(changed=False, builds=[], msg='no entry gives a source')
            return result

        os.makedirs(staging_root, exist_ok=True)
        work = tempfile.mkdtemp(prefix='build-', dir=staging_root)
        try:
            return self._build(result, task_vars, args, todo, registry, base_image, staging_root, work, basedir)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _build(self, result, task_vars, args, todo, registry, base_image, staging_root, work, basedir):
        staging, checkouts = os.path.join(work, 'apps'), os.path.join(work, 'checkouts')
        os.makedirs(staging)
        problems, builds = [], []
        for label, entry in todo:
            source, name = entry['source'], entry['name']
            commit = None
            if source.get('git'):
                tree = os.path.join(checkouts, name)
                commit, problem = _git_checkout(staging_root, source['git'].strip(), source['ref'], tree)
                if problem:
                    problems.append('%s: %s' % (label, problem))
                    continue
                where = 'source %s@%s' % (source['git'], source['ref'])
            else:
                tree = os.path.normpath(os.path.join(basedir, os.path.expanduser(source['path'])))
                where = 'source %s' % tree
                if not os.path.isdir(tree):
                    problems.append('%s: source.path %s is not a directory on the controller' % (label, tree))
                    continue
            app_problems = app_source.app_problems(tree, where)
            if app_problems:
                problems += ['%s: %s' % (label, p) for p in app_problems]
                continue
            context = os.path.join(staging, name)
            _copy_app(tree, context)
            content = app_source.tree_hash(context)
            key = app_source.build_key(content, _dockerfile(context, base_image))
            builds.append(dict(name=name, image=app_source.image_of(registry, name, key),
                               source=app_source.source_label(source, content, commit)))
        if problems:
            raise AnsibleActionFail(self._problems(problems))

        bundle = _bundle(work, staging, [b['name'] for b in builds])
        module_args = dict(builds=[dict(name=b['name'], image=b['image']) for b in builds],
                           log_lines=int(args.get('log_lines') or 40))
        remote_tmp = self._make_tmp_path()
        try:
            module_args['bundle'] = self._transfer_file(bundle, self._connection._shell.join_path(
                remote_tmp, 'bundle.tar'))
            self._fixup_perms2((remote_tmp, module_args['bundle']))
            built = self._execute_module(module_name='selfhost.langgraph.app_build', module_args=module_args,
                                         task_vars=task_vars)
        finally:
            self._remove_tmp_path(remote_tmp)
        if built.get('failed'):
            result.update(built)
            return result
        pinned = dict((b['name'], b) for b in built.get('builds', []))
        for build in builds:
            remote = pinned.get(build['name'], {})
            build.update(digest=remote.get('digest'), built=remote.get('built', False),
                         pinned=remote.get('pinned') or build['image'])
        # The entries (and their secrets) stay out of the result: built_entries joins them where they are used.
        result.update(changed=bool(built.get('changed')), builds=builds, msg=built.get('msg', ''))
        return result

    @staticmethod
    def _problems(problems):
        return ('the sources of langgraph_deployments have %d problem%s; nothing was built or changed:\n- %s'
                % (len(problems), '' if len(problems) == 1 else 's', '\n- '.join(problems)))
