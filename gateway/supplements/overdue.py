"""Raise overdue events once: committed due dates and materials owed.

Run by the beat task ``gateway.overdue``. "Once" is kept in the rows themselves
(``overdue_raised_at`` on the case and on the pending material), set in the same transaction
as the event and the notification, so a second sweep — or two sweeps at once (``SKIP
LOCKED`` on PostgreSQL, the writer lock on SQLite) — raises nothing again.

A case is past due when Guangdong's committed due date is before today in Guangdong
(Asia/Shanghai) and the case is still open: a case already decided (approved, completed,
rejected) or withdrawn is not overdue. Work is done in bounded batches, each its own
transaction; the pending-material sweep reads through ``ix_pending_materials_state_due_date``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.notify import enqueue as notifications
from gateway.reconcile.apply import TERMINAL
from gateway.store import transaction
from gateway.store.events import append_event
from gateway.store.tables import Case, PendingMaterial
from gateway.store.vocab import EventSource
from gateway.supplements.deadlines import GUANGDONG_ZONE

if TYPE_CHECKING:
    from sqlalchemy.orm import sessionmaker

    from gateway.delivery.runtime import Runtime

#: states in which a committed due date no longer runs (a decision was made, or no case)
CLOSED = TERMINAL | {"APPROVED"}
PENDING = "pending"
BATCH = 200


def check_overdue(runtime: Runtime, *, now: dt.datetime | None = None, batch: int = BATCH) -> int:
    """Raise an event and a notification for each case past its committed due date and each
    pending material past its due date — once each; return how many were raised."""
    return sweep(runtime.sessions, now=now or dt.datetime.now(dt.UTC), batch=batch)


def sweep(sessions: sessionmaker[Session], *, now: dt.datetime, batch: int = BATCH) -> int:
    """:func:`check_overdue` on a session factory (what tests and the runtime share)."""
    today = now.astimezone(GUANGDONG_ZONE).date()
    raised = 0
    while True:
        with transaction(sessions) as session:
            done = _cases(session, today, now, batch)
        raised += done
        if done < batch:
            break
    while True:
        with transaction(sessions) as session:
            done = _materials(session, today, now, batch)
        raised += done
        if done < batch:
            break
    return raised


def _cases(session: Session, today: dt.date, now: dt.datetime, batch: int) -> int:
    cases = session.scalars(
        select(Case)
        .where(
            Case.overdue_raised_at.is_(None),
            Case.committed_due.is_not(None),
            Case.committed_due < today,
            Case.state.not_in(sorted(CLOSED)),
        )
        .order_by(Case.committed_due, Case.case_ref)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    for case in cases:
        case.overdue_raised_at = now
        due = case.committed_due.isoformat() if case.committed_due else None
        append_event(
            session,
            case.case_ref,
            event="overdue",
            source=EventSource.GATEWAY,
            now=now,
            detail=f"committed due date {due} passed",
        )
        notifications.notify(
            session,
            case.case_ref,
            "case.overdue",
            {"committedDue": due, "state": case.state, "agencyDue": _iso(case.agency_due)},
            now=now,
        )
    return len(cases)


def _materials(session: Session, today: dt.date, now: dt.datetime, batch: int) -> int:
    rows = session.execute(
        select(PendingMaterial, Case.state)
        .join(Case, Case.case_ref == PendingMaterial.case_ref)
        .where(
            PendingMaterial.state == PENDING,
            PendingMaterial.due_date < today,
            PendingMaterial.overdue_raised_at.is_(None),
            Case.state.not_in(sorted(CLOSED)),
        )
        .order_by(PendingMaterial.due_date, PendingMaterial.id)
        .limit(batch)
        .with_for_update(of=PendingMaterial, skip_locked=True)
    ).all()
    for material, _state in rows:
        material.overdue_raised_at = now
        append_event(
            session,
            material.case_ref,
            event="material-overdue",
            source=EventSource.GATEWAY,
            now=now,
            detail=f"{material.material_code} ({material.agency_type}) due "
            f"{material.due_date.isoformat()} not received",
        )
        notifications.notify(
            session,
            material.case_ref,
            "material.overdue",
            {
                "materialCode": material.material_code,
                "agencyType": material.agency_type,
                "dueDate": material.due_date.isoformat(),
            },
            now=now,
        )
    return len(rows)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None
