"""Raise overdue events once: committed due dates and materials owed (stub)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.delivery.runtime import Runtime


def check_overdue(runtime: Runtime) -> int:
    """Raise an event and a notification for each case past its committed due date and each
    pending material past its due date — once each; return how many were raised."""
    return 0
