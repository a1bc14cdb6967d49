# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make `ansible_collections.selfhost.langgraph` importable from this checkout.

Under ansible-test the collection is already on the path; under plain pytest
(make test-unit) a symlink tree in a temporary directory points at the repo,
so the tests always exercise the checkout, not an installed copy.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys
import tempfile

try:
    import ansible_collections.selfhost.langgraph  # noqa: F401  pylint: disable=unused-import
except ImportError:
    _ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
    _TREE = tempfile.mkdtemp(prefix='selfhost-langgraph-unit-')
    os.makedirs(os.path.join(_TREE, 'ansible_collections', 'selfhost'))
    os.symlink(_ROOT, os.path.join(_TREE, 'ansible_collections', 'selfhost', 'langgraph'))
    sys.path.insert(0, _TREE)
    for _name in [n for n in sys.modules if n == 'ansible_collections' or n.startswith('ansible_collections.')]:
        del sys.modules[_name]
