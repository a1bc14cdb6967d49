# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mail over SMTP: the settings refused before anything is sent, and what a
server receives (the lab's SMTP receiver, in this process)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import email
import importlib.util
import pathlib
import threading

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.mail import MailError, send, settings_problems

RECEIVER = pathlib.Path(__file__).resolve().parents[4] / 'lab' / 'smtp-receiver' / 'receiver.py'
GOOD = dict(host='smtp.example.com', port=587, sender='reaper@example.com', recipients=['team@example.com'],
            user='', password='', messages=[dict(subject='idle', text='bot is idle')])


@pytest.mark.parametrize('change, expected', [
    ({}, []),
    (dict(user='reaper', password='secret'), []),
    (dict(host=''), ['host is empty: set the SMTP server (reap_mail_host)']),
    (dict(port=0), ['port 0 is not a TCP port (1 to 65535)']),
    (dict(sender='reaper'), ["the sender 'reaper' is not an address like reaper@example.com (reap_mail_from)"]),
    (dict(recipients=[]), ['no recipient: set reap_mail_to to one address or more']),
    (dict(recipients=['a@b.c', 'x y@z']), ["the recipient 'x y@z' is not an address like team@example.com "
                                           "(reap_mail_to)"]),
    (dict(user='reaper'), ['give both the user and the password to log in, or neither '
                           '(reap_mail_user, reap_mail_password)']),
    (dict(messages=[dict(subject='', text='x')]), ['message 1 has no subject or no text']),
    (dict(messages=[dict(subject='a\nBcc: x@y.z', text='x')]), ['the subject of message 1 spans lines']),
])
def test_settings_problems(change, expected):
    settings = dict(GOOD, **change)
    assert settings_problems(settings['host'], settings['port'], settings['sender'], settings['recipients'],
                             settings['user'], settings['password'], settings['messages']) == expected


@pytest.fixture
def receiver():
    spec = importlib.util.spec_from_file_location('smtp_receiver', str(RECEIVER))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = module.Receiver(('127.0.0.1', 0), '', ('reaper', 's3cret'))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_each_message_arrives_once_with_the_login(receiver):
    port = receiver.server_address[1]
    send('127.0.0.1', port, False, 'reaper', 's3cret', 'reaper@example.com', ['a@example.com', 'b@example.com'],
         [dict(subject='LangGraph deployment bot is idle', text='bot is idle: unused for 7.0 days'),
          dict(subject='LangGraph deployment old is being deleted (idle)', text='old is being deleted')], timeout=5)
    assert [(r['user'], r['mail_from'], r['rcpt_to']) for r in receiver.records] == \
        [('reaper', 'reaper@example.com', ['a@example.com', 'b@example.com'])] * 2
    first = email.message_from_string(receiver.records[0]['message'])
    assert first['Subject'] == 'LangGraph deployment bot is idle' and first['To'] == 'a@example.com, b@example.com'
    assert first.get_payload().strip() == 'bot is idle: unused for 7.0 days'


def test_a_wrong_password_and_a_missing_starttls_are_clear_errors(receiver):
    port = receiver.server_address[1]
    with pytest.raises(MailError, match='refused the login of reaper: 535'):
        send('127.0.0.1', port, False, 'reaper', 'wrong', 'r@example.com', ['a@example.com'],
             [dict(subject='s', text='t')], timeout=5)
    with pytest.raises(MailError, match='does not offer STARTTLS'):
        send('127.0.0.1', port, True, 'reaper', 's3cret', 'r@example.com', ['a@example.com'],
             [dict(subject='s', text='t')], timeout=5)
    assert receiver.records == []


def test_a_server_that_does_not_answer_is_a_clear_error():
    with pytest.raises(MailError, match='cannot reach the SMTP server 127.0.0.1:1'):
        send('127.0.0.1', 1, False, '', '', 'r@example.com', ['a@example.com'], [dict(subject='s', text='t')],
             timeout=5)
