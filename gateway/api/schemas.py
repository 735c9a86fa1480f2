"""The public API's bodies: what each route takes and returns, in Guangdong's camelCase.

Response models are exactly what routes return (schemathesis holds them to it). Errors have
one shape, :class:`ApiError`, whose ``errors`` name each problem by the JSON path of its field;
no error ever repeats a value it was sent, so personal data never comes back in one.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from gateway.intake.wire import AttachmentIn

#: a gateway case reference (``GBA-`` + 20 upper-case hex digits, decisions.md)
CASE_REF = r"^GBA-[0-9A-F]{20}$"
#: free text: no control character (C0 but tab and line breaks, DEL, C1), and not blank
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # as ``gateway.text.tables.FORBIDDEN``
TEXT_PATTERN = rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$"


def text(max_length: int, description: str, **default: Any) -> Any:
    """A free-text field; ``default=`` makes it optional."""
    return Field(
        **default,
        min_length=1,
        max_length=max_length,
        pattern=TEXT_PATTERN,
        description=description,
    )


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class RequestModel(ApiModel):
    """A request body: unknown fields refused (a misspelt optional field would vanish)."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=False, validate_by_alias=True, extra="forbid"
    )


# --- errors --------------------------------------------------------------------------------


class FieldProblem(ApiModel):
    path: str = Field(description="JSON path of the field (`applicant.idNumber`); '' the body.")
    message: str


class ApiError(ApiModel):
    """Every refusal: what is wrong in one line, and each problem of the body by its path."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": "the application is invalid",
                    "errors": [{"path": "applicant.idNumber", "message": "check digit is wrong"}],
                }
            ]
        }
    )
    detail: str
    errors: list[FieldProblem] = []


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the refusals a route can give, all as :class:`ApiError`."""
    meaning = {
        401: "No, an unknown or a revoked bearer token.",
        403: "The caller's role may not call this route.",
        404: "No such case (or complaint).",
        409: "The request contradicts what is already recorded.",
        413: "The body is larger than the gateway accepts.",
        422: "The request is invalid: every problem, each with its field path.",
        503: "The gateway cannot sign now (no valid signing key).",
    }
    return {code: {"model": ApiError, "description": meaning[code]} for code in codes}


# --- cases -----------------------------------------------------------------------------------


class DueDates(ApiModel):
    statutory: dt.date | None = Field(description="Statutory time limit (Art. 20), GD days.")
    committed: dt.date | None = Field(description="Guangdong's committed date (Art. 20).")
    agency: dt.date | None = Field(description="When the agency is expected to answer.")


class TimelineEntry(ApiModel):
    seq: int
    event: str = Field(description="filed, delivered, status, supplement-forwarded, …")
    state: str | None = Field(description="The case state after the event, if it changed.")
    source: Literal["gateway", "agency", "operator", "guangdong"]
    agency_status: str | None
    at: dt.datetime


class RequiredDocument(ApiModel):
    material_code: str | None = Field(description="Guangdong's code (null: not one code).")
    agency_type: str
    due_date: dt.date | None


class SupplementRequestView(ApiModel):
    request_id: int
    agency_seq: int
    opened_at: dt.datetime
    required: list[RequiredDocument]
    remarks: str | None = Field(description="The agency's remarks in Simplified Chinese.")
    remarks_original: str | None = Field(description="As the agency wrote them.")


class OwedMaterial(ApiModel):
    """A material accepted as missing at filing (容缺, Art. 12), still owed."""

    material_code: str
    agency_type: str
    due_date: dt.date


class ResultDocument(ApiModel):
    doc_id: str | None
    uri: str | None
    sha256: str | None


class CaseResult(ApiModel):
    status: Literal["APPROVED", "REJECTED", "COMPLETED", "WITHDRAWN"]
    agency_status: str
    decided_at: dt.datetime
    reason: str | None = Field(description="The agency's remarks in Simplified Chinese.")
    reason_original: str | None
    result_document: ResultDocument | None


