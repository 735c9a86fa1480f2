"""Working-day arithmetic for time limits (辦結時限), counted on a published calendar.

Time limits in the item list are working days. The committed limit is Guangdong's promise to
the applicant (Art. 20), so it is counted on the Guangdong calendar; the HK and Macao
calendars join when cases are reconciled against agencies' own deadlines.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass
from importlib import resources

import yaml

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Calendar:
    region: str
    years: frozenset[int]
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]  # weekend days that are working days (調休)

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    # Calendars live as long as the process (see calendar()), so caching on self leaks nothing.
    @functools.lru_cache(maxsize=4096)  # noqa: B019  many cases are filed on the same day
    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The date ``days`` working days after ``start`` (the filing day itself not counted)."""
        day = start
        for _ in range(days):
            day += dt.timedelta(days=1)
            while not self.is_working_day(day):
                day += dt.timedelta(days=1)
        if day.year not in self.years or start.year not in self.years:
            log.warning(
                "calendar %s has no holidays for %s; counted Monday-Friday", self.region, day.year
            )
        return day


@functools.cache
def calendar(region: str = "CN-GD") -> Calendar:
    text = (resources.files("gateway") / "data" / "calendars" / f"{region}.yaml").read_text(
        encoding="utf-8"
    )
    data = yaml.safe_load(text)
    return Calendar(
        region=data["region"],
        years=frozenset(data["years"]),
        holidays=frozenset(data.get("holidays") or ()),
        workdays=frozenset(data.get("workdays") or ()),
    )
