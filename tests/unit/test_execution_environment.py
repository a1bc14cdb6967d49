# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment definitions: `ansible-builder create` makes a
build context that carries the collection built from this checkout, and
`ansible-builder introspect` finds the collection's own Python and system
requirements. No image is built: no base image can be pulled here."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BIN = os.path.dirname(sys.executable)


def tool(name):
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        path = shutil.which(name)
    if not path:
        pytest.skip('%s is not installed (requirements-dev.txt)' % name)
    return path


def load(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return yaml.safe_load(f)


def run(*argv, **kwargs):
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=300, check=False, **kwargs)
    assert done.returncode == 0, done.stdout
    return done.stdout


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    """The collection built from this checkout, as the EE build expects it."""
    out = tmp_path_factory.mktemp('ee')
    (out / 'dist').mkdir()
    run(tool('ansible-galaxy'), 'collection', 'build', '--force', '--output-path', str(out / 'dist'), ROOT)
    version = load('galaxy.yml')['version']
    path = out / 'dist' / ('selfhost-langgraph-%s.tar.gz' % version)
    assert path.exists()
    return path


def test_collection_metadata_names_the_requirement_files():
    meta = load('meta', 'execution-environment.yml')
    assert meta['version'] == 1
    assert meta['dependencies'] == {'python': 'requirements.txt', 'system': 'bindep.txt'}
    for name in meta['dependencies'].values():
        assert os.path.isfile(os.path.join(ROOT, name))


def test_tarball_ships_what_the_ee_needs_and_no_lab(tarball):
    names = run('tar', 'tzf', str(tarball)).split()
    for needed in ('meta/execution-environment.yml', 'requirements.txt', 'bindep.txt', 'LICENSE', 'MANIFEST.json'):
        assert needed in names
    for path in names:
        top = path.split('/')[0]
        assert top not in ('lab', 'tests', 'benchmarks', 'molecule', 'tools', '.ci', 'awx', 'collections'), path
        assert path not in ('ansible.cfg', 'Makefile', 'execution-environment.yml', 'requirements-dev.txt'), path


def test_definition_refers_to_the_version_in_galaxy_yml():
    ee = load('execution-environment.yml')
    version = load('galaxy.yml')['version']
    assert ee['version'] == 3
    tarball = 'selfhost-langgraph-%s.tar.gz' % version
    assert ee['dependencies']['galaxy']['collections'] == [dict(name='collections/' + tarball, type='file')]
    assert ee['additional_build_files'] == [dict(src='dist/' + tarball, dest='collections')]


def test_create_makes_a_build_context_with_the_collection(tarball, tmp_path):
    shutil.copy(os.path.join(ROOT, 'execution-environment.yml'), str(tarball.parent.parent))
    context = tmp_path / 'context'
    out = run(tool('ansible-builder'), 'create', '--file', str(tarball.parent.parent / 'execution-environment.yml'),
              '--context', str(context), '--output-filename', 'Containerfile')
    assert 'Complete!' in out
    containerfile = (context / 'Containerfile').read_text()
    ee = load('execution-environment.yml')
    assert 'EE_BASE_IMAGE="%s"' % ee['images']['base_image']['name'] in containerfile
    assert 'ansible-galaxy collection install' in containerfile and '-r requirements.yml' in containerfile
    assert 'introspect.py introspect' in containerfile  # the collection's own requirements are read in the build
    assert 'RUN /output/scripts/check_ansible' in containerfile
    requirements = yaml.safe_load((context / '_build' / 'requirements.yml').read_text())
    assert requirements == {'collections': ee['dependencies']['galaxy']['collections']}
    copied = context / '_build' / 'collections' / tarball.name
    assert copied.read_bytes() == tarball.read_bytes()


def test_introspection_finds_the_collection_requirements(tarball, tmp_path):
    """What the builder stage of the image build runs on the installed collections."""
    # --force: without it, ansible-galaxy installs nothing when ANSIBLE_COLLECTIONS_PATH (make test-unit) holds this version.
    run(tool('ansible-galaxy'), 'collection', 'install', '--force', '--no-deps', '-p', str(tmp_path / 'installed'),
        str(tarball))
    run(tool('ansible-builder'), 'introspect', str(tmp_path / 'installed'),
        '--write-pip', str(tmp_path / 'pip.txt'), '--write-bindep', str(tmp_path / 'bindep.txt'))
    with open(os.path.join(ROOT, 'requirements.txt')) as f:
        wanted = [line.strip() for line in f if line.strip() and not line.startswith('#')]
    pip = (tmp_path / 'pip.txt').read_text().splitlines()
    bindep = (tmp_path / 'bindep.txt').read_text().splitlines()
    assert [line.split('#')[0].strip() for line in pip] == wanted
    wanted_system = ['openssh-client [platform:dpkg]', 'openssh-clients [platform:rpm]']
    assert [line.split('#')[0].strip() for line in bindep] == wanted_system
    assert all(line.endswith('# from collection selfhost.langgraph') for line in pip + bindep)
