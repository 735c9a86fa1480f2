"""In order per case: a case's notification waits until every earlier one is delivered.

:func:`hold_until` is asked by :func:`gateway.outbox.claim` for a notification row of a case:
``None`` lets it be claimed; a time refuses it and says until when there is no point in trying
again (the earlier row's next attempt or lease end; a dead earlier row holds it until it is
redriven and delivered). :func:`wake_next` makes the next held notification due as soon as its
predecessor is delivered, so a backlog drains at the webhook's pace, not the hold's.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from gateway.store.tables import Outbox
from gateway.store.vocab import OutboxKind, OutboxState

#: how long a row behind a dead one waits before it is looked at again (redrive wakes it)
DEAD_HOLD = dt.timedelta(seconds=60)


def _earlier(case_ref: str, message_pk: int) -> tuple[ColumnElement[bool], ...]:
    return (
        Outbox.case_ref == case_ref,
        Outbox.kind == OutboxKind.NOTIFICATION,
        Outbox.message_pk < message_pk,
        Outbox.state != OutboxState.DELIVERED,
    )


def hold_until(
    session: Session, case_ref: str, message_pk: int, now: dt.datetime
) -> dt.datetime | None:
    """``None`` when every earlier notification of the case is delivered; otherwise when to
    look again."""
    first = session.execute(
        select(Outbox.state, Outbox.next_attempt_at, Outbox.lease_expires_at)
        .where(*_earlier(case_ref, message_pk))
        .order_by(Outbox.message_pk)
        .limit(1)
    ).first()
    if first is None:
        return None
    state, next_attempt_at, lease_expires_at = first
    if state == OutboxState.PENDING:
        return max(_aware(next_attempt_at), now)
    if state == OutboxState.SENDING and lease_expires_at is not None:
        return max(_aware(lease_expires_at), now)
    if state == OutboxState.DEAD:
        return now + DEAD_HOLD
    return now


def wake_next(session: Session, outbox_id: str, now: dt.datetime) -> str | None:
    """After notification ``outbox_id`` was delivered: make the case's next one due now (if it
    was only held, never tried); return its id."""
    row = session.execute(
        select(Outbox.case_ref, Outbox.message_pk, Outbox.kind).where(Outbox.id == outbox_id)
    ).first()
    if row is None or row.case_ref is None or row.kind != OutboxKind.NOTIFICATION:
        return None
    following = session.execute(
        select(Outbox.id, Outbox.state, Outbox.attempts)
        .where(
            Outbox.case_ref == row.case_ref,
            Outbox.kind == OutboxKind.NOTIFICATION,
            Outbox.message_pk > row.message_pk,
            Outbox.state != OutboxState.DELIVERED,
        )
        .order_by(Outbox.message_pk)
        .limit(1)
    ).first()
    if following is None or following.state != OutboxState.PENDING or following.attempts:
        return None
    session.execute(
        update(Outbox)
        .where(
            Outbox.id == following.id,
            Outbox.state == OutboxState.PENDING,
            Outbox.next_attempt_at > now,
        )
        .values(next_attempt_at=now, relay_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return str(following.id)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
