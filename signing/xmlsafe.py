"""Parse XML that arrived from outside, refusing what a signature check cannot make safe.

Signature verification only says that *some* bytes were signed; a reader can still be fooled by
what surrounds them. So before any cryptography runs, an untrusted document is refused when it
is bigger or deeper than configured, or carries a DTD / entity declaration (XXE, billion
laughs), a processing instruction, an XInclude, a duplicate ``Id`` — or **any comment**.
Comments are not covered by exclusive C14N and one placed inside a signed text node splits it,
so ``.text`` on the received tree would read only the part before the comment; the specs say
readers must take values from the canonical form, and refusing comments outright is the simple
rule that makes every tree the gateway holds safe to read.

All checks are C-level lxml iterations or compiled XPath over the one parsed tree, so they cost
little beside signxml's own work. Adapters may reuse :func:`parse_untrusted` for unsigned
documents (``Fault``) too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from signing.errors import (
    CommentForbidden,
    DocumentTooDeep,
    DocumentTooLarge,
    DtdForbidden,
    DuplicateId,
    ExternalReferenceForbidden,
    MalformedDocument,
    ProcessingInstructionForbidden,
)

XINCLUDE_NS = "http://www.w3.org/2001/XInclude"
#: encodings in which an ASCII name is spelled with the same bytes (the ``:Id`` fast path)
_ASCII_COMPATIBLE = frozenset({"UTF-8", "US-ASCII", "ASCII", "ISO-8859-1", "LATIN-1"})
_local = threading.local()


@dataclass(frozen=True)
class Limits:
    """Resource limits for one untrusted document (defaults suit every spec'd message)."""

    max_bytes: int = 1 << 20
    #: the root element is depth 1; ``ds:Signature/KeyInfo/X509Data/X509Certificate`` needs 5
    max_depth: int = 32


DEFAULT_LIMITS = Limits()


def hardened_parser() -> etree.XMLParser:
    """This thread's parser: no entity expansion, no network, no DTD, lxml's own size caps.

    One per thread, so a parser (and its error log) is never shared by two parses at once.
    """
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=False,
            remove_pis=False,
        )
        _local.parser = parser
    return parser


def parse_untrusted(data: bytes, limits: Limits | None = None) -> etree._Element:
    """Parse ``data`` and return its root, or raise a :class:`SignatureRejected` subclass.

    Comments, PIs and DTDs are kept by the parser on purpose, so that they are *seen* and
    refused rather than silently dropped from a tree that then looks clean.
    """
    limits = limits or DEFAULT_LIMITS
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("parse_untrusted takes the received bytes, not decoded text")
    if len(data) > limits.max_bytes:
        raise DocumentTooLarge(f"document is {len(data)} bytes; the limit is {limits.max_bytes}")
    try:
        root = etree.fromstring(bytes(data), parser=hardened_parser())
    except etree.XMLSyntaxError as exc:
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:  # e.g. libxml2's entity-bomb guard
            raise DtdForbidden(f"DTD refused by the parser: {exc}") from None
        raise MalformedDocument(f"not well-formed XML: {exc}") from None
    if root is None:
        raise MalformedDocument("empty document")
    check_tree(root, limits, source=data)
    return root


def check_tree(
    root: etree._Element, limits: Limits = DEFAULT_LIMITS, *, source: bytes | None = None
) -> None:
    """Refuse DTDs, comments, PIs, entities, XInclude, excess depth and duplicate Ids.

    ``source`` (the parsed bytes) only enables a fast path: see :func:`_ids_and_depth`.
    """
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise DtdForbidden("a DOCTYPE / DTD or entity declaration is not allowed")
    for sibling in (*root.itersiblings(preceding=True), *root.itersiblings()):
        _refuse_node(sibling)
    found = next(root.iter(etree.Comment, etree.PI, etree.Entity, f"{{{XINCLUDE_NS}}}*"), None)
    if found is not None:
        _refuse_node(found)
    prefixed_ids_possible = (
        source is None
        or not _spelled_in_ascii(source, docinfo.encoding)
        or _may_spell_prefixed_id(source)
    )
    ids: list[str] = []
    for node in _ids_and_depth(limits.max_depth, prefixed_ids_possible)(root):
        if isinstance(node, etree._Element):
            raise DocumentTooDeep(f"elements are nested deeper than {limits.max_depth} levels")
        ids.append(node)
    if len(ids) != len(set(ids)):
        seen: set[str] = set()
        for value in ids:
            if value in seen:
                raise DuplicateId(f"the Id value {value!r} is carried by more than one element")
            seen.add(value)


def _refuse_node(node: etree._Element) -> None:
    if isinstance(node, etree._Comment):
        raise CommentForbidden("XML comments are not allowed (they are not signed)")
    if isinstance(node, etree._ProcessingInstruction):
        raise ProcessingInstructionForbidden(f"processing instruction <?{node.target}?> refused")
    if isinstance(node, etree._Entity):
        raise DtdForbidden(f"entity reference &{node.name}; refused")
    if isinstance(node.tag, str) and node.tag.startswith(f"{{{XINCLUDE_NS}}}"):
        raise ExternalReferenceForbidden("XInclude elements are not allowed")


def _spelled_in_ascii(source: bytes, encoding: str) -> bool:
    """Markup is written in ASCII bytes: starts with ``<`` (after a UTF-8 BOM) and declares an
    ASCII-compatible encoding (UTF-16 starts otherwise; UTF-7 could encode ``:`` as ``+ADo-``)."""
    first = source[3:4] if source.startswith(b"\xef\xbb\xbf") else source[:1]
    return first == b"<" and encoding.upper() in _ASCII_COMPATIBLE


def _may_spell_prefixed_id(source: bytes) -> bool:
    """Whether the bytes contain ``:Id`` followed by optional whitespace and ``=``.

    ``cbce:Identity`` and the like also contain ``:Id``, so each hit is looked at (a few per
    document); a run of whitespace too long to see past counts as a hit.
    """
    at = source.find(b":Id")
    while at != -1:
        following = source[at + 3 : at + 67].lstrip()
        if not following or following.startswith(b"="):
            return True
        at = source.find(b":Id", at + 3)
    return False


@lru_cache(maxsize=8)
def _ids_and_depth(max_depth: int, prefixed_ids: bool) -> etree.XPath:
    """One C-level pass: every ``Id`` value, plus any element below ``max_depth``.

    A ``#<Id>`` reference resolves by the attribute's local name in *any* namespace (signxml
    with ``id_attribute="Id"``), so ``foo:Id`` counts too. Matching by ``local-name()`` costs
    a function call per attribute (about a fifth of this module's time), while a prefixed
    ``Id`` can only be written as ``…:Id=`` in the source (no DTD, so no entity can hide it):
    when an ASCII-compatible document has no such bytes, the plain ``@Id`` test is exact.
    """
    ids = "//@*[local-name()='Id']" if prefixed_ids else "//@Id"
    return etree.XPath(f"{ids} | {'/*' * (max_depth + 1)}", smart_strings=False)
