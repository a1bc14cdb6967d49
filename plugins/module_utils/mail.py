# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mail over SMTP with the standard library: the settings checked before
anything is sent, one message per notification, all over one connection."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import smtplib
import socket
import ssl
import textwrap
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

ADDRESS_RE = re.compile(r'^[^@\s<>,;]+@[^@\s<>,;]+$')


class MailError(Exception):
    """Mail that cannot be sent, with what to fix."""


def settings_problems(host, port, sender, recipients, user, password, messages):
    """What is wrong with the settings, as a list of messages (empty: all is well)."""
    problems = []
    if not host:
        problems.append('host is empty: set the SMTP server (reap_mail_host)')
    if not 1 <= port <= 65535:
        problems.append('port %s is not a TCP port (1 to 65535)' % port)
    if not sender or not ADDRESS_RE.match(sender):
        problems.append('the sender %r is not an address like reaper@example.com (reap_mail_from)' % (sender or ''))
    if not recipients:
        problems.append('no recipient: set reap_mail_to to one address or more')
    for recipient in recipients:
        if not ADDRESS_RE.match(recipient or ''):
            problems.append('the recipient %r is not an address like team@example.com (reap_mail_to)' % recipient)
    if bool(user) != bool(password):
        problems.append('give both the user and the password to log in, or neither (reap_mail_user, reap_mail_password)')
    for index, message in enumerate(messages, 1):
        if not (message.get('subject') or '').strip() or not (message.get('text') or '').strip():
            problems.append('message %d has no subject or no text' % index)
        elif '\n' in message['subject'] or '\r' in message['subject']:
            problems.append('the subject of message %d spans lines' % index)
    return problems


def compose(sender, recipients, subject, text, domain=None):
    """One plain-text message, its lines wrapped as mail readers expect (so it travels as 7bit)."""
    message = EmailMessage()
    message['From'] = sender
    message['To'] = ', '.join(recipients)
    message['Subject'] = subject
    message['Date'] = formatdate(localtime=False, usegmt=True)
    message['Message-ID'] = make_msgid(domain=domain or sender.split('@', 1)[1])
    lines = [textwrap.fill(line, 72, break_long_words=False, break_on_hyphens=False) if line else ''
             for line in text.splitlines()]
    message.set_content('\n'.join(lines) + '\n')
    return message


def send(host, port, starttls, user, password, sender, recipients, messages, timeout=30, context=None):
    """Send every message over one connection; raises MailError with the server's answer."""
    try:
        client = smtplib.SMTP(host, port, timeout=timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError('cannot reach the SMTP server %s:%s: %s' % (host, port, exc))
    try:
        client.ehlo()
        if starttls:
            if not client.has_extn('starttls'):
                raise MailError('the SMTP server %s:%s does not offer STARTTLS: set reap_mail_starttls: false only '
                                'on a trusted network, or use a server that offers it' % (host, port))
            client.starttls(context=context or ssl.create_default_context())
            client.ehlo()
        if user:
            client.login(user, password)
        for message in messages:
            client.send_message(compose(sender, recipients, message['subject'], message['text']),
                                from_addr=sender, to_addrs=recipients)
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError('the SMTP server %s:%s refused the login of %s: %s %s'
                        % (host, port, user, exc.smtp_code, _text(exc.smtp_error)))
    except smtplib.SMTPResponseException as exc:
        raise MailError('the SMTP server %s:%s answered %s %s' % (host, port, exc.smtp_code, _text(exc.smtp_error)))
    except (smtplib.SMTPException, ssl.SSLError, socket.error) as exc:
        raise MailError('mail through %s:%s failed: %s' % (host, port, exc))
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _text(value):
    return value.decode('utf-8', 'replace') if isinstance(value, bytes) else str(value)
