"""Routes of the Guangdong platform: file applications, read cases, forward supplements.

Filing is the CLI's (``gbagw file``): the same intake, problems and idempotency, through one
:class:`~gateway.cases.filing.Filing` per app. Complaints and evaluations are in
:mod:`gateway.api.feedback`, included here. Routes that touch the store synchronously are
plain ``def``: FastAPI runs them in its threadpool, off the event loop.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from gateway.api import feedback
from gateway.api.auth import Caller, authenticated
from gateway.api.cases_view import case_view
from gateway.api.filing_service import FilingService, filing_service
from gateway.api.refusals import Refused, RefusingRoute, case_ref_or_404
from gateway.api.schemas import (
    CaseView,
    ForwardedDocument,
    SupplementForwarded,
    SupplementIn,
    case_links,
    error_responses,
    inline_schema,
)
from gateway.intake.problems import ApplicationRejected, Problem
from gateway.intake.wire import ApplicationIn
from gateway.ports import DocumentInvalid
from gateway.store import ApplicationConflict, transaction
from gateway.store.tables import Case
from gateway.supplements.forward import SupplementRefused, forward_detailed
from gateway.supplements.overdue import CLOSED

log = logging.getLogger(__name__)

router = APIRouter(route_class=RefusingRoute, tags=["platform"])
router.include_router(feedback.router)

Platform = Annotated[Caller, Depends(authenticated("platform"))]
Reader = Annotated[Caller, Depends(authenticated("platform", "operator"))]
Service = Annotated[FilingService, Depends(filing_service)]


async def application_body(request: Request) -> bytes:
    """The body, read only up to the intake's limit (a larger one is refused unread).

    Only JSON (or an untyped body, which the guard checks as JSON): the same bytes sent as
    XML would skip the guard's strict JSON checks and be answered differently.
    """
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise Refused(415, f"send the application as application/json, not {media!r}")
    limit = request.app.state.runtime.settings.max_input_bytes
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, f"the application is larger than {limit} bytes")
    if not body.strip():
        raise Refused(400, "the body is empty: send the application as a JSON object")
    return bytes(body)


def read_case(service: FilingService, ref: str) -> CaseView:
    with transaction(service.sessions, read_only=True) as session:
        view = case_view(session, ref, service.pipeline.catalogue)
    if view is None:
        raise Refused(404, f"no case {ref}")
    return view


@router.post(
    "/v1/applications",
    operation_id="fileApplication",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseView,
    summary="File an application",
    description="Validate, route, render, sign and store a Guangdong application for "
    "delivery, as `gbagw file` does. `201` with the new case (and its `Location`); `200` "
    "with the same case when exactly this application was filed before; `409` when its "
    "number was filed with other content; `422` listing every problem by field path.",
    responses={
        200: {
            "model": CaseView,
            "description": "Filed before: the same case.",
            "links": case_links(),
        },
        201: {
            "description": "Filed: the new case.",
            "links": case_links(),
            "headers": {
                "Location": {"description": "The case's URL", "schema": {"type": "string"}}
            },
        },
        **error_responses(401, 403, 409, 413, 422, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(ApplicationIn)}},
            "description": "A Guangdong application (gd-intake.md §2), UTF-8 JSON.",
        }
    },
)
def file_application(
    _: Platform,
    service: Service,
    body: Annotated[bytes, Depends(application_body)],
    response: Response,
) -> CaseView:
    try:
        filed = service.filing().file(body)
    except ApplicationRejected as exc:
        raise Refused(422, "the application is invalid", exc.problems) from None
    except ApplicationConflict as exc:
        raise Refused(409, str(exc)) from None
    except DocumentInvalid as exc:  # its messages may quote personal data: counted, not shown
        log.warning(
            "the %s format refused a rendered application (%d errors)",
            exc.document,
            len(exc.errors),
        )
        refusals = [Problem(path, why) for path, why in exc.problems()]
        raise Refused(422, "the application is invalid", refusals) from None
    if not filed.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/v1/cases/{filed.case_ref}"
    return read_case(service, filed.case_ref)


@router.get(
    "/v1/cases/{ref}",
    operation_id="getCase",
    response_model=CaseView,
    summary="Read a case",
    description="State, timeline, due dates, open supplement requests, materials owed, result "
    "and the applicant's delivery channel; the same view whichever channel the application "
    "came from. Platform and operators.",
    responses=error_responses(401, 403, 404, 422),
)
def get_case(_: Reader, service: Service, ref: str) -> CaseView:
    return read_case(service, case_ref_or_404(ref))


@router.post(
    "/v1/cases/{ref}/supplements",
    operation_id="forwardSupplement",
    status_code=status.HTTP_201_CREATED,
    response_model=SupplementForwarded,
    summary="Forward supplementary documents",
    description="Forward documents the agency asked for (補正) or owed since filing (容缺) "
    "to the case's agency, signed once, through the outbox (`gbagw supplement`). `201` when "
    "forwarded, `200` when exactly these materials were forwarded before; `409` while the "
    "case cannot take documents (not delivered yet, or closed); `422` naming what is wrong.",
    responses={
        200: {"model": SupplementForwarded, "description": "Forwarded before: nothing new."},
        **error_responses(401, 403, 404, 409, 422, 503),
    },
)
def forward_supplement(
    _: Platform, service: Service, ref: str, supplement: SupplementIn, response: Response
) -> SupplementForwarded:
    case_ref_or_404(ref)
    materials = [m.model_dump(mode="json", by_alias=True) for m in supplement.materials]
    key = service.key()
    try:
        with transaction(service.sessions) as session:
            case = session.get(Case, ref)
            if case is None:
                raise Refused(404, f"no case {ref}")
            if case.state in CLOSED:
                raise Refused(409, f"case {ref} is closed ({case.state})")
            if case.agency_case_ref is None:
                raise Refused(409, f"case {ref} has not been delivered to {case.agency} yet")
            done = forward_detailed(session, ref, materials, key, now=dt.datetime.now(dt.UTC))
    except SupplementRefused as exc:
        raise Refused(422, str(exc)) from None
    except DocumentInvalid as exc:  # its messages may quote what was sent: counted, not shown
        log.warning("the %s format refused a supplement (%d errors)", exc.document, len(exc.errors))
        raise Refused(
            422, f"the agency's format ({exc.document}) refuses these materials"
        ) from None
    if not done.created:
        response.status_code = status.HTTP_200_OK
    return SupplementForwarded(
        case_ref=ref,
        outbox_id=done.outbox_id,
        message_id=done.message_id,
        created=done.created,
        documents=[
            ForwardedDocument(
                material_code=d["materialCode"], agency_type=d["agencyType"], doc_id=d["docId"]
            )
            for d in done.documents
        ],
        answered_requests=done.answered_requests,
        forwarded_pending=done.forwarded_pending,
    )
