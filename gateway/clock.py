"""Where "now" comes from: passed in, so a test can say which day it is.

Code that needs the time takes a :class:`Clock` (default :class:`SystemClock`); tests pass a
:class:`FixedClock`. Calendar dates depend on where you stand, so ``today`` takes the zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

# Guangdong, Hong Kong and Macao all keep UTC+8 without daylight saving: a fixed offset is
# exact and needs no tz database (slim containers often ship without one).
GBA_TZ = dt.timezone(dt.timedelta(hours=8), "UTC+08:00")


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    def today(self, tz: dt.tzinfo) -> dt.date:
        """The calendar date it is now in ``tz``."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self, tz: dt.tzinfo) -> dt.date:
        return self.now().astimezone(tz).date()


@dataclass(frozen=True)
class FixedClock:
    """Always the same instant; ``at`` must carry an offset (a naive time has no meaning here)."""

    at: dt.datetime

    def __post_init__(self) -> None:
        if self.at.utcoffset() is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        object.__setattr__(self, "at", self.at.astimezone(dt.UTC))

    def now(self) -> dt.datetime:
        return self.at

    def today(self, tz: dt.tzinfo) -> dt.date:
        return self.at.astimezone(tz).date()
