"""Per-agency isolation: breakers pause and probe a down agency; a concurrency limit per
destination; one agency's backlog never holds up another's deliveries."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from sqlalchemy import func, select

from gateway.outbox import BreakerPolicy, Claim, RetryPolicy, claim, due, record
from gateway.store import transaction
from gateway.store.tables import AgencyBreaker, Outbox
from gateway.store.testing import Backend, enqueue_many

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
POLICY = RetryPolicy(base_delay=1, cap=1, jitter=0, max_attempts=50)
BREAKER = BreakerPolicy(threshold=2, cooldown=60)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def take(db: Backend, outbox_id: str, now: dt.datetime, **kwargs: Any) -> Claim | None:
    kwargs.setdefault("max_in_flight", 100)
    with transaction(db.factory) as session:
        return claim(session, outbox_id, worker="w", lease_seconds=30, now=now, **kwargs)


def report(db: Backend, held: Claim, outcome: str, now: dt.datetime) -> str | None:
    with transaction(db.factory) as session:
        return record(
            session, held, outcome, now=now, policy=POLICY, breaker_policy=BREAKER, detail="503"
        )


def breaker(db: Backend, agency: str) -> AgencyBreaker:
    with transaction(db.factory) as session:
        found = session.get(AgencyBreaker, agency)
        assert found is not None
        return found


def publish(db: Backend, now: dt.datetime, **kwargs: Any) -> list[str]:
    with transaction(db.factory) as session:
        return due(session, now=now, **kwargs)


def test_breaker_opens_probes_once_and_closes(db: Backend) -> None:
    down = enqueue_many(db, 4, destination="HKTD", now=T0)
    other = enqueue_many(db, 2, destination="DSAT", now=T0)

    for outbox_id in down[:2]:  # two consecutive retryable failures: open
        held = take(db, outbox_id, at(0))
        assert held is not None
        report(db, held, "retryable", at(1))
    state = breaker(db, "HKTD")
    assert (state.state, state.consecutive_failures, state.open_until) == ("open", 2, at(61))

    assert take(db, down[2], at(10)) is None  # paused
    published = publish(db, at(10))
    assert set(published) == set(other)  # the other agency is not held up
    assert all(take(db, i, at(10)) is not None for i in other)

    # cool-down over: the relay offers one row, and exactly one claim becomes the probe
    assert len(publish(db, at(61))) == 1
    probe = take(db, down[2], at(61))
    assert probe is not None and probe.probe
    assert take(db, down[3], at(61)) is None
    assert breaker(db, "HKTD").state == "half_open"
    assert publish(db, at(62)) == []

    report(db, probe, "retryable", at(62))  # still down: open for another cool-down
    state = breaker(db, "HKTD")
    assert (state.state, state.open_until) == ("open", at(122))
    assert take(db, down[3], at(100)) is None

    probe = take(db, down[3], at(122))
    assert probe is not None and probe.probe
    report(db, probe, "delivered", at(123))
    state = breaker(db, "HKTD")
    assert (state.state, state.consecutive_failures, state.open_until) == ("closed", 0, None)
    again = [take(db, i, at(124)) for i in down[:3]]
    assert all(c is not None and not c.probe for c in again)


def test_a_lost_probe_frees_the_slot_when_its_lease_ends(db: Backend) -> None:
    rows = enqueue_many(db, 4, destination="HKTD", now=T0)
    for outbox_id in rows[:2]:
        held = take(db, outbox_id, at(0))
        assert held is not None
        report(db, held, "retryable", at(1))
    assert take(db, rows[2], at(61)) is not None  # probe, whose worker then dies
    assert take(db, rows[3], at(90)) is None
    second = take(db, rows[3], at(91))  # the probe's lease (30 s) is over
    assert second is not None and second.probe


def test_any_answer_resets_the_failure_count(db: Backend) -> None:
    rows = enqueue_many(db, 3, destination="HKTD", now=T0)
    for outbox_id, outcome in zip(rows, ["retryable", "permanent", "retryable"], strict=True):
        held = take(db, outbox_id, at(0))
        assert held is not None
        report(db, held, outcome, at(1))
    assert (breaker(db, "HKTD").state, breaker(db, "HKTD").consecutive_failures) == ("closed", 1)


def test_concurrency_limit_per_destination(db: Backend) -> None:
    rows = enqueue_many(db, 3, destination="HKTD", now=T0)
    other = enqueue_many(db, 1, destination="DSAT", now=T0)
    first, second = (take(db, i, at(0), max_in_flight=2) for i in rows[:2])
    assert first is not None and second is not None
    assert take(db, rows[2], at(0), max_in_flight=2) is None
    assert take(db, other[0], at(0), max_in_flight=2) is not None  # limits are per destination
    with transaction(db.factory) as session:
        refused = session.get(Outbox, rows[2])
        assert refused is not None and (refused.state, refused.relay_until) == ("pending", None)

    report(db, first, "delivered", at(1))
    assert take(db, rows[2], at(1), max_in_flight=2) is not None
    # an expired lease no longer counts as in flight
    assert (
        take(
            db, enqueue_many(db, 1, destination="HKTD", now=T0, start=9)[0], at(31), max_in_flight=2
        )
        is not None
    )


def test_one_backlog_does_not_fill_the_relay_batch(db: Backend) -> None:
    backlog = enqueue_many(db, 30, destination="HKTD", now=T0 - dt.timedelta(hours=1))
    fresh = enqueue_many(db, 3, destination="DSAT", now=T0)
    published = publish(db, at(0), limit=10, per_destination=5)
    assert len(published) == 8
    assert set(fresh) <= set(published)
    assert len(set(published) & set(backlog)) == 5

    # live leases use up a destination's share
    for outbox_id in published:
        if outbox_id in backlog:
            assert take(db, outbox_id, at(0)) is not None
    assert publish(db, at(1), limit=10, per_destination=5) == []


def test_parallel_workers_of_one_agency_keep_its_limit_and_never_deadlock(db: Backend) -> None:
    """Eight workers claim and record one agency's rows at once (real connections): claim and
    record take the outbox row, then the breaker, so none waits on another in a cycle
    (PostgreSQL would abort one with a deadlock), and the limit is never exceeded."""
    rows = enqueue_many(db, 60, destination="HKTD", now=T0)
    limit, seen, errors = 3, [], []

    def work(worker: str) -> None:
        try:
            for outbox_id in rows:
                with transaction(db.factory) as session:
                    held = claim(
                        session,
                        outbox_id,
                        worker=worker,
                        lease_seconds=30,
                        now=at(1),
                        max_in_flight=limit,
                    )
                if held is None:
                    continue
                with transaction(db.factory) as session:
                    seen.append(
                        session.scalar(
                            select(func.count())
                            .select_from(Outbox)
                            .where(Outbox.destination == "HKTD", Outbox.state == "sending")
                        )
                    )
                report(db, held, "delivered", at(2))
        except Exception as exc:  # noqa: BLE001 - reported below, with its type
            errors.append(exc)

    for _ in range(5):  # rows refused at the limit are left pending: go round again
        threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    with transaction(db.factory) as session:
        states = set(session.scalars(select(Outbox.state).where(Outbox.id.in_(rows))))
    assert states == {"delivered"}
    assert seen and max(seen) <= limit
