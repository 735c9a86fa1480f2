"""A private key and its certificate, loaded once per process.

signxml reloads a PEM key on every ``sign()`` call when given bytes (about 50 times slower than
signing itself), so the gateway loads the key into a ``cryptography`` object once and passes
that object. Only RSA (>= 2048 bits) and ECDSA P-256 keys are accepted: the two the specs allow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from signxml.algorithms import SignatureMethod

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex: how the gateway names a certificate."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def signature_method_for(key: PrivateKey) -> SignatureMethod:
    """RSA-SHA256 or ECDSA-SHA256, chosen by key type; anything else is refused."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ValueError(f"RSA keys must be at least 2048 bits, not {key.key_size}")
        return SignatureMethod.RSA_SHA256
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"ECDSA keys must be on P-256, not {key.curve.name}")
        return SignatureMethod.ECDSA_SHA256
    raise ValueError(f"unsupported key type {type(key).__name__}: use RSA-2048 or ECDSA P-256")


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key with the certificate that goes into ``KeyInfo/X509Data``."""

    private_key: PrivateKey
    certificate: x509.Certificate

    def __post_init__(self) -> None:
        signature_method_for(self.private_key)
        own = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        certified = self.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if own != certified:
            raise ValueError("the private key does not match the certificate's public key")

    @classmethod
    def load(
        cls, key_pem_path: str | Path, cert_pem_path: str | Path, password: bytes | None = None
    ) -> SigningKey:
        """Read a PEM private key (PKCS#8 or traditional) and its PEM certificate."""
        key = serialization.load_pem_private_key(Path(key_pem_path).read_bytes(), password)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_pem_path}: unsupported key type {type(key).__name__}")
        cert = x509.load_pem_x509_certificate(Path(cert_pem_path).read_bytes())
        return cls(key, cert)

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)

    @cached_property
    def signature_method(self) -> SignatureMethod:
        return signature_method_for(self.private_key)
