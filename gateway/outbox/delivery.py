"""The delivery task's two database steps: ``claim`` before calling the agency, ``record`` after.

A claim is a lease: the row goes ``sending`` with a fresh token until ``lease_expires_at``.
Only the holder of the current token can record an outcome, so a duplicate task run (Celery
redelivers; the sweep republishes) either gets ``None`` from ``claim`` or has its ``record``
ignored after another worker took the lease over: duplicates change nothing.

Both steps run in the caller's transaction; the caller commits. Between them the caller
talks to the agency *outside* any transaction, sending ``Claim.document`` — the bytes signed
at intake, never re-rendered.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from gateway.cases import lifecycle
from gateway.outbox import breaker as breakers
from gateway.outbox.policy import BreakerPolicy, RetryPolicy
from gateway.privacy.keyring import DataKeyError
from gateway.store.among import dialect_of
from gateway.store.conflict import insert_unless_taken
from gateway.store.digest import sha256_hex
from gateway.store.events import append_event
from gateway.store.tables import Case, DeliveryAttempt, Message, Outbox, Receipt, table_of
from gateway.store.vocab import (
    LEASE_EXPIRED,
    CaseState,
    Direction,
    EventSource,
    OutboxKind,
    OutboxState,
    Outcome,
)

DEFAULT_MAX_IN_FLIGHT = 4


@dataclass(frozen=True)
class Claim:
    """A worker's lease on one outbox row, with what to send."""

    outbox_id: str
    lease_token: str
    worker: str
    attempt: int  # 1 for the first attempt
    lease_expires_at: dt.datetime
    destination: str
    kind: str
    case_ref: str | None
    message_id: str
    document: bytes  # the stored signed bytes
    probe: bool  # this attempt is the half-open breaker's probe
    #: why this process cannot read the stored document (its data keys lack the one that
    #: sealed it); ``document`` is empty and nothing may be sent
    unreadable: str | None = None


@dataclass(frozen=True)
class ReceiptIn:
    """A verified receipt, as plain values (the transport verified the signature)."""

    message_id: str
    agency_case_ref: str
    received_at: dt.datetime
    document: bytes | None = None  # the signed receipt as received, kept when given
    sender: str | None = None
    kind: str = "Receipt"


