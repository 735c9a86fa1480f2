"""Working days on the Guangdong, Hong Kong and Macao calendars, 2026–2027.

Every expected date is written by hand from the official lists, with the count spelt out:
``Feb 14 (1)`` means Feb 14 is the first working day counted. The start day is never counted.
Sources: CN — 国务院办公厅关于2026年部分节假日安排的通知 (国办发明电〔2025〕7号); HK — "政府公布
二○二六年公眾假期", info.gov.hk press release of 16 May 2025, and the General Holidays
Ordinance (Cap. 149) rules for 2027; MO — Ordem Executiva n.º 60/2000 (public holidays) and
the compensatory rest days of the public administration (補假).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.workdays import (
    Calendar,
    CalendarError,
    Override,
    calendar,
    load_overrides,
)

D = dt.date
CN, HK, MO = calendar("CN-GD"), calendar("HK"), calendar("MO")


def weekday_closures(cal: Calendar, year: int) -> set[dt.date]:
    return {d for d in cal.closed_days(year) if d.weekday() < 5}


# --- Guangdong (mainland) 2026 --------------------------------------------------------------


def test_cn_2026_make_up_working_days_are_working_days() -> None:
    assert list(CN.makeup_days(2026)) == [
        D(2026, 1, 4),  # Sun, for New Year
        D(2026, 2, 14),  # Sat, Spring Festival
        D(2026, 2, 28),  # Sat, Spring Festival
        D(2026, 5, 9),  # Sat, Labour Day
        D(2026, 9, 20),  # Sun, National Day
        D(2026, 10, 10),  # Sat, National Day
    ]
    for d in CN.makeup_days(2026):
        assert d.weekday() >= 5
        assert CN.is_working_day(d)
    assert not CN.provisional(2026)


def test_cn_2026_spring_festival_feb_15_to_23() -> None:
    for day in range(15, 24):
        assert not CN.is_working_day(D(2026, 2, day)), day
    # Fri Feb 13 + 1: Sat Feb 14 (1) — a make-up working day
    assert CN.add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 14)
    # Fri Feb 13 + 2: Feb 14 (1), [Feb 15–23 closed], Tue Feb 24 (2)
    assert CN.add_working_days(D(2026, 2, 13), 2) == D(2026, 2, 24)
    # Fri Feb 13 + 10: Feb 14 (1), 24 (2), 25 (3), 26 (4), 27 (5), Sat 28 (6), Mar 2 (7),
    # 3 (8), 4 (9), 5 (10)
    assert CN.add_working_days(D(2026, 2, 13), 10) == D(2026, 3, 5)
    # Mon Feb 16 (inside the holiday) + 1: Tue Feb 24 (1)
    assert CN.add_working_days(D(2026, 2, 16), 1) == D(2026, 2, 24)
    # Fri Feb 27 + 1: Sat Feb 28 (1)
    assert CN.add_working_days(D(2026, 2, 27), 1) == D(2026, 2, 28)


def test_cn_2026_new_year_ching_ming_dragon_boat() -> None:
    # Wed Dec 31 2025 + 1: [Jan 1–3 closed], Sun Jan 4 (1) — make-up day
    assert CN.add_working_days(D(2025, 12, 31), 1) == D(2026, 1, 4)
    # Thu Apr 2 + 2: Fri Apr 3 (1), [Apr 4–6 closed], Tue Apr 7 (2)
    assert CN.add_working_days(D(2026, 4, 2), 2) == D(2026, 4, 7)
    # Thu Jun 18 + 1: [Jun 19–21 closed], Mon Jun 22 (1)
    assert CN.add_working_days(D(2026, 6, 18), 1) == D(2026, 6, 22)


def test_cn_2026_labour_day_may_1_to_5() -> None:
    # Thu Apr 30 + 1: [May 1–5 closed], Wed May 6 (1)
    assert CN.add_working_days(D(2026, 4, 30), 1) == D(2026, 5, 6)
    # Thu Apr 30 + 4: May 6 (1), 7 (2), 8 (3), Sat May 9 (4) — make-up day
    assert CN.add_working_days(D(2026, 4, 30), 4) == D(2026, 5, 9)
    # Thu Apr 30 + 5: … Sat May 9 (4), Mon May 11 (5)
    assert CN.add_working_days(D(2026, 4, 30), 5) == D(2026, 5, 11)


def test_cn_2026_mid_autumn_and_golden_week() -> None:
    # Fri Sep 18 + 1: Sun Sep 20 (1) — make-up day
    assert CN.add_working_days(D(2026, 9, 18), 1) == D(2026, 9, 20)
    # Fri Sep 18 + 10: Sep 20 (1), 21 (2), 22 (3), 23 (4), 24 (5), [Sep 25–27 closed],
    # 28 (6), 29 (7), 30 (8), [Oct 1–7 closed], Oct 8 (9), 9 (10)
    assert CN.add_working_days(D(2026, 9, 18), 10) == D(2026, 10, 9)
    # Wed Sep 30 + 3: Oct 8 (1), 9 (2), Sat Oct 10 (3) — make-up day
    assert CN.add_working_days(D(2026, 9, 30), 3) == D(2026, 10, 10)
    # Oct 8, 9, 10 (Sat), 12
    assert CN.working_days_between(D(2026, 9, 30), D(2026, 10, 12)) == 4


def test_cn_2026_weekday_closures_match_the_state_council_notice() -> None:
    assert weekday_closures(CN, 2026) == {
        D(2026, 1, 1),
        D(2026, 1, 2),
        *(D(2026, 2, d) for d in (16, 17, 18, 19, 20, 23)),
        D(2026, 4, 6),
        D(2026, 5, 1),
        D(2026, 5, 4),
        D(2026, 5, 5),
        D(2026, 6, 19),
        D(2026, 9, 25),
        *(D(2026, 10, d) for d in (1, 2, 5, 6, 7)),
    }


def test_cn_2027_is_provisional_until_the_arrangement_is_announced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert CN.provisional(2027)
    assert CN.makeup_days(2027) == {}
    # the statutory Spring Festival days (除夕 to 初三) are closed whatever the arrangement
    for day in (5, 8):  # Fri Feb 5 (除夕), Mon Feb 8 (初三)
        assert not CN.is_working_day(D(2027, 2, day))
    with caplog.at_level(logging.WARNING, logger="gateway.domain.workdays"):
        Calendar("CN-GD").add_working_days(D(2027, 3, 1), 1)
    assert "2027 is provisional" in caplog.text


# --- Hong Kong ------------------------------------------------------------------------------


def test_hk_uses_general_holidays_and_a_saturday_sunday_week() -> None:
    # the 17 general holidays gazetted for 2026 (info.gov.hk, 16 May 2025), besides Sundays
    assert set(HK.closed_days(2026)) == {
        D(2026, 1, 1),
        D(2026, 2, 17),
        D(2026, 2, 18),
        D(2026, 2, 19),
        D(2026, 4, 3),  # Good Friday
        D(2026, 4, 4),  # the day following Good Friday (Sat)
        D(2026, 4, 6),  # the day following Ching Ming
        D(2026, 4, 7),  # the day following Easter Monday
        D(2026, 5, 1),
        D(2026, 5, 25),  # the day following the Buddha's Birthday
        D(2026, 6, 19),
        D(2026, 7, 1),
        D(2026, 9, 26),  # the day following Mid-Autumn (Sat)
        D(2026, 10, 1),
        D(2026, 10, 19),  # the day following Chung Yeung
        D(2026, 12, 25),
        D(2026, 12, 26),  # the first weekday after Christmas (Sat)
    }
    assert not HK.is_working_day(D(2026, 3, 7))  # a Saturday: offices are closed
    assert HK.makeup_days(2026) == {}
    assert not HK.provisional(2026)


def test_hk_2026() -> None:
    # Fri Feb 13 + 1: Mon Feb 16 (1); Sat Feb 14 is no working day in HK
    assert HK.add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 16)
    # Fri Feb 13 + 3: Feb 16 (1), [Feb 17–19 Lunar New Year], Fri Feb 20 (2), Mon Feb 23 (3)
    assert HK.add_working_days(D(2026, 2, 13), 3) == D(2026, 2, 23)
    # Thu Apr 2 + 1: [Good Friday Apr 3, Apr 4–5, Apr 6, Apr 7], Wed Apr 8 (1)
    assert HK.add_working_days(D(2026, 4, 2), 1) == D(2026, 4, 8)
    # Fri May 22 + 1: [Mon May 25, day after the Buddha's Birthday], Tue May 26 (1)
    assert HK.add_working_days(D(2026, 5, 22), 1) == D(2026, 5, 26)
    # Thu Jun 18 + 1: [Fri Jun 19 Tuen Ng], Mon Jun 22 (1)
    assert HK.add_working_days(D(2026, 6, 18), 1) == D(2026, 6, 22)
    # Tue Jun 30 + 1: [Wed Jul 1], Thu Jul 2 (1)
    assert HK.add_working_days(D(2026, 6, 30), 1) == D(2026, 7, 2)
    # Wed Sep 30 + 1: [Thu Oct 1 National Day], Fri Oct 2 (1)
    assert HK.add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 2)
    # Fri Oct 16 + 1: [Mon Oct 19, day after Chung Yeung], Tue Oct 20 (1)
    assert HK.add_working_days(D(2026, 10, 16), 1) == D(2026, 10, 20)
    # Thu Dec 24 + 1: [Fri Dec 25], Mon Dec 28 (1)
    assert HK.add_working_days(D(2026, 12, 24), 1) == D(2026, 12, 28)


def test_hk_2027() -> None:
    # Lunar New Year's Day is Sat Feb 6, the 2nd day a Sunday → the 4th day (Tue Feb 9)
    # Fri Feb 5 + 1: [Mon Feb 8, Tue Feb 9], Wed Feb 10 (1)
    assert HK.add_working_days(D(2027, 2, 5), 1) == D(2027, 2, 10)
    # Thu Mar 25 + 1: [Good Friday Mar 26, Mar 27–28, Easter Monday Mar 29], Tue Mar 30 (1)
    assert HK.add_working_days(D(2027, 3, 25), 1) == D(2027, 3, 30)
    # Fri Apr 2 + 1: [Mon Apr 5 Ching Ming], Tue Apr 6 (1)
    assert HK.add_working_days(D(2027, 4, 2), 1) == D(2027, 4, 6)
    # Wed May 12 + 1: [Thu May 13 Buddha's Birthday], Fri May 14 (1)
    assert HK.add_working_days(D(2027, 5, 12), 1) == D(2027, 5, 14)
    # Tue Jun 8 + 1: [Wed Jun 9 Tuen Ng], Thu Jun 10 (1)
    assert HK.add_working_days(D(2027, 6, 8), 1) == D(2027, 6, 10)
    # Wed Sep 15 + 1: [Thu Sep 16, day after Mid-Autumn], Fri Sep 17 (1)
    assert HK.add_working_days(D(2027, 9, 15), 1) == D(2027, 9, 17)
    # Thu Sep 30 + 5: [Fri Oct 1], Oct 4 (1), 5 (2), 6 (3), 7 (4), [Fri Oct 8 Chung Yeung],
    # Mon Oct 11 (5)
    assert HK.add_working_days(D(2027, 9, 30), 5) == D(2027, 10, 11)
    # Fri Dec 24 + 1: [Sat Dec 25, Mon Dec 27 first weekday after Christmas], Tue Dec 28 (1)
    assert HK.add_working_days(D(2027, 12, 24), 1) == D(2027, 12, 28)


# --- Macao ----------------------------------------------------------------------------------


def test_mo_2026_government_holidays() -> None:
    closed = MO.closed_days(2026)
    # 27 `government` days − 2 half days (afternoons) + Good Friday from `optional`
    assert len(closed) == 26
    assert D(2026, 12, 24) in closed  # Christmas Eve
    assert D(2026, 4, 3) in closed  # Good Friday (Ordem Executiva n.º 60/2000)
    assert weekday_closures(MO, 2026) == {
        D(2026, 1, 1),
        D(2026, 2, 17),
        D(2026, 2, 18),
        D(2026, 2, 19),
        D(2026, 4, 3),  # Good Friday
        D(2026, 4, 6),  # rest day for the Day before Easter (Sat Apr 4)
        D(2026, 4, 7),  # rest day for Ching Ming (Sun Apr 5)
        D(2026, 5, 1),
        D(2026, 5, 25),  # rest day for the Buddha's Birthday (Sun May 24)
        D(2026, 6, 19),
        D(2026, 9, 28),  # rest day for the day after Mid-Autumn (Sat Sep 26)
        D(2026, 10, 1),
        D(2026, 10, 2),
        D(2026, 10, 19),  # rest day for Chung Yeung (Sun Oct 18)
        D(2026, 11, 2),
        D(2026, 12, 8),
        D(2026, 12, 21),  # rest day for MSAR Establishment Day (Sun Dec 20)
        D(2026, 12, 22),  # Winter Solstice
        D(2026, 12, 24),
        D(2026, 12, 25),
    }
    # half-day exemptions are working days (Decreto-Lei n.º 7/97/M, art. 4, n.º 4)
    assert list(MO.half_days(2026)) == [D(2026, 2, 16), D(2026, 12, 31)]
    assert MO.is_working_day(D(2026, 2, 16))


def test_mo_2026() -> None:
    # Fri Feb 13 + 1: Mon Feb 16 (1) — the New Year's Eve afternoon off is still a working day
    assert MO.add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 16)
    # Fri Feb 13 + 2: Feb 16 (1), [Feb 17–19], Fri Feb 20 (2)
    assert MO.add_working_days(D(2026, 2, 13), 2) == D(2026, 2, 20)
    # Thu Apr 2 + 1: [Apr 3 Good Friday, Apr 4–5, Apr 6, Apr 7], Wed Apr 8 (1)
    assert MO.add_working_days(D(2026, 4, 2), 1) == D(2026, 4, 8)
    # Fri Sep 25 + 1: [Mon Sep 28], Tue Sep 29 (1)
    assert MO.add_working_days(D(2026, 9, 25), 1) == D(2026, 9, 29)
    # Wed Sep 30 + 1: [Oct 1–2], Mon Oct 5 (1)
    assert MO.add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 5)
    # Fri Oct 30 + 1: [Mon Nov 2 All Souls], Tue Nov 3 (1)
    assert MO.add_working_days(D(2026, 10, 30), 1) == D(2026, 11, 3)
    # Fri Dec 18 + 3: [Dec 21, 22], Wed Dec 23 (1), [Dec 24, 25], Mon Dec 28 (2), Tue 29 (3)
    assert MO.add_working_days(D(2026, 12, 18), 3) == D(2026, 12, 29)
    # Wed Dec 23 + 1: [Christmas Eve, Christmas], Mon Dec 28 (1)
    assert MO.add_working_days(D(2026, 12, 23), 1) == D(2026, 12, 28)
    # Wed Dec 30 + 1: Thu Dec 31 (1) — afternoon off only
    assert MO.add_working_days(D(2026, 12, 30), 1) == D(2026, 12, 31)


def test_mo_2027() -> None:
    assert len(MO.closed_days(2027)) == 26
    # Thu Feb 4 + 2: Fri Feb 5 (1, afternoon off), [Feb 8, 9, 10], Thu Feb 11 (2)
    assert MO.add_working_days(D(2027, 2, 4), 2) == D(2027, 2, 11)
    # Thu Mar 25 + 1: [Good Friday Mar 26, Mar 27–28, Mon Mar 29], Tue Mar 30 (1)
    assert MO.add_working_days(D(2027, 3, 25), 1) == D(2027, 3, 30)
    # Fri Apr 30 + 1: [Mon May 3, rest day for Labour Day on Sat May 1], Tue May 4 (1)
    assert MO.add_working_days(D(2027, 4, 30), 1) == D(2027, 5, 4)
    # Thu Sep 30 + 1: [Fri Oct 1, Mon Oct 4], Tue Oct 5 (1)
    assert MO.add_working_days(D(2027, 9, 30), 1) == D(2027, 10, 5)
    # Thu Dec 23 + 1: [Fri Dec 24, Mon Dec 27], Tue Dec 28 (1)
    assert MO.add_working_days(D(2027, 12, 23), 1) == D(2027, 12, 28)


def test_the_same_start_lands_differently_on_each_calendar() -> None:
    start = D(2026, 2, 13)  # Fri before the Spring Festival
    assert CN.add_working_days(start, 3) == D(2026, 2, 25)  # Sat 14 (1), 24 (2), 25 (3)
    assert HK.add_working_days(start, 3) == D(2026, 2, 23)  # 16 (1), 20 (2), 23 (3)
    assert MO.add_working_days(start, 3) == D(2026, 2, 23)  # 16 (1), 20 (2), 23 (3)


# --- counting conventions -------------------------------------------------------------------


def test_start_day_not_counted_and_zero_days_is_the_start() -> None:
    assert CN.add_working_days(D(2026, 3, 6), 1) == D(2026, 3, 9)  # Fri → Mon
    assert CN.add_working_days(D(2026, 3, 7), 0) == D(2026, 3, 7)
    with pytest.raises(ValueError):
        CN.add_working_days(D(2026, 3, 7), -1)
    assert CN.working_days_between(D(2026, 3, 9), D(2026, 3, 9)) == 0
    assert CN.working_days_between(D(2026, 3, 13), D(2026, 3, 9)) == -4


@given(
    region=st.sampled_from(["CN-GD", "HK", "MO"]),
    start=st.dates(D(2025, 1, 1), D(2027, 6, 30)),
    n=st.integers(0, 60),
)
def test_working_days_between_inverts_add(region: str, start: dt.date, n: int) -> None:
    cal = calendar(region)
    due = cal.add_working_days(start, n)
    assert cal.working_days_between(start, due) == n
    if n:
        assert cal.is_working_day(due)


def test_years_out_of_range_and_unknown_regions() -> None:
    with pytest.raises(CalendarError, match="unknown region"):
        Calendar("GD")
    with pytest.raises(CalendarError, match="no HK calendar for 2100"):
        HK.is_working_day(D(2100, 1, 4))


def test_built_once_per_region_and_year() -> None:
    assert calendar("HK") is HK
    assert HK.year(2026) is HK.year(2026)
    started = time.perf_counter()
    for _ in range(1000):
        HK.is_working_day(D(2026, 5, 25))
        CN.add_working_days(D(2026, 2, 13), 10)
    assert time.perf_counter() - started < 0.5


# --- the override file ----------------------------------------------------------------------


def test_an_override_closes_a_day() -> None:
    typhoon = Override("HK", D(2026, 7, 2), "closed", "Offices closed (test)", "test notice")
    cal = Calendar("HK", [typhoon])
    # Tue Jun 30 + 1: [Jul 1, Jul 2 closed by the override], Fri Jul 3 (1)
    assert cal.add_working_days(D(2026, 6, 30), 1) == D(2026, 7, 3)
    assert cal.closed_days(2026)[D(2026, 7, 2)].source == "test notice"
    assert HK.add_working_days(D(2026, 6, 30), 1) == D(2026, 7, 2)  # others untouched


def test_an_override_adds_a_make_up_working_day_and_settles_the_year() -> None:
    sat = Override("CN-GD", D(2027, 2, 20), "working", "Make-up (test)", "test notice")
    monday = Override("CN-GD", D(2027, 2, 9), "working", "Not a rest day (test)", "test")
    cal = Calendar("CN-GD", [sat, monday])
    assert not cal.provisional(2027)
    assert cal.is_working_day(D(2027, 2, 20))
    assert cal.is_working_day(D(2027, 2, 9))  # the package's guess removed
    assert D(2027, 2, 9) not in cal.closed_days(2027)
    # Fri Feb 19 + 1: Sat Feb 20 (1)
    assert cal.add_working_days(D(2027, 2, 19), 1) == D(2027, 2, 20)
    assert not CN.is_working_day(D(2027, 2, 20))


def test_override_file(tmp_path: Path) -> None:
    assert isinstance(load_overrides(), tuple)  # the bundled file is valid
    good = tmp_path / "good.yaml"
    good.write_text(
        "overrides:\n"
        '  - {region: MO, date: 2026-03-02, status: closed, name: "Exemption (test)",'
        ' source: "Despacho (test)"}\n',
        encoding="utf-8",
    )
    (entry,) = load_overrides(good)
    assert entry == Override("MO", D(2026, 3, 2), "closed", "Exemption (test)", "Despacho (test)")
    assert not Calendar("MO", [entry]).is_working_day(D(2026, 3, 2))
    for bad, message in [
        ("{region: XX, date: 2026-03-02, status: closed, name: n, source: s}", "unknown region"),
        ("{region: MO, date: 2026-03-02, status: open, name: n, source: s}", "status"),
        ("{region: MO, date: 2026-13-02, status: closed, name: n, source: s}", "date"),
        ("{region: MO, date: 2026-03-02, status: closed, name: n}", "missing"),
        ("{region: MO, date: 2026-03-02, status: closed, name: n, source: ''}", "source"),
    ]:
        path = tmp_path / "bad.yaml"
        path.write_text(f"overrides:\n  - {bad}\n", encoding="utf-8")
        with pytest.raises(CalendarError, match=message):
            load_overrides(path)
    twice = "  - {region: MO, date: 2026-03-02, status: closed, name: n, source: s}\n"
    path.write_text("overrides:\n" + twice + twice, encoding="utf-8")
    with pytest.raises(CalendarError, match="twice"):
        load_overrides(path)


# --- gbagw calendars show -------------------------------------------------------------------

_RUN = "from gateway.cli.calendars import calendars_app; calendars_app()"


def calendars(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _RUN, *args], capture_output=True, text=True, timeout=60
    )


def test_cli_show_hk_json() -> None:
    done = calendars("show", "HK", "2026", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["region"] == "HK" and doc["year"] == 2026 and doc["provisional"] is False
    assert doc["source"]["categories"] == ["optional"]
    closed = {d["date"]: d for d in doc["closed"]}
    assert len(closed) == 17
    assert closed["2026-04-03"]["weekday"] == "Fri"
    assert doc["makeupWorkingDays"] == []


def test_cli_show_guangdong_lists_make_up_days() -> None:
    done = calendars("show", "CN-GD", "2026")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "make-up working days: 6" in text
    assert "2026-02-14  Sat" in text and "2026-02-28  Sat" in text
    assert "2026-02-17  Tue" in text
    assert "PROVISIONAL" not in text
    later = calendars("show", "cn-gd", "2027")
    assert later.returncode == 0 and "CN-GD 2027 (PROVISIONAL)" in later.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "XX", "2026"), "unknown region"),
        (("show", "HK", "1999"), "out of range"),
        (("show", "HK", "next"), "year"),
    ],
)
def test_cli_usage_errors_exit_2_without_traceback(args: tuple[str, ...], message: str) -> None:
    done = calendars(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
