"""Inbound messages in the store: kept raw on arrival, found again by their bytes, listed.

A received document is a ``messages`` row (direction ``in``) before anything reads it; until
it is checked it is *quarantined* with :data:`UNCHECKED` (the table's CHECK: verified XOR a
reason), and its ``message_id`` is ``sha256:<hex>`` of the bytes until the signed header is
known. The same bytes again find the same row, so a repeat never makes a second one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.store.among import among, dialect_of, inline
from gateway.store.bulk import insert_new_rows, insert_rows, plain_rows
from gateway.store.conflict import insert_unless_taken
from gateway.store.digest import sha256_hex
from gateway.store.tables import Message, table_of
from gateway.store.vocab import Direction

#: the reason a stored document carries until it has been checked (a crash leaves it visible)
UNCHECKED = "unverified: received, not yet checked"


def provisional_id(sha256: str) -> str:
    """The message id of a received document whose signed header is not known yet."""
    return f"sha256:{sha256}"


@dataclass(frozen=True)
class Stored:
    pk: int
    duplicate: bool  # these bytes were received before (the row is theirs)
    verified: bool
    case_ref: str | None
    quarantine_reason: str | None
    counterpart: str | None  # the signer once verified; until then, who pushed it


def store_received(
    session: Session,
    body: bytes,
    *,
    via: str,
    kind: str,
    now: dt.datetime,
    counterpart: str | None = None,
    case_ref: str | None = None,
    reason: str = UNCHECKED,
) -> Stored:
    """Insert ``body`` as an inbound message (quarantined with ``reason``), or find the row
    of the same bytes received before. Safe against a concurrent insert of the same bytes."""
    (stored,) = store_received_many(
        session,
        [Arrival(body, now, counterpart)],
        via=via,
        kind=kind,
        case_ref=case_ref,
        reason=reason,
    )
    return stored


@dataclass(frozen=True)
class Arrival:
    body: bytes
    now: dt.datetime
    counterpart: str | None = None  # who sent it, as far as known before verification


def store_received_many(
    session: Session,
    arrivals: Sequence[Arrival],
    *,
    via: str,
    kind: str,
    case_ref: str | None = None,
    reason: str = UNCHECKED,
) -> list[Stored]:
    """:func:`store_received` for each arrival, in order, with one INSERT (and one look-up:
    before it on SQLite, after it on PostgreSQL and only when some bytes were stored
    before). Bytes that arrive twice in ``arrivals`` get one row; the later ones are
    duplicates."""
    digests = [sha256_hex(arrival.body) for arrival in arrivals]
    postgresql = dialect_of(session) == "postgresql"
    # PostgreSQL inserts first, skipping digests already stored, and reads back only those it
    # did not insert: for a batch of new pushes (the usual) one statement, not two
    found: dict[str, _New] = {} if postgresql else dict(_by_sha256(session, digests))
    fresh: dict[str, Arrival] = {}
    for digest, arrival in zip(digests, arrivals, strict=True):
        if digest not in found:
            fresh.setdefault(digest, arrival)
    inserted: set[str] = set()
    if fresh:
        rows: list[dict[str, Any]] = [
            {
                "case_ref": case_ref,
                "direction": Direction.IN,
                "kind": kind,
                "message_id": provisional_id(digest),
                "counterpart": arrival.counterpart,
                "sha256": digest,
                "body": arrival.body,
                "via": via,
                "verified": False,
                "quarantine_reason": reason,
                "created_at": arrival.now,
            }
            for digest, arrival in fresh.items()
        ]
        if postgresql:  # one statement, however many rows
            ids = dict(
                insert_new_rows(
                    session,
                    table_of(Message),
                    rows,
                    key=("direction", "message_id"),
                    returning=("sha256", "id"),
                    unless=("direction", "sha256"),
                )
            )
            for values in rows:  # the others were stored by a concurrent receiver: read below
                if values["sha256"] in ids:
                    found[values["sha256"]] = _new({**values, "id": ids[values["sha256"]]})
                    inserted.add(values["sha256"])
        elif len(rows) == 1:  # the usual push alone: one statement, no savepoint
            row = session.execute(_insert_new(session), rows[0]).first()
            if row is not None:  # else stored by a concurrent receiver: found below
                found[row.sha256] = _New(*row)
                inserted.add(row.sha256)
        else:
            try:
                with session.begin_nested():
                    insert_rows(session, table_of(Message), rows)
                inserted = set(fresh)
            except IntegrityError:  # some of these bytes were stored by a concurrent receiver
                for values in rows:  # one at a time: which ones were ours
                    try:
                        with session.begin_nested():
                            session.execute(insert(table_of(Message)), values)
                        inserted.add(str(values["sha256"]))
                    except IntegrityError:
                        pass
        unread = [digest for digest in fresh if digest not in found]
        if unread:
            found.update(_by_sha256(session, unread))
    stored, seen = [], set()
    for digest in digests:
        stored.append(_stored(found[digest], duplicate=digest not in inserted or digest in seen))
        seen.add(digest)
    return stored


def _insert_new(session: Session) -> Any:
    """INSERT of one row unless its (provisional) message id is taken, returning a Stored's
    columns (nothing when taken)."""
    return insert_unless_taken(
        dialect_of(session), table_of(Message), ("direction", "message_id"), _STORED
    )


def _by_sha256(session: Session, digests: list[str]) -> dict[str, _New]:
    """The first inbound row of each of ``digests`` (a digest not stored: absent)."""
    rows = plain_rows(session, _by_digests(dialect_of(session)), {"digests": list(set(digests))})
    first: dict[str, _New] = {}
    for row in rows:
        new = _New(*row)
        first.setdefault(new.sha256, new)
    return first


class _New(NamedTuple):
    """A stored row as the batch reads it: just inserted, or read back by digest."""

    id: int
    sha256: str
    verified: bool
    case_ref: str | None
    quarantine_reason: str | None
    counterpart: str | None


#: the columns a :class:`Stored` is made of
_STORED = _New._fields


def _new(values: dict[str, Any]) -> _New:
    return _New(*(values[name] for name in _STORED))


@lru_cache(maxsize=4)
def _by_digests(dialect: str) -> Any:
    return (
        select(*(getattr(Message, name) for name in _STORED))
        .where(Message.direction == inline(Direction.IN), among(dialect, Message.sha256, "digests"))
        .order_by(Message.id)
    )


def _stored(row: _New, *, duplicate: bool) -> Stored:
    return Stored(
        row.id, duplicate, row.verified, row.case_ref, row.quarantine_reason, row.counterpart
    )


def quarantine(
    session: Session,
    pk: int,
    reason: str,
    *,
    case_ref: str | None = None,
    counterpart: str | None = None,
) -> None:
    """Keep message ``pk`` out of everything, with ``reason`` for the operator."""
    row = session.get(Message, pk, with_for_update=True)
    if row is None:
        raise LookupError(f"no message {pk}")
    mark_quarantined(session, row, reason, case_ref=case_ref, counterpart=counterpart)


def mark_quarantined(
    session: Session,
    row: Message,
    reason: str,
    *,
    case_ref: str | None = None,
    counterpart: str | None = None,
) -> None:
    """:func:`quarantine` on a loaded, locked row."""
    if row.verified:  # applied once already: a later check cannot take that back
        return
    row.quarantine_reason = reason
    if case_ref is not None and _case_exists(session, case_ref):
        row.case_ref = case_ref
    if counterpart is not None:
        row.counterpart = counterpart


def _case_exists(session: Session, case_ref: str) -> bool:
    from gateway.store.tables import Case

    return session.get(Case, case_ref) is not None


@dataclass(frozen=True)
class InboundRow:
    id: int
    received_at: dt.datetime
    via: str | None
    kind: str
    counterpart: str | None
    case_ref: str | None
    message_id: str
    sha256: str
    verified: bool
    reason: str | None


def list_inbound(
    session: Session, *, quarantined: bool = False, limit: int = 100
) -> list[InboundRow]:
    """Inbound messages, newest first; ``quarantined``: only those never applied."""
    query = select(Message).where(Message.direction == Direction.IN)
    if quarantined:
        query = query.where(Message.verified.is_(False))
    rows = session.scalars(query.order_by(Message.id.desc()).limit(limit))
    return [
        InboundRow(
            id=m.id,
            received_at=m.created_at,
            via=m.via,
            kind=m.kind,
            counterpart=m.counterpart,
            case_ref=m.case_ref,
            message_id=m.message_id,
            sha256=m.sha256,
            verified=m.verified,
            reason=m.quarantine_reason,
        )
        for m in rows
    ]
