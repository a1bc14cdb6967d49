# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lease keeper renews on time, stops when the run is gone or holds nothing any more."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.selfhost.langgraph.plugins.action import lease_keeper


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_renews_every_interval_while_the_run_lives(monkeypatch):
    clock = Clock()
    renewals = []
    monkeypatch.setattr(lease_keeper, 'alive', lambda pid: clock.now < 100)

    def renew():
        renewals.append(clock.now)
        return 2
    lease_keeper.keep(renew, 1234, 30, clock)
    assert renewals == [30.0, 60.0, 90.0]


def test_stops_once_nothing_is_held_and_keeps_trying_after_a_miss(monkeypatch):
    clock = Clock()
    answers = [None, 1, 0, 5]
    renewals = []
    monkeypatch.setattr(lease_keeper, 'alive', lambda pid: True)

    def renew():
        renewals.append(clock.now)
        return answers.pop(0)
    lease_keeper.keep(renew, 1234, 10, clock)
    assert renewals == [10.0, 20.0, 30.0]


def test_alive():
    assert lease_keeper.alive(os.getpid())
    assert not lease_keeper.alive(2 ** 22 + 12345)
