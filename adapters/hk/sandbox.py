"""A sandbox HK agency speaking CBCE 1.0 exactly, for end-to-end runs and tests.

The agency side of ``docs/specs/hk-cbce-1.0.md`` § Transport: it refuses what a real agency
would refuse (schema, signature, unknown recipient), answers repeats idempotently, scripts a
status history per case and pushes signed StatusNotices to the gateway. Every decision is the
shared core's (:mod:`adapters.sandbox`); this module is only CBCE: parsing, verifying,
rendering, signing and HTTP. Values are read only from the verified signed element.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from lxml import etree
from starlette.concurrency import run_in_threadpool

from adapters.hk import FORMAT
from adapters.hk.format import NS
from adapters.sandbox import (
    Decision,
    SandboxAgency,
    SandboxConfig,
    SandboxEvent,
    UnknownCase,
)
from gateway.domain import MessageHeader, Receipt, StatusReport
from gateway.ports import DocumentInvalid
from gateway.render.documents import UTC_PLUS_8
from signing import SignatureRejected, parse_untrusted, sign, verify
from signing.parties import GATEWAY_PARTY

log = logging.getLogger(__name__)

XML = "application/xml; charset=utf-8"
#: how often the push loop looks for due events, and its backoff bounds after a failure
PUSH_POLL_SECONDS = 0.1
PUSH_BACKOFF_START = 0.05
PUSH_BACKOFF_MAX = 2.0


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, built off the event loop."""

    status: int
    body: bytes

    def response(self) -> Response:
        return Response(self.body, status_code=self.status, media_type=XML)


class Refused(Exception):
    """A request refused with a CBCE Fault."""

    def __init__(self, status: int, code: str, message: str, detail: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


def _bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def fault(status: int, code: str, message: str, detail: str | None = None) -> Answer:
    return Answer(status, _bytes(FORMAT.render_fault(code, message, detail)))


class HkSandbox:
    """CBCE handlers over a :class:`SandboxAgency`; synchronous, run in a thread pool."""

    def __init__(self, agency: SandboxAgency):
        self.agency = agency
        self._notices: dict[str, bytes] = {}
        self._notice_lock = threading.Lock()

    # --- signing ------------------------------------------------------------------------

    def sign_receipt(self, receipt: Receipt) -> bytes:
        root = FORMAT.render_receipt(receipt)
        FORMAT.validate(root)  # a sandbox that signs invalid documents would test nothing
        return _bytes(sign(root, self.agency.signing_key(receipt.header.sender)))

    def notice(self, event: SandboxEvent) -> bytes:
        """The signed StatusNotice for an event, rendered once: a resend is byte-identical."""
        with self._notice_lock:
            cached = self._notices.get(event.message_id)
            if cached is None:
                report = StatusReport(
                    header=event.header(self.agency.now().astimezone(UTC_PLUS_8)),
                    agency_case_ref=event.agency_case_ref,
                    events=[event.to_status_event(event.status.value)],  # CBCE codes = canonical
                )
                root = FORMAT.render_status(report)
                FORMAT.validate(root)
                cached = _bytes(sign(root, self.agency.signing_key(event.agency)))
                self._notices[event.message_id] = cached
            return cached

    # --- inbound documents --------------------------------------------------------------

    def _verified(self, body: bytes, kind: str) -> tuple[etree._Element, MessageHeader]:
        """Parse → schema → signature (as the gateway) → recipient; or raise :class:`Refused`."""
        try:
            root = parse_untrusted(body)
        except SignatureRejected as exc:
            raise Refused(400, "SCHEMA", "not an acceptable XML document", exc.message) from None
        if root.tag != f"{{{NS}}}{kind}":
            raise Refused(400, "SCHEMA", f"expected a cbce:{kind}", f"got {root.tag}")
        try:
            FORMAT.validate(root)
        except DocumentInvalid as exc:
            raise Refused(400, "SCHEMA", f"the {kind} is not schema-valid", str(exc)) from None
        try:
            verified = verify(body, self.agency.trust, FORMAT.header, expected_sender=GATEWAY_PARTY)
        except SignatureRejected as exc:
            raise Refused(
                400, "SIGNATURE", f"signature rejected ({exc.reason})", exc.message
            ) from None
        header = FORMAT.parse_header(verified.element)
        if not self.agency.knows_agency(header.recipient):
            raise Refused(400, "UNAUTHORISED", f"{header.recipient} is not served here")
        return verified.element, header

    def submit(self, body: bytes) -> Answer:
        try:
            element, header = self._verified(body, "CaseSubmission")
        except Refused as exc:
            self.agency.record("CaseSubmission", exc.code)
            log.info("CaseSubmission refused: %s", exc.code)
            return fault(exc.status, exc.code, exc.message, exc.detail)
        service = element.find(f"{{{NS}}}Service/{{{NS}}}ServiceCode")
        service_code = service.text if service is not None and service.text else ""
        documents = [
            d.get("Type", "") for d in element.iterfind(f"{{{NS}}}Documents/{{{NS}}}Document")
        ]
        result = self.agency.submit(
            header,
            FORMAT.submission_fingerprint(element),
            service_code,
            self.sign_receipt,
            documents=documents,
        )
        log.info("case %s message %s: %s", header.case_ref, header.message_id, result.decision)
        if result.decision is Decision.CONFLICT:
            return fault(
                409,
                "DUPLICATE_CONFLICT",
                "this GatewayCaseRef was already submitted with other content",
                f"case {header.case_ref}, agency case {result.agency_case_ref}",
            )
        assert result.receipt is not None
        return Answer(202 if result.decision is Decision.NEW else 200, result.receipt)

    def supplement(self, case_ref: str, body: bytes) -> Answer:
        try:
            element, header = self._verified(body, "Supplement")
            if header.case_ref != case_ref:
                raise Refused(400, "SCHEMA", "GatewayCaseRef does not match the URL")
            case = self.agency.case(case_ref)
            if case is None:
                raise Refused(404, "UNKNOWN_CASE", "no such case")
            if case.agency != header.recipient:
                raise Refused(400, "UNAUTHORISED", "the case is filed with another agency")
        except Refused as exc:
            self.agency.record("Supplement", exc.code, case_ref=case_ref)
            log.info("Supplement for %s refused: %s", case_ref, exc.code)
            return fault(exc.status, exc.code, exc.message, exc.detail)
        agency_ref = element.find(f"{{{NS}}}AgencyCaseRef")
        try:
            result = self.agency.supplement(
                header,
                self.sign_receipt,
                agency_case_ref=None if agency_ref is None else agency_ref.text,
            )
        except UnknownCase:
            return fault(404, "UNKNOWN_CASE", "AgencyCaseRef does not match the case")
        log.info("supplement %s for %s: %s", header.message_id, case_ref, result.decision)
        assert result.receipt is not None
        return Answer(202 if result.decision is Decision.NEW else 200, result.receipt)

    def status(self, case_ref: str) -> Answer:
        try:
            event = self.agency.latest_event(case_ref)
        except UnknownCase:
            event = None
        if event is None:
            return fault(404, "UNKNOWN_CASE", "no such case")
        return Answer(200, self.notice(event))

    # --- push ---------------------------------------------------------------------------

    async def push_forever(self, url: str) -> None:
        """POST each due notice to the gateway; retry failures with a growing backoff.

        The event is marked pushed once the gateway has answered for the notice itself: 2xx
        (stored), or a 4xx CBCE Fault (stored and refused for good: bad signature, unknown
        case…), which the spec says not to retry. Every other answer is retried, 401 and 403
        included: a refused token means the gateway read and stored nothing, so giving up
        would lose the notice (e.g. one pushed while the agency's token is being re-issued).
        """
        backoff = PUSH_BACKOFF_START
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
            while True:
                failed = False
                for event in await run_in_threadpool(self.agency.due_pushes):
                    if not await self._push(client, url, event):
                        failed = True
                        break
                if failed:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, PUSH_BACKOFF_MAX)
                else:
                    backoff = PUSH_BACKOFF_START
                    await asyncio.sleep(PUSH_POLL_SECONDS)

    async def _push(self, client: httpx.AsyncClient, url: str, event: SandboxEvent) -> bool:
        body = await run_in_threadpool(self.notice, event)
        try:
            headers = {"Content-Type": XML}
            token = self.agency.config.push_tokens.get(event.agency)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("push %s seq %d: %s", event.case_ref, event.seq, type(exc).__name__)
            return False
        code = response.status_code
        if not response.is_success:
            fault_code = _fault_code(response) if 400 <= code < 500 else None
            if fault_code is None:
                log.info("push %s seq %d: HTTP %d, will retry", event.case_ref, event.seq, code)
                return False
            log.warning(
                "push %s seq %d refused: HTTP %d %s", event.case_ref, event.seq, code, fault_code
            )
        await run_in_threadpool(self.agency.mark_pushed, event)
        return True


