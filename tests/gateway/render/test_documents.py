"""The document writer both formats render with: what goes in as text comes out of the tree."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from gateway.render.documents import DocumentWriter

NS = "urn:example:test"


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def test_nesting_attributes_and_namespace():
    w = DocumentWriter(NS, "t", "Root", Id="r-1", Version="1.0", Optional=None)
    with w.element("Outer", Kind="k"):
        w.leaf("Inner", "text")
        w.leaf("Empty", Flag="true")
    w.leaf("Last", "x")
    root = w.finish()
    assert root.tag == _q("Root")
    assert dict(root.attrib) == {"Id": "r-1", "Version": "1.0"}  # None left out, order kept
    assert list(root.attrib) == ["Id", "Version"]
    outer = root.find(_q("Outer"))
    assert outer.get("Kind") == "k"
    assert [el.tag for el in outer] == [_q("Inner"), _q("Empty")]
    assert outer.find(_q("Inner")).text == "text"
    assert outer.find(_q("Empty")).text is None
    assert outer.find(_q("Empty")).get("Flag") == "true"
    assert root.nsmap == {"t": NS}
    assert etree.tostring(root).startswith(b'<t:Root xmlns:t="urn:example:test" Id="r-1"')


@pytest.mark.parametrize(
    "value",
    [
        "a & b < c > d",
        "&amp; stays as written",
        "say \"hi\" 'there'",
        "line one\nline two\r\nline three\rend",
        "tab\there",
        "]]> and <![CDATA[",
        "廣東省 粵港澳大灣區 𠀋",
        "",
        " leading and trailing ",
    ],
)
def test_text_and_attribute_values_survive_exactly(value):
    w = DocumentWriter(NS, "t", "Root")
    w.leaf("Leaf", value, Attr=value)
    leaf = w.finish().find(_q("Leaf"))
    assert (leaf.text or "") == value
    assert leaf.get("Attr") == value  # not normalised: newlines and tabs written as references


_XML_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters=[chr(c) for c in range(0x20) if c not in (0x9, 0xA, 0xD)]
    + ["\ufffe", "\uffff"],
)


@given(st.text(_XML_CHARS, max_size=40))
def test_any_xml_character_round_trips(value):
    w = DocumentWriter(NS, "t", "Root")
    w.leaf("Leaf", value, Attr=value)
    leaf = w.finish().find(_q("Leaf"))
    assert (leaf.text or "") == value
    assert leaf.get("Attr") == value


@pytest.mark.parametrize("bad", ["nul\x00", "bell\x07", "\ufffe"])
def test_a_character_xml_cannot_carry_is_refused_by_name(bad):
    w = DocumentWriter(NS, "t", "Root")
    w.leaf("Leaf", bad)
    with pytest.raises(ValueError, match="not well-formed XML"):
        w.finish()


def test_unclosed_element_is_a_programming_error():
    w = DocumentWriter(NS, "t", "Root")
    w.element("Open")
    with pytest.raises(RuntimeError, match="unclosed elements: \\['Open'\\]"):
        w.finish()


def test_an_entity_reference_in_a_value_is_text_not_markup():
    w = DocumentWriter(NS, "t", "Root")
    w.leaf("Leaf", "&xxe;")
    assert w.finish().find(_q("Leaf")).text == "&xxe;"
