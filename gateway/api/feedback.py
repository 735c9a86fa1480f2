"""Complaints (Art. 31) and evaluations (Art. 29): the platform files, an operator answers.

Each write is idempotent as filing is: exactly the same request again answers ``200`` with
what was recorded the first time; a different one where only one is allowed is ``409``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy.orm import Session

from gateway.api.auth import Caller, authenticated
from gateway.api.refusals import Refused, RefusingRoute, case_ref_or_404
from gateway.api.schemas import (
    ComplaintAnswerIn,
    ComplaintIn,
    ComplaintView,
    EvaluationIn,
    EvaluationView,
    error_responses,
)
from gateway.store import transaction
from gateway.store.complaints import (
    CaseNotFound,
    ComplaintNotFound,
    ComplaintRecord,
    FeedbackConflict,
    answer_complaint,
    complaints_of,
    evaluate,
    file_complaint,
)

router = APIRouter(route_class=RefusingRoute, tags=["platform"])

Platform = Annotated[Caller, Depends(authenticated("platform"))]
Reader = Annotated[Caller, Depends(authenticated("platform", "operator"))]
Operator = Annotated[Caller, Depends(authenticated("operator"))]

_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
T = TypeVar("T")


def in_store(request: Request, work: Callable[[Session], T], *, read_only: bool = False) -> T:
    """``work`` in one transaction; the store's refusals as API ones."""
    try:
        with transaction(request.app.state.runtime.sessions, read_only=read_only) as session:
            return work(session)
    except (CaseNotFound, ComplaintNotFound) as exc:
        raise Refused(404, str(exc)) from None
    except FeedbackConflict as exc:
        raise Refused(409, str(exc)) from None


def complaint_view(c: ComplaintRecord) -> ComplaintView:
    return ComplaintView(
        id=c.id,
        case_ref=c.case_ref,
        complaint_no=c.complaint_no,
        content=c.content,
        state=c.state,
        filed_at=c.filed_at,
        answer=c.answer,
        answered_at=c.answered_at,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@router.post(
    "/v1/cases/{ref}/complaints",
    operation_id="fileComplaint",
    status_code=status.HTTP_201_CREATED,
    response_model=ComplaintView,
    summary="File a complaint about a case (Art. 31)",
    description="Tracked with its own state (`open` → `answered` or `closed`) and answer. "
    "`201` when filed; `200` when the same `complaintNo` with the same text was filed before; "
    "`409` when that number was filed with other text.",
    responses={
        200: {"model": ComplaintView, "description": "Filed before: the same complaint."},
        201: {
            "description": "Filed: the complaint, open.",
            "links": {
                "AnswerComplaint": {
                    "operationId": "answerComplaint",
                    "parameters": {"complaint_id": "$response.body#/id"},
                }
            },
        },
        **error_responses(401, 403, 404, 409, 422),
    },
)
def post_complaint(
    _: Platform, request: Request, ref: str, complaint: ComplaintIn, response: Response
) -> ComplaintView:
    ref = case_ref_or_404(ref)
    record, created = in_store(
        request,
        lambda s: file_complaint(s, ref, complaint.complaint_no, complaint.content, now=_now()),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return complaint_view(record)


@router.get(
    "/v1/cases/{ref}/complaints",
    operation_id="listComplaints",
    response_model=list[ComplaintView],
    summary="The complaints about a case",
    description="Oldest first, each with its state and answer. Platform and operators.",
    responses=error_responses(401, 403, 404, 422),
)
def get_complaints(_: Reader, request: Request, ref: str) -> list[ComplaintView]:
    ref = case_ref_or_404(ref)
    records = in_store(request, lambda s: complaints_of(s, ref), read_only=True)
    return [complaint_view(c) for c in records]


@router.post(
    "/v1/complaints/{complaint_id}/answer",
    operation_id="answerComplaint",
    response_model=ComplaintView,
    summary="Answer a complaint (operators)",
    description="Answers an open complaint, once; `close: true` also closes it. The same "
    "answer again changes nothing; another answer to an answered complaint is `409`.",
    responses=error_responses(401, 403, 404, 409, 422),
)
def post_answer(
    caller: Operator, request: Request, complaint_id: str, answer: ComplaintAnswerIn
) -> ComplaintView:
    if not re.fullmatch(_UUID, complaint_id):
        raise Refused(404, "no such complaint")
    record, _ = in_store(
        request,
        lambda s: answer_complaint(
            s, complaint_id, answer.answer, close=answer.close, operator=caller.name, now=_now()
        ),
    )
    return complaint_view(record)


@router.post(
    "/v1/cases/{ref}/evaluation",
    operation_id="evaluateCase",
    status_code=status.HTTP_201_CREATED,
    response_model=EvaluationView,
    summary="Evaluate a concluded case (Art. 29)",
    description="A rating from 1 to 5 and an optional comment, once the case is concluded "
    "(`COMPLETED`, `REJECTED` or `WITHDRAWN`; `409` before). Once per case: `200` for exactly "
    "the same evaluation again, `409` for another.",
    responses={
        200: {"model": EvaluationView, "description": "Evaluated before: the same evaluation."},
        **error_responses(401, 403, 404, 409, 422),
    },
)
def post_evaluation(
    _: Platform, request: Request, ref: str, evaluation: EvaluationIn, response: Response
) -> EvaluationView:
    ref = case_ref_or_404(ref)
    record, created = in_store(
        request, lambda s: evaluate(s, ref, evaluation.rating, evaluation.comment, now=_now())
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return EvaluationView(
        case_ref=record.case_ref,
        rating=record.rating,
        comment=record.comment,
        evaluated_at=record.evaluated_at,
    )
