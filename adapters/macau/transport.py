"""The gateway's SIP client: zeep reading the project's WSDL, signed documents kept byte-intact.

zeep re-renders any value it is given with its own prefixes, which breaks an XML signature
(``docs``: measured facts, zeep). So a signed document never goes through zeep's value path:
zeep builds the operation's envelope (``create_message``) around a shell of the input element
— every child ``SkipValue``, the root attributes copied from the signed document — and the
shell is then replaced by the signed element itself. The envelope goes out over the client's
own ``httpx.Client`` (the same injectable transport as the HK client:
``connect(..., transport=httpx.MockTransport(...))``) and the reply goes through the binding's
``process_reply``, which raises zeep's ``Fault``. The unsigned ``ConsultaEstado`` goes through
zeep's value path as usual.

What zeep deserialises from a reply is never believed: the reply is parsed once more with the
signing module's hardened parser, its payload serialised standalone and verified with
:func:`signing.verify` (zeep's WS-Security verifier is not used), then checked to name the case
asked about and the gateway as recipient. Only then is it read; no public method returns an
unverified answer.

SIP cannot tell a first acceptance from a repeat (both answer the same signed receipt), so a
verified receipt is always :attr:`Outcome.DELIVERED`; :attr:`Outcome.DUPLICATE` is never
returned. Both mean "delivered" to the outbox. An endpoint URL that is not http(s) with a host
is PERMANENT (``adapters.endpoints``).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
from typing import TYPE_CHECKING, Any, Self, cast

import httpx
import zeep
from lxml import etree
from zeep import xsd
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault
from zeep.wsdl import Document
from zeep.wsdl.bindings.soap import SoapBinding

from adapters import endpoints
from adapters.macau import FORMAT, soap
from adapters.macau.format import BINDING, NS, WSDL_PATH
from gateway import ports
from gateway.domain import MessageHeader, StatusReport
from gateway.ports import AgencyClient, DeliveryResult, DocumentInvalid, Outcome
from signing import SignatureRejected, TrustStore, Verified, verify
from signing.algorithms import DS_NS
from signing.parties import GATEWAY_PARTY
from signing.xmlsafe import hardened_parser, parse_untrusted

log = logging.getLogger(__name__)

#: strict parsing, no DTD, entities or fetches of anything the WSDL does not ship with
SETTINGS = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
_TRANSIENT_HTTP = frozenset({408, 429})


class AgencyCallFailed(ports.AgencyCallFailed):
    """A status query or other call that returns data failed; ``result`` says how."""

    def __init__(self, result: DeliveryResult, fault: soap.FaultInfo | None = None):
        super().__init__(result)
        #: the SOAP fault the agency answered with, when it did
        self.fault = fault


class _OfflineTransport(zeep.Transport):
    """Loads the WSDL and its XSD from the package; a remote import is a bug, not a fetch.

    zeep never posts through it either: the client posts with its own ``httpx.Client`` (and
    zeep's ``post`` would log whole envelopes, which carry personal data, at DEBUG).
    """

    def _load_remote_data(self, url: str) -> bytes:
        raise RuntimeError(f"the SIP WSDL must load offline; it referenced {url}")

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> Any:
        raise RuntimeError("SIP envelopes are posted by MacaoClient, never by zeep")


@functools.cache
def _offline_transport() -> Any:  # zeep annotates its transport parameters as type[Transport]
    return _OfflineTransport()


@functools.cache
def wsdl_document() -> Document:
    """The project's WSDL and XSD, parsed by zeep once per process and shared by every client."""
    return Document(str(WSDL_PATH), _offline_transport(), settings=SETTINGS)


@functools.cache
def _shell(operation: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Child element and attribute names of an operation's input element (from the WSDL)."""
    body = wsdl_document().bindings[BINDING].get(operation).input.body
    return (
        tuple(name for name, _ in body.type.elements),
        tuple(name for name, _ in body.type.attributes),
    )


def connect(
    url: str,
    trust: TrustStore,
    *,
    agency: str,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> MacaoClient:
    """A client for one Macao agency's SIP endpoint (``gba_gateway.clients`` entry point);
    ``transport`` replaces the network in tests, as for the HK client."""
    return MacaoClient(url, trust, agency=agency, timeout=timeout, transport=transport)


class MacaoClient:
    """:class:`gateway.ports.AgencyClient` for one SIP endpoint; reuses its HTTP connection."""

    def __init__(
        self,
        url: str,
        trust: TrustStore,
        *,
        agency: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.url = url
        self.agency = agency
        self.timeout = timeout
        self._trust = trust
        #: why ``url`` cannot be an endpoint (every call is then PERMANENT), or None
        self._bad_endpoint = endpoints.endpoint_problem(url)
        self._http = endpoints.client(timeout, transport)
        self._zeep = zeep.Client(wsdl_document(), transport=_offline_transport(), settings=SETTINGS)
        self._service = self._zeep.create_service(BINDING, url)
        self._binding = cast(SoapBinding, self._zeep.wsdl.bindings[BINDING])

    # --- the port -------------------------------------------------------------------------

    def submit(self, signed_document: bytes) -> DeliveryResult:
        """SubmeterProcesso; a verified ReciboProcesso for the same case is DELIVERED."""
        return self._deliver("SubmeterProcesso", "PedidoProcesso", signed_document, None)

    def send_supplement(self, case_ref: str, signed_document: bytes) -> DeliveryResult:
        """EntregarDocumentos (補正 answer); answered with a ReciboProcesso like a submission."""
        return self._deliver("EntregarDocumentos", "EntregaDocumentos", signed_document, case_ref)

    def fetch_status(self, case_ref: str, since_seq: int | None = None) -> StatusReport | None:
        """ConsultarEstado; None for PROCESSO_DESCONHECIDO, :class:`AgencyCallFailed` else.

        Only events after ``since_seq`` are returned, even if the agency sent older ones.
        """
        polled = self.poll(case_ref, since_seq)
        return None if polled is None else polled.report

    def poll(self, case_ref: str, since_seq: int | None = None) -> ports.Polled | None:
        """ConsultarEstado with ``DesdeSequencia``: the verified report and the signed
        EstadoProcesso serialised standalone (what :func:`signing.verify` accepted).

        None for PROCESSO_DESCONHECIDO. An EstadoProcesso that cannot be believed raises a
        PERMANENT :class:`AgencyCallFailed` carrying it (``result.document``) for quarantine.
        """
        document: bytes | None = None
        try:
            envelope = self._zeep.create_message(
                self._service,
                "ConsultarEstado",
                VersaoEsquema="1.0",
                ReferenciaGateway=case_ref,
                DesdeSequencia=since_seq,
            )
            payload = self._call("ConsultarEstado", envelope)
            document = soap.standalone(payload)
            verified = self._verify(payload, "EstadoProcesso")
            report = FORMAT.parse_status(verified.element)
            _addressed_to_us(report.header, case_ref, "EstadoProcesso")
        except _Failed as failed:
            if failed.result.fault_code == "PROCESSO_DESCONHECIDO":
                return None
            raise AgencyCallFailed(_with_document(failed.result, document), failed.fault) from None
        except DocumentInvalid as exc:
            result = _with_document(_result(Outcome.PERMANENT, str(exc)), document)
            raise AgencyCallFailed(result) from None
        assert document is not None, "verified, so it was an EstadoProcesso"
        if since_seq is not None:
            report = report.model_copy(
                update={"events": [e for e in report.events if e.seq > since_seq]}
            )
        return ports.Polled(report, document)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ------------------------------------------------------------------------

    def _exchange(self, operation: str, document: etree._Element) -> etree._Element:
        """One SIP operation with a signed ``document`` (left untouched, sent byte-intact);
        the reply payload is returned **unverified**, so this stays private: a conformance kit
        may use it to judge the answer's signature as a check of its own.

        Raises :class:`AgencyCallFailed`.
        """
        try:
            return self._call(operation, self._envelope(operation, copy.deepcopy(document)))
        except _Failed as failed:
            raise AgencyCallFailed(failed.result, failed.fault) from None

    def _deliver(
        self, operation: str, root_name: str, signed: bytes, case_ref: str | None
    ) -> DeliveryResult:
        try:
            document = _signed_root(signed, root_name)
            ref = str(document.xpath("string(sip:Cabecalho/sip:ReferenciaGateway)", namespaces=_NS))
            if case_ref is not None and ref != case_ref:
                raise _Failed(_result(Outcome.PERMANENT, f"{root_name} is for another case"))
            payload = self._call(operation, self._envelope(operation, document))
            verified = self._verify(payload, "ReciboProcesso")
            receipt = FORMAT.parse_receipt(verified.element)
            received = soap.standalone(payload)
            _addressed_to_us(receipt.header, ref, "ReciboProcesso")
        except DocumentInvalid as exc:
            return _result(Outcome.PERMANENT, str(exc))
        except _Failed as failed:
            log.info(
                "SIP %s to %s: %s %s",
                operation,
                self.agency,
                failed.result.outcome,
                failed.result.fault_code or "",
            )
            return failed.result
        log.info("SIP %s to %s: delivered %s", operation, self.agency, ref)
        return DeliveryResult(Outcome.DELIVERED, receipt=receipt, document=received)

    def _envelope(self, operation: str, document: etree._Element) -> etree._Element:
        """zeep's envelope for ``operation``, its body element replaced by ``document``."""
        elements, attributes = _shell(operation)
        values: dict[str, Any] = {name: xsd.SkipValue for name in elements}
        values.update({name: document.get(name, "") for name in attributes})
        envelope = self._zeep.create_message(self._service, operation, **values)
        body = envelope.find(soap.BODY)
        (shell,) = body
        if shell.tag != document.tag:
            raise _Failed(_result(Outcome.PERMANENT, f"{operation} does not take {document.tag}"))
        body.replace(shell, document)
        return envelope

    def _call(self, operation: str, envelope: etree._Element) -> etree._Element:
        """Post, let zeep process the reply, and return the reply's payload parsed safely."""
        if self._bad_endpoint is not None:
            raise _Failed(_result(Outcome.PERMANENT, self._bad_endpoint))
        op = self._binding.get(operation)
        headers = {"SOAPAction": f'"{op.soapaction}"', "Content-Type": soap.CONTENT_TYPE}
        message = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        try:
            response = self._http.post(self.url, content=message, headers=headers)
        except httpx.TimeoutException:
            raise _Failed(_result(Outcome.RETRYABLE, f"no answer within {self.timeout}s")) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            if endpoints.outcome_of(exc) is Outcome.PERMANENT:
                detail = f"bad endpoint: {endpoints.describe(exc)}"
                raise _Failed(_result(Outcome.PERMANENT, detail)) from None
            detail = f"connection failed: {type(exc).__name__}"
            raise _Failed(_result(Outcome.RETRYABLE, detail)) from None
        status = response.status_code
        try:
            reply = parse_untrusted(response.content, soap.ENVELOPE_LIMITS)
        except SignatureRejected as exc:
            transient = status >= 500 or status in _TRANSIENT_HTTP
            outcome = Outcome.RETRYABLE if transient else Outcome.PERMANENT
            raise _Failed(
                _result(outcome, f"HTTP {status}, no SOAP reply ({exc.reason})")
            ) from None
        try:
            # zeep reads only status_code, headers, content and encoding: an httpx.Response does
            self._binding.process_reply(self._zeep, op, response)
        except Fault as fault:
            info = soap.read_fault(reply) or soap.FaultInfo(None, fault.message or "")
            raise _Failed(_fault_result(info, status), info) from None
        except ZeepError as exc:
            raise _Failed(_result(Outcome.PERMANENT, f"reply not per the WSDL: {exc}")) from None
        payload = soap.body_payload(reply)
        if payload is None:
            raise _Failed(_result(Outcome.PERMANENT, "the reply Body holds no single payload"))
        return payload

    def _verify(self, payload: etree._Element, expected: str) -> Verified:
        """Verify the payload standalone as signed by this agency, then schema-check it."""
        if payload.tag != f"{{{NS}}}{expected}":
            raise _Failed(_result(Outcome.PERMANENT, f"expected sip:{expected} in the reply"))
        try:
            verified = verify(
                soap.standalone(payload), self._trust, FORMAT.header, expected_sender=self.agency
            )
            FORMAT.validate(verified.element)
        except SignatureRejected as exc:
            detail = (
                f"{expected} signature rejected ({exc.reason}): {exc.message}; "
                "an operator must check the agency's certificate"
            )
            raise _Failed(_result(Outcome.PERMANENT, detail)) from None
        except DocumentInvalid as exc:
            raise _Failed(_result(Outcome.PERMANENT, str(exc))) from None
        return verified


_NS = {"sip": NS}


def _addressed_to_us(header: MessageHeader, case_ref: str, kind: str) -> None:
    """A verified answer is believed only for the case asked about, sent to the gateway."""
    if header.case_ref != case_ref:
        detail = f"{kind} is for case {header.case_ref}, the gateway asked {case_ref}"
        raise _Failed(_result(Outcome.PERMANENT, detail))
    if header.recipient != GATEWAY_PARTY:
        detail = f"{kind} is addressed to {header.recipient}, not to the gateway ({GATEWAY_PARTY})"
        raise _Failed(_result(Outcome.PERMANENT, detail))


class _Failed(Exception):
    def __init__(self, result: DeliveryResult, fault: soap.FaultInfo | None = None):
        self.result = result
        self.fault = fault


def _result(outcome: Outcome, detail: str, fault_code: str | None = None) -> DeliveryResult:
    return DeliveryResult(outcome=outcome, detail=detail, fault_code=fault_code)


def _with_document(result: DeliveryResult, document: bytes | None) -> DeliveryResult:
    """An unbelievable answer keeps the bytes received (PERMANENT only), for quarantine."""
    if document is None or result.outcome is not Outcome.PERMANENT:
        return result
    return dataclasses.replace(result, document=document)


def _fault_result(info: soap.FaultInfo, status: int) -> DeliveryResult:
    """soap:Client → PERMANENT (CONFLITO_DUPLICADO → CONFLICT); soap:Server → RETRYABLE."""
    detail = f"HTTP {status} soap:{info.code or '?'} {info.codigo or ''}: {info.mensagem}".strip()
    if info.is_client:
        outcome = Outcome.CONFLICT if info.codigo == "CONFLITO_DUPLICADO" else Outcome.PERMANENT
    elif info.is_server or (info.code is None and status >= 500):
        outcome = Outcome.RETRYABLE
    else:  # VersionMismatch, MustUnderstand, or a non-SOAP error: our request is wrong
        outcome = Outcome.PERMANENT
    return _result(outcome, detail, info.codigo)


def _signed_root(data: bytes, root_name: str) -> etree._Element:
    """The gateway's own signed document, parsed (it is ours, but still no DTD or entities)."""
    try:
        root = etree.fromstring(data, parser=hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise _Failed(_result(Outcome.PERMANENT, f"not XML: {exc}")) from None
    if root.tag != f"{{{NS}}}{root_name}" or root.find(f"{{{DS_NS}}}Signature") is None:
        raise _Failed(_result(Outcome.PERMANENT, f"not a signed sip:{root_name}"))
    return root


__all__ = ["AgencyCallFailed", "MacaoClient", "connect", "wsdl_document"]


if TYPE_CHECKING:  # the type checker proves the client has the port's shape

    def _port(client: MacaoClient) -> AgencyClient:
        return client
