# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checking a password against a stored Postgres verifier, without the server."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import hashlib
import hmac
import unicodedata


def _candidates(password):
    # Postgres SASLpreps SCRAM passwords; NFKC covers the cases that matter
    # for printable passwords, the raw bytes the ones SASLprep rejects.
    raw = password.encode('utf-8')
    normalized = unicodedata.normalize('NFKC', password).encode('utf-8')
    return [raw] if raw == normalized else [normalized, raw]


def scram_sha_256_verifier(password, salt, iterations):
    """The verifier Postgres stores for password (for tests and comparisons)."""
    salted = hashlib.pbkdf2_hmac('sha256', _candidates(password)[0], salt, iterations)
    client_key = hmac.new(salted, b'Client Key', hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b'Server Key', hashlib.sha256).digest()
    b64 = base64.b64encode
    return 'SCRAM-SHA-256$%d:%s$%s:%s' % (iterations, b64(salt).decode(), b64(stored_key).decode(),
                                          b64(server_key).decode())


def password_matches(password, user, verifier):
    """True when verifier (pg_authid.rolpassword) accepts password; None if unknown format."""
    if verifier is None:
        return False
    if verifier.startswith('SCRAM-SHA-256$'):
        try:
            head, keys = verifier[len('SCRAM-SHA-256$'):].split('$', 1)
            iterations, salt = head.split(':', 1)
            stored_key = base64.b64decode(keys.split(':', 1)[0])
            salt = base64.b64decode(salt)
            iterations = int(iterations)
        except (ValueError, TypeError):
            return None
        for candidate in _candidates(password):
            salted = hashlib.pbkdf2_hmac('sha256', candidate, salt, iterations)
            client_key = hmac.new(salted, b'Client Key', hashlib.sha256).digest()
            if hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key):
                return True
        return False
    if verifier.startswith('md5') and len(verifier) == 35:
        digest = 'md5' + hashlib.md5((password + user).encode('utf-8')).hexdigest()
        return hmac.compare_digest(digest, verifier)
    return None


def derived_password(seed, deployment):
    """A deployment's Postgres password when its entry gives none: stable across
    jobs (AWX keeps no files) and free of characters a URI must encode. The
    same value the stores role derived before, so existing roles keep theirs."""
    return hashlib.sha256(('%s:postgres:%s' % (seed, deployment)).encode('utf-8')).hexdigest()


def derived_redis_password(seed, deployment):
    """The password of a deployment's Redis ACL user: like derived_password,
    from the seed and the name, but another value, so that one store's
    password never opens the other."""
    return hashlib.sha256(('%s:redis:%s' % (seed, deployment)).encode('utf-8')).hexdigest()
