#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: edge_certificates
short_description: Check the HTTPS edge's certificates, or issue them from a fleet CA
version_added: 0.3.0
description:
  - Prepares the certificates the load balancers serve on 443, as HAProxy PEM bundles (certificate, chain,
    key) in O(dest); the haproxy role copies them to every load balancer and lists them in a crt-list.
  - With O(fleet_ca=true) it creates a CA in O(ca_dir) if there is none and issues one certificate for
    C(*.<domain>) and O(names); it reissues it when the names change or it expires within O(renew_days).
    Clients trust C(<ca_dir>/ca.crt).
  - Every certificate of O(certificates) must match its key, be unexpired and cover the host names given for
    it; on any problem the module fails with every problem in one message and writes nothing.
  - Run it on the controller (C(delegate_to=localhost), C(run_once=true)); it needs the Python cryptography library.
author:
  - selfhost.langgraph maintainers (@selfhost)
attributes:
  check_mode:
    support: full
    description: Reports what it would create or reissue and writes nothing.
  diff_mode:
    support: none
    description: Returns no diff.
  idempotent:
    support: full
    description: Writes a bundle only when its content changes; issues only when needed.
options:
  dest:
    description: Directory on the controller for the bundles (C(NN-name.pem)).
    type: path
    required: true
  fleet_ca:
    description: Whether to issue a certificate from the fleet CA.
    type: bool
    default: false
  ca_dir:
    description: Directory of the fleet CA (C(ca.crt), C(ca.key), mode 0700) on the controller.
    type: path
  domain:
    description: C(langgraph_domain); the fleet certificate covers C(*.<domain>).
    type: str
    default: ""
  names:
    description: Further host names for the fleet certificate (deployments with their own C(hostname)).
    type: list
    elements: str
    default: []
  days:
    description: Validity of an issued certificate, in days.
    type: int
    default: 365
  renew_days:
    description: Reissue the fleet certificate when it expires within this many days.
    type: int
    default: 30
  certificates:
    description: Certificates from files, served before the fleet one.
    type: list
    elements: dict
    default: []
    suboptions:
      cert:
        description: Path of the PEM certificate (with its chain) on the controller.
        type: path
        required: true
      key:
        description: Path of its PEM private key on the controller.
        type: path
        required: true
      hostnames:
        description: Host names it must cover (a wildcard certificate covers one label).
        type: list
        elements: str
        default: []
'''

EXAMPLES = r'''
- name: Issue the edge certificate from the fleet CA
  selfhost.langgraph.edge_certificates:
    dest: "{{ playbook_dir }}/edge-certificates"
    fleet_ca: true
    ca_dir: "{{ playbook_dir }}/fleet-ca"
    domain: agents.example.com
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
bundles:
  description: The bundles in order (the first is the default certificate), without key material.
  returned: always
  type: list
  elements: dict
  contains:
    file: {description: Bundle file name in O(dest)., type: str}
    names: {description: DNS names it covers., type: list, elements: str}
    not_after: {description: 'Expiry in UTC, ISO 8601.', type: str}
    issuer: {description: Issuer name., type: str}
ca_certificate:
  description: Path of the fleet CA certificate clients trust (fleet_ca only).
  returned: when fleet_ca
  type: str
reissued:
  description: Why the fleet certificate was (or would be) issued, or null.
  returned: always
  type: str
