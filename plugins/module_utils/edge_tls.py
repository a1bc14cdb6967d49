# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificates of the HTTPS edge: checks of given ones, and the fleet CA that issues its own.

Runs on the controller (the edge_certificates module, delegated to localhost) with the
Python cryptography library. A certificate must match its key and cover every host name
it is meant for; the fleet CA issues one certificate covering *.<langgraph_domain> and
any extra host names, and reissues it when the names change or it nears expiry.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
    HAS_CRYPTOGRAPHY = True
except ImportError:  # reported by the module
    HAS_CRYPTOGRAPHY = False

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError

PUBLIC = serialization.Encoding.PEM if HAS_CRYPTOGRAPHY else None


def _utc(value):
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value


def load_certificate(pem, where):
    try:
        return x509.load_pem_x509_certificate(pem.encode('ascii') if isinstance(pem, str) else pem)
    except (ValueError, TypeError) as exc:
        raise HAProxyError('%s is not a PEM certificate (%s)' % (where, exc))


def load_key(pem, where):
    try:
        return serialization.load_pem_private_key(pem.encode('ascii') if isinstance(pem, str) else pem, None)
    except (ValueError, TypeError) as exc:
        raise HAProxyError('%s is not an unencrypted PEM private key (%s)' % (where, exc))


def certificate_names(cert):
    """DNS names of a certificate's subjectAltName (lower case)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)]


def name_covers(pattern, hostname):
    """Whether a certificate name (maybe *.domain) covers hostname (RFC 6125: the wildcard is one label)."""
    pattern, hostname = pattern.lower(), hostname.lower()
    if pattern == hostname:
        return True
    if pattern.startswith('*.'):
        head, dot, rest = hostname.partition('.')
        return bool(dot) and bool(head) and rest == pattern[2:]
    return False


def covered(names, hostname):
    return any(name_covers(n, hostname) for n in names)


def public_bytes(key):
    return key.public_key().public_bytes(PUBLIC, serialization.PublicFormat.SubjectPublicKeyInfo)


def not_after(cert):
    try:
        return _utc(cert.not_valid_after_utc)
    except AttributeError:
        return _utc(cert.not_valid_after)


def check_certificate(cert_pem, key_pem, hostnames, where, now=None):
    """Problems of one certificate (list of strings): key mismatch, expired, host names it does not cover."""
    cert = load_certificate(cert_pem, where)
    key = load_key(key_pem, where + ' key')
    problems = []
    if cert.public_key().public_bytes(PUBLIC, serialization.PublicFormat.SubjectPublicKeyInfo) != public_bytes(key):
        problems.append('%s does not match its key: give the key the certificate was issued for' % where)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not_after(cert) <= now:
        problems.append('%s expired on %s: renew it' % (where, not_after(cert).strftime('%Y-%m-%d')))
    names = certificate_names(cert)
    missing = [h for h in hostnames if not covered(names, h)]
    if missing:
        problems.append('%s does not cover %s (it covers %s): give a certificate for those names'
                        % (where, ', '.join(missing), ', '.join(names) or 'no DNS name'))
    return problems


def certificate_summary(cert_pem):
    cert = load_certificate(cert_pem, 'certificate')
    return dict(names=certificate_names(cert), not_after=not_after(cert).strftime('%Y-%m-%dT%H:%M:%SZ'),
                subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string())


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode('ascii')


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode('ascii')


def new_ca(common_name, days, now=None):
    """(certificate PEM, key PEM) of a new self-signed CA."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert_pem(cert), key_pem(key)


def issue(ca_cert_pem, ca_key_pem, names, days, key=None, now=None):
    """(certificate PEM, key PEM) for names, signed by the CA."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    ca_cert = load_certificate(ca_cert_pem, 'the fleet CA certificate')
    ca_key = load_key(ca_key_pem, 'the fleet CA key')
    key = key or new_key()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert_pem(cert), key_pem(key)


def needs_issue(cert_pem_text, ca_cert_pem, names, renew_days, now=None):
    """Why the fleet certificate must be (re)issued, or None: missing, other names, other CA, near expiry."""
    if not cert_pem_text:
        return 'no certificate yet'
    now = now or datetime.datetime.now(datetime.timezone.utc)
    cert = load_certificate(cert_pem_text, 'the fleet certificate')
    if sorted(certificate_names(cert)) != sorted(n.lower() for n in names):
        return 'its names changed'
    if cert.issuer != load_certificate(ca_cert_pem, 'the fleet CA certificate').subject:
        return 'another CA issued it'
    if not_after(cert) - now < datetime.timedelta(days=renew_days):
        return 'it expires within %d days' % renew_days
    return None
