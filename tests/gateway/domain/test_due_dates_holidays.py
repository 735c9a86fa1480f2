"""Due dates (not just calendars) across the holidays the issue names that
``test_timelimits.py`` does not cross yet: Ching Ming in Guangdong, and the 2027 Lunar New
Year on the Guangdong (provisional), Hong Kong and Macao calendars. Hand-computed; ``Feb 10
(1)`` means Feb 10 is the first working day counted (the start day is not counted)."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.catalogue.loader import Catalogue
from gateway.domain.timelimits import agency_answer_due, committed_due
from gateway.mappings.engine import Mapping, MappingSet
from gateway.registry import installed_formats

D = dt.date


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


@pytest.fixture(scope="module")
def mappings(catalogue: Catalogue) -> dict[str, Mapping]:
    return {m.mapping: m for m in MappingSet.load(catalogue, installed_formats())}


def test_committed_due_across_ching_ming_2026(catalogue, mappings) -> None:
    m = mappings["no-criminal-record-certificate.hk"]
    certificate = catalogue.get(m.item, m.item_versions[0])
    assert certificate is not None and certificate.committed_days == 7
    # accepted Thu Apr 2: Fri Apr 3 (1), [Apr 4–6 Qingming], 7 (2), 8 (3), 9 (4), 10 (5),
    # 13 (6), 14 (7)
    assert committed_due(D(2026, 4, 2), certificate) == D(2026, 4, 14)


def test_committed_due_across_the_2027_spring_festival_provisional(catalogue, mappings) -> None:
    m = mappings["northbound-vehicle.hk"]
    northbound = catalogue.get(m.item, m.item_versions[0])
    assert northbound is not None and northbound.committed_days == 10
    # 2027's arrangement is not announced: the statutory days (除夕 Fri Feb 5 to 初三 Mon
    # Feb 8) and the two falling on the weekend made up on Tue 9 and Wed 10 (补假, art. 3 of
    # the national holiday regulations). Accepted Thu Feb 4: [Feb 5–10], 11 (1), 12 (2),
    # 15 (3), 16 (4), 17 (5), 18 (6), 19 (7), 22 (8), 23 (9), 24 (10)
    assert committed_due(D(2027, 2, 4), northbound) == D(2027, 2, 24)


def test_agency_due_across_the_2027_lunar_new_year_hk_and_mo(mappings) -> None:
    hk = mappings["northbound-vehicle.hk"]
    assert hk.agency_days == 5
    # HK, delivered Fri Feb 5: [Sat 6 LNY, Sun 7, Mon 8 third day, Tue 9 fourth day in lieu
    # of the Sunday], Wed 10 (1), 11 (2), 12 (3), 15 (4), 16 (5)
    assert agency_answer_due(D(2027, 2, 5), hk, "HK") == D(2027, 2, 16)
    mo = mappings["northbound-vehicle.mo"]
    assert mo.agency_days == 5
    # MO, delivered Thu Feb 4: Fri Feb 5 (1, New Year's Eve: afternoon off only), [Feb 6–7,
    # Mon 8, Tue 9, Wed 10 rest days], Thu 11 (2), 12 (3), 15 (4), 16 (5)
    assert agency_answer_due(D(2027, 2, 4), mo, "MO") == D(2027, 2, 16)
