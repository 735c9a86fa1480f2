"""Gaps in an agency's sequence that outlive the case: what is missing, and its history.

A gap is asked for at once (:func:`gateway.reconcile.schedule.pull_soon`), but the answer that
reveals it may also close the case — SIP's out-of-order answers hold an early event back while
the final one arrives. A closed case has no schedule, so without more the missing events would
never be asked for and the case's history would stay incomplete. So the schedule keeps a closed
case with a gap, for a bounded number of asks (:func:`gateway.reconcile.schedule.after_closing`),
and each ask and the giving up are case events here: the history says what was tried, and an
operator sees which cases still miss events. No column holds the count: the case events do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.store.events import append_event
from gateway.store.tables import AgencyEvent, Case, CaseEvent

#: case events: the gateway asked the agency again for a closed case's missing events, and
#: the gateway stopped asking (the gap stays as it is unless the agency sends the events)
ASKED, GIVEN_UP = "gap-asked", "gap-given-up"

Ranges = list[tuple[int, int]]


def missing(session: Session, case: Case, held: Collection[int] | None = None) -> Ranges:
    """The case's missing sequences below its last one, as (first, last) ranges; ``held``:
    the sequences the gateway has, when the caller knows them (else they are read)."""
    if held is None:
        held = set(
            session.scalars(select(AgencyEvent.seq).where(AgencyEvent.case_ref == case.case_ref))
        )
    ranges: Ranges = []
    for seq in range(1, (case.last_seq or 0) + 1):
        if seq in held:
            continue
        if ranges and ranges[-1][1] == seq - 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


def asks(session: Session, case_ref: str) -> int:
    """How often the gateway asked again for the missing events of the closed case."""
    return _count(session, case_ref, ASKED)


def record_ask(
    session: Session, case: Case, ranges: Ranges, *, ask: int, of: int, now: dt.datetime
) -> None:
    append_event(
        session,
        case.case_ref,
        event=ASKED,
        source="gateway",
        now=now,
        detail=f"closed with sequence {describe(ranges)} missing: asking {case.agency} "
        f"again ({ask} of {of})",
    )


def give_up(session: Session, case: Case, ranges: Ranges, *, why: str, now: dt.datetime) -> None:
    """Record (once per case) that the gateway stopped asking for the missing events."""
    if _count(session, case.case_ref, GIVEN_UP):
        return
    append_event(
        session,
        case.case_ref,
        event=GIVEN_UP,
        source="gateway",
        now=now,
        detail=f"sequence {describe(ranges)} never received; no longer asked: {why}",
    )


def describe(ranges: Ranges) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in ranges)


def _count(session: Session, case_ref: str, event: str) -> int:
    return (
        session.scalar(
            select(func.count()).where(CaseEvent.case_ref == case_ref, CaseEvent.event == event)
        )
        or 0
    )
