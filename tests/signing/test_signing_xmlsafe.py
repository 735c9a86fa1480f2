"""parse_untrusted: what is refused before any signature is looked at."""

from __future__ import annotations

import time

import pytest
from lxml import etree

from signing import (
    DocumentTooLarge,
    DtdForbidden,
    DuplicateId,
    EncodingForbidden,
    ExternalReferenceForbidden,
    Limits,
    MalformedDocument,
    ProcessingInstructionForbidden,
    parse_untrusted,
    read_limited,
)
from signing.errors import DocumentTooDeep


def test_plain_document_parses():
    root = parse_untrusted('<a Id="x"><b>香港</b></a>'.encode())
    assert root.findtext("b") == "香港"


@pytest.mark.parametrize(
    "payload",
    [
        b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
        b'<!DOCTYPE a [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]><a>&x;</a>',
        b'<!DOCTYPE a SYSTEM "http://127.0.0.1:9/evil.dtd"><a/>',
        b'<!DOCTYPE a [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]><a/>',
        b"<!DOCTYPE a><a/>",
    ],
)
def test_xxe_and_dtds_are_refused(payload):
    with pytest.raises(DtdForbidden):
        parse_untrusted(payload)


def test_billion_laughs_is_refused_quickly():
    levels = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY l0 "lol">{levels}]><a>&l9;</a>'
    start = time.perf_counter()
    with pytest.raises(DtdForbidden):
        parse_untrusted(bomb.encode())
    assert time.perf_counter() - start < 1


def test_dtd_in_another_encoding_is_still_refused():
    """The byte pre-scan misses UTF-16: refused for its encoding before the parser runs."""
    payload = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
    data = payload.encode("utf-16")
    assert b"<!DOCTYPE" not in data
    with pytest.raises(EncodingForbidden):
        parse_untrusted(data)


@pytest.mark.parametrize(
    "data",
    [
        '<a Id="x">香港</a>'.encode("utf-16"),  # BOM, no declaration: libxml2 reads it silently
        '<a Id="x">香港</a>'.encode("utf-16-le"),
        '<a Id="x">香港</a>'.encode("utf-16-be"),
        '<a Id="x">香港</a>'.encode("utf-32"),
        '<?xml version="1.0" encoding="UTF-16"?><a/>'.encode("utf-16"),
        '<?xml version="1.0" encoding="ISO-8859-1"?><a>é</a>'.encode("latin-1"),
        b'<?xml version="1.0" encoding="US-ASCII"?><a/>',
        b"<?xml version='1.0' encoding='utf8'?><a/>",
        b'\xef\xbb\xbf<?xml version="1.0" encoding="windows-1252"?><a/>',
        '<?xml version="1.0" encoding="cp037"?><a/>'.encode("cp037"),  # EBCDIC
    ],
)
def test_only_utf8_is_accepted(data):
    with pytest.raises(EncodingForbidden):
        parse_untrusted(data)


@pytest.mark.parametrize(
    "data",
    [
        '<a Id="x">香港</a>'.encode(),
        '<?xml version="1.0" encoding="UTF-8"?><a>香港</a>'.encode(),
        '<?xml version="1.0" encoding="utf-8"?><a>香港</a>'.encode(),
        b"\xef\xbb\xbf" + '<?xml version="1.0" encoding="UTF-8"?><a>香港</a>'.encode(),
        b"\xef\xbb\xbf" + "<a>香港</a>".encode(),
    ],
)
def test_utf8_with_or_without_declaration_or_bom_is_accepted(data):
    assert parse_untrusted(data).text == "香港"


@pytest.mark.parametrize(
    "payload",
    [b"<a><!-- c --></a>", b"<!-- before --><a/>", b"<a/><!-- after -->", b"<a>x<!---->y</a>"],
)
def test_comments_are_dropped_anywhere(payload):
    root = parse_untrusted(payload)
    assert next(root.iter(etree.Comment), None) is None
    assert not list(root.itersiblings()) and not list(root.itersiblings(preceding=True))


