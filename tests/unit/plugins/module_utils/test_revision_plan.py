# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a revision's containers carry: tables of cases."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils import revision_plan as rp
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError

FP = 'f' * 16

PROC_NET_TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:4E20 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1
"""


def test_listening_ports_reads_only_listen_state():
    assert rp.listening_ports(PROC_NET_TCP) == {8000, 22}


@pytest.mark.parametrize('image', [
    'support-bot', 'support-bot:1', 'registry.example.com/support-bot:2024-11-20',
    '172.30.213.5:5000/langgraph-demo:v1', 'ghcr.io/org/team/app@sha256:' + 'a' * 64,
])
def test_valid_images(image):
    rp.validate_image(image)


@pytest.mark.parametrize('image', ['', 'Support-Bot', 'bot:', 'bot:tag with space', 'http://x/y', 'bot@sha256:zz'])
def test_invalid_images_are_refused_with_an_example(image):
    with pytest.raises(StoreError, match='invalid image reference.*for example'):
        rp.validate_image(image)


@pytest.mark.parametrize('env, expected', [
    ({}, 200), ({'BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS': '30'}, 50), ({'BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS': 0}, 20),
])
def test_stop_timeout_outlasts_the_shutdown_grace(env, expected):
    assert rp.stop_timeout(env) == expected


def test_fingerprint_ignores_secret_values_but_not_names():
    one = rp.fingerprint('img:1', {'A': '1'}, ['KEY'])
    assert one == rp.fingerprint('img:1', {'A': '1'}, ['KEY'])
    assert one != rp.fingerprint('img:1', {'A': '2'}, ['KEY'])
    assert one != rp.fingerprint('img:1', {'A': '1'}, ['KEY', 'OTHER'])
    assert one != rp.fingerprint('img:2', {'A': '1'}, ['KEY'])


@pytest.mark.parametrize('env', [{'1BAD': 'x'}, {'A-B': 'x'}, {'OK': None}])
def test_bad_environment_is_refused(env):
    with pytest.raises(StoreError):
        rp.validate_env(env, 'env')


def test_container_labels_carry_everything_a_later_run_reads():
    labels = rp.container_labels('bot', 3, 2, 20001, FP, 'reg/bot:3')
    assert labels == {rp.LABEL_MANAGED: 'true', rp.LABEL_DEPLOYMENT: 'bot', rp.LABEL_REVISION: '3',
                      rp.LABEL_REPLICA: '2', rp.LABEL_PORT: '20001', rp.LABEL_FINGERPRINT: FP,
                      rp.LABEL_IMAGE: 'reg/bot:3'}
    assert rp.LABEL_IMAGE not in rp.container_labels('bot', 3, 2, 20001, FP)


@pytest.mark.parametrize('cpus, memory_mb, expected', [
    (2.0, 2048, {rp.LABEL_CPUS: '2', rp.LABEL_MEMORY_MB: '2048'}),
    (0.5, 512, {rp.LABEL_CPUS: '0.5', rp.LABEL_MEMORY_MB: '512'}),
    (1.25, 1024.0, {rp.LABEL_CPUS: '1.25', rp.LABEL_MEMORY_MB: '1024'}),
    (None, None, {}),
], ids=['production', 'fraction', 'float-memory', 'none'])
def test_size_labels_carry_the_limits(cpus, memory_mb, expected):
    labels = rp.container_labels('bot', 3, 2, 20001, FP, 'reg/bot:3', cpus, memory_mb)
    assert dict((k, v) for k, v in labels.items() if k in (rp.LABEL_CPUS, rp.LABEL_MEMORY_MB)) == expected


@pytest.mark.parametrize('labels, expected', [
    ({rp.LABEL_CPUS: '2', rp.LABEL_MEMORY_MB: '2048'}, (2.0, 2048)),
    ({rp.LABEL_CPUS: '0.5', rp.LABEL_MEMORY_MB: '512'}, (0.5, 512)),
    ({}, (None, None)),                                            # made before the labels
    ({rp.LABEL_CPUS: 'two', rp.LABEL_MEMORY_MB: '1.5'}, (None, None)),
    ({rp.LABEL_CPUS: '0', rp.LABEL_MEMORY_MB: '-1'}, (None, None)),
    ({rp.LABEL_CPUS: 'nan', rp.LABEL_MEMORY_MB: '512'}, (None, 512)),
], ids=['production', 'fraction', 'no-labels', 'unreadable', 'not-positive', 'nan'])
def test_container_size_from_labels(labels, expected):
    assert rp.container_size(labels) == expected


def test_migration_containers_are_not_replicas():
    labels = rp.migration_labels('bot', 3)
    assert rp.LABEL_MANAGED not in labels and labels[rp.LABEL_MIGRATION] == 'true' and labels[rp.LABEL_REVISION] == '3'
