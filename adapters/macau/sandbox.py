"""A sandbox Macao agency: the SIP 1.0 SOAP service on the shared sandbox core.

This module owns only the Macao wire: SOAP 1.1 envelopes, the SIP documents, the Estado codes
and the WSDL it serves. Every decision — new, repeat or conflict; which status events are due;
"unavailable"; which key signs — is the shared :class:`adapters.sandbox.SandboxAgency`'s.

Each request: fault switches (delay, unavailable) first, then one safe parse of the envelope,
the payload XSD-validated, its signature verified standalone (exclusive C14N makes it
independent of the envelope's namespace declarations), values read from the verified element
only, and the answer signed by the agency. SIP has no push: the gateway polls ConsultarEstado.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from lxml import etree
from starlette.concurrency import run_in_threadpool

from adapters.macau import FORMAT, soap
from adapters.macau.format import NS, WSDL_PATH, XSD_PATH
from adapters.macau.soap import SoapFault, client_fault
from adapters.sandbox import Decision, SandboxAgency, SandboxConfig, SandboxEvent, UnknownCase
from gateway.domain import CaseStatus, MessageHeader, Receipt, StatusReport
from gateway.ports import DocumentInvalid
from gateway.render.documents import UTC_PLUS_8
from signing import SignatureRejected, Verified, WrongSender, sign, verify
from signing.parties import GATEWAY_PARTY

log = logging.getLogger(__name__)

#: canonical status → SIP Estado (the reverse of every MO mapping's ``statuses``)
ESTADOS: dict[CaseStatus, str] = {
    CaseStatus.RECEIVED: "RECEBIDO",
    CaseStatus.ACCEPTED: "ADMITIDO",
    CaseStatus.INFO_REQUIRED: "PENDENTE_DOCUMENTOS",
    CaseStatus.IN_PROGRESS: "EM_APRECIACAO",
    CaseStatus.APPROVED: "DEFERIDO",
    CaseStatus.REJECTED: "INDEFERIDO",
    CaseStatus.WITHDRAWN: "DESISTIDO",
    CaseStatus.COMPLETED: "CONCLUIDO",
}
XSD_NAME = XSD_PATH.name
_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
_SOAP_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
_XS_NS = "http://www.w3.org/2001/XMLSchema"
_SOAP_ACTIONS = {
    "PedidoProcesso": "SubmeterProcesso",
    "ConsultaEstado": "ConsultarEstado",
    "EntregaDocumentos": "EntregarDocumentos",
}


def create_app(
    config: SandboxConfig | Mapping[str, Any] | str | Path, *, agency: SandboxAgency | None = None
) -> FastAPI:
    """The ASGI app of one Macao sandbox (``gba_gateway.sandboxes`` entry point).

    ``POST /sip`` (or ``/sip/<agency code>``, which then must match ``Destinatario``) takes
    SOAP requests; ``GET …?wsdl`` serves the WSDL and ``GET …?xsd=sip-1.0.xsd`` its schema.
    ``app.state.agency`` is the shared core's :class:`SandboxAgency` (tests read its store).
    """
    config = SandboxConfig.coerce(config)
    if config.region != "MO":
        raise ValueError(f"the Macao sandbox serves region MO, not {config.region}")
    agency = agency or SandboxAgency(config)
    service = SipService(agency)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        agency.start()
        yield

    app = FastAPI(title="SIP 1.0 sandbox agency", lifespan=lifespan, openapi_url=None)
    app.state.agency = agency

    async def post(request: Request, code: str | None = None) -> Response:
        if agency.delay_seconds:
            await asyncio.sleep(agency.delay_seconds)
        if not agency.admit():
            agency.record("soap", "unavailable", agency=code)
            return _fault(soap.server_fault("Serviço temporariamente indisponível"))
        body = await request.body()
        action = request.headers.get("SOAPAction", "").strip().strip('"')
        try:
            answer = await run_in_threadpool(service.handle, body, action, code)
        except SoapFault as fault:
            return _fault(fault)
        except Exception:  # a sandbox bug: say so as SIP would, and keep the trace
            log.exception("SIP sandbox failed on a request")
            return _fault(soap.server_fault("Erro interno do serviço"))
        return Response(answer, status_code=200, media_type=soap.CONTENT_TYPE)

    async def get(request: Request) -> Response:
        if "wsdl" in request.query_params:
            return Response(_served_wsdl(_own_url(request)), media_type="text/xml")
        if request.query_params.get("xsd") == XSD_NAME:
            return Response(XSD_PATH.read_bytes(), media_type="text/xml")
        return Response("SIP 1.0: GET ?wsdl, or POST a SOAP 1.1 request\n", status_code=404)

    # The endpoint answers at the root too: people type the base URL they were given.
    app.add_api_route("/", post, methods=["POST"], include_in_schema=False)
    app.add_api_route("/", get, methods=["GET"], include_in_schema=False)
    app.add_api_route("/sip", post, methods=["POST"], include_in_schema=False)
    app.add_api_route("/sip/{code}", post, methods=["POST"], include_in_schema=False)
    app.add_api_route("/sip", get, methods=["GET"], include_in_schema=False)
    app.add_api_route("/sip/{code}", get, methods=["GET"], include_in_schema=False)
    return app


class SipService:
    """Request handling without HTTP: bytes in, response envelope out, or a SoapFault."""

    def __init__(self, agency: SandboxAgency):
        self.agency = agency
        #: (case, seq) already held back once under ``out_of_order_notices``
        self._held: set[tuple[str, int]] = set()
        self._held_lock = threading.Lock()
        self._operations: dict[str, Callable[[etree._Element, str | None], bytes]] = {
            "PedidoProcesso": self.submeter,
            "ConsultaEstado": self.consultar,
            "EntregaDocumentos": self.entregar,
        }

    def handle(self, data: bytes, action: str, code: str | None) -> bytes:
        payload = soap.read_request(data)
        name = etree.QName(payload)
        operation = self._operations.get(name.localname) if name.namespace == NS else None
        if operation is None:
            self.agency.record("soap", "ESQUEMA", agency=code)
            raise client_fault("ESQUEMA", f"no SIP operation takes {name.text}")
        expected = f"{NS}/{_SOAP_ACTIONS[name.localname]}"
        if action and action != expected:
            self.agency.record(name.localname, "ESQUEMA", agency=code)
            raise client_fault("ESQUEMA", f"SOAPAction {action} does not match {name.localname}")
        try:
            return operation(payload, code)
        except SoapFault as fault:
            log.info("SIP %s refused: %s", name.localname, fault.codigo)
            raise

    # --- operations ---------------------------------------------------------------------------

    def submeter(self, payload: etree._Element, code: str | None) -> bytes:
        verified = self._checked(payload, "PedidoProcesso", code)
        header = FORMAT.parse_header(verified.element)
        service_code = str(
            verified.element.xpath("string(sip:Servico/sip:CodigoServico)", namespaces=_NSMAP)
        ).strip()
        documents = verified.element.xpath(
            "sip:Documentos/sip:Documento/sip:Tipo/text()", namespaces=_NSMAP
        )
        result = self.agency.submit(
            header,
            FORMAT.submission_fingerprint(verified.element),
            service_code,
            self._sign_receipt,
            kind="PedidoProcesso",
            documents=[str(t).strip() for t in documents],
        )
        if result.decision is Decision.CONFLICT:
            raise client_fault(
                "CONFLITO_DUPLICADO",
                f"{header.case_ref} was filed by another message with different content",
            )
        assert result.receipt is not None
        return soap.response_envelope(result.receipt)

    def entregar(self, payload: etree._Element, code: str | None) -> bytes:
        verified = self._checked(payload, "EntregaDocumentos", code)
        supplement = FORMAT.parse_supplement(verified.element)
        header = FORMAT.parse_header(verified.element)
        try:
            result = self.agency.supplement(
                header,
                self._sign_receipt,
                agency_case_ref=supplement.agency_case_ref,
                kind="EntregaDocumentos",
            )
        except UnknownCase:
            raise client_fault(
                "PROCESSO_DESCONHECIDO", f"no case {header.case_ref} with that NumeroProcesso"
            ) from None
        assert result.receipt is not None
        return soap.response_envelope(result.receipt)

    def consultar(self, payload: etree._Element, code: str | None) -> bytes:
        self._validate(payload, "ConsultaEstado", code)
        case_ref, since = FORMAT.parse_query(payload)
        case = self.agency.case(case_ref)
        if case is None or (code is not None and case.agency != code):
            self.agency.record("ConsultaEstado", "PROCESSO_DESCONHECIDO", agency=code)
            raise client_fault("PROCESSO_DESCONHECIDO", f"no case {case_ref}")
        faults = self.agency.config.faults
        if faults.duplicate_notices:
            since = None  # SIP's "duplicate notices": every event again, whatever was asked
        events = self.agency.events(case_ref, since)
        if faults.out_of_order_notices:
            events = self._out_of_order(case_ref, events)
        now = self.agency.now().astimezone(UTC_PLUS_8)
        report = StatusReport(
            header=MessageHeader(
                message_id=str(uuid.uuid4()),
                case_ref=case_ref,
                sent_at=now,
                sender=case.agency,
                recipient=GATEWAY_PARTY,
            ),
            agency_case_ref=case.agency_case_ref,
            events=[e.to_status_event(ESTADOS[e.status]) for e in events],
        )
        return soap.response_envelope(self._signed(FORMAT.render_status(report), case.agency))

    def _out_of_order(self, case_ref: str, events: list[SandboxEvent]) -> list[SandboxEvent]:
        """SIP's "out-of-order notices": the first of several new events is held back the
        first time it could be told, so later events arrive before it (the gateway sees a gap
        and asks again). Within one answer ``Sequencia`` still increases, as the spec says."""
        if len(events) < 2:
            return events
        with self._held_lock:
            first = (case_ref, events[0].seq)
            hold = first not in self._held
            self._held.add(first)
        return events[1:] if hold else events

    # --- checks and signing ---------------------------------------------------------------

    def _validate(self, payload: etree._Element, kind: str, code: str | None) -> None:
        try:
            FORMAT.validate(payload)
        except DocumentInvalid as exc:
            self.agency.record(kind, "ESQUEMA", agency=code)
            raise client_fault("ESQUEMA", "; ".join(exc.errors)[:2000]) from None

    def _checked(self, payload: etree._Element, kind: str, code: str | None) -> Verified:
        """Schema, then signature (as the gateway), then an addressee this sandbox plays."""
        self._validate(payload, kind, code)
        try:
            verified = verify(
                soap.standalone(payload),
                self.agency.trust,
                FORMAT.header,
                expected_sender=GATEWAY_PARTY,
            )
        except WrongSender as exc:
            self.agency.record(kind, "NAO_AUTORIZADO", agency=code)
            raise client_fault("NAO_AUTORIZADO", exc.message) from None
        except SignatureRejected as exc:
            self.agency.record(kind, "ASSINATURA", agency=code)
            raise client_fault("ASSINATURA", f"{exc.reason}: {exc.message}") from None
        recipient = FORMAT.parse_header(verified.element).recipient
        if not self.agency.knows_agency(recipient) or (code is not None and recipient != code):
            self.agency.record(kind, "NAO_AUTORIZADO", message_id=verified.message_id)
            raise client_fault("NAO_AUTORIZADO", f"this endpoint does not serve {recipient}")
        return verified

    def _sign_receipt(self, receipt: Receipt) -> bytes:
        return self._signed(FORMAT.render_receipt(receipt), receipt.header.sender)

    def _signed(self, root: etree._Element, agency: str) -> bytes:
        FORMAT.validate(root)  # a sandbox that signs invalid documents would test nothing
        signed = sign(root, self.agency.signing_key(agency))
        return etree.tostring(signed, encoding="UTF-8", xml_declaration=False)


_NSMAP = {"sip": NS}


def _fault(fault: SoapFault) -> Response:
    """SOAP 1.1 over HTTP: every fault, Client or Server, goes with HTTP 500."""
    return Response(fault.to_bytes(), status_code=500, media_type=soap.CONTENT_TYPE)


def _own_url(request: Request) -> str:
    return str(request.url.replace(query="", fragment=""))


def _served_wsdl(url: str) -> bytes:
    """The project WSDL with its XSD import and soap:address pointing at this endpoint."""
    tree = copy.deepcopy(_wsdl_template())
    for imp in tree.iter(f"{{{_XS_NS}}}import"):
        if imp.get("schemaLocation") == XSD_NAME:
            imp.set("schemaLocation", f"{url}?xsd={XSD_NAME}")
    for address in tree.iter(f"{{{_SOAP_BINDING_NS}}}address"):
        address.set("location", url)
    return etree.tostring(tree, encoding="UTF-8", xml_declaration=True)


@functools.cache
def _wsdl_template() -> etree._ElementTree:
    return etree.parse(str(WSDL_PATH), etree.XMLParser(resolve_entities=False, no_network=True))


__all__ = ["ESTADOS", "SipService", "create_app"]
