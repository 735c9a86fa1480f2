"""When to ask an agency about a case next (stub: helper fills in)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session


def after_delivery(session: Session, case_ref: str, *, now: dt.datetime) -> None:
    """The submission was delivered: the case is open at the agency; schedule its first ask."""
    return None


def after_contact(session: Session, case_ref: str, *, state: str, now: dt.datetime) -> None:
    """The agency told us something about the case: note the contact and reschedule (a
    terminal state clears the schedule, so closed cases cost a sweep nothing)."""
    return None


def pull_soon(session: Session, case_ref: str, *, now: dt.datetime) -> None:
    """A gap in the agency's sequence was seen: ask the agency about the case at once."""
    return None