def test_a_comment_splitting_text_does_not_cut_the_value():
    root = parse_untrusted(b"<a><b>12<!-- x -->34<!---->5</b>t<!-- y -->ail</a>")
    assert root.findtext("b") == "12345" and len(root[0]) == 0
    assert root[0].tail == "tail"


def test_read_limited_reads_at_most_one_byte_over_the_limit(tmp_path):
    assert len(read_limited("/dev/zero", Limits(max_bytes=1000))) == 1001
    small = tmp_path / "small.xml"
    small.write_bytes(b"<a/>")
    assert read_limited(small) == b"<a/>"
    with pytest.raises(IsADirectoryError):
        read_limited(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_limited(tmp_path / "missing")


@pytest.mark.parametrize(
    "payload", [b'<?xml-stylesheet href="x.xsl"?><a/>', b"<a><?pi data?></a>", b"<a/><?pi?>"]
)
def test_processing_instructions_are_refused(payload):
    with pytest.raises(ProcessingInstructionForbidden):
        parse_untrusted(payload)


def test_xinclude_is_refused():
    payload = b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></a>'
    with pytest.raises(ExternalReferenceForbidden):
        parse_untrusted(payload)


def test_duplicate_ids_are_refused():
    with pytest.raises(DuplicateId, match="'x'"):
        parse_untrusted(b'<a Id="x"><b Id="y"/><c xmlns:e="urn:e" e:Id="x"/></a>')


def nested(depth: int) -> bytes:
    return ("<e>" * depth + "</e>" * depth).encode()


def test_depth_limit():
    assert parse_untrusted(nested(32)) is not None
    with pytest.raises(DocumentTooDeep):
        parse_untrusted(nested(33))
    with pytest.raises(DocumentTooDeep):
        parse_untrusted(nested(4), Limits(max_depth=3))


def test_size_limit_is_checked_before_parsing():
    data = b"<a>" + b"x" * 100 + b"</a>"
    assert parse_untrusted(data, Limits(max_bytes=len(data))) is not None
    with pytest.raises(DocumentTooLarge):
        parse_untrusted(data, Limits(max_bytes=len(data) - 1))
    with pytest.raises(DocumentTooLarge):  # not even well-formed: refused on size alone
        parse_untrusted(b"<" * ((1 << 20) + 1))


def test_malformed_and_wrong_input():
    with pytest.raises(MalformedDocument):
        parse_untrusted(b"<a><b></a>")
    with pytest.raises(MalformedDocument):
        parse_untrusted(b"")
    with pytest.raises(TypeError):
        parse_untrusted("<a/>")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "payload",
    [
        # the byte fast path must not be fooled by cbce:Identity-like names next to a real e:Id
        b'<a Id="x" xmlns:p="urn:p" xmlns:e="urn:e"><p:Identity/><c e:Id="x"/></a>',
        b'<a Id="x" xmlns:e="urn:e"><c e:Id\n  =  "x"/></a>',
    ],
)
def test_prefixed_duplicate_ids_are_refused(payload):
    with pytest.raises(DuplicateId):
        parse_untrusted(payload)


@pytest.mark.parametrize(
    "payload",
    [
        '<a Id="x" xmlns:e="urn:e"><c e:Id="x"/></a>'.encode("utf-16"),
        # UTF-7 spells the colon "+ADo-": libxml2 would decode this attribute name to e:Id
        b'<?xml version="1.0" encoding="UTF-7"?><a Id="x" xmlns:e="urn:e"><c e+ADo-Id="x"/></a>',
    ],
)
def test_ids_spelled_in_other_encodings_never_reach_the_parser(payload):
    with pytest.raises(EncodingForbidden):
        parse_untrusted(payload)


def test_identity_elements_do_not_count_as_ids():
    root = parse_untrusted(b'<a Id="x" xmlns:p="urn:p"><p:Identity Id="y"/><p:Id>x</p:Id></a>')
    assert root.get("Id") == "x"
