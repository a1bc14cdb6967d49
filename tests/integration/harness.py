# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the integration suites share: the private copy of the installed
collection they run from, the environment ansible-playbook runs in, and a
plain HTTP GET. Each suite's conftest.py imports it."""

import os
import shutil
import subprocess
import tempfile
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def snapshot_collection(variable, prefix):
    """A private copy of the collection `make collection` installed (or the
    one the environment variable names), so that a reinstall while the tests
    run (another make in this checkout) cannot pull modules away from under them."""
    collections = os.environ.get(variable) or os.path.join(REPO, '.build', 'collections')
    installed = os.path.join(collections, 'ansible_collections', 'selfhost', 'langgraph')
    if not os.path.exists(os.path.join(installed, 'MANIFEST.json')):
        raise pytest.UsageError('run `make collection` first (or set %s): %s is missing' % (variable, installed))
    root = tempfile.mkdtemp(prefix=prefix)
    shutil.copytree(installed, os.path.join(root, 'ansible_collections', 'selfhost', 'langgraph'),
                    ignore=shutil.ignore_patterns('output', '.git'), symlinks=True)
    return root


def ansible_env(collections, **extra):
    """os.environ with this checkout's virtualenv and ansible.cfg, the given
    collections first, and no colours; extra adds or overrides variables."""
    site = subprocess.check_output(
        [os.path.join(REPO, '.venv', 'bin', 'python'), '-c',
         'import sysconfig; print(sysconfig.get_paths()["purelib"])']).decode().strip()
    env = dict(os.environ)
    env.update(
        PATH=os.path.join(REPO, '.venv', 'bin') + os.pathsep + env.get('PATH', ''),
        ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'),
        ANSIBLE_COLLECTIONS_PATH=collections + os.pathsep + site,
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_FORCE_COLOR='0',
        ANSIBLE_RETRY_FILES_ENABLED='0',
    )
    env.update(extra)
    return env


def http_get(url, timeout=30):
    """(status, body) of GET url; never raises: (None, the error) when nothing answered."""
    try:
        response = urlopen(url, timeout=timeout)
        return response.status, response.read().decode()
    except HTTPError as e:
        return e.code, e.read().decode()
    except (URLError, OSError) as e:
        return None, str(e)
