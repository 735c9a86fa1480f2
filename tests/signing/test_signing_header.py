"""Reading the signed header by HeaderSpec paths (sender, message id, send time)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from signing import MalformedDocument
from signing.header import HeaderSpec, read_header

NS = "urn:example:fmt"
Q = f"{{{NS}}}"
SPEC = HeaderSpec(f"{Q}H/{Q}From", f"{Q}H/{Q}Msg", f"{Q}H/{Q}At")


def doc(*fields: tuple[str, str]) -> etree._Element:
    root = etree.Element(Q + "Root", nsmap={"f": NS})
    header = etree.SubElement(root, Q + "H")
    for name, value in fields:
        etree.SubElement(header, Q + name).text = value
    return root


FULL = (("From", " HK-TD "), ("Msg", "m-1"), ("At", "2026-03-03T09:00:00+08:00"))


def test_reads_the_three_fields():
    sender, message_id, sent_at = read_header(doc(*FULL), SPEC)
    assert (sender, message_id) == ("HK-TD", "m-1")
    assert sent_at == datetime(2026, 3, 3, 9, tzinfo=timezone(timedelta(hours=8)))


def test_paths_in_different_parents_and_elementpath_syntax_still_work():
    root = doc(*FULL)
    etree.SubElement(root, Q + "Other").text = "x"
    spec = HeaderSpec(f"./{Q}H/{Q}From", f"{Q}H/{Q}Msg", f"{Q}H/{Q}At")
    assert read_header(root, spec)[0] == "HK-TD"


@pytest.mark.parametrize(
    "fields",
    [
        FULL[1:],  # no sender
        (*FULL, ("From", "HK-CR")),  # two senders
        (("From", ""), *FULL[1:]),  # empty
        (*FULL[:2], ("At", "2026-03-03T09:00:00")),  # no offset
        (*FULL[:2], ("At", "yesterday")),
    ],
)
def test_unusable_headers_are_malformed(fields):
    with pytest.raises(MalformedDocument):
        read_header(doc(*fields), SPEC)


def test_two_header_elements_are_malformed():
    root = doc(*FULL)
    root.append(etree.fromstring(etree.tostring(root[0])))
    with pytest.raises(MalformedDocument):
        read_header(root, SPEC)
