"""Retention: a closed case's personal data is removed once it has been closed long enough.

What goes: the application (replaced by a marker keeping only the filing's identifiers, see
:func:`gateway.privacy.personal.without_personal_data`), the converted texts, and the ID-number
hashes. What stays: the case, its timeline and the signed messages (encrypted) for the
archive. Each case gets a ``personal_data_removed`` event and a ``personal_data_removals`` row,
so a second run changes nothing; cases are taken in batches, each its own transaction.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.privacy.personal import without_personal_data
from gateway.reconcile.apply import TERMINAL
from gateway.store.db import transaction
from gateway.store.events import append_event
from gateway.store.tables import Case, IdentityHash, PersonalDataRemoval
from gateway.store.vocab import EventSource

EVENT = "personal_data_removed"


def due_cases(session: Session, cutoff: dt.datetime, limit: int) -> list[str]:
    """Closed cases unchanged since before ``cutoff`` whose personal data is still there."""
    removed = select(PersonalDataRemoval.case_ref).where(
        PersonalDataRemoval.case_ref == Case.case_ref
    )
    return list(
        session.scalars(
            select(Case.case_ref)
            .where(Case.state.in_(TERMINAL), Case.updated_at < cutoff, ~removed.exists())
            .order_by(Case.updated_at, Case.case_ref)
            .limit(limit)
        )
    )


def remove_personal_data(session: Session, case_ref: str, *, now: dt.datetime, days: int) -> bool:
    """Remove one case's personal data in the caller's transaction; False when already done."""
    case = session.get(Case, case_ref, with_for_update=True)  # a concurrent run waits here
    if case is None:
        raise LookupError(f"no case {case_ref}")
    if session.get(PersonalDataRemoval, case_ref) is not None:
        return False
    case.application = without_personal_data(case.application, now)
    case.texts = []
    session.execute(delete(IdentityHash).where(IdentityHash.case_ref == case_ref))
    session.add(PersonalDataRemoval(case_ref=case_ref, removed_at=now))
    session.flush()
    append_event(
        session,
        case_ref,
        event=EVENT,
        source=EventSource.GATEWAY,
        now=now,
        detail=f"closed more than {days} days; signed messages kept",
    )
    return True


def purge_personal_data(
    sessions: sessionmaker[Session],
    *,
    retention_days: int,
    now: dt.datetime | None = None,
    batch: int = 200,
) -> int:
    """Remove the personal data of every case closed more than ``retention_days`` ago;
    return how many cases changed (what ``gbagw cases purge-personal-data`` and the beat task
    run)."""
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(days=retention_days)
    total = 0
    while True:
        with transaction(sessions) as session:
            refs = due_cases(session, cutoff, batch)
            total += sum(
                remove_personal_data(session, ref, now=now, days=retention_days) for ref in refs
            )
        if len(refs) < batch:
            return total
