#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: metrics_textfile
short_description: Write a Prometheus text file for node_exporter's textfile collector, atomically
version_added: 0.2.0
description:
  - Writes O(content) to O(path) so that a reader never sees half a file - a temporary file in the same directory
    (named C(.NAME.XXXX.tmp), which the collector's C(*.prom) pattern does not match) is written, flushed to disk and
    renamed over O(path).
  - The directory must exist (node_exporter's C(--collector.textfile.directory), for example Debian's
    C(/var/lib/prometheus/node-exporter)); the module does not create it.
  - The reconcile and autoscale ticks of the C(selfhost.langgraph.deploy) role write the fleet's metrics with it
    (docs/monitoring.md).
author:
  - selfhost.langgraph maintainers (@selfhost)
attributes:
  check_mode:
    support: full
    description: Says whether it would write; writes nothing.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: The same content and mode again changes nothing.
options:
  path:
    description: Absolute path of the file; it must end in C(.prom), the only files the collector reads.
    type: path
    required: true
  content:
    description: The metrics in the Prometheus text format.
    type: str
    required: true
  mode:
    description: Permissions of the file (the collector runs as its own user and must read it).
    type: str
    default: '0644'
  deployments:
    description:
      - The deployments O(content) covers, when the tick that rendered it was limited to them
        (C(-e deployment=NAME)) - the file's samples of other deployments (label C(deployment)) are kept, so that
        their series do not vanish until the next tick over the whole fleet. Samples without a C(deployment) label
        (hosts, the tick) are O(content)'s.
      - Omitted, O(content) replaces the whole file.
    type: list
    elements: str
'''

EXAMPLES = r'''
- name: Write the fleet's metrics for node_exporter
  selfhost.langgraph.metrics_textfile:
    path: /var/lib/prometheus/node-exporter/langgraph.prom
    content: "{{ metrics.text }}"
'''

RETURN = r'''
path:
  description: The file written (or that would be).
  returned: always
  type: str
  sample: /var/lib/prometheus/node-exporter/langgraph.prom
size:
  description: Bytes written (O(content), with the other deployments' samples kept when O(deployments) is given).
  returned: always
  type: int
  sample: 4096
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_metrics import merge_exposition


def check_input(path, mode):
    """The problem with the arguments, or None."""
    if not os.path.isabs(path):
        return 'path must be absolute, not %r' % path
    if not path.endswith('.prom'):
        return 'path must end in .prom, the only files the textfile collector reads: %r' % path
    try:
        value = int(str(mode), 8)
    except ValueError:
        return 'mode must be octal such as 0644, not %r' % mode
    if not 0 <= value <= 0o7777:
        return 'mode must be octal such as 0644, not %r' % mode
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        return ('the directory %s does not exist: point it at node_exporter\'s --collector.textfile.directory '
                '(langgraph_metrics_dir), or create it' % directory)
    return None


def content_for(path, content, deployments):
    """What to write: content, or with deployments, content merged with the file's other deployments."""
    if deployments is None or not os.path.exists(path):
        return content
    with open(path, 'rb') as handle:
        return merge_exposition(to_text(handle.read(), errors='surrogate_or_replace'), content, deployments)


def unchanged(path, data, mode):
    try:
        with open(path, 'rb') as handle:
            same = handle.read() == data
        return same and (os.stat(path).st_mode & 0o7777) == mode
    except (IOError, OSError):
        return False


def write_atomically(path, data, mode):
    """Temporary file in the same directory, flushed, then renamed over path (one file system: atomic)."""
    directory, name = os.path.split(path)
    fd, temporary = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            content=dict(type='str', required=True),
            mode=dict(type='str', default='0644'),
            deployments=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    )
    path, mode = module.params['path'], module.params['mode']
    problem = check_input(path, mode)
    if problem:
        module.fail_json(msg=problem)
    try:
        data = to_bytes(content_for(path, module.params['content'], module.params['deployments']))
    except (IOError, OSError) as exc:
        module.fail_json(msg='could not read %s to keep its other deployments: %s' % (path, exc))
    mode = int(str(mode), 8)
    result = dict(changed=False, path=path, size=len(data))
    if unchanged(path, data, mode):
        module.exit_json(**result)
    result['changed'] = True
    if not module.check_mode:
        try:
            write_atomically(path, data, mode)
        except (IOError, OSError) as exc:
            module.fail_json(msg='could not write %s: %s' % (path, exc), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
