# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_instances refuses a half-given TLS setting, or files missing on the host, before anything changes."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.modules.redis_instances import check_input


def params(tmp_path, **tls):
    for name in ('server.crt', 'server.key', 'ca.crt'):
        (tmp_path / name).write_text(u'x')
    instance = dict(name='bot', port=6400, maxmemory=64 * 1024 ** 2, bind=['127.0.0.1'],
                    tls_cert_file=None, tls_key_file=None, ca_cert=None)
    instance.update(dict((key, str(tmp_path / value) if value else None) for key, value in tls.items()))
    return dict(instances=[instance], remove=[], admin_password='a', password_seed='s')


@pytest.mark.parametrize('tls, words', [
    ({}, None),  # plain
    (dict(tls_cert_file='server.crt', tls_key_file='server.key', ca_cert='ca.crt'), None),
    (dict(tls_cert_file='server.crt', tls_key_file='server.key'), None),  # self-signed: no CA
    (dict(tls_cert_file='server.crt'), 'bot needs both tls_cert_file and tls_key_file, or neither'),
    (dict(tls_key_file='server.key'), 'bot needs both tls_cert_file and tls_key_file, or neither'),
    (dict(tls_cert_file='server.crt', tls_key_file='missing.key'),
     'tls_key_file of bot is %s, which does not exist on this host: apply the redis role'),
    (dict(tls_cert_file='server.crt', tls_key_file='server.key', ca_cert='missing.crt'),
     'ca_cert of bot is %s, which does not exist on this host'),
])
def test_tls_input(tmp_path, tls, words):
    problems = check_input(params(tmp_path, **tls))
    if words is None:
        assert problems == []
    else:
        if '%s' in words:
            words %= [str(tmp_path / v) for v in tls.values() if v.startswith('missing')][0]
        assert len(problems) == 1 and words in problems[0], problems