def _release(session: Session, outbox_id: str, now: dt.datetime) -> None:
    """A refused claim leaves the row pending and lets the next relay pass publish it."""
    session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id, Outbox.state == OutboxState.PENDING)
        .values(relay_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def claim(
    session: Session,
    outbox_id: str,
    *,
    worker: str,
    lease_seconds: float,
    now: dt.datetime,
    max_in_flight: int | Callable[[str], int] = DEFAULT_MAX_IN_FLIGHT,
    hold: Callable[[Outbox], bool] | None = None,
) -> Claim | None:
    """Lease a row for one delivery attempt, or ``None`` when this run must do nothing.

    Claimable: ``pending`` and due, or ``sending`` with an expired lease (its worker is
    presumed lost; the old attempt is marked ``lease_expired``). ``None`` when the row is
    delivered, dead, not due, leased by a live worker, its destination's breaker is open (or
    its probe is out), or ``max_in_flight`` live leases already exist for the destination —
    in those last cases the row stays pending for the relay to publish again.
    ``max_in_flight`` may be a function of the row's destination (the agency's limit), so a
    worker learns the destination and claims in one transaction. A notification of a case is
    not claimable while an earlier one of the same case is not delivered (pending, sending or
    dead): it stays pending, due again no earlier than that one's next attempt. ``hold`` sees
    the locked row first: True leaves it to ``hold`` (which may reschedule it) and claims
    nothing.
    """
    row, message_id, document, unreadable = _lock_with_message(session, outbox_id)
    if row is None:
        return None
    if hold is not None and hold(row):
        session.flush()
        return None
    taking_over = row.state == OutboxState.SENDING and (
        row.lease_expires_at is None or row.lease_expires_at <= now
    )
    due = row.state == OutboxState.PENDING and row.next_attempt_at <= now
    if not (due or taking_over):
        return None
    if row.kind == OutboxKind.NOTIFICATION and row.case_ref is not None:
        # in order per case: held while an earlier notification is not delivered
        # (pending, sending or dead); it stays pending, released until the earlier one can be
        from gateway.notify.ordering import hold_until

        hold_to = hold_until(session, row.case_ref, row.message_pk, now)
        if hold_to is not None:
            if row.state == OutboxState.PENDING:
                row.next_attempt_at = max(row.next_attempt_at, hold_to)
                row.relay_until = None
                row.updated_at = now
                session.flush()
            return None

    destination = row.destination
    if callable(max_in_flight):
        max_in_flight = max_in_flight(destination)
    # the breaker row serialises the destination's claims from here to the commit: the
    # in-flight count and the single probe are exact
    breaker = breakers.lock(session, destination, now)
    in_flight = session.scalar(
        _IN_FLIGHT, {"destination": destination, "now": now, "outbox_id": outbox_id}
    )
    expires = now + dt.timedelta(seconds=lease_seconds)
    if (in_flight or 0) >= max_in_flight or not breakers.admit(breaker, now, expires):
        _release(session, outbox_id, now)
        return None

    if taking_over and row.lease_token:
        session.execute(
            update(DeliveryAttempt)
            .where(
                DeliveryAttempt.lease_token == row.lease_token, DeliveryAttempt.outcome.is_(None)
            )
            .values(outcome=LEASE_EXPIRED, finished_at=now, detail=f"lease taken over by {worker}")
            .execution_options(synchronize_session=False)
        )
    token = str(uuid.uuid4())
    row.state = OutboxState.SENDING
    row.attempts += 1
    row.lease_owner = worker
    row.lease_token = token
    row.lease_expires_at = expires
    row.relay_until = None
    row.updated_at = now
    session.flush()
    session.execute(
        _INSERT_ATTEMPT,
        {
            "outbox_id": outbox_id,
            "attempt": row.attempts,
            "worker": worker,
            "lease_token": token,
            "claimed_at": now,
        },
    )
    return Claim(
        outbox_id=outbox_id,
        lease_token=token,
        worker=worker,
        attempt=row.attempts,
        lease_expires_at=expires,
        destination=destination,
        kind=row.kind,
        case_ref=row.case_ref,
        message_id=message_id,
        document=document,
        probe=breakers.is_probe(breaker),
        unreadable=unreadable,
    )


def _lock_with_message(
    session: Session, outbox_id: str
) -> tuple[Outbox | None, str, bytes, str | None]:
    """The outbox row, locked, with its message's id and stored bytes, in one round trip:
    ``(row, message_id, document, unreadable)``. A document this process cannot decrypt
    comes back empty, with the reason in ``unreadable``."""
    try:
        found = session.execute(_LOCKED_WITH_MESSAGE, {"outbox_id": outbox_id}).one_or_none()
    except DataKeyError as exc:  # this process lacks the data key: a failed attempt, counted
        found = session.execute(_LOCKED_WITH_MESSAGE_ID, {"outbox_id": outbox_id}).one_or_none()
        if found is None:
            return None, "", b"", None
        return found[0], found[1], b"", str(exc)
    if found is None:
        return None, "", b"", None
    return found[0], found[1], found[2], None


def _store_receipt(
    session: Session, row: Outbox, receipt: ReceiptIn, now: dt.datetime
) -> str | None:
    """Store the receipt (and its signed bytes, once per message id); set the agency's case
    number on the case. Return the case's state, or None when the row has no case."""
    message_pk = None
    if receipt.document is not None:  # plain INSERTs: a delivery's hot path
        message_pk = session.execute(
            insert_unless_taken(
                dialect_of(session), table_of(Message), ("direction", "message_id"), ("id",)
            ),
            {
                "case_ref": row.case_ref,
                "direction": Direction.IN,
                "kind": receipt.kind,
                "message_id": receipt.message_id,
                "counterpart": receipt.sender or row.destination,
                "sha256": sha256_hex(receipt.document),
                "body": receipt.document,
                "verified": True,
                "created_at": now,
            },
        ).scalar_one_or_none()
        if message_pk is None:  # stored before: a repeat of the same receipt
            message_pk = session.scalar(
                select(Message.id).where(
                    Message.direction == Direction.IN, Message.message_id == receipt.message_id
                )
            )
    session.execute(
        _INSERT_RECEIPT,
        {
            "case_ref": row.case_ref,
            "outbox_id": row.id,
            "message_pk": message_pk,
            "receipt_message_id": receipt.message_id,
            "agency_case_ref": receipt.agency_case_ref,
            "received_at": receipt.received_at,
            "recorded_at": now,
        },
    )
    if row.case_ref is None:
        return None
    return session.scalar(
        _SET_AGENCY_CASE_REF,
        {"case_ref_": row.case_ref, "agency_case_ref_": receipt.agency_case_ref},
    )


# A delivery's statements, built once: built per call, SQLAlchemy walks each one for its
# cache key and coerces its values anew, ~100 µs a statement (half of a simple one's cost).
_LOCKED = (
    select(Outbox)
    .where(Outbox.id == bindparam("outbox_id"))
    .with_for_update(of=Outbox)
    .execution_options(populate_existing=True)
)
_LOCKED_WITH_MESSAGE = _LOCKED.add_columns(Message.message_id, Message.body).join(
    Message, Message.id == Outbox.message_pk
)
_LOCKED_WITH_MESSAGE_ID = _LOCKED.add_columns(Message.message_id).join(
    Message, Message.id == Outbox.message_pk
)
_IN_FLIGHT = (
    select(func.count())
    .select_from(Outbox)
    .where(
        Outbox.destination == bindparam("destination"),
        Outbox.state == OutboxState.SENDING,
        Outbox.lease_expires_at > bindparam("now"),
        Outbox.id != bindparam("outbox_id"),
    )
)
_INSERT_ATTEMPT = insert(table_of(DeliveryAttempt))
_FINISH_ATTEMPT = (
    update(DeliveryAttempt)
    .where(DeliveryAttempt.lease_token == bindparam("token"))
    .values(
        outcome=bindparam("outcome_"),
        finished_at=bindparam("finished_at_"),
        detail=bindparam("detail_"),
        fault_code=bindparam("fault_code_"),
    )
    .execution_options(synchronize_session=False)
)
_INSERT_RECEIPT = insert(table_of(Receipt))
_SET_AGENCY_CASE_REF = (
    update(Case)
    .where(Case.case_ref == bindparam("case_ref_"))
    .values(agency_case_ref=bindparam("agency_case_ref_"))
    .returning(Case.state)
    .execution_options(synchronize_session=False)
)


def case_event(
    session: Session,
    row: Outbox,
    event: str,
    detail: str,
    now: dt.datetime,
    *,
    final: str | None,
    current: str | None = None,
) -> None:
    """One event on the row's case; a submission also moves the case to ``final``.

    A later agency status (reconciliation) is never overwritten: only a case still in a
    gateway-side state (filed, delivered, undeliverable) takes ``final``. ``current`` is the
    case's state when the caller has just read it (else it is read here).
    """
    if row.case_ref is None:
        return
    if row.kind == OutboxKind.NOTIFICATION:
        # a notification's fate is the outbox row's (listed, redrivable); the case's timeline
        # is what happened at the agency, and Guangdong hearing of it is not such a step
        return
    state = None
    if final is not None and row.kind == OutboxKind.SUBMISSION:
        if current is None:
            current = session.scalar(select(Case.state).where(Case.case_ref == row.case_ref))
        if current in {s.value for s in CaseState}:
            state = final
    source = EventSource.AGENCY if event == "delivered" else EventSource.GATEWAY
    append_event(
        session, row.case_ref, event=event, source=source, now=now, state=state, detail=detail
    )
    if state == CaseState.DELIVERED:
        lifecycle.delivered(session, row.case_ref, now=now)
    elif state == CaseState.UNDELIVERABLE:
        lifecycle.undeliverable(session, row.case_ref, reason=detail, now=now)


def record(
    session: Session,
    claim: Claim,
    outcome: str,
    *,
    receipt: ReceiptIn | None = None,
    detail: str = "",
    fault_code: str | None = None,
    now: dt.datetime,
    policy: RetryPolicy,
    breaker_policy: BreakerPolicy | None = None,
    rng: random.Random | None = None,
) -> str | None:
    """Record an attempt's outcome; return the row's new state, or ``None`` if stale.

    Only the current lease holder is heard: if the row was taken over (lease expired) or is
    already final, nothing changes. ``delivered``/``duplicate`` → delivered, with the receipt
    stored and the agency case number set on the case; ``retryable`` → pending after a
    jittered backoff, or dead once ``policy.max_attempts`` are spent; ``permanent`` and
    ``conflict`` → dead at once with ``detail`` as the reason. The destination's breaker
    counts the outcome.
    """
    kind = Outcome(outcome)  # ValueError for anything that is not an outcome
    row = session.execute(_LOCKED, {"outbox_id": claim.outbox_id}).scalar_one_or_none()
    if row is None or row.state != OutboxState.SENDING or row.lease_token != claim.lease_token:
        return None

    session.execute(
        _FINISH_ATTEMPT,
        {
            "token": claim.lease_token,
            "outcome_": kind.value,
            "finished_at_": now,
            "detail_": detail or None,
            "fault_code_": fault_code,
        },
    )
    row.outcome = kind.value
    row.fault_code = fault_code
    row.lease_owner = row.lease_token = row.lease_expires_at = None
    row.relay_until = None
    row.updated_at = now

    if kind in (Outcome.DELIVERED, Outcome.DUPLICATE):
        row.state = OutboxState.DELIVERED
        row.done_at = now
        current = None
        if receipt is not None:
            current = _store_receipt(session, row, receipt, now)
        text = f"{claim.message_id} {kind.value}"
        if receipt is not None:
            text += f", agency case {receipt.agency_case_ref}"
        case_event(session, row, "delivered", text, now, final=CaseState.DELIVERED, current=current)
    elif kind == Outcome.RETRYABLE and row.attempts < policy.max_attempts:
        row.state = OutboxState.PENDING
        row.last_error = detail
        delay = policy.next_delay(row.attempts, rng)
        row.next_attempt_at = now + dt.timedelta(seconds=delay)
    else:
        row.state = OutboxState.DEAD
        row.done_at = now
        if kind == Outcome.RETRYABLE:
            detail = f"gave up after {row.attempts} attempts: {detail}"
        row.last_error = f"{kind.value}: {detail}"
        case_event(
            session, row, "undeliverable", row.last_error, now, final=CaseState.UNDELIVERABLE
        )

    session.flush()
    # the agency was not asked (unreadable): its breaker hears nothing. Locked last (after
    # the outbox row, as a claim does), so it is held only to the commit
    answered = kind != Outcome.RETRYABLE
    if claim.unreadable is None and not (
        answered and breakers.answered(session, claim.destination, now)
    ):
        breaker = breakers.lock(session, claim.destination, now)
        breakers.observe(breaker, kind, breaker_policy or BreakerPolicy(), now)
        session.flush()
    return row.state
