"""claim → (agency) → record: leases, duplicates, takeovers, retries, dead rows, redrive."""

from __future__ import annotations

import datetime as dt
import random
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.outbox import (
    BreakerPolicy,
    Claim,
    ReceiptIn,
    RetryPolicy,
    claim,
    counts,
    expire_leases,
    list_rows,
    pending_count,
    record,
    redrive,
)
from gateway.store import file_case, show_case, transaction
from gateway.store.tables import Case, Message, Outbox, Receipt
from gateway.store.testing import Backend, filing

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
POLICY = RetryPolicy(base_delay=10, factor=2, cap=300, jitter=0.2, max_attempts=3)
CASE_REF = filing(1)["case_ref"]
# failures in these tests must not open the breaker unless a test asks for that
PATIENT = BreakerPolicy(threshold=100, cooldown=60)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def file_one(db: Backend, n: int = 1) -> str:
    with transaction(db.factory) as session:
        file_case(session, **filing(n), now=T0)
        return session.scalars(select(Outbox.id)).one()


def take(
    db: Backend,
    outbox_id: str,
    now: dt.datetime,
    worker: str = "w1",
    lease: float = 30,
    **kwargs: Any,
) -> Claim | None:
    with transaction(db.factory) as session:
        return claim(session, outbox_id, worker=worker, lease_seconds=lease, now=now, **kwargs)


def report(db: Backend, held: Claim, outcome: str, now: dt.datetime, **kwargs: Any) -> str | None:
    kwargs.setdefault("policy", POLICY)
    kwargs.setdefault("breaker_policy", PATIENT)
    with transaction(db.factory) as session:
        return record(session, held, outcome, now=now, **kwargs)


def row(db: Backend, outbox_id: str) -> Outbox:
    with transaction(db.factory) as session:
        found = session.get(Outbox, outbox_id)
        assert found is not None
        return found


def receipt(n: int = 1) -> ReceiptIn:
    return ReceiptIn(
        message_id=f"R-{n}",
        agency_case_ref=f"TD-2026-{n:05d}",
        received_at=at(1),
        document=b"<Receipt>signed</Receipt>",
        sender="HKTD",
    )


def test_claim_hands_over_the_stored_bytes_and_a_duplicate_run_gets_nothing(db: Backend) -> None:
    outbox_id = file_one(db)
    held = take(db, outbox_id, at(0))
    assert held is not None
    assert (held.document, held.message_id, held.attempt) == (
        filing(1)["document"],
        filing(1)["message_id"],
        1,
    )
    assert (held.destination, held.kind, held.case_ref) == ("HKTD", "submission", CASE_REF)
    assert held.lease_expires_at == at(30) and not held.probe
    assert row(db, outbox_id).state == "sending"
    assert take(db, outbox_id, at(1), worker="w2") is None  # Celery redelivered the task
    assert take(db, "no-such-row", at(1)) is None


def test_delivered_stores_receipt_and_moves_the_case(db: Backend) -> None:
    outbox_id = file_one(db)
    held = take(db, outbox_id, at(0))
    assert held is not None
    assert report(db, held, "delivered", at(2), receipt=receipt(), detail="202") == "delivered"

    assert report(db, held, "delivered", at(3), receipt=receipt()) is None  # replayed: no change
    assert take(db, outbox_id, at(4)) is None
    with transaction(db.factory) as session:
        case = session.get(Case, CASE_REF)
        assert case is not None
        assert (case.state, case.agency_case_ref) == ("delivered", "TD-2026-00001")
        assert len(session.scalars(select(Receipt)).all()) == 1
        detail = show_case(session, CASE_REF)
    assert detail is not None
    assert [(e.seq, e.event, e.state, e.source) for e in detail.events] == [
        (1, "filed", "filed", "guangdong"),
        (2, "delivered", "delivered", "agency"),
    ]
    assert [(a.attempt, a.outcome, a.detail) for a in detail.deliveries[0].history] == [
        (1, "delivered", "202")
    ]
    assert detail.receipts[0].agency_case_ref == "TD-2026-00001"
    assert [(m.direction, m.kind) for m in detail.messages] == [
        ("out", "CaseSubmission"),
        ("in", "Receipt"),
        ("out", "case.progress"),  # Guangdong is told (Art. 22)
    ]
    done = row(db, outbox_id)
    assert (done.state, done.outcome, done.lease_token, done.done_at) == (
        "delivered",
        "delivered",
        None,
        at(2),
    )


