"""The declarative mappings, listed, and a dry-run render through one of them.

A dry-run goes through the same pipeline as ``gbagw validate``/``render`` and filing
(accept, translate, render, schema check) and stops there: nothing is stored, sent or signed.
"""

from __future__ import annotations

import json
import re
import uuid
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from gateway.api.auth import Caller, authenticated
from gateway.api.filing_service import filing_service
from gateway.api.refusals import Refused, RefusingRoute
from gateway.api.schemas import ApiModel, FieldProblem, error_responses, inline_schema
from gateway.catalogue.published import adopt_published
from gateway.domain import Application
from gateway.intake.problems import ApplicationRejected, Problem
from gateway.intake.wire import ApplicationIn
from gateway.mappings.engine import Mapping, bundled_mappings_dir
from gateway.ports import DocumentInvalid
from gateway.render.pipeline import Pipeline
from gateway.render.translate import translate
from gateway.store import transaction
from gateway.store.digest import sha256_hex

router = APIRouter(route_class=RefusingRoute, tags=["catalogue"])

Reader = Annotated[Caller, Depends(authenticated("platform", "operator"))]


class MappingOut(ApiModel):
    id: str = Field(description="The mapping's id, its file name without .yaml")
    version: int
    item_code: str
    item_versions: list[int] = Field(description="The item versions it covers")
    region: str
    agency: str
    service_code: str = Field(description="The agency's own service code")
    checksum: str = Field(description="SHA-256 of the mapping file as installed (hex)")


class MappingsOut(ApiModel):
    mappings: list[MappingOut]


class MappingUsed(ApiModel):
    id: str
    version: int
    region: str
    agency: str
    service_code: str


class TextNote(ApiModel):
    """A text as filed beside what the agency would receive."""

    path: str
    original: str
    converted: str | None = Field(description="null: left out on purpose (an ambiguous name)")
    decided_by: str | None = Field(description="What decided the conversion (rule or engines)")


class DryRunOut(ApiModel):
    case_ref: str = Field(description="The case reference filing this application would give")
    item_code: str
    item_version: int
    mapping: MappingUsed
    document: str = Field(
        description="The agency document rendered: CaseSubmission, PedidoProcesso…"
    )
    signed: bool = Field(
        description="Always false: a dry-run document is never signed, so it can never pass "
        "for one the gateway sent"
    )
    xml: str | None = Field(description="The rendered document; null when the schema refused it")
    schema_valid: bool = Field(description="The document validates against the agency schema")
    problems: list[FieldProblem] = Field(description="What the agency schema refused")
    texts: list[TextNote] = Field(description="Text conversions, one per text sent")


def _checksum(mapping_id: str) -> str:
    return sha256_hex((bundled_mappings_dir() / f"{mapping_id}.yaml").read_bytes())


@router.get(
    "/v1/mappings",
    response_model=MappingsOut,
    summary="List the declarative mappings",
    description="Every installed mapping (one per Guangdong item and region): what it covers, "
    "where it goes, and a checksum to compare with the file an engineer holds.",
    responses=error_responses(401, 403),
)
def list_mappings(request: Request, caller: Reader) -> MappingsOut:
    return MappingsOut(
        mappings=[_mapping_out(m) for m in filing_service(request).pipeline.mappings]
    )


def _mapping_out(m: Mapping) -> MappingOut:
    return MappingOut(
        id=m.mapping,
        version=m.version,
        item_code=m.item,
        item_versions=sorted(m.item_versions),
        region=m.region,
        agency=m.agency,
        service_code=m.service.code,
        checksum=_checksum(m.mapping),
    )


#: a bundled (synthetic) application, so /docs and schemathesis start from a valid one
_EXAMPLE = json.loads(
    (resources.files("gateway") / "data" / "examples" / "northbound-vehicle-hk.json").read_text(
        "utf-8"
    )
)


@router.post(
    "/v1/mappings/dry-run",
    response_model=DryRunOut,
    summary="Render an application without filing it",
    description="The body is a Guangdong application (gd-intake.md §2). It is checked and "
    "rendered exactly as filing would, then validated against the agency schema — and nothing "
    "more: nothing is stored, signed or sent. `region` and `agency`, when given, must be where "
    "the application would go. An invalid application answers `422` with every problem.",
    responses=error_responses(401, 403, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": inline_schema(ApplicationIn),
                    "examples": {"northbound-vehicle-hk": {"value": _EXAMPLE}},
                }
            },
        }
    },
)
async def dry_run(
    request: Request,
    caller: Reader,
    region: Annotated[str | None, Query(description="Expected target region (HK, MO)")] = None,
    agency: Annotated[str | None, Query(description="Expected agency code (HK-TD …)")] = None,
) -> Any:
    body = await request.body()
    return await run_in_threadpool(_dry_run, request, body, region, agency)


def _dry_run(request: Request, body: bytes, region: str | None, agency: str | None) -> Any:
    # the expected region and agency are checked before they are ever repeated in a message
    if region and region.upper() not in ("HK", "MO"):
        raise Refused(422, "the request is invalid", [Problem("region", "must be HK or MO")])
    if agency and not re.fullmatch(r"(HK|MO)-[A-Z]+", agency):
        raise Refused(422, "the request is invalid", [Problem("agency", "not an agency code")])
    pipeline = filing_service(request).pipeline
    with transaction(request.app.state.runtime.sessions, read_only=True) as session:
        adopt_published(pipeline.catalogue, session)  # versions published since start
    try:
        application = pipeline.accept(body)
    except ApplicationRejected as exc:
        raise Refused(422, "the application is invalid", exc.problems) from None
    if region and application.target_region != region.upper():
        wrong = f"application targets {application.target_region}, not {region.upper()}"
        raise Refused(422, "the application is invalid", [Problem("targetRegion", wrong)])
    mapping = pipeline.mappings.find(
        application.item_code, application.item_version, application.target_region
    )
    assert mapping is not None, "accept() checks it"
    if agency and mapping.agency != agency:
        wrong = f"this application would go to {mapping.agency}, not {agency}"
        raise Refused(422, "the application is invalid", [Problem("", wrong)])
    return _render(pipeline, application, mapping)


def _render(pipeline: Pipeline, application: Application, mapping: Mapping) -> DryRunOut:
    try:
        rendered = pipeline.render(application, None)
    except DocumentInvalid as exc:  # what the mapping made, the agency refuses: texts say why
        item = pipeline.catalogue.get(application.item_code, application.item_version)
        assert item is not None
        translation = translate(
            application, item, mapping, message_id=str(uuid.uuid4()), sent_at=pipeline.clock.now()
        )
        case_ref, document, xml = translation.submission.header.case_ref, exc.document, None
        texts = translation.texts
        found = [FieldProblem(path=path, message=why) for path, why in exc.problems()]
    else:
        case = rendered.case
        case_ref, document = case.case_ref, case.messages[0].kind
        xml, texts, found = rendered.to_bytes().decode("utf-8"), case.texts, []
    return DryRunOut(
        case_ref=case_ref,
        item_code=application.item_code,
        item_version=application.item_version,
        mapping=MappingUsed(
            id=mapping.mapping,
            version=mapping.version,
            region=mapping.region,
            agency=mapping.agency,
            service_code=mapping.service.code,
        ),
        document=document,
        signed=False,
        xml=xml,
        schema_valid=not found,
        problems=found,
        texts=[
            TextNote(
                path=t.path, original=t.original, converted=t.converted, decided_by=t.decided_by
            )
            for t in texts
        ],
    )
