"""A sandbox case's status over time: scripted steps become events as they fall due.

A case follows its scenario's script (:mod:`adapters.sandbox.script`). No timer writes the
events: a step is written to the ``events`` table the first time it is asked for after it has
come due (a status query, a pull, the HK push loop), and from then on it keeps its seq, time and
notice message id, so that a resend is the same notice. The notice faults (duplicated, out of
order) live here too, because they are about which events are sent and in what order, not about
what the agency decides.

The agency's decisions (:mod:`adapters.sandbox.agency`) own the lock and the transactions;
:class:`Timeline` works in the session it is handed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.sandbox.config import SandboxConfig
from adapters.sandbox.script import script
from adapters.sandbox.store import CaseRow, EventRow, RequestedDocumentRow
from gateway.domain import (
    CaseStatus,
    MessageHeader,
    PendingDocument,
    ResultRef,
    StatusEvent,
)
from gateway.render.documents import UTC_PLUS_8
from signing.parties import GATEWAY_PARTY

#: document type an INFO_REQUIRED event asks for when the submission carried no document
REQUIRED_DOCUMENT_TYPE = "SUPPLEMENTARY-DOCUMENT"
#: days the applicant is given to answer an INFO_REQUIRED request
SUPPLEMENT_DAYS = 14


@dataclass(frozen=True)
class SandboxEvent:
    """One due status event in canonical status; the format renders it as a notice."""

    case_ref: str
    agency: str
    agency_case_ref: str
    seq: int
    status: CaseStatus
    changed_at: dt.datetime
    #: the notice's message id: the same each time this event is (re)sent
    message_id: str
    remarks: str | None
    required_documents: tuple[PendingDocument, ...]
    result: ResultRef | None

    def header(self, sent_at: dt.datetime) -> MessageHeader:
        return MessageHeader(
            message_id=self.message_id,
            case_ref=self.case_ref,
            sent_at=sent_at,
            sender=self.agency,
            recipient=GATEWAY_PARTY,
        )

    def to_status_event(self, agency_status: str) -> StatusEvent:
        """The event with ``status`` translated by the format into its own code."""
        return StatusEvent(
            seq=self.seq,
            agency_status=agency_status,
            changed_at=self.changed_at,
            remarks=self.remarks,
            required_documents=list(self.required_documents),
            result=self.result,
        )


class Timeline:
    """The due status events of one sandbox's cases, and the order they are pushed in.

    Takes no lock and opens no transaction: the caller holds its lock around each call, so that
    two requests asking at once cannot both insert the same step.
    """

    def __init__(self, config: SandboxConfig, clock: Callable[[], dt.datetime]):
        self._config = config
        self._now = clock
        #: cases whose whole script was emitted and pushed: the push loop, which asks many
        #: times a second, never reads them again (in memory: a restart reads each once)
        self._all_pushed: set[str] = set()

    def events(
        self, session: Session, case: CaseRow, since_seq: int | None = None
    ) -> list[SandboxEvent]:
        """The case's due events with ``seq > since_seq``, by seq."""
        rows = self._materialise(session, case)
        asked = _requested(session, case)
        return [
            _event(case, row, asked) for row in rows if since_seq is None or row.seq > since_seq
        ]

    def due_pushes(self, session: Session) -> list[SandboxEvent]:
        """Due events not yet pushed, all cases, in the order the faults say to send them."""
        faults = self._config.faults
        batch: list[SandboxEvent] = []
        for case in session.scalars(select(CaseRow).order_by(CaseRow.received_at)):
            if case.case_ref in self._all_pushed:
                continue
            rows = self._materialise(session, case)
            if _script_pushed(case, rows):
                self._all_pushed.add(case.case_ref)
                continue
            asked = _requested(session, case)
            pending = [_event(case, r, asked) for r in rows if r.pushed_at is None]
            if faults.out_of_order_notices:
                # an odd last event would go out unswapped; while its successor is still to
                # come by time alone, wait for it so that the pair is visibly swapped
                if len(pending) % 2 and _successor_coming(case, len(rows)):
                    pending = pending[:-1]
                pending = _swap_pairs(pending)
            batch.extend(pending)
        if faults.duplicate_notices:
            batch = [e for event in batch for e in (event, event)]
        return batch

    def mark_pushed(self, session: Session, event: SandboxEvent) -> None:
        row = session.get(EventRow, (event.case_ref, event.seq))
        if row is not None and row.pushed_at is None:
            row.pushed_at = self._now()

    def _materialise(self, session: Session, case: CaseRow) -> list[EventRow]:
        """Insert the script steps that have come due; return all emitted events by seq."""
        existing = {
            row.seq: row
            for row in session.scalars(select(EventRow).where(EventRow.case_ref == case.case_ref))
        }
        now = self._now()
        step = dt.timedelta(seconds=self._config.step_seconds)
        due = case.received_at
        for index, spec in enumerate(script(case.scenario)):  # type: ignore[arg-type]
            if index:
                base = due
                if spec.after_supplement:
                    if case.supplemented_at is None:
                        break
                    base = max(base, case.supplemented_at)
                due = base + step
            if due > now:
                break
            seq = index + 1
            if seq not in existing:
                row = EventRow(
                    case_ref=case.case_ref,
                    seq=seq,
                    status=spec.status.value,
                    changed_at=due,
                    message_id=str(uuid.uuid4()),
                    remarks=spec.remarks,
                )
                session.add(row)
                existing[seq] = row
        session.flush()
        return [existing[s] for s in sorted(existing)]


