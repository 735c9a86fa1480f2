"""Check the shape of the one signature before any cryptography runs.

signxml verifies *a* signature over *some* element; the specs want one enveloped signature over
the document root. Signature wrapping lives in that gap: a signed element moved under a new
root, a signature left at the root whose reference points into a wrapper, a second signature,
a reference resolved by a duplicate ``Id``. This module closes it on the already-parsed tree
(no second parse) and also enforces the algorithm allow-list, so a downgraded signature is
refused without spending a verification on it.

The element sequences are checked exactly (``Signature`` = ``SignedInfo, SignatureValue,
KeyInfo``; ``SignedInfo`` = ``CanonicalizationMethod, SignatureMethod, Reference``;
``Reference`` = ``Transforms, DigestMethod, DigestValue``): a narrower shape than the XML-DSig
schema allows, so nothing the profile does not use (``Object``, ``Manifest``, a second
reference) can reach signxml.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from signing.algorithms import (
    DS_NS,
    require_c14n_method,
    require_digest_method,
    require_signature_method,
    require_transforms,
)
from signing.errors import (
    ExternalReferenceForbidden,
    ReferenceMismatch,
    SignatureCountError,
    SignatureMisplaced,
    SignatureStructureError,
    SignedElementWrapped,
)


def _ds(local_name: str) -> str:
    return f"{{{DS_NS}}}{local_name}"


_SIGNATURE = _ds("Signature")
_SIGNED_INFO = _ds("SignedInfo")
_REFERENCE = _ds("Reference")
_TRANSFORMS = _ds("Transforms")
_TRANSFORM = _ds("Transform")
_X509_DATA = _ds("X509Data")
_X509_CERTIFICATE = _ds("X509Certificate")
_RETRIEVAL_METHOD = _ds("RetrievalMethod")
_SIGNATURE_SHAPE = (_SIGNED_INFO, _ds("SignatureValue"), _ds("KeyInfo"))
_SIGNED_INFO_SHAPE = (_ds("CanonicalizationMethod"), _ds("SignatureMethod"), _REFERENCE)
_REFERENCE_SHAPE = (_TRANSFORMS, _ds("DigestMethod"), _ds("DigestValue"))
_KEY_INFO_CHILDREN = frozenset({_X509_DATA, _ds("KeyName"), _ds("KeyValue")})


@dataclass(frozen=True)
class SignatureParts:
    """What the verifier needs from a structurally acceptable signature."""

    signature: etree._Element
    root_id: str
    #: base64 text of every ``KeyInfo/X509Data/X509Certificate``, in document order (decoded
    #: and fingerprinted by the verifier, which caches the result per text)
    certificates: tuple[str, ...]


def inspect_signature(root: etree._Element) -> SignatureParts:
    """Return the signature's parts, or raise the structure / algorithm error that applies."""
    signatures = list(root.iter(_SIGNATURE))
    if len(signatures) != 1:
        raise SignatureCountError(
            f"exactly one ds:Signature is required in the document; found {len(signatures)}"
        )
    signature = signatures[0]
    in_signature = list(signature)  # elements only: the parser drops comments, refuses PIs
    signature_tags = tuple(child.tag for child in in_signature)
    if not signature_tags or signature_tags[0] != _SIGNED_INFO:
        raise SignatureStructureError("ds:Signature must begin with ds:SignedInfo")
    in_signed_info = list(in_signature[0])
    info_tags = tuple(child.tag for child in in_signed_info)
    if info_tags.count(_REFERENCE) != 1:
        found = info_tags.count(_REFERENCE)
        raise ReferenceMismatch(f"exactly one Reference is required; found {found}")
    reference = in_signed_info[info_tags.index(_REFERENCE)]
    root_id = _check_location_and_reference(root, signature, reference.get("URI"))

    _require_shape(info_tags, _SIGNED_INFO_SHAPE, "SignedInfo")
    require_c14n_method(in_signed_info[0].get("Algorithm"))
    require_signature_method(in_signed_info[1].get("Algorithm"))
    in_reference = list(reference)
    reference_tags = tuple(child.tag for child in in_reference)
    transforms = in_reference[0] if reference_tags[:1] == (_TRANSFORMS,) else ()
    require_transforms([t.get("Algorithm") if t.tag == _TRANSFORM else None for t in transforms])
    _require_shape(reference_tags, _REFERENCE_SHAPE, "Reference")
    require_digest_method(in_reference[1].get("Algorithm"))
    _require_shape(signature_tags, _SIGNATURE_SHAPE, "Signature")
    _require_text(in_reference[2], "DigestValue")
    _require_text(in_signature[1], "SignatureValue")
    if (signature.tail or "").strip():  # signxml serialises the signature with it: unparsable
        raise SignatureStructureError("text after ds:Signature is not allowed")
    return SignatureParts(signature, root_id, _certificates(in_signature[2]))


def _require_text(element: etree._Element, name: str) -> None:
    """signxml base64-decodes these without a check (an empty one raised ``TypeError``)."""
    if len(element) or not (element.text or "").strip():
        raise SignatureStructureError(f"ds:{name} must be non-empty base64 text")


def _check_location_and_reference(
    root: etree._Element, signature: etree._Element, uri: str | None
) -> str:
    """The signature is the root's child and its one reference is ``#<root Id>``."""
    parent = signature.getparent()
    if parent is not root:
        parent_id = parent.get("Id") if parent is not None else None
        if parent_id and uri == f"#{parent_id}":
            raise SignedElementWrapped(
                f"the signed element {parent.tag} is not the document root "
                f"(the root is {root.tag}): signature wrapping"
            )
        raise SignatureMisplaced("ds:Signature must be a direct child of the document root")
    root_id = root.get("Id")
    if uri and not uri.startswith("#"):
        raise ExternalReferenceForbidden(f"reference URI {uri!r} is not a same-document Id")
    if not root_id or uri != f"#{root_id}":
        raise ReferenceMismatch(
            f"the Reference URI {uri!r} must be '#' + the root's Id ({root_id!r})"
        )
    return root_id


def _require_shape(tags: tuple[object, ...], shape: tuple[str, ...], name: str) -> None:
    if tags != shape:
        expected = ", ".join(tag.rpartition("}")[2] for tag in shape)
        raise SignatureStructureError(f"ds:{name} must contain exactly {expected}, in order")


def _certificates(key_info: etree._Element) -> tuple[str, ...]:
    certificates: list[str] = []
    for child in key_info:
        tag = child.tag
        if tag == _RETRIEVAL_METHOD:
            raise ExternalReferenceForbidden("KeyInfo/RetrievalMethod is not allowed")
        if tag not in _KEY_INFO_CHILDREN:
            raise SignatureStructureError(f"unexpected {tag} in KeyInfo")
        if tag == _X509_DATA:
            certificates.extend(c.text or "" for c in child if c.tag == _X509_CERTIFICATE)
    if not certificates:
        raise SignatureStructureError("KeyInfo/X509Data/X509Certificate is required")
    return tuple(certificates)
