"""The append-only audit log: who wrote what, when, from where, and how it ended.

Only :func:`record_write` adds rows and nothing here changes or removes one; the database
refuses UPDATE and DELETE on its own (migration 0005). Values are cut to their column's size
so a hostile path or header can never make the record itself fail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.store.tables import AuditEntry

#: the actor of changes made with ``gbagw`` on the machine itself
CLI_ACTOR = "cli"


@dataclass(frozen=True)
class Write:
    """One write as the audit log keeps it (no token, body or personal data)."""

    method: str
    route: str
    status: int
    client_id: str | None = None
    actor: str | None = None
    role: str | None = None
    target: str | None = None
    address: str | None = None


def _cut(value: str | None, column: str) -> str | None:
    if value is None:
        return None
    size = getattr(AuditEntry.__table__.c[column].type, "length", None)
    return value[:size] if size else value


def record_write(session: Session, write: Write, *, at: dt.datetime | None = None) -> None:
    session.add(
        AuditEntry(
            at=at or dt.datetime.now(dt.UTC),
            client_id=write.client_id,
            actor=_cut(write.actor, "actor"),
            role=_cut(write.role, "role"),
            method=_cut(write.method, "method") or "",
            route=_cut(write.route, "route") or "",
            target=_cut(write.target, "target"),
            status=write.status,
            address=_cut(write.address, "address"),
        )
    )


def recent_writes(
    session: Session, *, limit: int = 100, actor: str | None = None
) -> list[AuditEntry]:
    """The latest entries, newest first (``actor``: only that client's, or ``cli``)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    return list(session.scalars(query))