def test_duplicate_counts_as_delivered(db: Backend) -> None:
    outbox_id = file_one(db)
    held = take(db, outbox_id, at(0))
    assert held is not None
    assert report(db, held, "duplicate", at(1), receipt=receipt()) == "delivered"
    assert row(db, outbox_id).outcome == "duplicate"


def test_a_receipt_already_stored_is_referred_to_not_stored_again(db: Backend) -> None:
    """SIP answers a repeat with the same signed receipt: a second row recording it (a
    redriven or re-filed delivery) points at the bytes stored the first time."""
    with transaction(db.factory) as session:
        for n in (1, 2):
            file_case(session, **filing(n), now=T0)
        rows = session.scalars(select(Outbox.id).order_by(Outbox.case_ref)).all()
    for outbox_id, now in zip(rows, (at(1), at(2)), strict=True):
        held = take(db, outbox_id, now)
        assert held is not None
        assert report(db, held, "delivered", now, receipt=receipt()) == "delivered"
    with transaction(db.factory) as session:
        stored = session.scalars(
            select(Message.id).where(Message.direction == "in", Message.message_id == "R-1")
        ).all()
        pointers = session.scalars(select(Receipt.message_pk)).all()
    assert len(stored) == 1 and pointers == [stored[0], stored[0]]


def test_expired_lease_is_taken_over_and_the_stale_record_ignored(db: Backend) -> None:
    outbox_id = file_one(db)
    first = take(db, outbox_id, at(0), worker="slow", lease=30)
    assert first is not None
    assert take(db, outbox_id, at(29), worker="eager") is None  # lease still live
    second = take(db, outbox_id, at(31), worker="eager")
    assert second is not None and second.attempt == 2
    assert second.document == first.document  # same bytes: never re-rendered

    assert report(db, first, "delivered", at(32), receipt=receipt()) is None
    assert report(db, first, "retryable", at(32)) is None
    still = row(db, outbox_id)
    assert (still.state, still.lease_owner) == ("sending", "eager")

    assert report(db, second, "delivered", at(33), receipt=receipt()) == "delivered"
    with transaction(db.factory) as session:
        detail = show_case(session, CASE_REF)
    assert detail is not None
    assert [(a.worker, a.outcome) for a in detail.deliveries[0].history] == [
        ("slow", "lease_expired"),
        ("eager", "delivered"),
    ]


def test_retryable_backs_off_with_jitter_then_goes_dead(db: Backend) -> None:
    outbox_id = file_one(db)
    now = 0.0
    for attempt in (1, 2):
        held = take(db, outbox_id, at(now))
        assert held is not None and held.attempt == attempt
        state = report(
            db, held, "retryable", at(now + 1), detail="HTTP 503", rng=random.Random(attempt)
        )
        assert state == "pending"
        waiting = row(db, outbox_id)
        delay = (waiting.next_attempt_at - at(now + 1)).total_seconds()
        nominal = POLICY.nominal_delay(attempt)
        assert nominal * 0.8 <= delay <= nominal
        assert waiting.last_error == "HTTP 503"
        assert take(db, outbox_id, waiting.next_attempt_at - dt.timedelta(seconds=1)) is None
        now = (waiting.next_attempt_at - T0).total_seconds()

    held = take(db, outbox_id, at(now))
    assert held is not None and held.attempt == 3
    assert report(db, held, "retryable", at(now + 1), detail="timeout") == "dead"
    dead = row(db, outbox_id)
    assert dead.last_error == "retryable: gave up after 3 attempts: timeout"
    with transaction(db.factory) as session:
        case = session.get(Case, CASE_REF)
        assert case is not None and case.state == "undeliverable"
        assert [r.id for r in list_rows(session, "dead")] == [outbox_id]
        assert list_rows(session, "dead")[0].last_error == dead.last_error
        # the dead submission, and Guangdong told it did not reach the agency (pending)
        assert counts(session) == {"pending": 1, "sending": 0, "delivered": 0, "dead": 1}
        assert pending_count(session, notifications=False) == 0


@pytest.mark.parametrize("outcome", ["permanent", "conflict"])
def test_permanent_and_conflict_are_dead_at_once(db: Backend, outcome: str) -> None:
    outbox_id = file_one(db)
    held = take(db, outbox_id, at(0))
    assert held is not None
    state = report(db, held, outcome, at(1), detail="E_SCHEMA: bad field", fault_code="E_SCHEMA")
    assert state == "dead"
    dead = row(db, outbox_id)
    assert (dead.outcome, dead.fault_code, dead.attempts) == (outcome, "E_SCHEMA", 1)
    assert dead.last_error == f"{outcome}: E_SCHEMA: bad field"