'''

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.selfhost.langgraph.plugins.module_utils import edge_tls
from ansible_collections.selfhost.langgraph.plugins.module_utils.edge import domain_problem, hostname_problem
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError):
        return None


def write(path, text, mode):
    """Atomically; returns whether it changed."""
    if read(path) == text:
        return False
    tmp = path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.rename(tmp, path)
    return True


def file_bundles(certificates):
    """[(name, PEM bundle)] of the given files, or raises with every problem."""
    problems = []
    bundles = []
    for index, c in enumerate(certificates):
        where = 'certificates[%d] (%s)' % (index, c['cert'])
        cert, key = read(c['cert']), read(c['key'])
        if cert is None or key is None:
            problems.append('%s: cannot read %s' % (where, c['cert'] if cert is None else c['key']))
            continue
        for h in c['hostnames']:
            problem = hostname_problem(h)
            if problem:
                problems.append('%s: %s' % (where, problem))
        try:
            problems += edge_tls.check_certificate(cert, key, [h.lower() for h in c['hostnames']], where)
        except HAProxyError as exc:
            problems.append(str(exc))
            continue
        bundles.append(('%02d-%s.pem' % (index, os.path.basename(c['cert']).rsplit('.', 1)[0]),
                        cert.rstrip('\n') + '\n' + key.rstrip('\n') + '\n'))
    if problems:
        raise HAProxyError('the edge certificates have %d problem%s; nothing was changed:\n- %s'
                           % (len(problems), '' if len(problems) == 1 else 's', '\n- '.join(problems)))
    return bundles


def fleet_names(domain, names):
    wanted = (['*.' + domain.lower()] if domain else []) + sorted(set(n.lower() for n in names))
    problems = [p for p in [domain_problem(domain)] + [hostname_problem(n) for n in names] if p]
    if problems:
        raise HAProxyError('; '.join(problems))
    if not wanted:
        raise HAProxyError('the fleet CA needs langgraph_domain or host names to issue a certificate for')
    return wanted


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type='path', required=True),
            fleet_ca=dict(type='bool', default=False),
            ca_dir=dict(type='path'),
            domain=dict(type='str', default=''),
            names=dict(type='list', elements='str', default=[]),
            days=dict(type='int', default=365),
            renew_days=dict(type='int', default=30),
            certificates=dict(type='list', elements='dict', default=[], options=dict(
                cert=dict(type='path', required=True),
                key=dict(type='path', required=True, no_log=False),
                hostnames=dict(type='list', elements='str', default=[]))),
        ),
        required_if=[('fleet_ca', True, ['ca_dir'])],
        supports_check_mode=True,
    )
    if not edge_tls.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib('cryptography'))
    p = module.params
    if not 1 <= p['days'] <= 3650 or not 0 <= p['renew_days'] < p['days']:
        module.fail_json(msg='days must be from 1 to 3650 and renew_days from 0 to below days')
    try:
        bundles = file_bundles(p['certificates'])
        names = fleet_names(p['domain'], p['names']) if p['fleet_ca'] else []
    except HAProxyError as exc:
        module.fail_json(msg=str(exc))
    if not bundles and not p['fleet_ca']:
        module.fail_json(msg='the HTTPS edge needs a certificate: give haproxy_edge_certificates or turn '
                             'haproxy_edge_fleet_ca on')

    changed = False
    reissued = None
    result = {}
    if p['fleet_ca']:
        ca_crt, ca_key = os.path.join(p['ca_dir'], 'ca.crt'), os.path.join(p['ca_dir'], 'ca.key')
        fleet_file = os.path.join(p['dest'], '99-fleet.pem')
        result['ca_certificate'] = ca_crt
        ca_cert_text, ca_key_text = read(ca_crt), read(ca_key)
        current = read(fleet_file)
        if ca_cert_text is None or ca_key_text is None:
            reissued = 'no fleet CA yet'
        else:
            reissued = edge_tls.needs_issue(current, ca_cert_text, names, p['renew_days'])
        if reissued and module.check_mode:
            changed = True
        elif reissued:
            if ca_cert_text is None or ca_key_text is None:
                os.makedirs(p['ca_dir'], mode=0o700, exist_ok=True)
                ca_cert_text, ca_key_text = edge_tls.new_ca('selfhost.langgraph fleet CA', p['days'] * 10)
                write(ca_key, ca_key_text, 0o600)
                write(ca_crt, ca_cert_text, 0o644)
            cert, key = edge_tls.issue(ca_cert_text, ca_key_text, names, p['days'])
            current = cert + key
            changed = True
        if current is not None:
            bundles.append(('99-fleet.pem', current))
        else:
            bundles.append(('99-fleet.pem', None))
    summaries = []
    if not module.check_mode:
        os.makedirs(p['dest'], mode=0o700, exist_ok=True)
        keep = set(name for name, dummy in bundles)
        for name in os.listdir(p['dest']):
            if name.endswith('.pem') and name not in keep:
                os.unlink(os.path.join(p['dest'], name))
                changed = True
    for name, text in bundles:
        if text is not None and not module.check_mode:
            changed = write(os.path.join(p['dest'], name), text, 0o600) or changed
        summary = dict(file=name)
        if text is not None:
            summary.update(edge_tls.certificate_summary(text))
        summaries.append(summary)
    module.exit_json(changed=changed, bundles=summaries, reissued=reissued, **result)


if __name__ == '__main__':
    main()
