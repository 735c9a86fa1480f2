"""The gateway's push endpoint for HK StatusNotices: ``POST /cbce/v1/status-notices``.

204 when stored (a duplicate too: the caller's store decides by Seq and MessageId); 400 +
Fault when the agency must not retry: SCHEMA (not a valid StatusNotice), SIGNATURE (not
signed by a registered agency), UNKNOWN_CASE, UNAUTHORISED (signed by an agency other than
the one the case was sent to, or not addressed to the gateway). A failure of the store itself
is 500 INTERNAL, which the agency retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from lxml import etree
from starlette.concurrency import run_in_threadpool

from adapters.hk import FORMAT
from adapters.hk.format import NS
from gateway.domain import StatusReport
from gateway.ports import DocumentInvalid
from signing import SignatureRejected, TrustStore, parse_untrusted, verify
from signing.parties import GATEWAY_PARTY

log = logging.getLogger(__name__)

XML = "application/xml; charset=utf-8"
PATH = "/cbce/v1/status-notices"

#: store a verified notice; gets the report and the signed document exactly as received
NoticeSink = Callable[[StatusReport, bytes], None]
#: the agency code a case was sent to, or None when the gateway has no such case
CaseLookup = Callable[[str], str | None]


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _fault(status: int, code: str, message: str) -> Response:
    body = etree.tostring(
        FORMAT.render_fault(code, message), xml_declaration=True, encoding="UTF-8"
    )
    return Response(body, status_code=status, media_type=XML)


def create_receiver(trust: TrustStore, on_notice: NoticeSink, known_case: CaseLookup) -> FastAPI:
    """An ASGI app taking pushed StatusNotices, verified before ``on_notice`` sees them."""

    def accept(body: bytes) -> StatusReport:
        try:
            root = parse_untrusted(body)
            if root.tag != f"{{{NS}}}StatusNotice":
                raise _Refused(400, "SCHEMA", "expected a cbce:StatusNotice")
            FORMAT.validate(root)
        except (SignatureRejected, DocumentInvalid) as exc:
            raise _Refused(400, "SCHEMA", f"not a valid StatusNotice: {exc}") from None
        try:
            verified = verify(body, trust, FORMAT.header)
        except SignatureRejected as exc:
            raise _Refused(400, "SIGNATURE", f"signature rejected ({exc.reason})") from None
        report = FORMAT.parse_status(verified.element)
        agency = known_case(report.header.case_ref)
        if agency is None:
            raise _Refused(400, "UNKNOWN_CASE", "no such case")
        if verified.sender != agency:
            raise _Refused(400, "UNAUTHORISED", "the case was not sent to this agency")
        if report.header.recipient != GATEWAY_PARTY:
            raise _Refused(400, "UNAUTHORISED", "the notice is not addressed to the gateway")
        on_notice(report, body)
        return report

    app = FastAPI(title="Gateway: HK status notices")

    @app.post(PATH)
    async def status_notice(request: Request) -> Response:
        body = await request.body()
        try:
            report = await run_in_threadpool(accept, body)
        except _Refused as exc:
            log.info("StatusNotice refused: %s", exc.code)
            return _fault(exc.status, exc.code, exc.message)
        except Exception:
            log.exception("StatusNotice could not be stored")
            return _fault(500, "INTERNAL", "the notice could not be stored; retry later")
        log.info(
            "StatusNotice %s for %s seq %d stored",
            report.header.message_id,
            report.header.case_ref,
            report.events[0].seq,
        )
        return Response(status_code=204)

    return app
