# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ssl
from urllib.parse import quote, unquote, urlsplit

import pytest
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import (
    CA_FILE,
    database_uri,
    encode_password,
    mask_uri_passwords,
    normalize_uri,
    redis_uri,
)

PASSWORDS = [
    'simple',
    'p@ss',
    'p:ss',
    'p/ss',
    'p%ss',
    'p#ss',
    'p?ss',
    'p&ss',
    'p ss+',
    '@:/%#?&',
    'lab-admin-Pw:/@%#?&',
    'p\u00e4ssw\u00f6rt\u00df',
    '\u5bc6\u7801\U0001f511',
    "quote'\"back\\slash",
    '%41',  # already looks encoded
]


@pytest.mark.parametrize('password', PASSWORDS)
def test_database_uri_round_trips(password):
    uri = database_uri('lg_bot', password, '10.0.0.5', 5432, 'lg_bot')
    parts = urlsplit(uri)
    assert parts.scheme == 'postgresql'
    assert parts.hostname == '10.0.0.5'
    assert parts.port == 5432
    assert parts.path == '/lg_bot'
    assert parts.username == 'lg_bot'
    assert unquote(parts.password) == password
    assert password not in uri  # every character is encoded


@pytest.mark.parametrize('password', PASSWORDS)
@pytest.mark.parametrize('tls, scheme', [(False, 'redis'), (True, 'rediss')])
def test_redis_uri_round_trips(password, tls, scheme):
    uri = redis_uri(password, 'redis1', 6379, 7, tls=tls)
    parts = urlsplit(uri)
    assert parts.scheme == scheme
    assert parts.hostname == 'redis1'
    assert parts.port == 6379
    assert parts.path == '/7'
    assert unquote(parts.password) == password
    assert password not in uri


@pytest.mark.parametrize('kwargs, expected', [
    (dict(sslmode=None), 'postgresql://lg_x:%61%62@h:5432/lg_x'),
    (dict(sslmode='require'), 'postgresql://lg_x:%61%62@h:5432/lg_x?sslmode=require'),
    (dict(sslmode='verify-full'), 'postgresql://lg_x:%61%62@h:5432/lg_x?sslmode=verify-full'),
    (dict(mask=True), 'postgresql://lg_x:********@h:5432/lg_x'),
    (dict(host='::1'), 'postgresql://lg_x:%61%62@[::1]:5432/lg_x'),
    (dict(sslmode='verify-full', sslrootcert=CA_FILE),
     'postgresql://lg_x:%61%62@h:5432/lg_x?sslmode=verify-full&sslrootcert=/etc/selfhost-langgraph/tls/ca.crt'),
    (dict(sslmode='verify-ca', sslrootcert='/ca dir/ca.crt'),
     'postgresql://lg_x:%61%62@h:5432/lg_x?sslmode=verify-ca&sslrootcert=/ca%20dir/ca.crt'),
])
def test_database_uri_shapes(kwargs, expected):
    args = dict(user='lg_x', password='ab', host='h', port=5432, database='lg_x')
    args.update(kwargs)
    assert database_uri(**args) == expected


def test_database_uri_rejects_unknown_sslmode():
    with pytest.raises(ValueError):
        database_uri('u', 'p', 'h', 5432, 'd', sslmode='on')


@pytest.mark.parametrize('sslmode', [None, 'prefer', 'require'])
def test_database_uri_refuses_a_root_certificate_libpq_would_not_read(sslmode):
    with pytest.raises(ValueError):
        database_uri('u', 'p', 'h', 5432, 'd', sslmode=sslmode, sslrootcert=CA_FILE)


@pytest.mark.parametrize('kwargs, expected', [
    (dict(), 'redis://:%61%62@h:6379/3'),
    (dict(tls=True), 'rediss://:%61%62@h:6379/3?ssl_cert_reqs=none'),
    (dict(tls=True, ca_file=CA_FILE), 'rediss://:%61%62@h:6379/3?ssl_cert_reqs=required'
     '&ssl_ca_certs=/etc/selfhost-langgraph/tls/ca.crt&ssl_check_hostname=true'),
    (dict(tls=False, ca_file=CA_FILE), 'redis://:%61%62@h:6379/3'),
    (dict(tls=True, ca_file=CA_FILE, mask=True, username='lg_x'), 'rediss://lg_x:********@h:6379/3?ssl_cert_reqs=required'
     '&ssl_ca_certs=/etc/selfhost-langgraph/tls/ca.crt&ssl_check_hostname=true'),
    (dict(username='app'), 'redis://app:%61%62@h:6379/3'),
    (dict(mask=True), 'redis://:********@h:6379/3'),
    (dict(password=None), 'redis://h:6379/3'),
    (dict(password=''), 'redis://h:6379/3'),
])
def test_redis_uri_shapes(kwargs, expected):
    args = dict(password='ab', host='h', port=6379, db=3)
    args.update(kwargs)
    assert redis_uri(**args) == expected


@pytest.mark.parametrize('password, encoded', [
    ('a', '%61'),
    ('aZ09-._~', '%61%5A%30%39%2D%2E%5F%7E'),
    ('@', '%40'),
    (':/%', '%3A%2F%25'),
    ('%41', '%25%34%31'),
    (' +', '%20%2B'),
    ('\u00e4', '%C3%A4'),
    ('\U0001f511', '%F0%9F%94%91'),
    ('', ''),
])
def test_encode_password(password, encoded):
    assert encode_password(password) == encoded


