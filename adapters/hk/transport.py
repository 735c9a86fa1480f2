"""The gateway's client for one HK agency's CBCE endpoint (``gateway.ports.AgencyClient``).

One ``httpx.Client`` per agency (connection reuse, explicit timeouts). Every HTTP answer is
turned into an :class:`Outcome` the outbox acts on, and every signed answer is verified as the
agency (``expected_sender``) before it is believed.

A 202/200 whose receipt does not verify is **PERMANENT**, not RETRYABLE: the agency may well
have filed the case, but we cannot prove it, and retrying returns the same bad receipt; an
operator must look (wrong certificate registered, agency key rotated without notice …). A
receipt or notice is believed only when it names the case asked about and the gateway
(:data:`signing.parties.GATEWAY_PARTY`) as its recipient: the same checks as the Macao client.

An endpoint URL that is not http(s) with a host is PERMANENT too (``adapters.endpoints``); the
HTTP transport is injectable (``connect(..., transport=httpx.MockTransport(...))``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self
from urllib.parse import quote

import httpx
from lxml import etree

from adapters import endpoints
from adapters.hk import FORMAT
from adapters.hk.format import NS
from gateway.domain import MessageHeader, Receipt, StatusReport
from gateway.ports import (
    AgencyCallFailed,
    AgencyClient,
    DeliveryResult,
    DocumentInvalid,
    Outcome,
    Polled,
)
from signing import SignatureRejected, TrustStore, parse_untrusted, verify
from signing.parties import GATEWAY_PARTY

XML = "application/xml; charset=utf-8"
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


class TransportError(AgencyCallFailed):
    """A status fetch that failed; ``outcome`` says whether trying again can help."""

    def __init__(
        self,
        outcome: Outcome,
        detail: str,
        fault_code: str | None = None,
        *,
        document: bytes | None = None,
    ):
        super().__init__(
            DeliveryResult(outcome, detail=detail, fault_code=fault_code, document=document)
        )
        self.detail, self.fault_code = detail, fault_code


class _Unbelievable(Exception):
    """A signed answer that failed verification, schema or consistency checks."""


def read_fault(body: bytes) -> tuple[str, str] | None:
    """``(Code, "Code: Message")`` from a CBCE Fault body, or None when it is not one."""
    try:
        root = parse_untrusted(body)
        if root.tag != f"{{{NS}}}Fault":
            return None
        FORMAT.validate(root)
        code, message, _detail = FORMAT.parse_fault(root)
    except (SignatureRejected, DocumentInvalid, ValueError):
        return None
    return code, f"{code}: {message}"


class HkClient:
    """One HK agency endpoint over CBCE REST."""

    def __init__(
        self,
        url: str,
        trust: TrustStore,
        *,
        agency: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base = url.rstrip("/")
        self.trust = trust
        self.agency = agency
        #: why ``url`` cannot be an endpoint (every call is then PERMANENT), or None
        self._bad_endpoint = endpoints.endpoint_problem(url)
        self._http = endpoints.client(timeout, transport, {"Accept": "application/xml"})

    # --- AgencyClient ----------------------------------------------------------------------

    def submit(self, signed_document: bytes) -> DeliveryResult:
        case_ref = self._case_ref_of(signed_document)
        return self._deliver(f"{self.base}/cbce/v1/cases", signed_document, case_ref)

    def send_supplement(self, case_ref: str, signed_document: bytes) -> DeliveryResult:
        url = f"{self.base}/cbce/v1/cases/{quote(case_ref, safe='')}/supplements"
        return self._deliver(url, signed_document, case_ref)

    def fetch_status(self, case_ref: str, since_seq: int | None = None) -> StatusReport | None:
        """The latest verified StatusNotice as a report; None on 404 (unknown case).

        CBCE returns only the latest notice: with ``since_seq`` its event is dropped when it
        is not newer. Anything else than 200/404 raises :class:`TransportError`.
        """
        polled = self.poll(case_ref, since_seq)
        return None if polled is None else polled.report

    def poll(self, case_ref: str, since_seq: int | None = None) -> Polled | None:
        """Pull the latest StatusNotice: the verified report and the notice's bytes as received.

        None on 404 (unknown case). A 200 whose notice cannot be believed raises a PERMANENT
        :class:`TransportError` carrying the body (``result.document``) for quarantine.
        """
        if self._bad_endpoint is not None:
            raise TransportError(Outcome.PERMANENT, self._bad_endpoint)
        url = f"{self.base}/cbce/v1/cases/{quote(case_ref, safe='')}/status"
        try:
            response = self._http.get(url)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise TransportError(endpoints.outcome_of(exc), endpoints.describe(exc)) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            result = self._failure(response)
            raise TransportError(result.outcome, result.detail, result.fault_code)
        document = response.content
        try:
            report = self._believe_status(document, case_ref)
        except (_Unbelievable, DocumentInvalid) as exc:
            raise TransportError(Outcome.PERMANENT, str(exc), document=document) from None
        if since_seq is not None:
            report = report.model_copy(
                update={"events": [e for e in report.events if e.seq > since_seq]}
            )
        return Polled(report, document)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------

    def _deliver(self, url: str, body: bytes, case_ref: str) -> DeliveryResult:
        if self._bad_endpoint is not None:
            return DeliveryResult(Outcome.PERMANENT, detail=self._bad_endpoint)
        try:
            response = self._http.post(url, content=body, headers={"Content-Type": XML})
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return DeliveryResult(endpoints.outcome_of(exc), detail=endpoints.describe(exc))
        status = response.status_code
        if status in (200, 202):
            try:
                receipt = self._believe_receipt(response.content, case_ref)
            except _Unbelievable as exc:
                return DeliveryResult(Outcome.PERMANENT, detail=f"HTTP {status}: {exc}")
            outcome = Outcome.DELIVERED if status == 202 else Outcome.DUPLICATE
            return DeliveryResult(
                outcome, receipt=receipt, detail=f"HTTP {status}", document=response.content
            )
        return self._failure(response)

    @staticmethod
    def _failure(response: httpx.Response) -> DeliveryResult:
        status = response.status_code
        parsed = read_fault(response.content)
        code, message = parsed if parsed is not None else (None, "no CBCE Fault in the body")
        detail = f"HTTP {status} {message}"
        if status == 409:
            outcome = Outcome.CONFLICT
        elif status in RETRYABLE_STATUS or status >= 500:
            outcome = Outcome.RETRYABLE
        else:  # 4xx, and anything unexpected (3xx, other 2xx): retrying cannot help
            outcome = Outcome.PERMANENT
        return DeliveryResult(outcome, detail=detail, fault_code=code)

    def _verified(self, body: bytes, kind: str) -> etree._Element:
        try:
            verified = verify(body, self.trust, FORMAT.header, expected_sender=self.agency)
        except SignatureRejected as exc:
            raise _Unbelievable(f"{kind} signature rejected: {exc.reason}: {exc.message}") from None
        element = verified.element
        if element.tag != f"{{{NS}}}{kind}":
            raise _Unbelievable(f"expected a signed {kind}, got {element.tag}")
        try:
            FORMAT.validate(element)
        except DocumentInvalid as exc:
            raise _Unbelievable(str(exc)) from None
        return element

    def _believe_receipt(self, body: bytes, case_ref: str) -> Receipt:
        receipt = FORMAT.parse_receipt(self._verified(body, "Receipt"))
        _addressed_to_us(receipt.header, case_ref, "receipt")
        return receipt

    def _believe_status(self, body: bytes, case_ref: str) -> StatusReport:
        report = FORMAT.parse_status(self._verified(body, "StatusNotice"))
        _addressed_to_us(report.header, case_ref, "status")
        return report

    @staticmethod
    def _case_ref_of(signed_document: bytes) -> str:
        """The GatewayCaseRef of our own outgoing document (to check the receipt against)."""
        root = parse_untrusted(signed_document)
        return FORMAT.parse_header(root).case_ref


def _addressed_to_us(header: MessageHeader, case_ref: str, kind: str) -> None:
    """A verified answer is believed only for the case asked about, sent to the gateway."""
    if header.case_ref != case_ref:
        raise _Unbelievable(f"{kind} is for case {header.case_ref}, the gateway asked {case_ref}")
    if header.recipient != GATEWAY_PARTY:
        raise _Unbelievable(
            f"{kind} is addressed to {header.recipient}, not to the gateway ({GATEWAY_PARTY})"
        )


def connect(
    url: str,
    trust: TrustStore,
    *,
    agency: str,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> HkClient:
    """Entry point ``gba_gateway.clients: HK``; ``transport`` replaces the network in tests."""
    return HkClient(url, trust, agency=agency, timeout=timeout, transport=transport)


if TYPE_CHECKING:  # the type checker proves the client has the port's shape

    def _port(client: HkClient) -> AgencyClient:
        return client
