"""Helpers shared by the reconciliation tests."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from gateway.store.tables import AgencyEvent


def add_agency_events(
    session: Session,
    ref: str,
    seqs: list[int],
    *,
    agency_status: str,
    status: str,
    at: dt.datetime,
) -> None:
    """Agency events ``seqs`` of case ``ref`` as a poll would have stored them."""
    for seq in seqs:
        session.add(
            AgencyEvent(
                case_ref=ref,
                seq=seq,
                agency_status=agency_status,
                status=status,
                changed_at=at,
                details={},
                source="poll",
                recorded_at=at,
            )
        )
