# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DATABASE_URI and REDIS_URI, built in this one place.

Every character of a password is percent-encoded (also letters and digits,
which RFC 3986 allows), so the URI is correct for any password and never
holds the password as a readable substring. That is deliberate, not an
oversight that urllib.parse.quote(password, safe='') would fix: Ansible
replaces every value of a no_log option (an entry's postgres_password, the
module's password) by '********' wherever it occurs in a module's result, so
a returned URI that held such a password as it is would come back with
'********' in its place, and the server would get a wrong password. Where a
URI leaves Ansible for a container, normalize_uri gives its RFC 3986 normal
form (what quote(password, safe='') gives).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported by these modules
    from urllib import quote  # type: ignore

MASK = '********'
SSLMODES = ('disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full')
# Where the fleet's CA certificate (langgraph_tls_ca_file) lives on every host
# that connects to Postgres or Redis, and in every deployment container (a
# read-only bind mount of the same path). The roles that install it write it
# here; the URIs and the admin connections read it from here.
CA_FILE = '/etc/selfhost-langgraph/tls/ca.crt'


def is_true(value):
    """A boolean from the inventory, where surveys and -e give strings."""
    return str(value).lower() in ('true', 'yes', 'on', '1')


def fleet_ca_file(variables):
    """CA_FILE when the fleet has a CA certificate (langgraph_tls_ca_file, a
    file on the controller that the roles install at CA_FILE), else None."""
    return CA_FILE if variables.get('langgraph_tls_ca_file') else None


def encode_password(password):
    """Percent-encode every UTF-8 byte of password (see the module's note on
    no_log: never a readable substring of the URI)."""
    return ''.join('%%%02X' % b for b in bytearray(password.encode('utf-8')))


def _host(host):
    if ':' in host and not host.startswith('['):
        return '[%s]' % host  # IPv6 literal
    return host


def _query(params):
    return '?' + '&'.join('%s=%s' % (k, quote(v, safe='/')) for k, v in params) if params else ''


def database_uri(user, password, host, port, database, sslmode=None, mask=False, sslrootcert=None):
    """postgresql://user:pw@host:port/database[?sslmode=...[&sslrootcert=...]]

    libpq's own parameters, which every driver of the LangGraph server reads
    from DATABASE_URI: psycopg (libpq) directly, and langgraph-runtime-pg
    turns them into an SSL context for asyncpg (verify-full: the CA and the
    host name are checked)."""
    if sslmode is not None and sslmode not in SSLMODES:
        raise ValueError('sslmode must be one of %s' % ', '.join(SSLMODES))
    if sslrootcert and sslmode not in ('verify-ca', 'verify-full'):
        raise ValueError('sslrootcert is only read with sslmode verify-ca or verify-full')
    secret = MASK if mask else encode_password(password)
    uri = 'postgresql://%s:%s@%s:%d/%s' % (
        quote(user, safe=''), secret, _host(host), int(port), quote(database, safe=''))
    params = [('sslmode', sslmode)] if sslmode else []
    if sslrootcert:
        params.append(('sslrootcert', sslrootcert))
    return uri + _query(params)


def redis_tls_params(tls, ca_file=None):
    """redis-py's TLS options as URI query parameters: with a CA file, the
    certificate and the host name are verified (given explicitly, since
    redis-py before 6.0 did not check the host name by default); without one,
    encrypted only (what a self-signed certificate allows)."""
    if not tls:
        return []
    if ca_file:
        return [('ssl_cert_reqs', 'required'), ('ssl_ca_certs', ca_file), ('ssl_check_hostname', 'true')]
    return [('ssl_cert_reqs', 'none')]


def redis_uri(password, host, port, db, tls=False, username=None, mask=False, ca_file=None):
    """redis://[user]:pw@host:port/N; rediss://...?ssl_... when tls (see redis_tls_params)."""
    scheme = 'rediss' if tls else 'redis'
    userinfo = ''
    if password is not None and password != '':
        secret = MASK if mask else encode_password(password)
        userinfo = '%s:%s@' % (quote(username, safe='') if username else '', secret)
    elif username:
        userinfo = '%s@' % quote(username, safe='')
    return '%s://%s%s:%d/%d%s' % (scheme, userinfo, _host(host), int(port), int(db),
                                  _query(redis_tls_params(tls, ca_file)))


_UNRESERVED = frozenset('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~')
_PERCENT_OCTET = re.compile(r'%([0-9A-Fa-f]{2})')
_URI_PASSWORD = re.compile(r'(://[^\s:/@]*:)[^\s@/]+@')


def normalize_uri(uri):
    """uri in RFC 3986 normal form (6.2.2.1 and 6.2.2.2): percent-encoded
    unreserved characters decoded, the other octets in upper-case hex. The
    same URI for any client, with '%' only where a character needs it: the
    LangGraph server's Postgres runtime hands DATABASE_URI to an Alembic
    config that reads '%' as interpolation. normalize_uri(database_uri(...))
    holds the password as urllib.parse.quote(password, safe='') does."""
    def normal(match):
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else match.group(0).upper()
    return _PERCENT_OCTET.sub(normal, uri)


def mask_uri_passwords(text):
    """text with the password of every URI in it replaced by the mask, for
    output that may quote a URI (a server's error, a log line)."""
    return _URI_PASSWORD.sub(r'\g<1>' + MASK + '@', text)