class CaseView(ApiModel):
    """One case as Guangdong follows it (Art. 17–22), whatever channel it was filed through."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "caseRef": "GBA-5D1F0C1A2B3C4D5E6F70",
                    "applicationNo": "GDZW-20250318-000744",
                    "itemCode": "1244000045585290442440150019000",
                    "itemVersion": 1,
                    "channel": "MOBILE",
                    "region": "HK",
                    "agency": "HK-SWD",
                    "agencyCaseRef": None,
                    "state": "filed",
                    "filedAt": "2026-03-02T01:00:00Z",
                    "updatedAt": "2026-03-02T01:00:00Z",
                    "dueDates": {"statutory": None, "committed": "2025-03-25", "agency": None},
                    "deliveryChannel": "ELECTRONIC",
                    "timeline": [
                        {
                            "seq": 1,
                            "event": "filed",
                            "state": "filed",
                            "source": "guangdong",
                            "agencyStatus": None,
                            "at": "2026-03-02T01:00:00Z",
                        }
                    ],
                    "pendingSupplements": [],
                    "owedMaterials": [],
                    "result": None,
                }
            ]
        }
    )
    case_ref: str
    application_no: str
    item_code: str
    item_version: int
    channel: str | None = Field(description="Where it was filed: ONLINE, MOBILE, KIOSK, …")
    region: Literal["HK", "MO"]
    agency: str
    agency_case_ref: str | None
    state: str = Field(description="filed, delivered, undeliverable, or the agency's status.")
    filed_at: dt.datetime
    updated_at: dt.datetime
    due_dates: DueDates
    delivery_channel: str | None = Field(description="How the applicant receives the result.")
    timeline: list[TimelineEntry]
    pending_supplements: list[SupplementRequestView]
    owed_materials: list[OwedMaterial]
    result: CaseResult | None


# --- supplements -----------------------------------------------------------------------------


class SupplementIn(RequestModel):
    """Documents for the agency: what it asked for (補正) or what is owed from filing."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "materials": [
                        {
                            "code": "M05",
                            "fileName": "address-proof.pdf",
                            "mediaType": "application/pdf",
                            "size": 20480,
                            "sha256": "ab" * 32,
                            "url": "https://att.gdzwfw.example/files/address-proof.pdf",
                        }
                    ]
                }
            ]
        }
    )
    materials: Annotated[list[AttachmentIn], Field(min_length=1, max_length=50)]


class ForwardedDocument(ApiModel):
    material_code: str
    agency_type: str
    doc_id: str


class SupplementForwarded(ApiModel):
    case_ref: str
    outbox_id: str
    message_id: str
    created: bool = Field(description="False: the same materials were forwarded before.")
    documents: list[ForwardedDocument] = Field(description="Empty on a repeat.")
    answered_requests: list[int]
    forwarded_pending: list[str]


# --- complaints and evaluations ----------------------------------------------------------------


class ComplaintIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"complaintNo": "TS-2026-000017", "content": "审批进度没有更新。"}]
        }
    )
    complaint_no: str = Field(
        pattern=r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,63}$",
        description="The platform's own reference; the same number again is a retry.",
    )
    content: str = text(4000, "The complaint as the applicant wrote it.")


class ComplaintView(ApiModel):
    id: str
    case_ref: str
    complaint_no: str
    content: str
    state: Literal["open", "answered", "closed"]
    filed_at: dt.datetime
    answer: str | None
    answered_at: dt.datetime | None


class ComplaintAnswerIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"answer": "已联系机构，进度已更新。", "close": True}]}
    )
    answer: str = text(4000, "The answer the applicant is given.")
    close: bool = Field(False, description="Close the complaint with this answer.")


def _whole_number(value: Any) -> Any:
    # JSON has one number type: 5.0 is the integer 5 (as JSON Schema says); "5" and true are not
    return int(value) if isinstance(value, float) and value.is_integer() else value


class EvaluationIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"rating": 5, "comment": "办理很快。"}]}
    )
    rating: Annotated[int, BeforeValidator(_whole_number)] = Field(
        ge=1, le=5, strict=True, description="1 (very poor) to 5 (very good)."
    )
    comment: str | None = text(2000, "Optional words of the applicant.", default=None)


class EvaluationView(ApiModel):
    case_ref: str
    rating: int
    comment: str | None
    evaluated_at: dt.datetime


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written in place, for an OpenAPI entry that
    documents a body the route reads itself (a ``#/$defs`` reference would not resolve)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]] | rest)
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def case_links() -> dict[str, Any]:
    """OpenAPI links from an answer carrying ``caseRef`` to the routes of that case."""
    return {
        name: {"operationId": operation, "parameters": {"ref": "$response.body#/caseRef"}}
        for name, operation in {
            "GetCase": "getCase",
            "ForwardSupplement": "forwardSupplement",
            "FileComplaint": "fileComplaint",
            "ListComplaints": "listComplaints",
            "EvaluateCase": "evaluateCase",
        }.items()
    }
