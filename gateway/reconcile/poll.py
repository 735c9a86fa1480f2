"""Poll Macao and pull HK for open cases (stub: helper fills in)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.delivery.runtime import Runtime


def poll_due(runtime: Runtime) -> int:
    """Ask the agencies about one batch of open cases whose ``next_poll_at`` is due; apply
    what they answer; return how many cases were asked."""
    return 0
