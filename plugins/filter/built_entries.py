# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: built_entries
short_description: The deployment entries with the images built from their source
version_added: 0.3.0
description:
  - Each entry that gives C(source) and was built (RV(selfhost.langgraph.app_build#module:builds)) comes back with
    C(image) (pinned by digest) instead of C(source), and the source recorded in C(env.LANGGRAPH_APP_SOURCE); the other
    entries as they are. See docs/build.md.
  - The entries may hold secrets; the build's result does not, which is why they are joined here, where the result is
    used, and kept in no fact.
author:
  - selfhost.langgraph maintainers (@selfhost)
options:
  _input:
    description: The deployment entries (C(langgraph_deployments)).
    type: list
    elements: dict
    required: true
  builds:
    description: RV(selfhost.langgraph.app_build#module:builds); empty or omitted when nothing was built.
    type: list
    elements: dict
'''

EXAMPLES = r'''
deployments: "{{ langgraph_deployments | selfhost.langgraph.built_entries(built.builds | default([])) }}"
'''

RETURN = r'''
_value:
  description: The entries, those built from source with their image.
  type: list
  elements: dict
'''

from ansible_collections.selfhost.langgraph.plugins.module_utils.app_source import built_entry


def built_entries(entries, builds=None):
    by_name = dict((b['name'], b) for b in builds or [])
    result = []
    for entry in entries or []:
        build = by_name.get(entry.get('name')) if isinstance(entry, dict) else None
        if build and entry.get('source') is not None:
            entry = built_entry(entry, build['pinned'], build['source'])
        result.append(entry)
    return result


class FilterModule(object):
    def filters(self):
        return {'built_entries': built_entries}
