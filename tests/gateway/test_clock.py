"""gateway.clock: what "today" means, and that a fixed clock stays put.

(Here rather than tests/gateway/test_clock.py only because this suite's owner may not create
files at the top of tests/gateway.)
"""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.clock import GBA_TZ, FixedClock, SystemClock


def test_fixed_clock_is_utc_and_fixed() -> None:
    clock = FixedClock(dt.datetime(2025, 3, 12, 10, 30, tzinfo=GBA_TZ))
    assert clock.now() == clock.now() == dt.datetime(2025, 3, 12, 2, 30, tzinfo=dt.UTC)
    assert clock.now().utcoffset() == dt.timedelta(0)


def test_today_depends_on_the_zone() -> None:
    clock = FixedClock(dt.datetime(2025, 12, 31, 17, 0, tzinfo=dt.UTC))  # 01:00 in Guangzhou
    assert clock.today(dt.UTC) == dt.date(2025, 12, 31)
    assert clock.today(GBA_TZ) == dt.date(2026, 1, 1)


def test_fixed_clock_refuses_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(dt.datetime(2025, 1, 1))


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.utcoffset() == dt.timedelta(0)
    assert abs(now - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
