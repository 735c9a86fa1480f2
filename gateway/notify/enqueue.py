"""Queue a notification to Guangdong in the caller's transaction.

:func:`notify` stores the event's JSON once (``messages``, message id = event id) and its outbox
row (kind ``notification``, destination ``guangdong``); the delivery task signs and POSTs it
later. Each case's notifications are numbered 1, 2, 3… (``seq``) under a lock on the case
row, so two transactions cannot give one number twice and the message ids' order is the
numbers' order — which :func:`gateway.outbox.claim` relies on to send them in order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from functools import partial
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from gateway.notify import events
from gateway.store.cases import delivery_channel
from gateway.store.outbound import add_outbound
from gateway.store.tables import Case, Outbox
from gateway.store.vocab import OutboxKind
from gateway.store.writes import Writes

#: case states (lifecycle's, canonical agency ones) → what Guangdong hears of them
_PROGRESS = {
    "delivered": "DELIVERED",
    "RECEIVED": "RECEIVED",
    "ACCEPTED": "ACCEPTED",
    "IN_PROGRESS": "IN_PROGRESS",
}
_RESULTS = frozenset({"APPROVED", "REJECTED", "COMPLETED"})


# built once (a statement built per call costs SQLAlchemy ~100 µs more: cache key, values)
_LOCKED_NUMBER = (
    select(Case.application_no).where(Case.case_ref == bindparam("case_ref_")).with_for_update()
)
_NOTIFICATIONS = (
    select(func.count())
    .select_from(Outbox)
    .where(Outbox.case_ref == bindparam("case_ref_"), Outbox.kind == OutboxKind.NOTIFICATION)
)


def notify(
    session: Session,
    case_ref: str,
    event_type: str,
    data: dict[str, Any],
    *,
    now: dt.datetime,
    writes: Writes | None = None,
) -> str:
    """Store one notification (JSON body, its id) and its outbox row; return the event id.

    ``event_type`` is one of the types in ``docs/events.md`` (``case.progress``,
    ``case.supplement_requested``, ``case.result``, ``case.withdrawn``, ``case.overdue``,
    ``material.overdue``, ``case.undeliverable``); ``data`` must be JSON and free of personal
    data. Runs in the caller's transaction; nothing is sent here.
    """
    if event_type not in events.TYPES:
        raise ValueError(f"unknown notification type {event_type!r}")
    if writes is not None:  # the case is loaded and locked; the rows are written in a batch
        case = writes.cases.get(case_ref)
        if case is None:
            raise LookupError(f"no case {case_ref} in the batch")
        application_no = case.application_no
        seq = writes.next_notification(case_ref)
    else:
        locked = session.scalar(_LOCKED_NUMBER, {"case_ref_": case_ref})
        if locked is None:
            raise LookupError(f"no case {case_ref}")
        application_no = locked
        seq = 1 + (session.scalar(_NOTIFICATIONS, {"case_ref_": case_ref}) or 0)
    event_id = str(uuid.uuid4())
    document = events.body(
        event_id=event_id,
        event_type=event_type,
        case_ref=case_ref,
        application_no=application_no,
        seq=seq,
        occurred_at=now,
        data=data,
    )
    (partial(add_outbound, session) if writes is None else writes.outbound)(
        kind=OutboxKind.NOTIFICATION,
        destination=events.GUANGDONG,
        document=document,
        message_id=event_id,
        message_kind=event_type,
        case_ref=case_ref,
        now=now,
    )
    return event_id


def on_case_change(
    session: Session,
    case_ref: str,
    *,
    state: str,
    agency_status: str | None,
    remarks: str | None,
    details: dict[str, Any],
    now: dt.datetime,
    writes: Writes | None = None,
) -> str | None:
    """The case's state changed (delivered, or an agency status applied): queue what Guangdong
    must hear of it, if anything; return the event id. ``details`` are the agency event's
    (``required_documents``, ``result``). Supplement requests are queued by
    :mod:`gateway.supplements`, not here (``INFO_REQUIRED`` sends nothing)."""
    event = _event_for(session, case_ref, state, agency_status, remarks, details, writes)
    if event is None:
        return None
    event_type, data = event
    return notify(session, case_ref, event_type, data, now=now, writes=writes)


def _event_for(
    session: Session,
    case_ref: str,
    state: str,
    agency_status: str | None,
    remarks: str | None,
    details: dict[str, Any],
    writes: Writes | None,
) -> tuple[str, dict[str, Any]] | None:
    if state in _PROGRESS:
        event_type = events.PROGRESS
        data: dict[str, Any] = {"status": _PROGRESS[state]}
    elif state in _RESULTS:
        event_type = events.RESULT
        data = {"status": state}
    elif state == "WITHDRAWN":
        event_type = events.WITHDRAWN
        data = {"status": state}
    elif state == "undeliverable":
        return events.UNDELIVERABLE, {"status": "UNDELIVERABLE", "reason": remarks}
    else:  # INFO_REQUIRED (the supplement module's own event), filed, anything unknown
        return None
    case = session.get(Case, case_ref) if writes is None else writes.cases.get(case_ref)
    if case is None:
        raise LookupError(f"no case {case_ref}")
    data["agency"] = case.agency
    data["agencyCaseRef"] = case.agency_case_ref
    data["agencyStatus"] = agency_status
    simplified = _simplified(remarks)
    if event_type == events.RESULT:
        data["reason"] = simplified
        data["reasonOriginal"] = remarks
        data["resultDocument"] = _result_document(details.get("result"))
        data["deliveryChannel"] = case.delivery_channel or _channel_of_application(case, writes)
    else:
        data["remarks"] = simplified
        data["remarksOriginal"] = remarks
    return event_type, data


def _channel_of_application(case: Case, writes: Writes | None) -> str | None:
    """A case filed before the channel had its own column (revision 0008): unsealed."""
    application = case.application if writes is None else writes.application(case.case_ref)
    return delivery_channel(application or {})


def _simplified(remarks: str | None) -> str | None:
    """The agency's Traditional text in Simplified (OpenCC hk2s), for Guangdong."""
    if not remarks:
        return remarks
    from gateway.text.convert import to_simplified  # OpenCC: loaded only when needed

    return to_simplified(remarks)


def _result_document(result: Any) -> dict[str, Any] | None:
    """The agency's result document reference (``ResultRef``: doc_id, uri, sha256)."""
    if not isinstance(result, dict):
        return None
    return {"docId": result.get("doc_id"), "uri": result.get("uri"), "sha256": result.get("sha256")}
