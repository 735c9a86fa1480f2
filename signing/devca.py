"""A development certificate authority, for sandboxes and tests only.

In production every agency sends the gateway its certificate and the gateway trusts it by
registration (pinning), not by issuer; the CA here exists so that development keys form a
proper chain (``xmlsec1 --trusted-pem ca.pem`` works) and so that tests can mint certificates
with any validity period. Keys are RSA-2048 or ECDSA P-256, the two the specs allow.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from signing.keys import PrivateKey

KeyType = Literal["rsa", "ec"]
ORGANISATION = "GBA cross-boundary gateway (development)"


def generate_key(key_type: KeyType = "rsa") -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"key type must be 'rsa' or 'ec', not {key_type!r}")


def key_type_of(key: PrivateKey) -> KeyType:
    return "ec" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def create_ca(
    now: datetime, *, key_type: KeyType = "rsa", validity: timedelta = timedelta(days=3650)
) -> tuple[PrivateKey, x509.Certificate]:
    key = generate_key(key_type)
    name = _name("GBA gateway development CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    party: str,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """A signing certificate for ``party`` (CN = party code) issued by the development CA."""
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(party))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def self_signed_certificate(
    party: str, key: PrivateKey, not_before: datetime, not_after: datetime
) -> x509.Certificate:
    """A certificate nobody vouches for: what an impostor would present (tests use it)."""
    name = _name(party)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write an unencrypted PKCS#8 PEM readable by its owner only (development keys)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def write_certificate(path: Path, cert: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
