"""Agency routes: what the gateway routed to the calling agency, and the signed documents
it sent them.

An agency client sees only cases routed to its own agency code: another agency's case is
``404`` exactly like a case that does not exist, so a guess learns nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.api.auth import Caller, authenticated
from gateway.store import transaction
from gateway.store.tables import Case, Message
from gateway.store.vocab import Direction

router = APIRouter(prefix="/agencies/v1", tags=["agencies"])
Agency = Annotated[Caller, Depends(authenticated("agency"))]
CaseRef = Annotated[str, Path(max_length=32, description="The gateway's case reference.")]


class SentDocument(BaseModel):
    """A signed document the gateway sent about the case (the exact bytes are served at
    ``…/documents/{message_id}``)."""

    message_id: str
    kind: str
    sha256: str
    sent_at: dt.datetime


class RoutedCase(BaseModel):
    case_ref: str
    item_code: str
    item_version: int
    state: str
    agency_case_ref: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    documents: list[SentDocument]


class RoutedCases(BaseModel):
    cases: list[RoutedCase]
    #: pass as ``since`` to get only what changed after this page
    next_since: dt.datetime | None


@router.get("/cases", summary="Cases routed to the calling agency, changed since a time")
def routed_cases(
    request: Request,
    caller: Agency,
    since: Annotated[
        dt.datetime | None, Query(description="Only cases changed after this instant.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RoutedCases:
    if since is not None and since.tzinfo is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "since needs a UTC offset")
    if since is not None:
        try:  # compared in UTC: 0001-01-01T00:00+14:00 is before the first representable instant
            since = since.astimezone(dt.UTC)
        except OverflowError:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "since is out of the representable range"
            ) from None
    query = select(Case).where(Case.agency == caller.agency)
    if since is not None:
        query = query.where(Case.updated_at > since)
    query = query.order_by(Case.updated_at, Case.case_ref).limit(limit)
    with transaction(request.app.state.runtime.sessions, read_only=True) as session:
        cases = list(session.scalars(query))
        sent = _documents(session, caller.agency, [case.case_ref for case in cases])
        views = [
            RoutedCase(
                case_ref=case.case_ref,
                item_code=case.item_code,
                item_version=case.item_version,
                state=case.state,
                agency_case_ref=case.agency_case_ref,
                created_at=case.created_at,
                updated_at=case.updated_at,
                documents=sent.get(case.case_ref, []),
            )
            for case in cases
        ]
    return RoutedCases(cases=views, next_since=views[-1].updated_at if views else since)


@router.get(
    "/cases/{case_ref}/documents/{message_id}",
    summary="The exact signed bytes the gateway sent to the calling agency",
    response_class=Response,
    responses={
        200: {"content": {"application/xml": {"schema": {"type": "string"}}}},
        404: {"description": "No such document for a case of the calling agency"},
    },
)
def sent_document(
    request: Request,
    caller: Agency,
    case_ref: CaseRef,
    message_id: Annotated[str, Path(max_length=128)],
) -> Response:
    with transaction(request.app.state.runtime.sessions, read_only=True) as session:
        body = session.scalar(
            select(Message.body)
            .join(Case, Case.case_ref == Message.case_ref)
            .where(
                Case.case_ref == case_ref,
                Case.agency == caller.agency,
                Message.direction == Direction.OUT,
                Message.message_id == message_id,
                Message.counterpart == caller.agency,
            )
        )
    if body is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such document")
    return Response(body, media_type="application/xml")


def _documents(
    session: Session, agency: str | None, refs: list[str]
) -> dict[str, list[SentDocument]]:
    """What went to ``agency`` itself (notifications to Guangdong about the case do not)."""
    found: dict[str, list[SentDocument]] = {}
    if not refs:
        return found
    rows = session.execute(
        select(
            Message.case_ref, Message.message_id, Message.kind, Message.sha256, Message.created_at
        )
        .where(
            Message.case_ref.in_(refs),
            Message.direction == Direction.OUT,
            Message.counterpart == agency,
        )
        .order_by(Message.id)
    )
    for ref, message_id, kind, sha, at in rows:
        found.setdefault(str(ref), []).append(
            SentDocument(message_id=message_id, kind=kind, sha256=sha, sent_at=at)
        )
    return found
