"""Committed due dates (Guangdong working days) and the agency leg's planning date.

Expected dates are hand-computed; ``Feb 14 (1)`` means Feb 14 is the first working day counted
(the acceptance or delivery day itself is not counted).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.catalogue.loader import Catalogue
from gateway.domain import ServiceItem
from gateway.domain.timelimits import agency_answer_due, committed_due
from gateway.mappings.engine import Mapping, MappingSet, bundled_mappings_dir, load_file
from gateway.registry import installed_formats

D = dt.date


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


@pytest.fixture(scope="module")
def mappings(catalogue: Catalogue) -> dict[str, Mapping]:
    return {m.mapping: m for m in MappingSet.load(catalogue, installed_formats())}


def item(catalogue: Catalogue, mappings: dict[str, Mapping], slug: str) -> ServiceItem:
    m = mappings[f"{slug}.hk"]
    found = catalogue.get(m.item, m.item_versions[0])
    assert found is not None
    return found


def test_committed_due_across_the_2026_spring_festival(catalogue, mappings) -> None:
    northbound = item(catalogue, mappings, "northbound-vehicle")
    assert (northbound.committed_days, northbound.statutory_days) == (10, 20)
    # accepted Fri Feb 13: Sat Feb 14 (1, make-up day), [Feb 15–23 closed], 24 (2), 25 (3),
    # 26 (4), 27 (5), Sat 28 (6, make-up day), Mar 2 (7), 3 (8), 4 (9), 5 (10)
    assert committed_due(D(2026, 2, 13), northbound) == D(2026, 3, 5)


def test_committed_due_across_labour_day_and_golden_week(catalogue, mappings) -> None:
    certificate = item(catalogue, mappings, "no-criminal-record-certificate")
    assert certificate.committed_days == 7
    # accepted Thu Apr 30: [May 1–5 closed], May 6 (1), 7 (2), 8 (3), Sat 9 (4, make-up day),
    # 11 (5), 12 (6), 13 (7)
    assert committed_due(D(2026, 4, 30), certificate) == D(2026, 5, 13)
    investor = item(catalogue, mappings, "investor-company-registration")
    assert investor.committed_days == 5
    # accepted Wed Sep 30: [Oct 1–7 closed], Oct 8 (1), 9 (2), Sat 10 (3, make-up day),
    # Mon 12 (4), Tue 13 (5)
    assert committed_due(D(2026, 9, 30), investor) == D(2026, 10, 13)


def test_committed_due_without_a_statutory_limit(catalogue, mappings) -> None:
    pension = item(catalogue, mappings, "pension-proof-of-life")
    assert pension.statutory_days is None and pension.committed_days == 10
    # accepted Wed Dec 31 2025: [Jan 1–3 closed], Sun Jan 4 (1, make-up day), 5 (2), 6 (3),
    # 7 (4), 8 (5), 9 (6), 12 (7), 13 (8), 14 (9), 15 (10)
    assert committed_due(D(2025, 12, 31), pension) == D(2026, 1, 15)


def test_committed_may_not_exceed_statutory(catalogue, mappings) -> None:
    northbound = item(catalogue, mappings, "northbound-vehicle")
    too_long = northbound.model_copy(update={"committed_days": 21})
    with pytest.raises(ValueError, match="exceed the statutory 20"):
        committed_due(D(2026, 3, 2), too_long)


def test_agency_answer_due_on_the_agencys_calendar(mappings) -> None:
    hk = mappings["northbound-vehicle.hk"]
    assert hk.agency_days == 5
    # delivered Thu Apr 2 2026 (HK): [Apr 3 Good Friday, 4–5, 6, 7], Apr 8 (1), 9 (2),
    # 10 (3), 13 (4), 14 (5)
    assert agency_answer_due(D(2026, 4, 2), hk, "HK") == D(2026, 4, 14)
    mo = mappings["northbound-vehicle.mo"]
    assert mo.agency_days == 5
    # delivered Fri Dec 18 2026 (MO): [Dec 21, 22], Dec 23 (1), [24, 25], 28 (2), 29 (3),
    # 30 (4), Thu 31 (5, afternoon off only)
    assert agency_answer_due(D(2026, 12, 18), mo, "MO") == D(2026, 12, 31)
    # the region defaults to the mapping's
    assert agency_answer_due(D(2026, 12, 18), mo) == D(2026, 12, 31)


def test_agency_answer_due_differs_from_guangdong(mappings) -> None:
    investor = mappings["investor-company-registration.hk"]
    assert investor.agency_days == 3
    # delivered Fri Feb 13 2026, HK: Feb 16 (1), [17–19 Lunar New Year], 20 (2), 23 (3)
    assert agency_answer_due(D(2026, 2, 13), investor, "HK") == D(2026, 2, 23)
    # the same count in Guangdong: Sat Feb 14 (1), [15–23], 24 (2), 25 (3)
    assert agency_answer_due(D(2026, 2, 13), investor, "CN-GD") == D(2026, 2, 25)
    # HK 2027: delivered Thu Sep 30: [Fri Oct 1], Oct 4 (1), 5 (2), 6 (3)
    assert agency_answer_due(D(2027, 9, 30), investor) == D(2027, 10, 6)


def test_no_agency_days_no_date(mappings) -> None:
    without = mappings["pension-proof-of-life.hk"].model_copy(update={"agency_days": None})
    assert agency_answer_due(D(2026, 3, 2), without, "HK") is None


def test_every_bundled_mapping_has_agency_days(mappings) -> None:
    assert all(m.agency_days and m.agency_days > 0 for m in mappings.values())


@pytest.mark.parametrize("value", ["0", "-2", "ten"])
def test_agency_days_must_be_a_positive_integer(
    tmp_path: Path, catalogue: Catalogue, value: str
) -> None:
    source = bundled_mappings_dir() / "northbound-vehicle.hk.yaml"
    text = source.read_text(encoding="utf-8").replace("agencyDays: 5", f"agencyDays: {value}")
    assert f"agencyDays: {value}" in text
    path = tmp_path / source.name
    path.write_text(text, encoding="utf-8")
    mapping, problems = load_file(path, catalogue, installed_formats())
    assert mapping is None
    assert any("agencyDays" in p.message for p in problems), problems
