# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The idle reaper's decisions, as pure functions.

What counts as use (a request through a load balancer, a run in the
deployment's database) and its recording live in deployment_usage, which
every reconcile and autoscale tick runs too. Any use resets the idle count.
After notify_days without use, one notification per idle period; after
delete_days, a backup and a delete with purge, only when the fleet sets
reap_delete; keep exempts a deployment.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils.backup import DAY, BackupError


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


def subject(name, action):
    """The one-line subject of a notification by mail."""
    if action == 'delete':
        return 'LangGraph deployment %s is being deleted (idle)' % name
    return 'LangGraph deployment %s is idle' % name


def message(name, action, reason, delete_days, reap_delete):
    """The notification's text (Slack-compatible `text`)."""
    if action == 'delete':
        return 'LangGraph deployment %s is being deleted: %s. Its last backup stays (docs/backups.md).' % (name, reason)
    then = ('it will be backed up and deleted after %s days without use' % delete_days if reap_delete
            else 'nothing is deleted (reap_delete is off)')
    return 'LangGraph deployment %s is idle: %s; %s. Any request resets the count; keep: true exempts it.' % (
        name, reason, then)
