"""Complaints (Art. 31) and evaluations (Art. 29) of a case, from Guangdong's platform.

A complaint is filed under the platform's own number (``complaint_no``): the same number with
the same text again is a retry and changes nothing, with other text it is a conflict. It stays
``open`` until an operator answers it, once: ``answered`` (the applicant may follow up) or
``closed``. An evaluation (rating 1–5 and an optional comment) is accepted once per case and
only when the case is concluded. Each change is also a case event, so the case's timeline
shows it. Everything runs in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.store.events import append_event
from gateway.store.tables import Case, Complaint, Evaluation
from gateway.store.vocab import EventSource

OPEN, ANSWERED, CLOSED = "open", "answered", "closed"
#: the agency's final states (``gateway.reconcile.apply.TERMINAL``): the service is concluded
CONCLUDED = frozenset({"COMPLETED", "REJECTED", "WITHDRAWN"})


class CaseNotFound(LookupError):
    def __init__(self, case_ref: str):
        super().__init__(f"no case {case_ref}")


class ComplaintNotFound(LookupError):
    def __init__(self, complaint_id: str):
        super().__init__(f"no complaint {complaint_id}")


class FeedbackConflict(Exception):
    """The request contradicts what is already recorded; the message says what."""


@dataclass(frozen=True)
class ComplaintRecord:
    id: str
    case_ref: str
    complaint_no: str
    content: str
    state: str
    filed_at: dt.datetime
    answer: str | None
    answered_at: dt.datetime | None


@dataclass(frozen=True)
class EvaluationRecord:
    case_ref: str
    rating: int
    comment: str | None
    evaluated_at: dt.datetime


def _record(c: Complaint) -> ComplaintRecord:
    return ComplaintRecord(
        c.id, c.case_ref, c.complaint_no, c.content, c.state, c.filed_at, c.answer, c.answered_at
    )


def _locked_case(session: Session, case_ref: str) -> Case:
    """The case row, locked: concurrent retries of one filing queue instead of racing."""
    case = session.execute(
        select(Case).where(Case.case_ref == case_ref).with_for_update()
    ).scalar_one_or_none()
    if case is None:
        raise CaseNotFound(case_ref)
    return case


def file_complaint(
    session: Session, case_ref: str, complaint_no: str, content: str, *, now: dt.datetime
) -> tuple[ComplaintRecord, bool]:
    """File a complaint; ``(complaint, created)``. A retry returns the first with False."""
    _locked_case(session, case_ref)
    known = session.scalars(
        select(Complaint).where(
            Complaint.case_ref == case_ref, Complaint.complaint_no == complaint_no
        )
    ).one_or_none()
    if known is not None:
        if known.content != content:
            raise FeedbackConflict(
                f"complaint {complaint_no} of case {case_ref} was filed with other content"
            )
        return _record(known), False
    complaint = Complaint(
        id=str(uuid.uuid4()),
        case_ref=case_ref,
        complaint_no=complaint_no,
        content=content,
        state=OPEN,
        filed_at=now,
    )
    session.add(complaint)
    append_event(
        session,
        case_ref,
        event="complaint-filed",
        source=EventSource.GUANGDONG,
        now=now,
        detail=f"complaint {complaint.id}",
    )
    return _record(complaint), True


def complaints_of(session: Session, case_ref: str) -> list[ComplaintRecord]:
    """The case's complaints, oldest first; :class:`CaseNotFound` for an unknown case."""
    if session.get(Case, case_ref) is None:
        raise CaseNotFound(case_ref)
    rows = session.scalars(
        select(Complaint)
        .where(Complaint.case_ref == case_ref)
        .order_by(Complaint.filed_at, Complaint.id)
    )
    return [_record(c) for c in rows]


def answer_complaint(
    session: Session,
    complaint_id: str,
    answer: str,
    *,
    close: bool,
    operator: str,
    now: dt.datetime,
) -> tuple[ComplaintRecord, bool]:
    """Answer an open complaint (``close``: and close it); ``(complaint, changed)``.

    A complaint is answered once: the same answer again changes nothing, another one is a
    :class:`FeedbackConflict`.
    """
    complaint = session.execute(
        select(Complaint).where(Complaint.id == complaint_id).with_for_update()
    ).scalar_one_or_none()
    if complaint is None:
        raise ComplaintNotFound(complaint_id)
    state = CLOSED if close else ANSWERED
    if complaint.state != OPEN:
        if (complaint.answer, complaint.state) == (answer, state):
            return _record(complaint), False
        raise FeedbackConflict(f"complaint {complaint_id} is already {complaint.state}")
    complaint.state = state
    complaint.answer = answer
    complaint.answered_by = operator
    complaint.answered_at = now
    append_event(
        session,
        complaint.case_ref,
        event=f"complaint-{state}",
        source=EventSource.OPERATOR,
        now=now,
        detail=f"complaint {complaint.id}",
    )
    return _record(complaint), True


def evaluate(
    session: Session, case_ref: str, rating: int, comment: str | None, *, now: dt.datetime
) -> tuple[EvaluationRecord, bool]:
    """Record the case's evaluation; ``(evaluation, created)``.

    :class:`FeedbackConflict` before the case is concluded, and for a second, different one.
    """
    case = _locked_case(session, case_ref)
    known = session.get(Evaluation, case_ref)
    if known is not None:
        if (known.rating, known.comment) != (rating, comment):
            raise FeedbackConflict(f"case {case_ref} has already been evaluated")
        return EvaluationRecord(case_ref, known.rating, known.comment, known.evaluated_at), False
    if case.state not in CONCLUDED:
        raise FeedbackConflict(
            f"case {case_ref} is {case.state}: it can be evaluated once it is concluded "
            f"({', '.join(sorted(CONCLUDED))})"
        )
    session.add(Evaluation(case_ref=case_ref, rating=rating, comment=comment, evaluated_at=now))
    append_event(session, case_ref, event="evaluated", source=EventSource.GUANGDONG, now=now)
    return EvaluationRecord(case_ref, rating, comment, now), True
