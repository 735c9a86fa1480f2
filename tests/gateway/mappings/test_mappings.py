"""Mapping files: the bundled ten validate; broken ones are reported with file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.catalogue.loader import Catalogue
from gateway.cli import app
from gateway.mappings.engine import MappingSet, bundled_mappings_dir, check_directory
from gateway.registry import installed_formats

runner = CliRunner()


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


def test_ten_bundled_mappings_cover_every_item_and_region(catalogue: Catalogue) -> None:
    mappings = MappingSet.load(catalogue, installed_formats())
    for item in catalogue:
        for region in item.cross_region:
            assert mappings.find(item.item_code, item.version, region) is not None
    assert len(list(mappings)) == 10


def test_cli_validates_bundled_mappings() -> None:
    result = runner.invoke(app, ["mappings", "validate"])
    assert result.exit_code == 0, result.output
    assert result.output.count("ok ") == 10


def broken(tmp_path: Path, name: str, old: str, new: str) -> Path:
    shutil.copy(bundled_mappings_dir() / name, tmp_path / name)
    path = tmp_path / name
    text = path.read_text("utf-8")
    assert old in text, f"fixture drifted: {old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), "utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(needle)


CASES = [
    # (file, old, new, marker line text, expected message fragment)
    (
        "northbound-vehicle.hk.yaml",
        "source: vin,",
        "source: vinNumber,",
        "vinNumber",
        "unknown form key vinNumber",
    ),
    (
        "northbound-vehicle.hk.yaml",
        "  M05: VEHICLE-PHOTO\n",
        "  M05: VEHICLE-PHOTO\n  M09: EXTRA\n",
        "M09",
        "unknown material code M09",
    ),
    ("northbound-vehicle.hk.yaml", "  M05: VEHICLE-PHOTO\n", "", "documents:", "material M05"),
    (
        "northbound-vehicle.hk.yaml",
        "name: Model,",
        "name: Make,",
        "source: vehicleModel",
        "duplicate agency field name Make",
    ),
    (
        "northbound-vehicle.hk.yaml",
        "source: seatCount, type: int",
        "source: seatCount, type: date",
        "seatCount",
        "type clash",
    ),
    (
        "northbound-vehicle.hk.yaml",
        "{name: ChassisNo, source: vin, type: code, required: true}",
        "{name: ChassisNo, type: code, required: true}",
        "ChassisNo",
        "required agency field ChassisNo is not mapped",
    ),
    (
        "northbound-vehicle.hk.yaml",
        "{name: Remarks, source: remarks, type: text}",
        "{name: Remarks, source: remarks, type: text, required: true}",
        "name: Remarks",
        "maps optional form field remarks",
    ),
    (
        "northbound-vehicle.hk.yaml",
        "HENGQIN: HENGQIN}",
        "}",
        "values:",
        "enum values not mapped: HENGQIN",
    ),
    (
        "northbound-vehicle.mo.yaml",
        "  DESISTIDO: WITHDRAWN\n",
        "",
        "statuses:",
        "DESISTIDO is not mapped",
    ),
    (
        "northbound-vehicle.mo.yaml",
        "  DEFERIDO: APPROVED\n",
        "  DEFERIDO: GRANTED\n",
        "DEFERIDO",
        "statuses.DEFERIDO",
    ),
    ("northbound-vehicle.mo.yaml", "agency: MO-DSAT", "agency: HK-TD", "agency:", "agency"),
    ("northbound-vehicle.mo.yaml", "  namePt:", "  nameEn:", "service:", "namePt"),
    (
        "northbound-vehicle.hk.yaml",
        "itemVersions: [1]",
        "itemVersions: [1, 2]",
        "itemVersions",
        "v2 is not in the catalogue",
    ),
    (
        "northbound-vehicle.hk.yaml",
        "  M02: VRD\n",
        "  M02: VRD\n  M02: VRD2\n",
        "M02: VRD2",
        "duplicate key",
    ),
    (
        "investor-company-registration.hk.yaml",
        "{name: LegalRepresentative, source: legalRepresentative, type: name, required: true}",
        "{name: LegalRepresentative, source: legalRepresentative, type: text, required: true}",
        "LegalRepresentative",
        "legalRepresentative holds a person's name: type it name",
    ),
    (
        "investor-company-registration.hk.yaml",
        "personWhen: {investorType: [HK_INDIVIDUAL, MO_INDIVIDUAL]}",
        "personWhen: {investorType: [HK_PERSON]}",
        "InvestorName",
        "not values of investorType: HK_PERSON",
    ),
    (
        "no-criminal-record-certificate.hk.yaml",
        "source: formerNames, type: name",
        "source: formerNames, type: text",
        "formerNames",
        "formerNames holds a person's name",
    ),
]


@pytest.mark.parametrize(("name", "old", "new", "marker", "message"), CASES)
def test_broken_mapping_reports_file_line_and_reason(
    tmp_path: Path, catalogue: Catalogue, name: str, old: str, new: str, marker: str, message: str
) -> None:
    path = broken(tmp_path, name, old, new)
    mappings, problems = check_directory(catalogue, installed_formats(), tmp_path)
    assert mappings == []
    hits = [p for p in problems if message in p.message]
    assert hits, [str(p) for p in problems]
    assert hits[0].file == name
    assert hits[0].line == line_of(path, marker), str(hits[0])


def test_cli_names_file_and_line(tmp_path: Path) -> None:
    broken(
        tmp_path, "pension-proof-of-life.hk.yaml", "source: insuredCity,", "source: insuredTown,"
    )
    result = runner.invoke(app, ["mappings", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "pension-proof-of-life.hk.yaml:" in result.output
    assert "unknown form key insuredTown" in result.output


def test_yaml_one_one_booleans_are_not_silently_read(tmp_path: Path, catalogue: Catalogue) -> None:
    # "NO" must stay a string; a bare YES/NO/ON would otherwise turn into a boolean.
    broken(tmp_path, "northbound-vehicle.hk.yaml", "HENGQIN: HENGQIN}", "HENGQIN: NO}")
    mappings, problems = check_directory(catalogue, installed_formats(), tmp_path)
    assert problems == [] and mappings[0].fields[7].values == {
        "HZMB_ZHUHAI": "HZMB-ZH",
        "HENGQIN": "NO",
    }
