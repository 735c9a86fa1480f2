"""Working-day arithmetic for time limits (辦結時限), on each region's government calendar.

Time limits are working days. The committed limit is Guangdong's promise to the applicant
(Art. 20), counted on the Guangdong calendar (``CN-GD``); an agency's expected answer is
counted on that agency's own calendar (``HK``, ``MO``).

The calendars come from the ``holidays`` package (pinned in pyproject.toml), read with the
categories that match government offices, plus a project override file
(``gateway/data/calendars/overrides.yaml``) for official announcements newer than the package:

* ``CN-GD``: ``CN`` ``public`` — the State Council arrangement, with its make-up working days
  (调休上班, weekend days that are working days) from the package's ``weekend_workdays``.
* ``HK``: ``HK`` ``optional`` — the general holidays of the General Holidays Ordinance (Cap.
  149), on which government offices close; ``public`` is the Employment Ordinance's statutory
  holidays and differs (e.g. 2026: no Good Friday, but Easter Monday 6 Apr).
* ``MO``: ``MO`` ``government`` + ``optional`` — ``government`` is the public administration's
  compensatory rest days (補假) and exemptions (豁免上班); it leaves out Good Friday, a public
  holiday of Ordem Executiva n.º 60/2000, which ``optional`` (the general holidays) carries.
  Half-day exemptions (Chinese New Year's Eve and New Year's Eve afternoons) are working days:
  only a full-day exemption is not a working day (Decreto-Lei n.º 7/97/M, art. 4, n.º 4).

In every region Saturday and Sunday are rest days (government offices work Monday–Friday; the
package's Hong Kong weekend is Sunday only, which is the labour-law week, not the offices').

A mainland year whose make-up working days are not yet announced (none in the package or the
override file) is *provisional*: counted with the package's statutory days, and a due date
that reaches it is logged as a warning.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import holidays

from gateway import yamltext

log = logging.getLogger(__name__)

#: the years a calendar answers for (the package covers them; outside is a caller's mistake)
FIRST_YEAR, LAST_YEAR = 2020, 2099

_WEEKEND = frozenset({5, 6})  # Saturday, Sunday
_HALF_DAY = "(Afternoon)"  # the package's en_US label of a half-day exemption (Macao)
_LANGUAGE = "en_US"


@dataclass(frozen=True)
class RegionSource:
    """Where a region's calendar comes from in the ``holidays`` package."""

    country: str
    categories: tuple[str, ...]
    description: str


SOURCES: dict[str, RegionSource] = {
    "CN-GD": RegionSource(
        "CN",
        ("public",),
        "mainland China (State Council arrangement, with make-up working days)",
    ),
    "HK": RegionSource(
        "HK", ("optional",), "Hong Kong general holidays (Cap. 149), government offices"
    ),
    "MO": RegionSource(
        "MO",
        ("government", "optional"),
        "Macao public administration: public holidays, compensatory rest days, exemptions",
    ),
}
REGIONS: tuple[str, ...] = tuple(SOURCES)


class CalendarError(ValueError):
    """An unknown region, a year out of range, or a broken override file."""


@dataclass(frozen=True)
class Override:
    """One official announcement newer than the package: a date closed, or worked."""

    region: str
    date: dt.date
    status: Literal["closed", "working"]
    name: str
    source: str


@dataclass(frozen=True)
class Day:
    date: dt.date
    name: str
    source: str = "holidays"  # or the override's official source

    @property
    def weekday(self) -> str:
        return self.date.strftime("%a")


@dataclass(frozen=True)
class Year:
    """One region's year: what closes, what is worked although a weekend, what is half a day."""

    year: int
    closed: dict[dt.date, Day]
    makeup: dict[dt.date, Day]
    half_days: dict[dt.date, Day]
    provisional: bool


