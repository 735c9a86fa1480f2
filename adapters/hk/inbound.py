"""The gateway's push endpoint for HK StatusNotices: ``POST /cbce/v1/status-notices``.

The receiver only reads the body (at most the configured size) and hands the bytes to the
gateway's :class:`~gateway.inbound.receive.Inbound`, which stores them raw before anything
else, then verifies, checks and applies them. Answers per CBCE 1.0: 204 when stored (a
duplicate too); 400 + Fault when the agency must not retry: SCHEMA (not a valid StatusNotice),
SIGNATURE (not signed by a registered agency), UNKNOWN_CASE, UNAUTHORISED (signed by an
agency other than the one the case was sent to or the one whose token pushed it, or not
addressed to the gateway); 413 for a body over the size limit; 500 INTERNAL when the store
itself fails, which the agency retries. The gateway's app asks for the bearer token (401/403
before any of this) and leaves the caller on ``request.state.caller``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from lxml import etree

from adapters.hk import FORMAT

if TYPE_CHECKING:
    from gateway.inbound.receive import Inbound

log = logging.getLogger(__name__)

XML = "application/xml; charset=utf-8"
PATH = "/cbce/v1/status-notices"
FAULT_CODES = frozenset({"SCHEMA", "SIGNATURE", "UNKNOWN_CASE", "UNAUTHORISED"})


def _fault(status: int, code: str, message: str) -> Response:
    body = etree.tostring(
        FORMAT.render_fault(code, message), xml_declaration=True, encoding="UTF-8"
    )
    return Response(body, status_code=status, media_type=XML)


async def _read_bounded(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is longer than ``limit`` (the rest is never read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


XML_BODY = "application/xml"
_STRING = {"schema": {"type": "string"}}


def _fault_response(description: str) -> dict[str, Any]:
    """An answer that is a CBCE Fault, or (before the receiver reads the body) the
    gateway's own JSON refusal."""
    return {"description": description, "content": {XML_BODY: _STRING, "application/json": {}}}


def _pushed_by(request: Request) -> str | None:
    """The agency of the client the gateway authenticated (None when it asks for none)."""
    return getattr(getattr(request.state, "caller", None), "agency", None)


def create_receiver(inbound: Inbound) -> FastAPI:
    """An ASGI app taking pushed StatusNotices into ``inbound``."""
    from gateway.inbound.receive import BodyTooLarge

    app = FastAPI(title="Gateway: HK status notices")
    app.state.push_path = PATH  # where the gateway's app tells a sandbox to push

    @app.post(
        PATH,
        status_code=204,
        summary="Push a signed StatusNotice (CBCE 1.0)",
        openapi_extra={"requestBody": {"required": True, "content": {XML_BODY: _STRING}}},
        responses={
            400: _fault_response("A Fault: SCHEMA, SIGNATURE, UNKNOWN_CASE or UNAUTHORISED"),
            413: _fault_response("The notice is larger than the gateway accepts"),
            500: _fault_response("INTERNAL: the notice could not be stored; retry"),
        },
    )
    async def status_notice(request: Request) -> Response:
        limit = inbound.max_bytes
        body = await _read_bounded(request, limit)
        if body is None:
            log.info("StatusNotice refused: larger than %d bytes", limit)
            return _fault(413, "SCHEMA", f"the notice is larger than {limit} bytes")
        try:
            received = await inbound.receive_pushed_async(body, pushed_by=_pushed_by(request))
        except BodyTooLarge as exc:
            return _fault(413, "SCHEMA", str(exc))
        except Exception:
            log.exception("StatusNotice could not be stored")
            return _fault(500, "INTERNAL", "the notice could not be stored; retry later")
        if received.case_ref:
            request.state.audit_target = received.case_ref  # the gateway's audit log
        if received.quarantined is not None:
            code = received.code if received.code in FAULT_CODES else "SCHEMA"
            log.info("StatusNotice %d quarantined: %s", received.message_pk, received.quarantined)
            return _fault(400, code or "SCHEMA", received.quarantined)
        log.info(
            "StatusNotice %d for %s stored%s",
            received.message_pk,
            received.case_ref,
            " (duplicate)" if received.duplicate else "",
        )
        return Response(status_code=204)

    return app
