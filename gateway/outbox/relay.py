"""What the relay and the periodic sweep ask of the outbox.

The broker only wakes workers; the outbox is the truth. ``due`` hands the relay the rows to
publish (task id = outbox id) and marks them published until ``relay_until``; if the publish
is lost — broker down, relay killed between commit and publish — the rows come due again
when that passes. ``expire_leases`` takes back rows whose worker vanished mid-delivery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from gateway.outbox import breaker as breakers
from gateway.outbox.delivery import case_event
from gateway.outbox.policy import RetryPolicy
from gateway.store.tables import DeliveryAttempt, Outbox
from gateway.store.vocab import LEASE_EXPIRED, CaseState, OutboxState


def _in_flight(session: Session, now: dt.datetime) -> dict[str, int]:
    rows = session.execute(
        select(Outbox.destination, func.count())
        .where(Outbox.state == OutboxState.SENDING, Outbox.lease_expires_at > now)
        .group_by(Outbox.destination)
    )
    return {destination: count for destination, count in rows}


def due(
    session: Session,
    *,
    now: dt.datetime,
    limit: int = 100,
    per_destination: int = 20,
    republish_after: float = 60.0,
) -> list[str]:
    """Ids of pending rows to publish now, oldest first, fair across destinations.

    Skips destinations whose breaker is open (and gives a cooled-down one a single row, its
    probe). Each destination gets at most ``per_destination`` rows minus its live leases, so
    one agency's backlog cannot fill the batch and delay the others. On PostgreSQL the rows
    are locked ``FOR UPDATE SKIP LOCKED``: concurrent relays on several machines get disjoint
    batches. The returned rows are not republished before ``now + republish_after``.
    """
    blocked, probing = breakers.paused(session, now)
    in_flight = _in_flight(session, now)
    quota = {d: per_destination - n for d, n in in_flight.items()}
    quota.update({d: 1 - in_flight.get(d, 0) for d in probing})

    eligible = [
        Outbox.state == OutboxState.PENDING,
        Outbox.next_attempt_at <= now,
        or_(Outbox.relay_until.is_(None), Outbox.relay_until <= now),
    ]
    if blocked:
        eligible.append(Outbox.destination.not_in(blocked))
    rank = (
        func.row_number()
        .over(partition_by=Outbox.destination, order_by=(Outbox.next_attempt_at, Outbox.id))
        .label("rank")
    )
    ranked = select(Outbox.id, Outbox.destination, rank).where(*eligible).subquery()
    allowed = (
        case(quota, value=ranked.c.destination, else_=per_destination) if quota else per_destination
    )
    chosen = select(ranked.c.id).where(ranked.c.rank <= allowed)
    ids = list(
        session.scalars(
            select(Outbox.id)
            .where(Outbox.id.in_(chosen), *eligible)
            .order_by(Outbox.next_attempt_at, Outbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids))
            .values(relay_until=now + dt.timedelta(seconds=republish_after), updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids


def expire_leases(
    session: Session,
    *,
    now: dt.datetime,
    policy: RetryPolicy | Callable[[str], RetryPolicy],
) -> list[str]:
    """Take back ``sending`` rows whose lease has expired: pending and due now.

    The lost attempt counts: a row whose every worker dies (a poison message) goes dead after
    its destination's ``policy.max_attempts`` (``policy`` may be a function of the
    destination; it is required, so no caller can leave the loop unbounded) instead of looping
    forever, with the same case event and notification as a
    delivery that gave up. Rows locked by a live transaction are skipped (PostgreSQL) and seen
    by the next sweep.
    """
    rows = list(
        session.scalars(
            select(Outbox)
            .where(Outbox.state == OutboxState.SENDING, Outbox.lease_expires_at <= now)
            .order_by(Outbox.id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )
    for row in rows:
        session.execute(
            update(DeliveryAttempt)
            .where(
                DeliveryAttempt.lease_token == row.lease_token, DeliveryAttempt.outcome.is_(None)
            )
            .values(outcome=LEASE_EXPIRED, finished_at=now, detail="worker lost: lease expired")
            .execution_options(synchronize_session=False)
        )
        row.lease_owner = row.lease_token = row.lease_expires_at = None
        row.relay_until = None
        row.updated_at = now
        limit = policy(row.destination) if callable(policy) else policy
        if row.attempts >= limit.max_attempts:
            row.state = OutboxState.DEAD
            row.done_at = now
            row.outcome = LEASE_EXPIRED
            row.last_error = f"{LEASE_EXPIRED}: worker lost on each of {row.attempts} attempts"
            case_event(
                session, row, "undeliverable", row.last_error, now, final=CaseState.UNDELIVERABLE
            )
        else:
            row.state = OutboxState.PENDING
            row.next_attempt_at = now
    session.flush()
    return [row.id for row in rows]
