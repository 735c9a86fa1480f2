"""Signing and verification of the XML documents exchanged with HK and Macao agencies.

One profile (HK CBCE 1.0 / Macao SIP 1.0): enveloped XML-DSig over the root by ``Id``,
exclusive C14N, SHA-256, RSA-SHA256 or ECDSA-SHA256, ``KeyInfo/X509Data``. Trust is pinned
per party with acceptance periods (key rotation). See ``signing/README.md``.
"""

from signing.errors import (
    AlgorithmNotAllowed,
    CertificateExpired,
    CertificateNotRegistered,
    CertificateNotValidAtTime,
    CertificateNotYetValid,
    CertificateOfAnotherParty,
    DigestMismatch,
    DocumentTooDeep,
    DocumentTooLarge,
    DtdForbidden,
    DuplicateId,
    EncodingForbidden,
    ExternalReferenceForbidden,
    ForbiddenConstruct,
    MalformedDocument,
    ProcessingInstructionForbidden,
    ReferenceMismatch,
    SentAtInFuture,
    SignatureCountError,
    SignatureInvalid,
    SignatureMisplaced,
    SignatureRejected,
    SignatureStructureError,
    SignedElementWrapped,
    UnknownSigner,
    UnsupportedFormat,
    WeakAlgorithm,
    WrongSender,
)
from signing.keydir import KeyDirectory
from signing.keys import SigningKey
from signing.signer import sign
from signing.trust import RegisteredCertificate, TrustConfigError, TrustStore
from signing.verifier import Verified, verify
from signing.xmlsafe import Limits, parse_untrusted, read_limited

__all__ = [
    "AlgorithmNotAllowed",
    "CertificateExpired",
    "CertificateNotRegistered",
    "CertificateNotValidAtTime",
    "CertificateNotYetValid",
    "CertificateOfAnotherParty",
    "DigestMismatch",
    "DocumentTooDeep",
    "DocumentTooLarge",
    "DtdForbidden",
    "DuplicateId",
    "EncodingForbidden",
    "ExternalReferenceForbidden",
    "ForbiddenConstruct",
    "KeyDirectory",
    "Limits",
    "MalformedDocument",
    "ProcessingInstructionForbidden",
    "ReferenceMismatch",
    "RegisteredCertificate",
    "SentAtInFuture",
    "SignatureCountError",
    "SignatureInvalid",
    "SignatureMisplaced",
    "SignatureRejected",
    "SignatureStructureError",
    "SignedElementWrapped",
    "SigningKey",
    "TrustConfigError",
    "TrustStore",
    "UnknownSigner",
    "UnsupportedFormat",
    "Verified",
    "WeakAlgorithm",
    "WrongSender",
    "parse_untrusted",
    "read_limited",
    "sign",
    "verify",
]
