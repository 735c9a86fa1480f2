"""The algorithm allow-list of HK CBCE 1.0 and Macao SIP 1.0, and how a refusal is named.

Both specs name exactly one profile: exclusive C14N, SHA-256 digests, RSA-SHA256 or
ECDSA-SHA256. Anything else is refused before cryptography runs; SHA-1, MD5, HMAC and DSA are
reported as :class:`WeakAlgorithm` because accepting them would be a downgrade attack.
"""

from __future__ import annotations

from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)

from signing.errors import AlgorithmNotAllowed, WeakAlgorithm

DS_NS = "http://www.w3.org/2000/09/xmldsig#"

EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value
ENVELOPED = SignatureConstructionMethod.enveloped.value
SHA256 = DigestAlgorithm.SHA256.value
RSA_SHA256 = SignatureMethod.RSA_SHA256.value
ECDSA_SHA256 = SignatureMethod.ECDSA_SHA256.value

ALLOWED_SIGNATURE_METHODS = frozenset({RSA_SHA256, ECDSA_SHA256})
#: the only Transforms list accepted, in this order (the reference is then exclusive-C14N'd)
REQUIRED_TRANSFORMS = (ENVELOPED, EXC_C14N)

_WEAK_MARKERS = ("sha1", "md5", "hmac", "dsa-", "#dsa")


def _is_weak(uri: str) -> bool:
    lowered = uri.lower()
    if "ecdsa" in lowered and "sha1" not in lowered:
        return False
    return any(marker in lowered for marker in _WEAK_MARKERS)


def require_signature_method(uri: str | None) -> None:
    if uri in ALLOWED_SIGNATURE_METHODS:
        return
    _refuse("signature method", uri)


def require_digest_method(uri: str | None) -> None:
    if uri != SHA256:
        _refuse("digest method", uri)


def require_c14n_method(uri: str | None) -> None:
    if uri != EXC_C14N:
        _refuse("canonicalization method", uri)


def require_transforms(uris: list[str | None]) -> None:
    if tuple(uris) != REQUIRED_TRANSFORMS:
        for uri in uris:
            if uri not in REQUIRED_TRANSFORMS:
                _refuse("transform", uri)
        raise AlgorithmNotAllowed(
            "the reference must have exactly the transforms enveloped-signature then "
            f"exclusive C14N; found {uris}"
        )


def _refuse(what: str, uri: str | None) -> None:
    if uri is not None and _is_weak(uri):
        raise WeakAlgorithm(f"weak {what} refused: {uri}")
    raise AlgorithmNotAllowed(f"{what} not allowed by the specs: {uri}")
