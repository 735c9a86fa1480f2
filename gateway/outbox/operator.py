"""What operators see and do: counts, rows with their reasons, and redriving dead rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.store.events import append_event
from gateway.store.tables import Case, Message, Outbox
from gateway.store.vocab import CaseState, EventSource, OutboxKind, OutboxState


@dataclass(frozen=True)
class OutboxRow:
    id: str
    kind: str
    destination: str
    case_ref: str | None
    message_id: str
    state: str
    attempts: int
    next_attempt_at: dt.datetime
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    outcome: str | None
    last_error: str | None  # a dead row's reason
    fault_code: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


def pending_count(session: Session, *, notifications: bool = True) -> int:
    """Rows still to deliver (pending or sending); without notifications to Guangdong when
    ``notifications`` is False (they wait for a webhook of their own)."""
    query = (
        select(func.count())
        .select_from(Outbox)
        .where(Outbox.state.in_((OutboxState.PENDING, OutboxState.SENDING)))
    )
    if not notifications:
        query = query.where(Outbox.kind != OutboxKind.NOTIFICATION)
    return session.scalar(query) or 0


def counts(session: Session) -> dict[str, int]:
    """Rows per state, every state present."""
    rows = session.execute(select(Outbox.state, func.count()).group_by(Outbox.state))
    found = {state: count for state, count in rows}
    return {state.value: found.get(state.value, 0) for state in OutboxState}


def list_rows(
    session: Session,
    state: str | None = None,
    *,
    destination: str | None = None,
    limit: int = 100,
) -> list[OutboxRow]:
    """Rows, oldest first; ``state="dead"`` lists what needs an operator, with reasons."""
    query = (
        select(Outbox, Message.message_id)
        .join(Message, Message.id == Outbox.message_pk)
        .order_by(Outbox.created_at, Outbox.id)
        .limit(limit)
    )
    if state is not None:
        query = query.where(Outbox.state == OutboxState(state))
    if destination is not None:
        query = query.where(Outbox.destination == destination)
    return [
        OutboxRow(
            id=o.id,
            kind=o.kind,
            destination=o.destination,
            case_ref=o.case_ref,
            message_id=message_id,
            state=o.state,
            attempts=o.attempts,
            next_attempt_at=o.next_attempt_at,
            lease_owner=o.lease_owner,
            lease_expires_at=o.lease_expires_at,
            outcome=o.outcome,
            last_error=o.last_error,
            fault_code=o.fault_code,
            created_at=o.created_at,
            updated_at=o.updated_at,
        )
        for o, message_id in session.execute(query)
    ]


def redrive(
    session: Session, ids: Iterable[str], *, now: dt.datetime, by: str = "operator"
) -> list[str]:
    """Give dead rows a fresh set of attempts, due now; return the ids that were dead.

    The reason stays readable: ``last_error`` is kept until the next outcome, every earlier
    attempt stays in ``delivery_attempts``, and the case gets a ``redriven`` event quoting it.
    Rows not dead are left alone (redriving twice is harmless).
    """
    rows = list(
        session.scalars(
            select(Outbox)
            .where(Outbox.id.in_(list(ids)), Outbox.state == OutboxState.DEAD)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    for row in rows:
        reason = row.last_error
        row.state = OutboxState.PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.relay_until = None
        row.outcome = None
        row.done_at = None
        row.updated_at = now
        if row.case_ref is not None:
            state = None
            if row.kind == OutboxKind.SUBMISSION:
                current = session.scalar(select(Case.state).where(Case.case_ref == row.case_ref))
                if current == CaseState.UNDELIVERABLE:
                    state = CaseState.FILED
            append_event(
                session,
                row.case_ref,
                event="redriven",
                state=state,
                source=EventSource.OPERATOR,
                now=now,
                detail=f"by {by}; was dead: {reason}",
            )
    session.flush()
    return [row.id for row in rows]
