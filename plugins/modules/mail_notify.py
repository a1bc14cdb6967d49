#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mail_notify
short_description: Send plain-text notifications by mail over SMTP
version_added: 0.2.0
description:
  - Sends each of O(messages) as one plain-text mail from O(sender) to O(to), over one SMTP connection (Python's
    C(smtplib)), with STARTTLS and a login when set. The idle reaper (C(playbooks/reap.yml)) tells a deployment's
    owners with it, from the control host.
  - The settings are checked before anything is sent; with no O(messages) the module only checks them.
  - A server that answers an error stops the sending; the messages sent before it stay sent.
author:
  - selfhost.langgraph maintainers (@selfhost)
attributes:
  check_mode:
    support: full
    description: Checks the settings and returns what would be sent; sends nothing.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: none
    description: Every call sends its messages; the caller records what was sent (the reaper does, once per idle period).
options:
  host:
    description: The SMTP server.
    type: str
    required: true
  port:
    description: Its port (587 for submission with STARTTLS, 25 for relay).
    type: int
    default: 587
  starttls:
    description: Upgrade the connection with STARTTLS (the server's certificate is verified against the system's
      trusted authorities); a server that does not offer it is an error.
    type: bool
    default: true
  user:
    description: User to log in as; empty sends without a login.
    type: str
    default: ''
  password:
    description: Its password.
    type: str
    default: ''
  sender:
    description: The sender's address (C(From)).
    type: str
    required: true
    aliases: [from]
  to:
    description: The recipients' addresses.
    type: list
    elements: str
    required: true
  messages:
    description: The messages, each with a one-line C(subject) and a C(text).
    type: list
    elements: dict
    default: []
  timeout:
    description: Seconds to wait for the server at each step.
    type: int
    default: 30
'''

EXAMPLES = r'''
- name: Tell the owners that a deployment is idle
  selfhost.langgraph.mail_notify:
    host: smtp.example.com
    user: reaper@example.com
    password: "{{ vault_smtp_password }}"
    from: reaper@example.com
    to: [platform-team@example.com]
    messages:
      - subject: "LangGraph deployment support-bot is idle"
        text: "LangGraph deployment support-bot is idle: unused for 7.2 days (reap_notify_days 7)."
'''

RETURN = r'''
sent:
  description: The subjects of the messages sent (in check mode, that would be sent).
  returned: always
  type: list
  elements: str
  sample: ["LangGraph deployment support-bot is idle"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.mail import MailError, send, settings_problems


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type='str', required=True),
            port=dict(type='int', default=587),
            starttls=dict(type='bool', default=True),
            user=dict(type='str', default=''),
            password=dict(type='str', default='', no_log=True),
            sender=dict(type='str', required=True, aliases=['from']),
            to=dict(type='list', elements='str', required=True),
            messages=dict(type='list', elements='dict', default=[]),
            timeout=dict(type='int', default=30),
        ),
        supports_check_mode=True,
    )
    p = module.params
    messages = [dict(subject=str(m.get('subject') or ''), text=str(m.get('text') or '')) for m in p['messages']]
    problems = settings_problems(p['host'], p['port'], p['sender'], p['to'], p['user'], p['password'], messages)
    if p['timeout'] < 1:
        problems.append('timeout must be 1 second or more')
    if problems:
        module.fail_json(msg='mail settings: ' + '; '.join(problems))
    sent = [m['subject'] for m in messages]
    if module.check_mode or not messages:
        module.exit_json(changed=False, sent=sent)
    try:
        send(p['host'], p['port'], p['starttls'], p['user'], p['password'], p['sender'], p['to'], messages,
             timeout=p['timeout'])
    except MailError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=True, sent=sent)


if __name__ == '__main__':
    main()
