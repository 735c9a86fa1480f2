"""A worker whose data keys lack the one that sealed a stored document: each attempt is a
visible failure naming the key (counted, backed off, dead after the policy's attempts), never a
silent loop, never a call to the agency, and never held against the agency's breaker; once the
key is back, a redrive sends the original bytes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from gateway.delivery.deliver import _send
from gateway.outbox import BreakerPolicy, RetryPolicy, claim, record, redrive
from gateway.ports import Outcome
from gateway.store import file_case, transaction
from gateway.store.tables import AgencyBreaker, DeliveryAttempt, Message, Outbox
from gateway.store.testing import Backend
from tests.gateway.privacy.conftest import KEY_ONE, KEY_TWO, bound_sessions, personal_filing

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
POLICY = RetryPolicy(base_delay=10, factor=2, cap=300, jitter=0.0, max_attempts=2)
# a low threshold: one retryable failure counted against the agency would open it
EAGER = BreakerPolicy(threshold=1, cooldown=60)


class _NoAgency:
    """A runtime whose agency clients must never be asked for."""

    def client(self, destination: str) -> object:
        raise AssertionError(f"the agency {destination} was called")


def _attempt(sessions, outbox_id: str, now: dt.datetime) -> str | None:
    with transaction(sessions) as session:
        held = claim(session, outbox_id, worker="w-wrong-keys", lease_seconds=30, now=now)
    assert held is not None and held.document == b""
    result = _send(_NoAgency(), held)  # type: ignore[arg-type]
    assert result.outcome is Outcome.RETRYABLE
    with transaction(sessions) as session:
        return record(
            session,
            held,
            result.outcome.value,
            detail=result.detail,
            now=now,
            policy=POLICY,
            breaker_policy=EAGER,
        )


def test_a_document_this_worker_cannot_read_fails_visibly_and_is_redriven_later(
    db: Backend,
) -> None:
    with bound_sessions(db, KEY_ONE) as sessions, transaction(sessions) as session:
        file_case(session, **personal_filing(1), now=T0)
        outbox_id = session.scalars(select(Outbox.id)).one()
        signed = session.scalars(select(Message.body)).one()

    with bound_sessions(db, KEY_TWO) as sessions:
        assert _attempt(sessions, outbox_id, T0) == "pending"
        with transaction(sessions) as session:
            row = session.get(Outbox, outbox_id)
            assert row is not None and row.attempts == 1
            assert row.next_attempt_at > T0  # backed off, not republished at once
            assert "data key 'k1'" in (row.last_error or "")
            breakers = session.scalars(select(AgencyBreaker)).all()
            assert all(b.consecutive_failures == 0 for b in breakers)
            due = row.next_attempt_at
        assert _attempt(sessions, outbox_id, due) == "dead"
        with transaction(sessions) as session:
            row = session.get(Outbox, outbox_id)
            assert row is not None and "cannot read the stored document" in (row.last_error or "")
            details = session.scalars(select(DeliveryAttempt.detail)).all()
            assert len(details) == 2 and all("data key 'k1'" in (d or "") for d in details)

    # the key is deployed again: a redrive sends the bytes signed at filing
    with bound_sessions(db, KEY_ONE) as sessions:
        later = T0 + dt.timedelta(hours=1)
        with transaction(sessions) as session:
            assert redrive(session, [outbox_id], now=later, by="ops") == [outbox_id]
        with transaction(sessions) as session:
            held = claim(session, outbox_id, worker="w-right-keys", lease_seconds=30, now=later)
        assert held is not None and held.unreadable is None and held.document == signed
