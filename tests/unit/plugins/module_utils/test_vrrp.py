# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VRRP instance of each load balancer (roles/keepalived): address, prefix, priority, peers."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.vrrp import (
    VrrpError,
    auth_pass_problem,
    default_priority,
    parse_vip,
    vrrp_instance,
)

LBS = ['lb1', 'lb2', 'lb3']
HOSTVARS = {'lb1': {'langgraph_private_address': '10.0.0.31'},
            'lb2': {'langgraph_private_address': '10.0.0.32'},
            'lb3': {'ansible_facts': {'default_ipv4': {'address': '10.0.0.33', 'interface': 'eth0'}}}}


@pytest.mark.parametrize('vip, prefix, expected', [
    ('10.0.0.100/24', None, ('10.0.0.100', 24)),
    (' 10.0.0.100/24 ', None, ('10.0.0.100', 24)),
    ('10.0.0.100', 24, ('10.0.0.100', 24)),
    ('10.0.0.100', '24', ('10.0.0.100', 24)),  # from a survey or -e
    ('10.0.0.100/24', 24, ('10.0.0.100', 24)),  # both, agreeing
    ('10.0.0.100/32', None, ('10.0.0.100', 32)),
    ('10.0.0.1/31', None, ('10.0.0.1', 31)),  # no network/broadcast address in a /31
])
def test_parse_vip_accepts(vip, prefix, expected):
    address, length, problems = parse_vip(vip, prefix)
    assert ((address, length), problems) == (expected, [])


@pytest.mark.parametrize('vip, prefix, message', [
    ('10.0.0.100', None, 'has no prefix'),
    ('10.0.0.100', '', 'has no prefix'),
    ('10.0.0.100/24', 25, 'says /24 but keepalived_vip_prefix says 25'),
    ('10.0.0.100/x', None, 'prefix that is not a number'),
    ('10.0.0.100', 'x', 'keepalived_vip_prefix \'x\' is not a number'),
    ('10.0.0.100/33', None, 'must be 1 to 32'),
    ('10.0.0.100/0', None, 'must be 1 to 32'),
    ('10.0.0.256/24', None, 'is not an IPv4 address'),
    ('vip.example.com/24', None, 'is not an IPv4 address'),
    ('2001:db8::10/64', None, 'is not an IPv4 address'),
    ('', None, 'is not an IPv4 address'),
    (None, None, 'is not an IPv4 address'),
    ('127.0.0.10/8', None, 'not an address clients can reach'),
    ('224.0.0.18/32', None, 'not an address clients can reach'),
    ('169.254.1.1/16', None, 'not an address clients can reach'),
    ('10.0.0.0/24', None, 'is the network address of 10.0.0.0/24'),
    ('10.0.0.255/24', None, 'is the broadcast address of 10.0.0.0/24'),
])
def test_parse_vip_refuses(vip, prefix, message):
    address, length, problems = parse_vip(vip, prefix)
    assert (address, length) == (None, None)
    assert any(message in problem for problem in problems), problems


@pytest.mark.parametrize('host, priority', [('lb1', 150), ('lb2', 140), ('lb3', 130)])
def test_default_priority_first_host_highest(host, priority):
    assert default_priority(LBS, host) == priority


def test_default_priority_never_below_one():
    hosts = ['lb%d' % n for n in range(30)]
    assert [default_priority(hosts, h) for h in hosts][14:17] == [10, 1, 1]


@pytest.mark.parametrize('value, problem', [
    (None, None),
    ('', None),
    ('lab-vrrp', None),
    ('12345678', None),
    ('123456789', 'has 9 characters; VRRP (PASS) carries at most 8'),
    ('pw 1', 'holds a space'),
    ('pw"1', 'holds a space'),
    ('pw{1', 'holds a space'),
])
def test_auth_pass(value, problem):
    found = auth_pass_problem(value)
    assert (found is None) if problem is None else (problem in found), found
    if found:
        assert value not in found  # the value itself is never quoted