def _fault_code(response: httpx.Response) -> str | None:
    """The Code of the CBCE Fault answered, or None when the answer is no Fault (a refused
    token's JSON, a proxy's page): the gateway did not judge the notice."""
    try:
        root = parse_untrusted(response.content)
        return FORMAT.parse_fault(root)[0]
    except (SignatureRejected, DocumentInvalid):
        return None


def create_app(
    config: SandboxConfig | Mapping[str, Any] | str | Path, *, agency: SandboxAgency | None = None
) -> FastAPI:
    """The sandbox HK agency as an ASGI app (entry point ``gba_gateway.sandboxes: HK``).

    ``app.state.agency`` is the shared core's :class:`SandboxAgency` (tests read its store);
    pass ``agency`` to supply one yourself (e.g. with a fake clock).
    """
    config = SandboxConfig.coerce(config)
    if config.region != "HK":
        raise ValueError(f"the HK sandbox needs region HK, not {config.region}")
    sandbox = HkSandbox(agency or SandboxAgency(config))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sandbox.agency.start()
        task = None
        if config.push_url:
            task = asyncio.create_task(sandbox.push_forever(config.push_url), name="cbce-push")
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(title="Sandbox HK agency (CBCE 1.0)", lifespan=lifespan)
    app.state.sandbox = sandbox
    app.state.agency = sandbox.agency

    async def gate() -> Response | None:
        """The delay and unavailability faults, applied before a request is even read."""
        if sandbox.agency.delay_seconds:
            await asyncio.sleep(sandbox.agency.delay_seconds)
        if not sandbox.agency.admit():
            sandbox.agency.record("request", "unavailable")
            return fault(503, "INTERNAL", "the agency is temporarily unavailable").response()
        return None

    @app.post("/cbce/v1/cases")
    async def submit_case(request: Request) -> Response:
        if (closed := await gate()) is not None:
            return closed
        body = await request.body()
        return (await run_in_threadpool(sandbox.submit, body)).response()

    @app.get("/cbce/v1/cases/{case_ref}/status")
    async def case_status(case_ref: str) -> Response:
        if (closed := await gate()) is not None:
            return closed
        return (await run_in_threadpool(sandbox.status, case_ref)).response()

    @app.post("/cbce/v1/cases/{case_ref}/supplements")
    async def supplement(case_ref: str, request: Request) -> Response:
        if (closed := await gate()) is not None:
            return closed
        body = await request.body()
        return (await run_in_threadpool(sandbox.supplement, case_ref, body)).response()

    return app


__all__ = ["HkSandbox", "create_app"]
