"""The plain views of a service item intake reads say what the item's models say."""

from __future__ import annotations

from gateway.catalogue.loader import Catalogue


def test_plain_views_match_the_item() -> None:
    items = list(Catalogue.load())
    assert items
    for item in items:
        assert item.form_rows == tuple(
            (f.key, f.type, f.enum, f.required, f.label) for f in item.form
        )
        assert list(item.fields_by_key.values()) == item.form
        assert list(item.materials_by_code.values()) == item.materials
        for f in item.form:
            assert item.field(f.key) is f
        for m in item.materials:
            assert item.material(m.code) is m
        assert item.field("noSuchField") is None and item.material("M99") is None
