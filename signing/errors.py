"""Why a signed document was refused, as a small class hierarchy.

Every refusal is a :class:`SignatureRejected`, so a transport answers "400 / SIGNATURE" (HK) or
``soap:Client`` / ``ASSINATURA`` (Macao) by catching one class, while tests and audit logs can
tell the attacks apart by the subclass. None of these is retryable: the same bytes will be
refused again. ``reason`` is a stable snake_case code for logs and metrics; the message is for
people and never contains key material.
"""

from __future__ import annotations


class SignatureRejected(Exception):
    """A document was not accepted as signed by a registered party."""

    reason = "rejected"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- before any cryptography: the bytes themselves ---------------------------------------


class MalformedDocument(SignatureRejected):
    """Not well-formed XML, or a required part (root ``Id``, signed header field) is missing."""

    reason = "malformed"


class DocumentTooLarge(SignatureRejected):
    """Bigger than the configured byte limit; refused before parsing."""

    reason = "too_large"


class EncodingForbidden(SignatureRejected):
    """Not UTF-8 (both specs say UTF-8): another declared encoding, or a UTF-16/32 byte order
    mark or text. A UTF-8 byte order mark is accepted."""

    reason = "encoding"


class UnsupportedFormat(SignatureRejected):
    """Well-formed, but its root is in no namespace the caller handles (not CBCE or SIP).

    ``signing`` knows no format and never raises it; callers that pick the format by the root
    namespace (``gbagw verify``) do, so that every refusal is one class hierarchy."""

    reason = "unsupported_format"


class DocumentTooDeep(DocumentTooLarge):
    """Nested deeper than the configured element depth."""

    reason = "too_deep"


class ForbiddenConstruct(SignatureRejected):
    """A construct the specs forbid or that a reader could be fooled by."""

    reason = "forbidden_construct"


class DtdForbidden(ForbiddenConstruct):
    """A DOCTYPE, internal subset or entity (XXE, billion laughs)."""

    reason = "dtd"


class ProcessingInstructionForbidden(ForbiddenConstruct):
    """A processing instruction (``<?xml-stylesheet …?>`` and the like)."""

    reason = "processing_instruction"


class ExternalReferenceForbidden(ForbiddenConstruct):
    """Anything that would make a reader fetch another resource (XInclude, RetrievalMethod)."""

    reason = "external_reference"


# --- the shape of the signature ------------------------------------------------------------


class SignatureStructureError(SignatureRejected):
    """The signature is not the one enveloped signature over the root that the specs require."""

    reason = "structure"


class SignatureCountError(SignatureStructureError):
    """Zero or several ``ds:Signature`` elements in the document."""

    reason = "signature_count"


class SignatureMisplaced(SignatureStructureError):
    """The ``ds:Signature`` is not a direct child of the document root."""

    reason = "signature_location"


class SignedElementWrapped(SignatureMisplaced):
    """The signed element was put under a new root (classic signature wrapping)."""

    reason = "wrapped"


class ReferenceMismatch(SignatureStructureError):
    """Not exactly one ``Reference``, or its URI is not ``#<root Id>``."""

    reason = "reference"


class DuplicateId(SignatureStructureError):
    """Two elements carry the same ``Id`` value, so a reference could resolve to either."""

    reason = "duplicate_id"


class AlgorithmNotAllowed(SignatureRejected):
    """An algorithm or transform outside the specs' list (inclusive C14N, XPath, SHA-512 …)."""

    reason = "algorithm"


class WeakAlgorithm(AlgorithmNotAllowed):
    """SHA-1, MD5, HMAC or DSA: a downgrade the specs forbid outright."""

    reason = "weak_algorithm"


# --- who signed ----------------------------------------------------------------------------


class UnknownSigner(SignatureRejected):
    """The signing certificate is not registered for the party named in the signed header."""

    reason = "unknown_signer"


class CertificateNotRegistered(UnknownSigner):
    """The certificate in ``KeyInfo`` is registered for no party at all (e.g. self-signed)."""

    reason = "certificate_not_registered"


class CertificateOfAnotherParty(UnknownSigner):
    """A registered certificate, but of a different party than the signed ``Sender``."""

    reason = "certificate_of_another_party"


class CertificateNotValidAtTime(SignatureRejected):
    """The certificate is not accepted at the signed send time or at verification time."""

    reason = "certificate_time"


class CertificateExpired(CertificateNotValidAtTime):
    """Past the certificate's ``notAfter`` or the end of its acceptance (rotation) window."""

    reason = "certificate_expired"


class CertificateNotYetValid(CertificateNotValidAtTime):
    """Before the certificate's ``notBefore`` or the start of its acceptance window."""

    reason = "certificate_not_yet_valid"


class SentAtInFuture(SignatureRejected):
    """The signed send time is later than now plus the allowed clock skew."""

    reason = "sent_at_in_future"


class WrongSender(SignatureRejected):
    """Validly signed, but by a party other than the one the caller expected."""

    reason = "wrong_sender"


# --- the cryptography itself ---------------------------------------------------------------


class SignatureInvalid(SignatureRejected):
    """The signature value does not verify with the registered certificate."""

    reason = "signature_invalid"


class DigestMismatch(SignatureInvalid):
    """The signed content was changed after signing (text, attribute or element edited)."""

    reason = "digest_mismatch"
