"""Filing a case: the case, its signed outbound message, its outbox row and its first event,
written together in the caller's transaction.

Idempotent on ``application_no``: Guangdong may send the same application again (a retry),
which must find the case already filed; the same number with other content is a conflict an
operator must see. Two concurrent filings of one number end with one case: the unique
constraint decides, and the loser re-reads the winner's row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gateway.privacy import lookup  # the module: privacy.lookup imports the store too
from gateway.privacy.masking import remember_names
from gateway.privacy.personal import names
from gateway.store.among import dialect_of
from gateway.store.conflict import insert_unless_taken
from gateway.store.digest import json_sha256
from gateway.store.outbound import add_outbound
from gateway.store.tables import Case, CaseEvent, IdentityHash, PendingMaterial, table_of
from gateway.store.vocab import CaseState, EventSource, OutboxKind


class ApplicationConflict(Exception):
    """The application number is already filed with different content."""

    def __init__(self, application_no: str, existing_case_ref: str):
        super().__init__(
            f"application {application_no} is already filed as {existing_case_ref} "
            "with different content"
        )
        self.application_no = application_no
        self.existing_case_ref = existing_case_ref


def _existing(session: Session, application_no: str, sha: str) -> str | None:
    row = session.execute(
        select(Case.case_ref, Case.application_sha256).where(Case.application_no == application_no)
    ).one_or_none()
    if row is None:
        return None
    if row.application_sha256 != sha:
        raise ApplicationConflict(application_no, row.case_ref)
    return row.case_ref


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def file_case(
    session: Session,
    *,
    case_ref: str,
    application_no: str,
    application: Mapping[str, Any],
    item_code: str,
    item_version: int,
    mapping_id: str,
    mapping_version: int,
    region: str,
    agency: str,
    texts: Sequence[Mapping[str, Any]] = (),
    document: bytes,
    message_id: str,
    kind: str,
    destination: str | None = None,
    now: dt.datetime | None = None,
    committed_due: dt.date | None = None,
    pending_materials: Sequence[Mapping[str, Any]] = (),
) -> tuple[str, bool]:
    """File one case with its signed submission; return ``(case_ref, created)``.

    ``application`` is the application as JSON values (``model_dump(mode="json")``); its
    canonical SHA-256 decides whether a repeat is the same filing. ``document`` is the signed
    submission exactly as it will be sent (``kind`` names it: ``CaseSubmission``,
    ``PedidoProcesso``); it is stored once and every retry resends these bytes.
    ``destination`` defaults to ``agency``. The outbox row is due at once.

    Art. 20 and Art. 12: ``committed_due`` is the committed due date the submission carries
    (its TimeLimit/DueDate); ``pending_materials`` are the materials accepted as missing (容缺),
    each ``{"material_code", "agency_type", "due_date"}`` as the submission's deficiencies
    list them. Both are written with the case, or not at all.

    Returns the existing case with ``created=False`` for a repeat (nothing is written); raises
    :class:`ApplicationConflict` when the number is taken by other content. Nothing is
    committed here: the caller's transaction makes the rows appear together.
    """
    now = now or dt.datetime.now(dt.UTC)
    remember_names(names(application, texts))  # masked in this process's logs from now on
    sha = json_sha256(dict(application))
    # No look-up first: a repeat is rare, and the unique number refuses it (below). Plain
    # INSERTs, not the ORM's unit of work: filing is the API's hot path (a third of the CPU of
    # POST /v1/applications went to flushing these rows).
    case = {
        "case_ref": case_ref,
        "application_no": application_no,
        "application_sha256": sha,
        "application": dict(application),
        "item_code": item_code,
        "item_version": item_version,
        "mapping_id": mapping_id,
        "mapping_version": mapping_version,
        "region": region,
        "agency": agency,
        "state": CaseState.FILED,
        "last_seq": 0,
        "event_count": 1,
        "texts": [dict(t) for t in texts],
        "created_at": now,
        "updated_at": now,
        "committed_due": committed_due,
        "delivery_channel": delivery_channel(application),
    }
    if not _insert_case(session, case):
        # The number is filed: the same application (a repeat), other content (a conflict),
        # or a concurrent filing of it that committed first.
        found = _existing(session, application_no, sha)
        if found is None:
            raise RuntimeError(f"application {application_no} was filed and is gone")
        return found, False
    identities = lookup.identity_rows(session, case_ref, application)
    if identities:  # look-ups by ID number
        session.execute(insert(table_of(IdentityHash)), identities)
    if pending_materials:
        session.execute(
            insert(table_of(PendingMaterial)),
            [
                {
                    "case_ref": case_ref,
                    "material_code": str(pending["material_code"]),
                    "agency_type": str(pending["agency_type"]),
                    "due_date": _date(pending["due_date"]),
                    "state": "pending",
                }
                for pending in pending_materials
            ],
        )
    add_outbound(
        session,
        kind=OutboxKind.SUBMISSION,
        destination=destination or agency,
        document=document,
        message_id=message_id,
        message_kind=kind,
        case_ref=case_ref,
        now=now,
        counterpart=agency,
    )
    session.execute(
        insert(table_of(CaseEvent)),
        {
            "case_ref": case_ref,
            "seq": 1,
            "event": "filed",
            "state": CaseState.FILED,
            "source": EventSource.GUANGDONG,
            "detail": f"{kind} {message_id}",
            "at": now,
        },
    )
    return case_ref, True


def _insert_case(session: Session, values: dict[str, Any]) -> bool:
    """Insert the case unless its number is filed; False then. ``ON CONFLICT DO NOTHING``
    rather than a savepoint: no extra round trips, and on PostgreSQL a concurrent filing of
    the number is waited for, then seen (the caller reads it). The statement is built once,
    its values parameters: built per filing with ``.values(…)``, its ~20 values were coerced
    and walked for the cache key every time (a fifth of a filing's CPU).

    Any unique index decides, not the number's alone: the case reference is derived from the
    number, and PostgreSQL raised a concurrent filing's clash on the primary key (checked
    first) as an error instead of waiting on the number's index (seen in
    test_concurrent_filings_of_one_number_make_one_case)."""
    unless_filed = insert_unless_taken(dialect_of(session), table_of(Case), (), ("case_ref",))
    return session.execute(unless_filed, values).first() is not None


def delivery_channel(application: Mapping[str, Any]) -> str | None:
    """The channel the applicant chose for the result (None when the application names none)."""
    delivery = application.get("delivery")
    channel = delivery.get("channel") if isinstance(delivery, Mapping) else None
    return channel if isinstance(channel, str) else None
