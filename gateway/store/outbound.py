"""An outbound signed document and its outbox row, always written together."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from gateway.store.digest import sha256_hex
from gateway.store.tables import Message, Outbox, table_of
from gateway.store.vocab import Direction, OutboxKind, OutboxState

# built once (a statement built per call costs SQLAlchemy more: its cache key, each time)
_INSERT_MESSAGE = insert(table_of(Message)).returning(table_of(Message).c.id)
_INSERT_OUTBOX = insert(table_of(Outbox))


def add_outbound(
    session: Session,
    *,
    kind: str,
    destination: str,
    document: bytes,
    message_id: str,
    message_kind: str,
    case_ref: str | None,
    now: dt.datetime,
    counterpart: str | None = None,
) -> str:
    """Store the signed bytes once and queue them; return the outbox id (the Celery task id).

    ``kind`` is the outbox kind (submission, supplement, notification); ``message_kind`` the
    document's own name (CaseSubmission, PedidoProcesso, …). The row is due at ``now``.
    A message id already used outbound raises ``IntegrityError``. Plain INSERTs (no unit of
    work): the rows are written at once, in the caller's transaction.
    """
    message, outbox = outbound_rows(
        kind=kind,
        destination=destination,
        document=document,
        message_id=message_id,
        message_kind=message_kind,
        case_ref=case_ref,
        now=now,
        counterpart=counterpart,
    )
    message_pk = session.scalars(_INSERT_MESSAGE, [message]).one()
    session.execute(_INSERT_OUTBOX, {**outbox, "message_pk": message_pk})
    return str(outbox["id"])


def outbound_rows(
    *,
    kind: str,
    destination: str,
    document: bytes,
    message_id: str,
    message_kind: str,
    case_ref: str | None,
    now: dt.datetime,
    counterpart: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``messages`` row and the ``outbox`` row (but its ``message_pk``) of
    :func:`add_outbound`."""
    OutboxKind(kind)  # refuse an unknown kind before the database's CHECK does
    message = {
        "case_ref": case_ref,
        "direction": Direction.OUT,
        "kind": message_kind,
        "message_id": message_id,
        "counterpart": counterpart or destination,
        "sha256": sha256_hex(document),
        "body": document,
        "verified": True,
        "created_at": now,
    }
    outbox = {
        "id": str(uuid.uuid4()),
        "case_ref": case_ref,
        "kind": kind,
        "destination": destination,
        "state": OutboxState.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
    return message, outbox
