# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The idle reaper's decisions, as pure functions.

A deployment is used when any of its load balancer servers answered a request
since the last look: HAProxy's per-server request counter (stot) grew, or a
server that was not there before has answered some. Health checks are not
requests. Any use resets the idle count. After notify_days without use, one
notification per idle period; after delete_days, a backup and a delete with
purge, only when the fleet sets reap_delete; keep exempts a deployment.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils.backup import DAY, BackupError


def counters(load_balancers):
    """{deployment: {'<lb>/<server>': stot}} from haproxy_info's backends per load balancer."""
    found = {}
    for lb in sorted(load_balancers):
        for deployment, backend in sorted((load_balancers[lb] or {}).items()):
            mine = found.setdefault(deployment, {})
            for server, info in sorted((backend.get('servers') or {}).items()):
                mine['%s/%s' % (lb, server)] = int(info.get('stot') or 0)
    return found


def used(previous, current):
    """Did any server answer a request between the two readings of the counters?

    A counter that grew, or a new server that answered some, is use; a counter
    that went down (HAProxy reloaded, the server was replaced) counts from 0."""
    for key, value in current.items():
        before = previous.get(key)
        if before is None or value < before:
            if value > 0:
                return True
        elif value > before:
            return True
    return False


def validate_days(notify_days, delete_days):
    if notify_days <= 0 or delete_days <= 0:
        raise BackupError('reap_notify_days and reap_delete_days must be more than 0 (got %s and %s)'
                          % (notify_days, delete_days))
    if delete_days < notify_days:
        raise BackupError('reap_delete_days (%s) must not be less than reap_notify_days (%s): a deployment is '
                          'told before it is deleted' % (delete_days, notify_days))


def decide(usage, keep, now, notify_days, delete_days, reap_delete):
    """(action, reason) for one deployment.

    usage: {last_used_at, notified_at} (epochs; notified_at None when never).
    action: keep | none | notify | delete (delete only with reap_delete)."""
    idle_days = max(0.0, (now - usage['last_used_at']) / float(DAY))
    idle = 'unused for %.1f days' % idle_days if idle_days >= 1 else 'unused for %d s' % (now - usage['last_used_at'])
    if keep:
        return 'keep', '%s; keep: true exempts it' % idle
    notified = usage.get('notified_at') is not None and usage['notified_at'] >= usage['last_used_at']
    if idle_days >= delete_days:
        if reap_delete:
            return 'delete', '%s (reap_delete_days %s): backed up, then deleted with purge' % (idle, delete_days)
        if not notified:
            return 'notify', '%s (reap_delete_days %s; reap_delete is off, so it stays)' % (idle, delete_days)
        return 'none', '%s, already notified; reap_delete is off' % idle
    if idle_days >= notify_days:
        if notified:
            return 'none', '%s, already notified' % idle
        return 'notify', '%s (reap_notify_days %s)' % (idle, notify_days)
    return 'none', idle


def message(name, action, reason, delete_days, reap_delete):
    """The notification's text (Slack-compatible `text`)."""
    if action == 'delete':
        return 'LangGraph deployment %s is being deleted: %s. Its last backup stays (docs/backups.md).' % (name, reason)
    then = ('it will be backed up and deleted after %s days without use' % delete_days if reap_delete
            else 'nothing is deleted (reap_delete is off)')
    return 'LangGraph deployment %s is idle: %s; %s. Any request resets the count; keep: true exempts it.' % (
        name, reason, then)
