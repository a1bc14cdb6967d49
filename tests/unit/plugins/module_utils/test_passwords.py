# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.passwords import (
    password_matches,
    scram_sha_256_verifier,
)

# A verifier made by PostgreSQL 15 for password 'secret' (SELECT rolpassword FROM pg_authid).
PG_VERIFIER = ('SCRAM-SHA-256$4096:5SRhLcY+CY8U1S7m/afS4w==$TNBMLwgs7OSRKXI2iZ9sHpdwsCk0oG0kTzgCiZ8gneI='
               ':MLsNR16ygC/LaBe6VyyD+ifhmsYx0l+cYeTypf0/Ftg=')


@pytest.mark.parametrize('password', ['secret', 'lab-admin-Pw:/@%#?&', 'p\u00e4ss\u00df', ''])
def test_scram_round_trip(password):
    verifier = scram_sha_256_verifier(password, b'salt-salt-salt!!', 4096)
    assert password_matches(password, 'lg_x', verifier) is True
    assert password_matches(password + 'x', 'lg_x', verifier) is False


@pytest.mark.parametrize('password, user, verifier, expected', [
    ('secret', 'lg_x', 'md5' + hashlib.md5(b'secretlg_x').hexdigest(), True),
    ('Secret', 'lg_x', 'md5' + hashlib.md5(b'secretlg_x').hexdigest(), False),
    ('secret', 'lg_y', 'md5' + hashlib.md5(b'secretlg_x').hexdigest(), False),
    ('secret', 'lg_x', None, False),
    ('secret', 'lg_x', 'SCRAM-SHA-256$garbage', None),
    ('secret', 'lg_x', 'plaintext', None),
    ('secret', 'lg_x', PG_VERIFIER, True),
    ('secreT', 'lg_x', PG_VERIFIER, False),
])
def test_password_matches(password, user, verifier, expected):
    assert password_matches(password, user, verifier) is expected


def test_verifier_has_postgres_shape():
    import base64
    salt = base64.b64decode('5SRhLcY+CY8U1S7m/afS4w==')
    assert scram_sha_256_verifier('secret', salt, 4096) == PG_VERIFIER
