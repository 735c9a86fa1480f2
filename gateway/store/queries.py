"""Read-only views for operators: list cases, show one case with its whole timeline.

Views are frozen dataclasses of plain values (no ORM objects escape a session), so the CLI
and the API can print or serialise them after the transaction ends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.store.tables import Case, CaseEvent, DeliveryAttempt, Message, Outbox, Receipt


@dataclass(frozen=True)
class CaseSummary:
    case_ref: str
    application_no: str
    region: str
    agency: str
    state: str
    agency_case_ref: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class EventView:
    seq: int
    event: str
    state: str | None
    source: str
    at: dt.datetime
    detail: str | None
    agency_seq: int | None
    agency_status: str | None


@dataclass(frozen=True)
class AttemptView:
    attempt: int
    worker: str
    claimed_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: str | None  # an Outcome, "lease_expired", or None while in flight
    detail: str | None
    fault_code: str | None


@dataclass(frozen=True)
class DeliveryView:
    outbox_id: str
    kind: str
    destination: str
    message_id: str
    state: str
    attempts: int
    next_attempt_at: dt.datetime
    outcome: str | None
    last_error: str | None
    history: tuple[AttemptView, ...]


@dataclass(frozen=True)
class ReceiptView:
    outbox_id: str
    receipt_message_id: str
    agency_case_ref: str
    received_at: dt.datetime
    recorded_at: dt.datetime


@dataclass(frozen=True)
class MessageView:
    direction: str
    kind: str
    message_id: str
    sha256: str
    size: int
    verified: bool
    quarantine_reason: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class CaseDetail:
    summary: CaseSummary
    item_code: str
    item_version: int
    mapping_id: str
    mapping_version: int
    last_seq: int
    application: dict[str, Any]
    texts: list[dict[str, Any]]
    events: tuple[EventView, ...]
    deliveries: tuple[DeliveryView, ...]
    receipts: tuple[ReceiptView, ...]
    messages: tuple[MessageView, ...]


def _summary(case: Case) -> CaseSummary:
    return CaseSummary(
        case_ref=case.case_ref,
        application_no=case.application_no,
        region=case.region,
        agency=case.agency,
        state=case.state,
        agency_case_ref=case.agency_case_ref,
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


def list_cases(
    session: Session,
    *,
    state: str | None = None,
    agency: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[CaseSummary]:
    """Cases, newest first, optionally only one state and/or one agency."""
    query = select(Case).order_by(Case.created_at.desc(), Case.case_ref)
    if state is not None:
        query = query.where(Case.state == state)
    if agency is not None:
        query = query.where(Case.agency == agency)
    return [_summary(c) for c in session.scalars(query.limit(limit).offset(offset))]


def _deliveries(session: Session, case_ref: str) -> tuple[DeliveryView, ...]:
    rows = session.execute(
        select(Outbox, Message.message_id)
        .join(Message, Message.id == Outbox.message_pk)
        .where(Outbox.case_ref == case_ref)
        .order_by(Outbox.created_at, Outbox.id)
    ).all()
    ids = [row.Outbox.id for row in rows]
    history: dict[str, list[AttemptView]] = {i: [] for i in ids}
    for a in session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.outbox_id.in_(ids))
        .order_by(DeliveryAttempt.claimed_at, DeliveryAttempt.id)
    ):
        history[a.outbox_id].append(
            AttemptView(
                a.attempt, a.worker, a.claimed_at, a.finished_at, a.outcome, a.detail, a.fault_code
            )
        )
    return tuple(
        DeliveryView(
            outbox_id=o.id,
            kind=o.kind,
            destination=o.destination,
            message_id=message_id,
            state=o.state,
            attempts=o.attempts,
            next_attempt_at=o.next_attempt_at,
            outcome=o.outcome,
            last_error=o.last_error,
            history=tuple(history[o.id]),
        )
        for o, message_id in rows
    )


def show_case(session: Session, case_ref: str) -> CaseDetail | None:
    """Everything about one case: events, deliveries with every attempt, receipts, messages."""
    case = session.get(Case, case_ref)
    if case is None:
        return None
    events = tuple(
        EventView(e.seq, e.event, e.state, e.source, e.at, e.detail, e.agency_seq, e.agency_status)
        for e in session.scalars(
            select(CaseEvent).where(CaseEvent.case_ref == case_ref).order_by(CaseEvent.seq)
        )
    )
    receipts = tuple(
        ReceiptView(
            r.outbox_id, r.receipt_message_id, r.agency_case_ref, r.received_at, r.recorded_at
        )
        for r in session.scalars(
            select(Receipt).where(Receipt.case_ref == case_ref).order_by(Receipt.id)
        )
    )
    messages = tuple(
        MessageView(
            m.direction,
            m.kind,
            m.message_id,
            m.sha256,
            len(m.body),
            m.verified,
            m.quarantine_reason,
            m.created_at,
        )
        for m in session.execute(
            select(
                Message.direction,
                Message.kind,
                Message.message_id,
                Message.sha256,
                Message.verified,
                Message.quarantine_reason,
                Message.created_at,
                Message.body,  # encrypted at rest: its length is the plaintext's once read
            )
            .where(Message.case_ref == case_ref)
            .order_by(Message.id)
        )
    )
    return CaseDetail(
        summary=_summary(case),
        item_code=case.item_code,
        item_version=case.item_version,
        mapping_id=case.mapping_id,
        mapping_version=case.mapping_version,
        last_seq=case.last_seq,
        application=case.application,
        texts=case.texts,
        events=events,
        deliveries=_deliveries(session, case_ref),
        receipts=receipts,
        messages=messages,
    )