def test_libraries_accept_the_uris():
    psycopg2 = pytest.importorskip('psycopg2.extensions')
    redis = pytest.importorskip('redis')
    password = 'lab-admin-Pw:/@%#?&\u00e4'
    dsn = psycopg2.parse_dsn(database_uri('lg_x', password, 'h', 5432, 'lg_x', 'require'))
    assert dsn['password'] == password and dsn['sslmode'] == 'require' and dsn['user'] == 'lg_x'
    pool = redis.ConnectionPool.from_url(redis_uri(password, 'h', 6379, 5, tls=True))
    kwargs = pool.connection_kwargs
    assert kwargs['password'] == password and kwargs['db'] == 5 and kwargs['host'] == 'h'


def test_the_drivers_read_the_tls_parameters():
    # What the LangGraph server's drivers make of the URIs: libpq's own
    # parameters, and redis-py's SSL connection verifying with the CA and the
    # host name (as in the server, the URI normalized as app_containers does).
    psycopg2 = pytest.importorskip('psycopg2.extensions')
    redis = pytest.importorskip('redis')
    password = 'lab-admin-Pw:/@%#?&'
    dsn = psycopg2.parse_dsn(normalize_uri(database_uri('lg_x', password, '10.0.0.11', 5432, 'lg_x', 'verify-full',
                                                        sslrootcert=CA_FILE)))
    assert (dsn['sslmode'], dsn['sslrootcert'], dsn['password']) == ('verify-full', CA_FILE, password)
    pool = redis.ConnectionPool.from_url(normalize_uri(redis_uri(password, '10.0.0.12', 6380, 5, tls=True,
                                                                 username='lg_x', ca_file=CA_FILE)))
    assert pool.connection_class.__name__ == 'SSLConnection'
    connection = pool.make_connection()
    kwargs = pool.connection_kwargs
    assert (kwargs['ssl_ca_certs'], kwargs['password'], kwargs['username'], kwargs['port']) == \
        (CA_FILE, password, 'lg_x', 6380)
    assert connection.check_hostname is True
    assert connection.cert_reqs == ssl.CERT_REQUIRED
    unverified = redis.ConnectionPool.from_url(redis_uri(password, 'h', 6380, 5, tls=True)).make_connection()
    assert unverified.cert_reqs == ssl.CERT_NONE


@pytest.mark.parametrize('password', PASSWORDS)
def test_normalized_uri_is_the_same_uri_with_percent_only_where_needed(password):
    uri = normalize_uri(database_uri('lg_bot', password, '10.0.0.5', 5432, 'lg_bot'))
    assert unquote(urlsplit(uri).password) == password
    assert uri == 'postgresql://lg_bot:%s@10.0.0.5:5432/lg_bot' % quote(password, safe='')


@pytest.mark.parametrize('password', ['0123456789abcdef' * 4, 'support-bot-long-password', 'lab-admin-Pw:/@%#?&'])
def test_a_returned_uri_survives_no_log_censoring(password):
    # Ansible replaces the value of every no_log option wherever it occurs in a
    # module's result; a URI that held the password as quote() writes it would
    # come back with the password replaced by the mask.
    uri = database_uri('lg_bot', password, '10.0.0.5', 5432, 'lg_bot')
    assert remove_values({'uris': {'bot': uri}}, {password}) == {'uris': {'bot': uri}}
    plain = 'postgresql://lg_bot:%s@10.0.0.5:5432/lg_bot' % quote(password, safe='')
    if quote(password, safe='') == password:
        assert remove_values(plain, {password}) != plain


@pytest.mark.parametrize('uri, expected', [
    ('postgresql://u:%61%62@h:5432/d', 'postgresql://u:ab@h:5432/d'),
    ('redis://:%2D%2e%5F%7e@h:6379/1', 'redis://:-._~@h:6379/1'),
    ('postgresql://u:%3a%2f%40%25@h:5432/d', 'postgresql://u:%3A%2F%40%25@h:5432/d'),
    ('postgresql://u:%C3%A4@h:5432/d', 'postgresql://u:%C3%A4@h:5432/d'),
    ('postgresql://u:%c3%a4@h:5432/d', 'postgresql://u:%C3%A4@h:5432/d'),
    ('postgresql://u:p%zz@h:5432/d', 'postgresql://u:p%zz@h:5432/d'),
    ('postgresql://u:pw@h:5432/d?sslmode=require', 'postgresql://u:pw@h:5432/d?sslmode=require'),
])
def test_normalize_uri(uri, expected):
    assert normalize_uri(uri) == expected
    assert normalize_uri(expected) == expected


def test_normalized_uri_of_a_generated_password_has_no_percent():
    assert '%' not in normalize_uri(database_uri('lg_bot', 'a' * 20 + '5f3e-_.~', 'h', 5432, 'lg_bot'))


@pytest.mark.parametrize('text, expected', [
    ("error in 'postgresql+psycopg://lg_x:5f%3Ae@10.0.0.5:5432/lg_x' at 3",
     "error in 'postgresql+psycopg://lg_x:********@10.0.0.5:5432/lg_x' at 3"),
    ('redis://:p%40ss@redis1:6379/4 and postgresql://u:pw@h/db',
     'redis://:********@redis1:6379/4 and postgresql://u:********@h/db'),
    ('http://example.com:8080/path no userinfo', 'http://example.com:8080/path no userinfo'),
    ('postgresql://user@h/db', 'postgresql://user@h/db'),
])
def test_mask_uri_passwords(text, expected):
    assert mask_uri_passwords(text) == expected
