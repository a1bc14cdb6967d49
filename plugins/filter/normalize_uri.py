# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: normalize_uri
short_description: Normalize a URI so that it holds % only where a character needs it
version_added: 0.1.0
description:
  - Decodes percent-encoded unreserved characters of a URI (RFC 3986, 6.2.2.2). The result is the same URI for
    any client, but the LangGraph server's Postgres runtime, which reads C(%) in C(DATABASE_URI) as
    interpolation, accepts it when the password has no reserved characters.
author:
  - selfhost.langgraph maintainers (@selfhost)
options:
  _input:
    description: The URI.
    type: str
    required: true
'''

EXAMPLES = r'''
env_uri: "{{ database_uri | selfhost.langgraph.normalize_uri }}"
'''

RETURN = r'''
_value:
  description: The normalized URI.
  type: str
'''

from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import normalize_uri


class FilterModule(object):
    def filters(self):
        return {'normalize_uri': normalize_uri}