def _script_pushed(case: CaseRow, rows: Sequence[EventRow]) -> bool:
    """Every step of the case's script was emitted and pushed: nothing more will come."""
    steps = script(case.scenario)  # type: ignore[arg-type]
    return len(rows) == len(steps) and all(row.pushed_at is not None for row in rows)


def _successor_coming(case: CaseRow, emitted: int) -> bool:
    """True when the step after the last emitted one will come due without a supplement."""
    steps = script(case.scenario)  # type: ignore[arg-type]
    if emitted >= len(steps):
        return False
    return not steps[emitted].after_supplement or case.supplemented_at is not None


def _requested(session: Session, case: CaseRow) -> str:
    """The document type a 補正 of the case asks for: the submission's first one again (as
    when an officer asks for a clearer copy), else a generic type (no document was sent)."""
    row = session.get(RequestedDocumentRow, case.case_ref)
    return row.document_type if row is not None else REQUIRED_DOCUMENT_TYPE


def _event(case: CaseRow, row: EventRow, requested: str) -> SandboxEvent:
    status = CaseStatus(row.status)
    changed = row.changed_at.astimezone(UTC_PLUS_8)
    required: tuple[PendingDocument, ...] = ()
    if status is CaseStatus.INFO_REQUIRED:
        due = changed.date() + dt.timedelta(days=SUPPLEMENT_DAYS)
        required = (PendingDocument(type=requested, due_date=due),)
    result = None
    if status is CaseStatus.COMPLETED:
        ref = case.agency_case_ref
        result = ResultRef(
            doc_id=f"RESULT-{ref}",
            uri=f"https://results.sandbox.example/{ref}.pdf",
            sha256=hashlib.sha256(ref.encode()).hexdigest(),
        )
    return SandboxEvent(
        case_ref=case.case_ref,
        agency=case.agency,
        agency_case_ref=case.agency_case_ref,
        seq=row.seq,
        status=status,
        changed_at=changed,
        message_id=row.message_id,
        remarks=row.remarks,
        required_documents=required,
        result=result,
    )


def _swap_pairs(events: Sequence[SandboxEvent]) -> list[SandboxEvent]:
    out = list(events)
    for i in range(0, len(out) - 1, 2):
        out[i], out[i + 1] = out[i + 1], out[i]
    return out
