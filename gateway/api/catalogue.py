"""The catalogue routes: service items (list, every version, publish a new one); the
mapping routes (:mod:`gateway.api.mappings`) are included here.

Items come from the app's pipeline (the bundled records) plus the versions published since
(the store), adopted into that same catalogue, so filing sees them too.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from gateway.api import mappings
from gateway.api.auth import Caller, authenticated
from gateway.api.filing_service import filing_service
from gateway.api.refusals import Refused, RefusingRoute
from gateway.api.schemas import ApiError, ApiModel, error_responses, inline_schema
from gateway.catalogue.loader import Catalogue, bundled_items_dir
from gateway.catalogue.published import (
    ItemRecordInvalid,
    ItemVersionConflict,
    VersionNotNewer,
    adopt_published,
    parse_item,
    publication_dates,
    publish,
)
from gateway.domain import ServiceItem
from gateway.intake.jsontext import read_object
from gateway.intake.problems import ApplicationRejected, Problem
from gateway.store import transaction

router = APIRouter(route_class=RefusingRoute, tags=["catalogue"])
router.include_router(mappings.router)

Reader = Annotated[Caller, Depends(authenticated("platform", "operator"))]
Operator = Annotated[Caller, Depends(authenticated("operator"))]
ItemCode = Annotated[str, Path(alias="itemCode", description="The item's implementation code")]

_EXAMPLE_RECORD = json.loads((bundled_items_dir() / "northbound-vehicle.json").read_text("utf-8"))
_NO_ITEM: dict[int | str, dict[str, Any]] = {
    404: {"model": ApiError, "description": "No such service item."}
}


class ItemTypeOut(ApiModel):
    code: str
    name: str


class LegalBasisOut(ApiModel):
    law: str
    article: str


class ItemSummary(ApiModel):
    """An item as its current (latest) version describes it."""

    item_code: str
    name: str
    type: ItemTypeOut
    basis: list[LegalBasisOut]
    statutory_days: int | None = Field(
        description="Statutory time limit in working days (法定辦結時限); null when none"
    )
    committed_days: int = Field(description="Committed time limit in working days (承諾辦結時限)")
    current_version: int
    status: Literal["ACTIVE", "WITHDRAWN"]
    versions: list[int] = Field(description="Every version the gateway knows, oldest first")


class ItemsOut(ApiModel):
    items: list[ItemSummary]


class ItemVersionOut(ApiModel):
    version: int
    published_at: dt.datetime | None = Field(
        description="When it was published through this API; null: bundled with the gateway"
    )
    record: ServiceItem = Field(description="The version's record, in Guangdong's format")


class ItemDetail(ItemSummary):
    history: list[ItemVersionOut] = Field(description="Every version's record, oldest first")


class PublishedOut(ApiModel):
    item_code: str
    version: int
    created: bool = Field(description="False: the same record as the latest, nothing written")
    previous_version: int | None
    mapped_regions: list[str] = Field(
        description="Regions whose mapping covers this version: applications can be filed"
    )
    unmapped_regions: list[str] = Field(
        description="Regions the item is offered in with no mapping for this version yet: "
        "applications for them are refused until a mapping lists the version"
    )


def _summary(catalogue: Catalogue, code: str) -> dict[str, Any]:
    versions = catalogue.versions(code)
    latest = catalogue.get(code, versions[-1])
    assert latest is not None
    return {
        "item_code": code,
        "name": latest.name,
        "type": latest.type.model_dump(),
        "basis": [b.model_dump() for b in latest.basis],
        "statutory_days": latest.statutory_days,
        "committed_days": latest.committed_days,
        "current_version": latest.version,
        "status": latest.status,
        "versions": versions,
    }


def _current_catalogue(request: Request) -> Catalogue:
    catalogue = filing_service(request).pipeline.catalogue
    with transaction(request.app.state.runtime.sessions, read_only=True) as session:
        adopt_published(catalogue, session)
    return catalogue


@router.get(
    "/v1/items",
    response_model=ItemsOut,
    summary="List service items",
    description="Every Guangdong service item the gateway knows (bundled and published), "
    "each as its current version describes it.",
    responses=error_responses(401, 403),
)
def list_items(request: Request, caller: Reader) -> ItemsOut:
    catalogue = _current_catalogue(request)
    codes = sorted({item.item_code for item in catalogue})
    return ItemsOut.model_validate({"items": [_summary(catalogue, code) for code in codes]})


@router.get(
    "/v1/items/{itemCode}",
    response_model=ItemDetail,
    summary="One service item with every version",
    description="Earlier versions stay readable: a case names the version it was filed under.",
    responses={**error_responses(401, 403), **_NO_ITEM},
)
def get_item(request: Request, item_code: ItemCode, caller: Reader) -> ItemDetail:
    catalogue = _current_catalogue(request)
    if not catalogue.versions(item_code):
        raise Refused(404, "no such service item")
    with transaction(request.app.state.runtime.sessions, read_only=True) as session:
        dates = publication_dates(session, item_code)
    history = [
        {
            "version": v,
            "published_at": dates.get((item_code, v)),
            "record": catalogue.get(item_code, v),
        }
        for v in catalogue.versions(item_code)
    ]
    return ItemDetail.model_validate({**_summary(catalogue, item_code), "history": history})


@router.put(
    "/v1/items/{itemCode}",
    response_model=PublishedOut,
    status_code=status.HTTP_201_CREATED,
    summary="Publish a new item version",
    description="The body is the version's record in Guangdong's format (gd-intake.md §1), "
    "checked as the catalogue checks its files: the committed time limit may not exceed the "
    "statutory one (Art. 20). The version must be greater than the latest (`409` otherwise); "
    "the latest published again unchanged answers `200`. Earlier versions are kept, and "
    "applications naming the new version are accepted once a mapping covers it.",
    responses={
        200: {
            "model": PublishedOut,
            "description": "The latest version, published again unchanged.",
        },
        201: {
            "description": "Published.",
            "headers": {
                "Location": {"description": "The item's URL", "schema": {"type": "string"}}
            },
        },
        **error_responses(401, 403, 409, 422),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": inline_schema(ServiceItem),
                    "examples": {"northbound-vehicle": {"value": _EXAMPLE_RECORD}},
                }
            },
        }
    },
)
async def publish_item(
    request: Request, response: Response, item_code: ItemCode, caller: Operator
) -> Any:
    body = await request.body()
    return await run_in_threadpool(_publish, request, response, item_code, body)


def _publish(request: Request, response: Response, item_code: str, body: bytes) -> Any:
    try:
        record = read_object(body)
        if record.get("itemCode", item_code) != item_code:
            raise ItemRecordInvalid([Problem("itemCode", "differs from the item code in the path")])
        item = parse_item(record)
    except (ApplicationRejected, ItemRecordInvalid) as exc:
        raise Refused(422, "the item record is invalid", exc.problems) from None
    pipeline = filing_service(request).pipeline
    try:
        with transaction(request.app.state.runtime.sessions) as session:
            published = publish(session, pipeline.catalogue, item)
    except (VersionNotNewer, ItemVersionConflict) as exc:
        raise Refused(409, str(exc)) from None
    if not published.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/v1/items/{item_code}"
    regions = published.item.cross_region
    mapped = [r for r in regions if pipeline.mappings.find(item_code, item.version, r) is not None]
    return PublishedOut(
        item_code=item_code,
        version=item.version,
        created=published.created,
        previous_version=published.previous,
        mapped_regions=mapped,
        unmapped_regions=[r for r in regions if r not in mapped],
    )
