# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One load balancer's part of the VRRP instance that floats the fleet's client address
(roles/keepalived): the virtual address and its prefix, this host's priority, and the
unicast peers it sends its advertisements to. Pure functions, unit-tested as tables; the
keepalived role calls them through the keepalived_instance filter, so that every input is
checked on the controller before any load balancer changes.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress

# The first host of the group gets the highest priority, each next one ten less (at
# least 1). 255 is reserved by VRRP for the owner of the address, which no host here is.
FIRST_PRIORITY = 150
PRIORITY_STEP = 10
MAX_PRIORITY = 254
# keepalived's VRRPv2 PASS authentication carries at most 8 characters.
AUTH_PASS_MAX = 8


class VrrpError(ValueError):
    """The inputs cannot make a VRRP instance; the message lists every problem."""


def _ipv4(value):
    """An IPv4 address from a string (no prefix), or None."""
    try:
        return ipaddress.IPv4Address(str(value).strip())
    except ValueError:
        return None


def _int(value):
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def parse_vip(vip, prefix=None):
    """(address, prefix, problems) of the virtual address, given as 'A.B.C.D/NN' or as 'A.B.C.D' with
    prefix; address and prefix are None when there are problems."""
    problems = []
    text = '' if vip is None else str(vip).strip()
    address_text, dummy, prefix_text = text.partition('/')
    address = _ipv4(address_text)
    if address is None:
        return None, None, ['keepalived_vip %r is not an IPv4 address in CIDR form such as 192.0.2.10/24' % (vip,)]
    length = _int(prefix_text) if prefix_text else None
    if prefix_text and length is None:
        problems.append('keepalived_vip %r has a prefix that is not a number' % (vip,))
    if prefix is not None and str(prefix).strip() != '':
        given = _int(prefix)
        if given is None:
            problems.append('keepalived_vip_prefix %r is not a number' % (prefix,))
        elif length is not None and given != length:
            problems.append('keepalived_vip %s says /%d but keepalived_vip_prefix says %d: give one of them'
                            % (text, length, given))
        else:
            length = given
    elif not prefix_text:
        problems.append('keepalived_vip %s has no prefix: write it as %s/24 (the prefix of the network it floats in) '
                        'or set keepalived_vip_prefix' % (text, text))
    if length is not None and not 1 <= length <= 32:
        problems.append('the prefix of keepalived_vip must be 1 to 32, not %d' % length)
    if address.is_unspecified or address.is_loopback or address.is_multicast or address.is_link_local \
            or address == ipaddress.IPv4Address('255.255.255.255'):
        problems.append('keepalived_vip %s is not an address clients can reach (loopback, link-local, multicast '
                        'or unspecified)' % address)
    elif length is not None and 1 <= length <= 30:
        network = ipaddress.IPv4Network('%s/%d' % (address, length), strict=False)
        if address in (network.network_address, network.broadcast_address):
            problems.append('keepalived_vip %s is the %s address of %s: pick a host address of that network'
                            % (address, 'network' if address == network.network_address else 'broadcast', network))
    if problems:
        return None, None, problems
    return str(address), length, []


def default_priority(hosts, host):
    """The first host of the group 150, the next 140, ... at least 1."""
    return max(FIRST_PRIORITY - PRIORITY_STEP * list(hosts).index(host), 1)


def host_address(variables):
    """The address a host's peers reach it at: langgraph_private_address, else its default IPv4 address (facts)."""
    address = variables.get('langgraph_private_address')
    if not address:
        facts = variables.get('ansible_facts') or {}
        address = (facts.get('default_ipv4') or {}).get('address') \
            or (variables.get('ansible_default_ipv4') or {}).get('address')
    return str(address).strip() if address else None


def auth_pass_problem(auth_pass):
    """None when the VRRP password is usable (or not set), else what is wrong; never quotes the value."""
    if auth_pass is None or auth_pass == '':
        return None
    text = str(auth_pass)
    if len(text) > AUTH_PASS_MAX:
        return 'keepalived_auth_pass has %d characters; VRRP (PASS) carries at most %d' % (len(text), AUTH_PASS_MAX)
    if any(c.isspace() or c in '"\'#!{}\\' or not c.isprintable() for c in text):
        return 'keepalived_auth_pass holds a space, a quote, a brace, #, ! or \\: use letters, digits and -._~@%+=:,/'
    return None


def vrrp_instance(host, hosts, hostvars, vip, prefix=None, priority=None, peers=None, src_ip=None,
                  virtual_router_id=None, auth_pass=None):
    """This host's part of the VRRP instance, or VrrpError listing every problem.

    hosts are the load balancers sharing the address (the keepalived group), in inventory order;
    hostvars maps each to its variables. priority, peers and src_ip default from them."""
    hosts = list(hosts or [])
    problems = []
    address, length, vip_problems = parse_vip(vip, prefix)
    problems.extend(vip_problems)

    vrid = _int(virtual_router_id)
    if vrid is None or not 1 <= vrid <= 255:
        problems.append('keepalived_virtual_router_id must be a number from 1 to 255 (unique among the VRRP '
                        'groups of the network), not %r' % (virtual_router_id,))

    if priority is None or str(priority).strip() == '':
        if host in hosts:
            chosen = default_priority(hosts, host)
        else:
            chosen = None
            problems.append('%s is not in the keepalived group (%s): run the role on that group, or set '
                            'keepalived_priority' % (host, ', '.join(hosts) or 'empty'))
    else:
        chosen = _int(priority)
        if chosen is None or not 1 <= chosen <= MAX_PRIORITY:
            problems.append('keepalived_priority must be a number from 1 to %d, not %r' % (MAX_PRIORITY, priority))
            chosen = None

    source = str(src_ip).strip() if src_ip else host_address(hostvars.get(host, {}) if host in hostvars else {})
    if not source:
        problems.append('%s has no address for VRRP: set its langgraph_private_address or keepalived_unicast_src_ip'
                        % host)
    elif _ipv4(source) is None:
        problems.append('keepalived_unicast_src_ip %r of %s is not an IPv4 address' % (source, host))

    if peers is None:
        peer_list = []
        for other in hosts:
            if other == host:
                continue
            found = host_address(hostvars[other]) if other in hostvars else None
            if not found:
                problems.append('load balancer %s has no address for VRRP: set its langgraph_private_address, '
                                'or give keepalived_unicast_peers' % other)
            else:
                peer_list.append(found)
    else:
        if isinstance(peers, str):
            peers = [peers]
        peer_list = [str(peer).strip() for peer in peers]
    for peer in peer_list:
        if _ipv4(peer) is None:
            problems.append('unicast peer %r of %s is not an IPv4 address' % (peer, host))
    if source and source in peer_list:
        problems.append('%s is among its own unicast peers (%s): each host lists the others' % (host, source))
    if address and (address == source or address in peer_list):
        problems.append('keepalived_vip %s is the address of a load balancer: it must be an address of its own'
                        % address)
    if len(set(peer_list)) != len(peer_list):
        problems.append('the unicast peers of %s name one address twice: %s' % (host, ', '.join(peer_list)))

    auth_problem = auth_pass_problem(auth_pass)
    if auth_problem:
        problems.append(auth_problem)

    if problems:
        raise VrrpError('the floating address cannot be set up on %s: %s' % (host, '; '.join(problems)))
    return dict(vip='%s/%d' % (address, length), address=address, prefix=length, priority=chosen,
                virtual_router_id=vrid, unicast_src_ip=source, unicast_peers=peer_list)
