# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a deployment's containers are spread over the app hosts."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def spread(total, hosts):
    """Containers per host for `total` containers over `hosts`, as even as
    possible, earlier hosts taking the remainder: spread(3, [a, b]) == {a: 2, b: 1}."""
    if total < 0:
        raise ValueError("a container count cannot be negative, got %d" % total)
    if not hosts:
        raise ValueError("there is no app host to run containers on: add hosts to group langgraph_app")
    share, extra = divmod(total, len(hosts))
    return dict((host, share + (1 if index < extra else 0)) for index, host in enumerate(hosts))
