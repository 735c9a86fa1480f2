"""Verify a received document and say who signed it — or exactly why it is refused.

Order matters, cheapest and most dangerous first:

1. :func:`parse_untrusted` — one parse; size, encoding (UTF-8 only), depth, DTD/entities, PIs,
   XInclude and duplicate ``Id`` refused before anything else looks at the tree (comments are
   dropped, the text around them joined);
2. :func:`inspect_signature` — one ``ds:Signature``, a direct child of the root, one
   ``Reference`` to ``#<root Id>``, only the allowed algorithms and transforms;
3. the certificate in ``KeyInfo`` must be a *registered* one (looked up by SHA-256
   fingerprint) and accepted now;
4. signxml verifies that same tree with that certificate pinned (``x509_cert=``, never the CA
   bundle), a fresh ``XMLVerifier`` per call;
5. sender, message id and send time are read from the *signed* element signxml returns; the
   sender must be the party the certificate is registered for (and ``expected_sender`` when
   given), and the certificate must also have been accepted at the signed send time.

The result exposes the signed message id and send time so that a store can refuse replays.
"""

from __future__ import annotations

import binascii
import hashlib
from base64 import b64decode
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import (
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignXMLException,
)
from signxml.util import _remove_sig

from signing.algorithms import REQUIRED_TRANSFORMS
from signing.errors import (
    CertificateNotRegistered,
    CertificateNotValidAtTime,
    CertificateOfAnotherParty,
    DigestMismatch,
    DuplicateId,
    SentAtInFuture,
    SignatureInvalid,
    SignatureStructureError,
    WrongSender,
)
from signing.header import HeaderSpec, read_header
from signing.structure import SignatureParts, inspect_signature
from signing.trust import DEFAULT_CLOCK_SKEW, RegisteredCertificate, TrustStore, as_utc
from signing.xmlsafe import Limits, hardened_parser, parse_untrusted

_SIGNATURE_METHODS = frozenset({SignatureMethod.RSA_SHA256, SignatureMethod.ECDSA_SHA256})
_DIGESTS = frozenset({DigestAlgorithm.SHA256})


class _CheckedTreeVerifier(XMLVerifier):
    """signxml, handed the tree the gateway already parsed and checked.

    Three of signxml's steps redo, at a cost, what the checks before it already settled; each
    is skipped only for the shape those checks let through, and signxml's own code runs for
    anything else. signxml is pinned (5.2.0): these override its private hooks.

    * ``get_root`` serialises and re-parses an element it is given (a defensive copy against
      namespaces inherited from parents). Ours is a document root that nobody else holds,
      parsed by the hardened parser, and signxml only ever reads it (the reference is checked
      on its own copy), so what was checked is exactly what is verified.
    * ``_resolve_reference`` looks ``#<Id>`` up with an XPath over every attribute of the
      copy. :func:`inspect_signature` required the URI to be ``#`` + the root's ``Id`` and
      :func:`check_tree` refused any ``Id`` value (in any namespace) carried twice, so that
      URI names the copy's root and nothing else.
    * ``_apply_transforms`` serialises and re-parses the referenced element before
      canonicalising it (the same defensive copy). Here it is the root of signxml's own
      copy, which has no parent to inherit from: after the enveloped-signature transform it
      is canonicalised directly, giving the same bytes.
    """

    def get_root(self, data: etree._Element) -> etree._Element:
        if not isinstance(data, etree._Element) or data.getparent() is not None:
            raise TypeError("expects the root element of an already-checked document")
        return data

    def _resolve_reference(
        self,
        doc_root: etree._Element,
        reference: etree._Element,
        uri_resolver: Callable[[str], object] | None = None,
    ) -> object:
        root_id = doc_root.get("Id")
        if root_id and reference.get("URI") == f"#{root_id}" and doc_root.getparent() is None:
            return doc_root
        return super()._resolve_reference(doc_root, reference, uri_resolver=uri_resolver)

    def _apply_transforms(
        self,
        payload: object,
        *,
        transforms_node: etree._Element | None,
        signature: etree._Element,
    ) -> object:
        transforms = [] if transforms_node is None else self._findall(transforms_node, "Transform")
        if (
            isinstance(payload, etree._Element)
            and payload.getparent() is None
            and signature.getparent() is payload
            and tuple(t.get("Algorithm") for t in transforms) == REQUIRED_TRANSFORMS
        ):
            _remove_sig(signature, idempotent=True)
            return self._c14n(
                payload,
                algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
                inclusive_ns_prefixes=self._get_inclusive_ns_prefixes(transforms[1]),
            )
        return super()._apply_transforms(
            payload, transforms_node=transforms_node, signature=signature
        )


@dataclass(frozen=True)
class Verified:
    """A document accepted as signed by ``sender``; read values only from ``element``."""

    #: the signed root re-parsed from its exclusive C14N bytes (``signed_bytes``: no signature,
    #: no comments, every text node whole, nothing unsigned) — never the tree that was
    #: received. The signed header was read from it; read every other value from it too.
    element: etree._Element
    sender: str
    #: SHA-256 (hex) of the signing certificate
    fingerprint: str
    message_id: str
    sent_at: datetime
    certificate: RegisteredCertificate
    #: the exact bytes the signature covers (exclusive C14N of the root), for the audit trail
    signed_bytes: bytes