def _package_year(region: str, year: int) -> tuple[dict[dt.date, str], dict[dt.date, str]]:
    """(named closed days, make-up working days) of ``year`` according to the package."""
    src = SOURCES[region]
    days = holidays.country_holidays(
        src.country, years=year, categories=src.categories, language=_LANGUAGE
    )
    closed = {d: str(name) for d, name in days.items() if d.year == year}
    worked = sorted(d for d in getattr(days, "weekend_workdays", ()) if d.year == year)
    makeup = {}
    for d in worked:
        # the package names the rest day each make-up day pays for: "Day off (substituted from
        # 02/14/2026)"; say which one, if found
        tag = d.strftime("%m/%d/%Y")
        paid = [c for c, name in closed.items() if tag in name]
        makeup[d] = "Make-up working day" + (f" (for {paid[0].isoformat()})" if paid else "")
    return closed, makeup


class Calendar:
    """A region's working days; years are built on first use and kept (cheap afterwards)."""

    def __init__(self, region: str, overrides: Iterable[Override] = ()) -> None:
        if region not in SOURCES:
            raise CalendarError(f"unknown region {region!r} (one of {', '.join(REGIONS)})")
        self.region = region
        self.source = SOURCES[region]
        self._overrides: dict[int, list[Override]] = {}
        for o in overrides:
            if o.region == region:
                self._overrides.setdefault(o.date.year, []).append(o)
        self._years: dict[int, Year] = {}
        self._lock = threading.Lock()
        # many cases are filed on the same day with the same limits
        self._add = functools.lru_cache(maxsize=4096)(self._add_working_days)

    def __repr__(self) -> str:
        return f"Calendar({self.region!r})"

    # --- years ---------------------------------------------------------------------------

    def year(self, year: int) -> Year:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise CalendarError(
                f"no {self.region} calendar for {year} (years {FIRST_YEAR}–{LAST_YEAR})"
            )
        with self._lock:
            if year not in self._years:
                self._years[year] = self._build(year)
            return self._years[year]

    def _build(self, year: int) -> Year:
        names, worked = _package_year(self.region, year)
        closed: dict[dt.date, Day] = {}
        half: dict[dt.date, Day] = {}
        for d, name in names.items():
            parts = name.split("; ")
            if all(p.endswith(_HALF_DAY) for p in parts):
                half[d] = Day(d, name)
            else:
                closed[d] = Day(d, "; ".join(p for p in parts if not p.endswith(_HALF_DAY)))
        makeup = {d: Day(d, name) for d, name in worked.items()}
        for o in self._overrides.get(year, ()):
            closed.pop(o.date, None)
            makeup.pop(o.date, None)
            half.pop(o.date, None)
            if o.status == "closed":
                closed[o.date] = Day(o.date, o.name, o.source)
            elif o.date.weekday() in _WEEKEND:  # a weekday worked is simply not closed
                makeup[o.date] = Day(o.date, o.name, o.source)
        provisional = self.region == "CN-GD" and not makeup
        return Year(
            year=year,
            closed=dict(sorted(closed.items())),
            makeup=dict(sorted(makeup.items())),
            half_days=dict(sorted(half.items())),
            provisional=provisional,
        )

    def closed_days(self, year: int) -> dict[dt.date, Day]:
        """Named closed days of ``year`` (holidays, rest days in lieu), not ordinary weekends.

        A named holiday on a weekend is listed too (it changes nothing in the count).
        """
        return self.year(year).closed

    def makeup_days(self, year: int) -> dict[dt.date, Day]:
        """Weekend days that are working days in ``year`` (mainland 调休上班)."""
        return self.year(year).makeup

    def half_days(self, year: int) -> dict[dt.date, Day]:
        """Half-day exemptions of ``year``: listed for information, counted as working days."""
        return self.year(year).half_days

    def provisional(self, year: int) -> bool:
        """True while the year's official arrangement is not in the package or overrides."""
        return self.year(year).provisional

    # --- counting ------------------------------------------------------------------------

    def is_working_day(self, day: dt.date) -> bool:
        y = self.year(day.year)
        if day in y.makeup:
            return True
        return day.weekday() not in _WEEKEND and day not in y.closed

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The date ``days`` working days after ``start``; ``start`` itself is not counted.

        The due date is always a working day (for ``days`` ≥ 1): filed on Friday with one day
        to go, the answer is due on Monday. ``days`` = 0 gives ``start``.
        """
        if days < 0:
            raise ValueError("days must not be negative")
        return self._add(start, days)

    def _add_working_days(self, start: dt.date, days: int) -> dt.date:
        day = start
        for _ in range(days):
            day += dt.timedelta(days=1)
            while not self.is_working_day(day):
                day += dt.timedelta(days=1)
        shaky = [y for y in range(start.year, day.year + 1) if self.provisional(y)]
        if shaky:
            log.warning(
                "calendar %s: %s is provisional (make-up working days not yet announced); "
                "due date %s may move",
                self.region,
                ", ".join(map(str, shaky)),
                day,
            )
        return day

    def working_days_between(self, a: dt.date, b: dt.date) -> int:
        """Working days after ``a`` up to and including ``b`` (negative when ``b`` < ``a``).

        The inverse of :meth:`add_working_days`: ``working_days_between(a,
        add_working_days(a, n)) == n``.
        """
        if b < a:
            return -self.working_days_between(b, a)
        count = 0
        day = a
        while day < b:
            day += dt.timedelta(days=1)
            count += self.is_working_day(day)
        return count


# --- the override file -------------------------------------------------------------------


def bundled_overrides() -> Path:
    return Path(str(resources.files("gateway") / "data" / "calendars" / "overrides.yaml"))


@dataclass
class _Reader:
    source: str
    seen: set[tuple[str, dt.date]] = field(default_factory=set)

    def entry(self, i: int, raw: object) -> Override:
        where = f"{self.source}: entry {i + 1}"
        if not isinstance(raw, dict):
            raise CalendarError(f"{where}: expected a mapping")
        missing = {"region", "date", "status", "name", "source"} - raw.keys()
        extra = raw.keys() - {"region", "date", "status", "name", "source"}
        if missing or extra:
            raise CalendarError(f"{where}: missing {sorted(missing)}, unknown {sorted(extra)}")
        region, status = raw["region"], raw["status"]
        if region not in SOURCES:
            raise CalendarError(f"{where}: unknown region {region!r}")
        if status not in ("closed", "working"):
            raise CalendarError(f"{where}: status must be closed or working, not {status!r}")
        try:
            date = dt.date.fromisoformat(raw["date"])
        except (TypeError, ValueError):
            raise CalendarError(f"{where}: date {raw['date']!r} is not YYYY-MM-DD") from None
        for key in ("name", "source"):
            if not isinstance(raw[key], str) or not raw[key].strip():
                raise CalendarError(f"{where}: {key} must be a non-empty text")
        if (region, date) in self.seen:
            raise CalendarError(f"{where}: {region} {date} is listed twice")
        self.seen.add((region, date))
        return Override(region, date, status, raw["name"], raw["source"])


def load_overrides(path: Path | None = None) -> tuple[Override, ...]:
    """The override file's entries (default: the bundled one), checked."""
    path = path or bundled_overrides()
    try:
        # every scalar a string: a date is parsed here, with a message, not by YAML
        data = yamltext.load(yamltext.read_text(path), strings_only=True)
    except yamltext.YamlRefused as exc:
        raise CalendarError(f"{path}: {exc}") from None
    entries = data.get("overrides") if isinstance(data, dict) else None
    if entries == "":
        return ()  # `overrides:` with nothing under it
    if not isinstance(entries, list):
        raise CalendarError(f"{path}: expected `overrides:` with a list of entries")
    reader = _Reader(str(path))
    return tuple(reader.entry(i, raw) for i, raw in enumerate(entries))


def calendar(region: str = "CN-GD") -> Calendar:
    """The region's calendar with the bundled overrides; one per region and process."""
    return _calendar(region)


@functools.cache
def _calendar(region: str) -> Calendar:
    return Calendar(region, load_overrides())
