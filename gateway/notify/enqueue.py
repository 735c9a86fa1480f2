"""Queue a notification to Guangdong in the caller's transaction (stub: helper fills in)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session


def notify(
    session: Session, case_ref: str, event_type: str, data: dict[str, Any], *, now: dt.datetime
) -> str:
    """Store one notification (JSON body, its id) and its outbox row; return the event id.

    ``event_type`` is one of the types in ``docs/events.md`` (``case.progress``,
    ``case.supplement_requested``, ``case.result``, ``case.withdrawn``, ``case.overdue``,
    ``material.overdue`` …). Runs in the caller's transaction; nothing is sent here.
    """
    raise NotImplementedError


def on_case_change(
    session: Session,
    case_ref: str,
    *,
    state: str,
    agency_status: str | None,
    remarks: str | None,
    details: dict[str, Any],
    now: dt.datetime,
) -> str | None:
    """The case's state changed (delivered, or an agency status applied): queue what Guangdong
    must hear of it, if anything; return the event id. ``details`` are the agency event's
    (``required_documents``, ``result``). Supplement requests are queued by
    :mod:`gateway.supplements`, not here."""
    return None
