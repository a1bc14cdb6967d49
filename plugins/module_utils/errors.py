# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors raised by the store logic; modules turn them into fail_json."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class StoreError(Exception):
    """A problem an operator can fix; the message says what and how."""
