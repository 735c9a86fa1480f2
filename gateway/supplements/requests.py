"""Open a supplement request from an INFO_REQUIRED event (stub: helper fills in)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session


def open_request(
    session: Session,
    case_ref: str,
    *,
    agency_seq: int,
    required: list[dict[str, Any]],
    remarks: str | None,
    now: dt.datetime,
) -> int | None:
    """Open (once per agency event) a request for documents and tell Guangdong in Simplified
    Chinese; return its id, or None when it was already open. In the caller's transaction."""
    return None
