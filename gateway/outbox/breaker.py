"""Per-destination circuit breakers, kept in ``agency_breakers``.

closed → (threshold consecutive retryable failures) → open until ``open_until`` →
half_open: one probe holds the slot until ``probe_until`` (its lease) → the probe's outcome
closes the breaker (the agency answered) or reopens it for another cool-down.

Every claim and record for a destination locks its breaker row (``FOR UPDATE`` on
PostgreSQL; SQLite's writer lock does the same), which serialises them per destination: the
concurrency limit and the single probe are exact. Both lock the outbox row first and the
breaker after it (a fixed order, so they cannot deadlock), and as late as they can: the
breaker is held for the in-flight count and the lease (claim) or the outcome's count
(record) up to the commit, not for the rest of the transaction's work.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from gateway.outbox.policy import BreakerPolicy
from gateway.store.among import dialect_of
from gateway.store.conflict import insert_unless_taken
from gateway.store.tables import AgencyBreaker, table_of
from gateway.store.vocab import BreakerState, Outcome

# built once: every claim and record runs them (a statement built per call costs SQLAlchemy
# ~100 µs more, for its cache key and values)
_LOCKED = (
    select(AgencyBreaker)
    .where(AgencyBreaker.agency == bindparam("agency_"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_CLOSE = (
    update(AgencyBreaker)
    .where(AgencyBreaker.agency == bindparam("agency_"))
    .values(
        state=BreakerState.CLOSED,
        consecutive_failures=0,
        open_until=None,
        probe_until=None,
        updated_at=bindparam("now"),
    )
    .execution_options(synchronize_session=False)
)


def lock(session: Session, destination: str, now: dt.datetime) -> AgencyBreaker:
    """The destination's breaker row, created closed if new, locked for this transaction."""
    found = session.execute(_LOCKED, {"agency_": destination}).scalar_one_or_none()
    if found is not None:
        return found
    session.execute(  # unless a concurrent first claim created it
        insert_unless_taken(dialect_of(session), table_of(AgencyBreaker), ("agency",)),
        {
            "agency": destination,
            "state": BreakerState.CLOSED,
            "consecutive_failures": 0,
            "updated_at": now,
        },
    )
    return session.execute(_LOCKED, {"agency_": destination}).scalar_one()


def admit(breaker: AgencyBreaker, now: dt.datetime, probe_until: dt.datetime) -> bool:
    """May a delivery start now? An admitted claim on a cooled-down breaker is its probe."""
    if breaker.state == BreakerState.CLOSED:
        return True
    if breaker.state == BreakerState.OPEN and breaker.open_until and now < breaker.open_until:
        return False
    if (
        breaker.state == BreakerState.HALF_OPEN
        and breaker.probe_until
        and now < breaker.probe_until
    ):
        return False  # the probe is still out
    breaker.state = BreakerState.HALF_OPEN
    breaker.probe_until = probe_until
    breaker.updated_at = now
    return True


def is_probe(breaker: AgencyBreaker) -> bool:
    return breaker.state == BreakerState.HALF_OPEN


def observe(breaker: AgencyBreaker, outcome: str, policy: BreakerPolicy, now: dt.datetime) -> None:
    """Count an attempt's outcome: retryable failures add up, any answer closes."""
    breaker.updated_at = now
    if outcome == Outcome.RETRYABLE:
        breaker.consecutive_failures += 1
        if (
            breaker.state == BreakerState.HALF_OPEN
            or breaker.consecutive_failures >= policy.threshold
        ):
            breaker.state = BreakerState.OPEN
            breaker.open_until = now + dt.timedelta(seconds=policy.cooldown)
            breaker.probe_until = None
        return
    # delivered, duplicate, conflict, permanent: the agency is up and answering
    breaker.state = BreakerState.CLOSED
    breaker.consecutive_failures = 0
    breaker.open_until = None
    breaker.probe_until = None


def answered(session: Session, destination: str, now: dt.datetime) -> bool:
    """What :func:`observe` does for any answer (closed, no failures), as one UPDATE without
    reading the row first; False when the destination has no breaker row to update."""
    answered = session.execute(_CLOSE, {"agency_": destination, "now": now})
    return answered.rowcount == 1  # type: ignore[attr-defined]


def paused(session: Session, now: dt.datetime) -> tuple[set[str], set[str]]:
    """``(blocked, probing)``: destinations that may not start anything now, and those whose
    cool-down is over so exactly one probe may start."""
    blocked: set[str] = set()
    probing: set[str] = set()
    rows = session.execute(
        select(
            AgencyBreaker.agency,
            AgencyBreaker.state,
            AgencyBreaker.open_until,
            AgencyBreaker.probe_until,
        ).where(AgencyBreaker.state != BreakerState.CLOSED)
    )
    for agency, state, open_until, probe_until in rows:
        until = open_until if state == BreakerState.OPEN else probe_until
        (blocked if until is not None and now < until else probing).add(agency)
    return blocked, probing
