# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: mask_uri_passwords
short_description: Mask the passwords of URIs quoted in a text
version_added: 0.1.0
description:
  - Replaces the password of every C(scheme://user:password@host) URI in a text with C(********), for output
    that may quote a C(DATABASE_URI) or C(REDIS_URI), such as a server's error message.
author:
  - selfhost.langgraph maintainers (@selfhost)
options:
  _input:
    description: The text.
    type: str
    required: true
'''

EXAMPLES = r'''
safe: "{{ container_output | selfhost.langgraph.mask_uri_passwords }}"
'''

RETURN = r'''
_value:
  description: The text with every URI password masked.
  type: str
'''

from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import mask_uri_passwords


class FilterModule(object):
    def filters(self):
        return {'mask_uri_passwords': mask_uri_passwords}
