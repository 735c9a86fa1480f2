"""Open a supplement request (補正, Art. 19) from an agency's INFO_REQUIRED event.

One request per (case, agency sequence): the unique constraint decides, so the same event
arriving again (a duplicate push, a pull that overlaps a poll) opens nothing. The agency's
words are kept as received; Guangdong is told in Simplified Chinese (OpenCC ``hk2s``), with
each agency document type mapped back to the Guangdong material code when the case's mapping
names exactly one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.notify import enqueue as notifications
from gateway.store.events import append_event
from gateway.store.tables import Case, SupplementRequest
from gateway.store.vocab import EventSource
from gateway.supplements.mapping import case_mapping, material_code_for
from gateway.text import convert as text

OPEN, ANSWERED = "open", "answered"
REQUESTED_EVENT = "case.supplement_requested"


def normalise_required(required: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[{"type", "due_date"}]`` as JSON values (ISO dates), whatever the parser gave.

    Accepts ``due_date`` or ``dueDate``, a date or its ISO string, or a pydantic
    ``PendingDocument`` dumped either way.
    """
    out: list[dict[str, Any]] = []
    for entry in required:
        if hasattr(entry, "model_dump"):  # a PendingDocument passed as is
            entry = entry.model_dump()
        due = entry.get("due_date", entry.get("dueDate"))
        if isinstance(due, dt.date):
            due = due.isoformat()
        out.append({"type": str(entry["type"]), "due_date": due})
    return out


def open_request(
    session: Session,
    case_ref: str,
    *,
    agency_seq: int,
    required: list[dict[str, Any]],
    remarks: str | None,
    now: dt.datetime,
) -> int | None:
    """Open (once per agency event) a request for documents and tell Guangdong in Simplified
    Chinese; return its id, or None when it was already open. In the caller's transaction."""
    exists = session.execute(
        select(SupplementRequest.id).where(
            SupplementRequest.case_ref == case_ref, SupplementRequest.agency_seq == agency_seq
        )
    ).scalar_one_or_none()
    if exists is not None:
        return None
    case = session.get(Case, case_ref)
    if case is None:
        raise LookupError(f"no case {case_ref}")
    documents = normalise_required(required)
    simplified = text.to_simplified(remarks) if remarks else remarks
    row = SupplementRequest(
        case_ref=case_ref,
        agency_seq=agency_seq,
        state=OPEN,
        required=documents,
        remarks=remarks,
        remarks_simplified=simplified,
        opened_at=now,
    )
    try:
        with session.begin_nested():  # a concurrent opener of the same event wins alone
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    mapping = case_mapping(case.item_code, case.item_version, case.region, case.mapping_id)
    append_event(
        session,
        case_ref,
        event="supplement-requested",
        source=EventSource.AGENCY,
        now=now,
        agency_seq=agency_seq,
        detail=f"request {row.id}: " + (", ".join(d["type"] for d in documents) or "no documents"),
    )
    notifications.notify(
        session,
        case_ref,
        REQUESTED_EVENT,
        {
            "requestId": row.id,
            "agencySeq": agency_seq,
            "required": [
                {
                    "materialCode": material_code_for(mapping, d["type"]),
                    "agencyType": d["type"],
                    "dueDate": d["due_date"],
                }
                for d in documents
            ],
            "remarks": simplified,
            "remarksOriginal": remarks,
        },
        now=now,
    )
    return row.id
