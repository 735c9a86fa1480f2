"""Time limits kept on the case (stub: helper fills in)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session


def after_delivery(session: Session, case_ref: str, *, now: dt.datetime) -> None:
    """Set the case's ``agency_due`` (mapping ``agencyDays`` on the agency's calendar)."""
    return None