def test_redrive_gives_a_dead_row_new_attempts_and_keeps_the_reason(db: Backend) -> None:
    outbox_id = file_one(db)
    held = take(db, outbox_id, at(0))
    assert held is not None
    report(db, held, "permanent", at(1), detail="certificate not yet registered")
    with transaction(db.factory) as session:
        assert redrive(session, [outbox_id, "unknown"], now=at(100), by="ops-alice") == [outbox_id]
        assert redrive(session, [outbox_id], now=at(100)) == []  # no longer dead
    again = row(db, outbox_id)
    assert (again.state, again.attempts, again.next_attempt_at) == ("pending", 0, at(100))
    assert again.last_error == "permanent: certificate not yet registered"

    held = take(db, outbox_id, at(100))
    assert held is not None and held.attempt == 1
    assert report(db, held, "delivered", at(101), receipt=receipt()) == "delivered"
    with transaction(db.factory) as session:
        detail = show_case(session, CASE_REF)
    assert detail is not None
    assert [(e.event, e.state, e.source) for e in detail.events] == [
        ("filed", "filed", "guangdong"),
        ("undeliverable", "undeliverable", "gateway"),
        ("redriven", "filed", "operator"),
        ("delivered", "delivered", "agency"),
    ]
    assert "certificate not yet registered" in (detail.events[2].detail or "")
    assert [a.outcome for a in detail.deliveries[0].history] == ["permanent", "delivered"]


def test_sweep_takes_back_expired_leases(db: Backend) -> None:
    outbox_id = file_one(db)
    assert take(db, outbox_id, at(0), lease=30) is not None
    with transaction(db.factory) as session:
        assert expire_leases(session, now=at(29), policy=POLICY) == []
        assert expire_leases(session, now=at(30), policy=POLICY) == [outbox_id]
    back = row(db, outbox_id)
    assert (back.state, back.next_attempt_at, back.lease_token) == ("pending", at(30), None)
    held = take(db, outbox_id, at(31))
    assert held is not None and held.attempt == 2


def test_a_row_whose_workers_keep_dying_goes_dead(db: Backend) -> None:
    outbox_id = file_one(db)
    agency = row(db, outbox_id).destination
    # the production sweep passes each destination's own policy
    policies = {agency: POLICY}
    for n in range(3):
        assert take(db, outbox_id, at(100 * n), lease=30) is not None
        with transaction(db.factory) as session:
            expire_leases(session, now=at(100 * n + 31), policy=policies.__getitem__)
    dead = row(db, outbox_id)
    assert (dead.state, dead.outcome) == ("dead", "lease_expired")
    assert "3 attempts" in (dead.last_error or "")
    # as when a delivery gives up: the case is undeliverable and Guangdong is told, once
    with transaction(db.factory) as session:
        case = session.get(Case, CASE_REF)
        assert case is not None and case.state == "undeliverable"
        told = session.scalars(
            select(Outbox.id).where(Outbox.case_ref == CASE_REF, Outbox.kind == "notification")
        ).all()
    assert len(told) == 1


def test_the_sweep_bounds_attempts_by_each_destinations_policy(db: Backend, tmp_path: Path) -> None:
    """``gbagw beat``'s sweep (and the embedded one) give expire_leases the directory's
    policies: without them a poison message was taken back forever."""
    from gateway.config import Settings
    from gateway.delivery.relay import sweep_once
    from gateway.delivery.runtime import Runtime

    runtime = Runtime(Settings(database_url=db.url, keys=tmp_path / "keys"))
    outbox_id = file_one(db)
    limit = runtime.retry_policy(row(db, outbox_id).destination).max_attempts
    assert runtime.retry_policy("NO-SUCH-AGENCY") == RetryPolicy()
    for _ in range(limit):
        assert take(db, outbox_id, dt.datetime.now(dt.UTC), lease=0.001) is not None
        time.sleep(0.01)  # the sweep reads the clock: the lease must be over when it looks
        sweep_once(runtime, publish=lambda outbox_id: None)
    assert row(db, outbox_id).state == "dead"
    runtime.close()


def test_unknown_outcome_is_refused(db: Backend) -> None:
    held = take(db, file_one(db), at(0))
    assert held is not None
    with pytest.raises(ValueError):
        report(db, held, "maybe", at(1))
