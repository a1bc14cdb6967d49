# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

# Options of control_state this action passes on (the login comes from module_defaults).
LOGIN_KEYS = ('login_host', 'login_port', 'login_user', 'login_password', 'maintenance_db', 'control_database',
              'ssl_mode', 'ca_cert', 'connect_timeout')


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def keep(renew, playbook_pid, interval, clock=time):
    """Renew every `interval` seconds while the playbook lives and the run still holds a lock.

    renew() returns how many locks it renewed (None when it could not say)."""
    last = clock.time()
    while alive(playbook_pid):
        clock.sleep(1)
        if clock.time() - last < interval:
            continue
        last = clock.time()
        renewed = renew()
        if renewed == 0:
            return  # the run released its locks (or lost them): nothing left to keep


class ActionModule(ActionBase):
    """Keeps a run's deploy locks alive while ansible-playbook runs (see the module documentation)."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        holder = args.get('holder')
        if not holder:
            raise AnsibleActionFail('holder is required: the run whose locks are kept')
        lease = int(args.get('lock_ttl', 120))
        interval = max(2, lease // 4)
        if self._task.check_mode:
            result.update(changed=False, msg='check mode: no lock to keep')
            return result
        module_args = dict((key, args[key]) for key in LOGIN_KEYS if args.get(key) is not None)
        module_args.update(step='renew', holder=holder, lock_ttl=lease)
        # The worker running this action is a child of ansible-playbook: its parent is the run.
        playbook_pid = os.getppid()

        def renew():
            answer = self._execute_module(module_name='selfhost.langgraph.control_state',
                                          module_args=dict(module_args), task_vars=task_vars)
            if answer.get('failed') or answer.get('unreachable'):
                return None  # tried again next time; the lease covers a few misses
            return len(answer.get('renewed') or [])

        # Renew once now, so that a lock the run cannot renew fails here, not mid-roll-out.
        first = self._execute_module(module_name='selfhost.langgraph.control_state', module_args=dict(module_args),
                                     task_vars=task_vars)
        if first.get('failed'):
            raise AnsibleActionFail('cannot renew the deploy locks of %s: %s' % (holder, first.get('msg')))
        child = os.fork()
        if child == 0:
            # The keeper: detached from the worker, which returns at once; it ends with the run.
            try:
                os.setsid()
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                keep(renew, playbook_pid, interval)
            finally:
                os._exit(0)
        result.update(changed=False, keeper_pid=child, interval=interval, lease=lease,
                      renewed=first.get('renewed') or [],
                      msg='renewing the locks of %s every %d s while this run lives' % (holder, interval))
        return result