def verify(
    data: bytes,
    trust: TrustStore,
    header: HeaderSpec,
    *,
    expected_sender: str | None = None,
    now: datetime | None = None,
    limits: Limits | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> Verified:
    """Verify ``data`` against ``trust``; raise a :class:`SignatureRejected` subclass if not.

    ``now`` (aware) replaces the clock, for rotation windows and tests. ``clock_skew`` widens
    every certificate-time comparison and bounds how far in the future ``SentAt`` may be.
    """
    now = as_utc(now) if now is not None else datetime.now(UTC)
    root = parse_untrusted(data, limits)
    parts = inspect_signature(root)
    registration = _registered_signer(trust, parts)
    registration.check_time(now, "verification time", clock_skew)

    signed, signed_bytes = _verify_signature(root, registration, now)

    sender, message_id, sent_at = read_header(signed, header)
    if sender != registration.party:
        raise CertificateOfAnotherParty(
            f"signed by a certificate registered for {registration.party}, but the signed "
            f"sender is {sender}"
        )
    if expected_sender is not None and sender != expected_sender:
        raise WrongSender(f"expected a message from {expected_sender}; it is from {sender}")
    if sent_at > now + clock_skew:
        raise SentAtInFuture(
            f"signed send time {sent_at.isoformat()} is after now ({now.isoformat()}) "
            f"plus the allowed skew of {clock_skew}"
        )
    registration.check_time(sent_at, "signed send time", clock_skew)
    return Verified(
        element=signed,
        sender=sender,
        fingerprint=registration.fingerprint,
        message_id=message_id,
        sent_at=sent_at,
        certificate=registration,
        signed_bytes=signed_bytes,
    )


def _registered_signer(trust: TrustStore, parts: SignatureParts) -> RegisteredCertificate:
    found: dict[str, RegisteredCertificate] = {}
    for text in parts.certificates:
        registration = trust.by_fingerprint(_fingerprint_of(text))
        if registration is not None:
            found[registration.fingerprint] = registration
    if len(found) == 1:
        return next(iter(found.values()))
    if len(found) > 1:
        raise SignatureStructureError("KeyInfo carries several registered certificates")
    raise CertificateNotRegistered(
        "the signing certificate is not registered for any party: "
        + "; ".join(_describe(text) for text in parts.certificates)
    )


_fingerprints: dict[str, str] = {}


def _fingerprint_of(text: str) -> str:
    """SHA-256 of the DER in an ``X509Certificate`` text, memoised per exact text.

    Each agency sends the same certificate text with every message, so decoding and hashing
    it once is enough; the memo is bounded (cleared when full) since the text is untrusted.
    """
    fingerprint = _fingerprints.get(text)
    if fingerprint is None:
        try:
            der = b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise SignatureStructureError("X509Certificate is not valid base64") from None
        fingerprint = hashlib.sha256(der).hexdigest()
        if len(_fingerprints) >= 256:
            _fingerprints.clear()
        _fingerprints[text] = fingerprint
    return fingerprint


def _verify_signature(
    root: etree._Element, registration: RegisteredCertificate, now: datetime
) -> tuple[etree._Element, bytes]:
    # Time was checked above, with skew, against X.509 validity *and* the acceptance period;
    # signxml re-checks X.509 validity without skew, so give it an instant inside the validity.
    inside = min(max(now, registration.not_valid_before), registration.not_valid_after)
    config = SignatureConfiguration(
        require_x509=True,
        location="./",
        expect_references=1,
        signature_methods=_SIGNATURE_METHODS,
        digest_algorithms=_DIGESTS,
        verification_time=inside,
        default_reference_c14n_method=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    try:
        result = _CheckedTreeVerifier().verify(  # fresh per call: it keeps per-call state
            root,
            x509_cert=registration.certificate,
            id_attribute="Id",
            parser=hardened_parser(),
            expect_config=config,
        )
    except InvalidDigest as exc:
        raise DigestMismatch(f"the signed content was altered: {exc}") from None
    except InvalidCertificate as exc:
        raise CertificateNotValidAtTime(str(exc)) from None
    except InvalidSignature as exc:
        raise SignatureInvalid(f"the signature does not verify: {exc}") from None
    except InvalidInput as exc:
        if "Ambiguous reference" in str(exc):  # a namespaced Id (foo:Id) duplicating the root's
            raise DuplicateId(f"the reference is ambiguous: {exc}") from None
        raise SignatureStructureError(f"malformed signature: {exc}") from None
    except etree.DocumentInvalid as exc:
        raise SignatureStructureError(f"signature is not XML-DSig schema-valid: {exc}") from None
    except (SignXMLException, ValueError) as exc:
        raise SignatureInvalid(f"the signature does not verify: {exc}") from None
    except (TypeError, AttributeError, KeyError, IndexError) as exc:
        # signxml tripping over a shape the structure checks let through: still a refusal
        raise SignatureStructureError(
            f"signxml could not process the signature ({type(exc).__name__}: {exc})"
        ) from None
    assert not isinstance(result, list)
    if result.signed_xml is None:
        raise SignatureInvalid("the signed data is not an XML element")
    return result.signed_xml, result.signed_data


def _describe(text: str) -> str:
    try:
        der = b64decode("".join(text.split()), validate=True)
        subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return "<unreadable certificate>"
    return f"{subject} (sha256 {hashlib.sha256(der).hexdigest()})"
