"""What follows from a change of a case, in the transaction that made it.

Two moments: the agency's receipt for the submission was recorded (:func:`delivered`), and
agency status events were applied (:func:`status_applied`). Each consequence — the poll
schedule, time limits, supplement requests, notifications to Guangdong — lives in its own
package; this module only says which follow which moment, so the outbox and the
reconciliation code never need to know them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy.orm import Session

from gateway.notify import on_case_change
from gateway.reconcile import gaps, schedule
from gateway.reconcile.apply import TERMINAL, Recorded
from gateway.store.tables import Case
from gateway.store.writes import Writes
from gateway.supplements import deadlines
from gateway.supplements.requests import open_request

INFO_REQUIRED = "INFO_REQUIRED"


def delivered(session: Session, case_ref: str, *, now: dt.datetime) -> None:
    """The submission's receipt is stored: the case is now open at the agency."""
    schedule.after_delivery(session, case_ref, now=now)
    deadlines.after_delivery(session, case_ref, now=now)
    on_case_change(
        session,
        case_ref,
        state="delivered",
        agency_status=None,
        remarks=None,
        details={},
        now=now,
    )


def undeliverable(session: Session, case_ref: str, *, reason: str, now: dt.datetime) -> None:
    """The submission went dead: Guangdong is told the case did not reach the agency."""
    on_case_change(
        session,
        case_ref,
        state="undeliverable",
        agency_status=None,
        remarks=reason,
        details={},
        now=now,
    )


def status_applied(
    session: Session,
    case: Case,
    *,
    new_events: Sequence[Recorded],
    held: Collection[int],
    state_before: str,
    state_after: str,
    now: dt.datetime,
    writes: Writes,
) -> None:
    """Agency events were stored (``new_events``, in sequence order) and the state folded;
    ``case`` is loaded and locked, ``held`` all its sequences, its new rows go to ``writes``."""
    case_ref = case.case_ref
    for event in new_events:
        if event.status == INFO_REQUIRED:
            with writes.alone(case):
                open_request(
                    session,
                    case_ref,
                    agency_seq=event.seq,
                    required=list(event.details.get("required_documents", [])),
                    remarks=event.remarks,
                    now=now,
                )
    if state_after != state_before:
        latest = max(new_events, key=lambda e: e.seq) if new_events else None
        on_case_change(
            session,
            case_ref,
            state=state_after,
            agency_status=latest.agency_status if latest else None,
            remarks=latest.remarks if latest else None,
            details=dict(latest.details) if latest else {},
            now=now,
            writes=writes,
        )
    if state_after in TERMINAL and gaps.missing(session, case, held):
        with writes.alone(case):  # counts its asks, may record that it gives up
            schedule.after_contact(session, case_ref, state=state_after, now=now)
    else:  # no statement: the case is loaded, its events are known
        schedule.after_contact(session, case_ref, state=state_after, now=now, held=held, case=case)
