"""Read and parse XML that arrived from outside, refusing what a signature check cannot make safe.

Signature verification only says that *some* bytes were signed; a reader can still be fooled by
what surrounds them. So before any cryptography runs, an untrusted document is refused when it
is bigger or deeper than configured, is not UTF-8 (both specs say UTF-8), or carries a DTD /
entity declaration (XXE, billion laughs), a processing instruction, an XInclude or a duplicate
``Id``.

**Comments are accepted and dropped.** Both specs say comments are not part of the signed
content and a reader takes values from the canonical form. Exclusive C14N (without comments)
does not sign them, so the parser discards them and libxml2 joins the text around each one:
``<Seq>1<!-- x -->2</Seq>`` reads ``"12"`` — exactly the text the signature covers — in every
tree the gateway holds, the received one included. :class:`signing.Verified` additionally
exposes only the element re-parsed from its canonical bytes.

**Encoding.** UTF-8 only: an XML declaration naming any other encoding (even ``US-ASCII`` or
``utf8``), a UTF-16/UTF-32 byte order mark, or UTF-16/32 text without one is refused as
:class:`EncodingForbidden`. A UTF-8 byte order mark is accepted: it is UTF-8 (XML 1.0 §4.3.3
allows it) and .NET and Windows toolkits write it; it is not part of the canonical form.

:func:`read_limited` reads a file, a device or standard input *bounded* by the same byte limit
(never more than ``max_bytes + 1`` bytes), so ``/dev/zero`` or a 100 GB file costs 1 MiB.

All checks are C-level lxml iterations or compiled XPath over the one parsed tree, so they cost
little beside signxml's own work. Adapters may reuse :func:`parse_untrusted` for unsigned
documents (``Fault``) too.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO

from lxml import etree

from signing.errors import (
    DocumentTooDeep,
    DocumentTooLarge,
    DtdForbidden,
    DuplicateId,
    EncodingForbidden,
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

    Comments are dropped (the text around one is joined); PIs and DTDs are kept so that they
    are *seen* and refused rather than silently dropped from a tree that then looks clean.
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
            remove_comments=True,
            remove_pis=False,
        )
        _local.parser = parser
    return parser


def parse_untrusted(data: bytes, limits: Limits | None = None) -> etree._Element:
    """Parse ``data`` and return its root, or raise a :class:`SignatureRejected` subclass.

    The returned tree has no comments (dropped, text joined); everything else the specs forbid
    is refused, not dropped.
    """
    limits = limits or DEFAULT_LIMITS
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("parse_untrusted takes the received bytes, not decoded text")
    if len(data) > limits.max_bytes:
        raise DocumentTooLarge(
            f"document is {len(data)} bytes or more; the limit is {limits.max_bytes}"
        )
    data = bytes(data)
    if not data.strip():
        raise MalformedDocument("empty document")
    require_utf8(data)
    try:
        root = etree.fromstring(data, parser=hardened_parser())
    except etree.XMLSyntaxError as exc:
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:  # e.g. libxml2's entity-bomb guard
            raise DtdForbidden(f"DTD refused by the parser: {one_line(str(exc))}") from None
        raise MalformedDocument(f"not well-formed XML: {one_line(str(exc))}") from None
    if root is None:
        raise MalformedDocument("empty document")
    encoding = root.getroottree().docinfo.encoding or "UTF-8"
    if encoding.upper() != "UTF-8":  # belt and braces: the byte checks above should catch it
        raise EncodingForbidden(f"the document is encoded in {encoding}; the specs say UTF-8")
    check_tree(root, limits, source=data)
    return root


UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
)
#: the encoding pseudo-attribute of an XML declaration (``<?xml version="1.0" encoding="…"?>``)
_DECLARED_ENCODING = re.compile(rb"""\sencoding\s*=\s*(["'])([^"'<>?]{0,64})\1""")


def require_utf8(data: bytes) -> None:
    """Raise :class:`EncodingForbidden` unless ``data`` is (or declares) UTF-8.

    Looks at the first bytes only: a byte order mark other than UTF-8's, NUL bytes where markup
    starts (UTF-16/32 without a mark), an XML declaration naming another encoding, or markup
    not starting with ``<`` in an ASCII-compatible way (EBCDIC). Invalid UTF-8 further on is
    refused by the parser as not well-formed.
    """
    for bom, name in _OTHER_BOMS:
        if data.startswith(bom):
            raise EncodingForbidden(
                f"the document is {name} (byte order mark); the specs say UTF-8"
            )
    body = data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data
    if b"\x00" in body[:4]:
        raise EncodingForbidden("the document is UTF-16 or UTF-32 (NUL bytes); the specs say UTF-8")
    start = body.lstrip(b" \t\r\n")[:1]
    if start and start != b"<":
        raise EncodingForbidden(
            f"the document does not start with '<' in UTF-8 (first byte 0x{start[0]:02x}); "
            "the specs say UTF-8"
        )
    if body.startswith(b"<?xml"):
        end = body.find(b"?>", 0, 512)
        declaration = body[: end if end != -1 else 512]
        found = _DECLARED_ENCODING.search(declaration)
        if found is not None and found.group(2).upper() != b"UTF-8":
            declared = found.group(2).decode("ascii", "backslashreplace")
            raise EncodingForbidden(
                f"the document declares encoding {declared!r}; the specs say UTF-8"
            )


def read_limited(source: str | os.PathLike[str], limits: Limits | None = None) -> bytes:
    """Read at most ``limits.max_bytes + 1`` bytes from a file, device, pipe or ``-`` (stdin).

    One byte more than the limit is read so that :func:`parse_untrusted` can say "too large"
    without ever reading an unbounded input (``/dev/zero``, a huge file) whole. Raises
    :class:`OSError` (``IsADirectoryError``, ``FileNotFoundError`` …) when it cannot be read.
    """
    limit = (limits or DEFAULT_LIMITS).max_bytes + 1
    if os.fspath(source) == "-":
        return _read_up_to(sys.stdin.buffer, limit)
    with open(source, "rb") as stream:
        return _read_up_to(stream, limit)


def _read_up_to(stream: BinaryIO, limit: int) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) folded to one space."""
    return " ".join(text.split())


def check_tree(
    root: etree._Element, limits: Limits = DEFAULT_LIMITS, *, source: bytes | None = None
) -> None:
    """Refuse DTDs, PIs, entities, XInclude, excess depth and duplicate Ids (not comments).

    ``source`` (the parsed bytes) only enables a fast path: see :func:`_ids_and_depth`.
    """
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise DtdForbidden("a DOCTYPE / DTD or entity declaration is not allowed")
    for sibling in (*root.itersiblings(preceding=True), *root.itersiblings()):
        _refuse_node(sibling)
    found = next(root.iter(etree.PI, etree.Entity, f"{{{XINCLUDE_NS}}}*"), None)
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
        return  # not signed, and harmless once the reader uses the canonical form
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
