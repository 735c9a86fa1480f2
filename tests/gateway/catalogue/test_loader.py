"""gateway.catalogue.loader: item records are checked on load and every version is kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.catalogue.loader import Catalogue, CatalogueError, bundled_items_dir
from gateway.domain import ServiceItem


def northbound() -> dict[str, Any]:
    return json.loads((bundled_items_dir() / "northbound-vehicle.json").read_text("utf-8"))


def load(tmp_path: Path, records: object) -> Catalogue:
    (tmp_path / "items.json").write_text(json.dumps(records), "utf-8")
    return Catalogue.load(tmp_path)


def test_bundled_items_load() -> None:
    assert len(Catalogue.load()) >= 5


def test_catalogue_refuses_committed_beyond_statutory(tmp_path: Path) -> None:
    record = northbound()
    record["committedDays"] = record["statutoryDays"] + 1
    with pytest.raises(CatalogueError, match="exceeds statutoryDays"):
        load(tmp_path, record)


def test_catalogue_keeps_every_version(tmp_path: Path) -> None:
    record = northbound()
    cat = load(tmp_path, [record, dict(record, version=2, committedDays=8)])
    assert cat.versions(record["itemCode"]) == [1, 2]
    assert isinstance(cat.get(record["itemCode"], 1), ServiceItem)


def test_same_version_published_twice_with_other_content(tmp_path: Path) -> None:
    record = northbound()
    with pytest.raises(CatalogueError, match="published twice"):
        load(tmp_path, [record, dict(record, committedDays=record["committedDays"] - 1)])


@pytest.mark.parametrize(("part", "kind"), [("materials", "material"), ("form", "form field")])
def test_duplicate_material_or_form_field(tmp_path: Path, part: str, kind: str) -> None:
    record = northbound()
    record[part].append(record[part][0])
    first = record[part][0]
    with pytest.raises(
        CatalogueError, match=f"duplicate {kind} {first.get('code', first.get('key'))}"
    ):
        load(tmp_path, record)


def test_bad_credit_code_check_character(tmp_path: Path) -> None:
    record = northbound()
    code = record["department"]["creditCode"]
    record["department"]["creditCode"] = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(CatalogueError, match="department.creditCode"):
        load(tmp_path, record)


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="no item records"):
        Catalogue.load(tmp_path)