@pytest.mark.parametrize('host, expected', [
    ('lb1', dict(priority=150, unicast_src_ip='10.0.0.31', unicast_peers=['10.0.0.32', '10.0.0.33'])),
    ('lb2', dict(priority=140, unicast_src_ip='10.0.0.32', unicast_peers=['10.0.0.31', '10.0.0.33'])),
    ('lb3', dict(priority=130, unicast_src_ip='10.0.0.33', unicast_peers=['10.0.0.31', '10.0.0.32'])),  # from facts
])
def test_defaults_from_the_group(host, expected):
    found = vrrp_instance(host, LBS, HOSTVARS, '10.0.0.100/24', virtual_router_id=51)
    assert found == dict(expected, vip='10.0.0.100/24', address='10.0.0.100', prefix=24, virtual_router_id=51)


def test_given_values_win():
    found = vrrp_instance('lb2', LBS, HOSTVARS, '10.0.0.100', prefix='24', priority='200', peers=['10.0.1.9'],
                          src_ip='10.0.1.8', virtual_router_id='7', auth_pass='s3cret')
    assert (found['priority'], found['unicast_src_ip'], found['unicast_peers'], found['virtual_router_id'],
            found['vip']) == (200, '10.0.1.8', ['10.0.1.9'], 7, '10.0.0.100/24')
    assert 's3cret' not in repr(found)


def test_a_single_load_balancer_has_no_peers():
    found = vrrp_instance('lb1', ['lb1'], HOSTVARS, '10.0.0.100/24', virtual_router_id=51)
    assert (found['priority'], found['unicast_peers']) == (150, [])


@pytest.mark.parametrize('host, hosts, hostvars, kwargs, messages', [
    ('lb1', LBS, HOSTVARS, dict(virtual_router_id=0), ['keepalived_virtual_router_id must be a number from 1 to 255']),
    ('lb1', LBS, HOSTVARS, dict(virtual_router_id=256), ['from 1 to 255']),
    ('lb1', LBS, HOSTVARS, dict(virtual_router_id=None), ['from 1 to 255']),
    ('lb1', LBS, HOSTVARS, dict(virtual_router_id=True), ['from 1 to 255']),
    ('lb1', LBS, HOSTVARS, dict(virtual_router_id=51, priority=255), ['keepalived_priority must be a number from 1 to 254']),
    ('lb1', LBS, HOSTVARS, dict(virtual_router_id=51, priority=0), ['from 1 to 254']),
    ('lb9', LBS, dict(HOSTVARS, lb9={'langgraph_private_address': '10.0.0.39'}), dict(virtual_router_id=51),
     ['lb9 is not in the keepalived group (lb1, lb2, lb3)']),
    ('lb1', ['lb1', 'lb2'], {'lb1': HOSTVARS['lb1'], 'lb2': {}}, dict(virtual_router_id=51),
     ['load balancer lb2 has no address for VRRP']),
    ('lb1', ['lb1'], {'lb1': {}}, dict(virtual_router_id=51), ['lb1 has no address for VRRP']),
    ('lb1', LBS, HOSTVARS, dict(virtual_router_id=51, src_ip='eth0'), ["keepalived_unicast_src_ip 'eth0' of lb1"]),
    ('lb1', LBS, HOSTVARS, dict(virtual_router_id=51, peers=['lb2']), ["unicast peer 'lb2' of lb1"]),
    ('lb1', LBS, HOSTVARS, dict(virtual_router_id=51, peers=['10.0.0.31']), ['lb1 is among its own unicast peers']),
    ('lb1', LBS, HOSTVARS, dict(virtual_router_id=51, peers=['10.0.0.32', '10.0.0.32']), ['name one address twice']),
    ('lb1', LBS, HOSTVARS, dict(virtual_router_id=51, vip='10.0.0.32/24'), ['is the address of a load balancer']),
    ('lb1', LBS, HOSTVARS, dict(virtual_router_id=51, auth_pass='much-too-long'), ['has 13 characters']),
    # every problem in one message
    ('lb1', LBS, HOSTVARS, dict(virtual_router_id=300, vip='10.0.0.100', priority=999),
     ['has no prefix', 'from 1 to 255', 'from 1 to 254']),
])
def test_refusals_name_every_problem(host, hosts, hostvars, kwargs, messages):
    kwargs = dict(kwargs)
    vip = kwargs.pop('vip', '10.0.0.100/24')
    with pytest.raises(VrrpError) as raised:
        vrrp_instance(host, hosts, hostvars, vip, **kwargs)
    text = str(raised.value)
    assert text.startswith('the floating address cannot be set up on %s: ' % host)
    for message in messages:
        assert message in text, text
    assert 'much-too-long' not in text
