"""Conformance checks for any SIP 1.0 endpoint, through the gateway's own zeep client.

Each run builds new applications from the bundled Macao examples (fresh ``applicationNo``, so
fresh case refs) and plays what a Macao agency must get right: receipts signed by the agency,
idempotent repeats, conflicts, schema and signature faults, status retrieval. Check names are
shared with the HK kit, so one table shows both.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zeep
from lxml import etree

from adapters.macau import FORMAT, soap
from adapters.macau.format import BINDING, NS
from adapters.macau.transport import AgencyCallFailed, MacaoClient
from gateway.devkit.conformance import CheckResult, example_for
from gateway.render.pipeline import Pipeline, Rendered
from signing import KeyDirectory, SigningKey, TrustStore, sign, verify
from signing.parties import GATEWAY_PARTY

_NSMAP = {"sip": NS}
_Check = Callable[[], str]


class CheckFailed(Exception):
    """A check's expectation was not met; the message says what was seen instead."""


class _ProbeClient(MacaoClient):
    """The gateway's own client, plus what only a conformance kit may do: look at an answer
    *before* it is verified, so that its signature is judged by a check of its own
    (``submit.receipt-signature``) instead of failing every check that submits."""

    def exchange(self, operation: str, document: etree._Element) -> etree._Element:
        """The reply payload, unverified; :class:`AgencyCallFailed` for faults and errors."""
        return self._exchange(operation, document)


@dataclass
class _Run:
    url: str
    agency: str
    client: _ProbeClient
    trust: TrustStore
    key: SigningKey
    pipeline: Pipeline
    example: dict[str, Any]
    accepted: Rendered | None = None
    receipt: etree._Element | None = None


def run(
    url: str,
    keys: KeyDirectory,
    agency: str = "MO-DSAT",
    *,
    pipeline: Pipeline | None = None,
    timeout: float = 10.0,
) -> list[CheckResult]:
    """Every check against the SIP endpoint at ``url`` acting as ``agency``; never raises."""
    pipeline = pipeline or Pipeline()
    trust = keys.trust_store()
    with _ProbeClient(url, trust, agency=agency, timeout=timeout) as client:
        ctx = _Run(
            url,
            agency,
            client,
            trust,
            keys.gateway_key(),
            pipeline,
            example_for(pipeline, "MO", agency)[0],
        )
        checks: list[tuple[str, _Check]] = [
            ("wsdl.served", lambda: _wsdl_served(ctx)),
            ("submit.accepted", lambda: _submit_accepted(ctx)),
            ("submit.receipt-signature", lambda: _receipt_signature(ctx)),
            ("submit.idempotent-repeat", lambda: _idempotent_repeat(ctx)),
            ("submit.conflict", lambda: _conflict(ctx)),
            ("submit.schema-fault", lambda: _schema_fault(ctx)),
            ("submit.signature-fault", lambda: _signature_fault(ctx)),
            ("status.retrieval", lambda: _status_retrieval(ctx)),
            ("status.unknown-case", lambda: _unknown_case(ctx)),
        ]
        return [_result(name, check) for name, check in checks]


def _result(name: str, check: _Check) -> CheckResult:
    try:
        return CheckResult(name, True, check())
    except CheckFailed as exc:
        return CheckResult(name, False, str(exc))
    except Exception as exc:  # a check must report, never abort the run
        return CheckResult(name, False, f"{type(exc).__name__}: {exc}")


# --- the checks -----------------------------------------------------------------------------


def _wsdl_served(ctx: _Run) -> str:
    """GET ?wsdl must load in zeep (its XSD import resolvable) and define SIPBinding."""
    settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True)
    transport = zeep.Transport(timeout=ctx.client.timeout, operation_timeout=ctx.client.timeout)
    try:
        client = zeep.Client(f"{ctx.url}?wsdl", transport=transport, settings=settings)
        if BINDING not in client.wsdl.bindings:
            raise CheckFailed(f"the served WSDL has no {BINDING}")
        client.get_element(f"{{{NS}}}PedidoProcesso")
    finally:
        transport.session.close()
    return "WSDL and XSD load in zeep; SIPBinding present"


def _submit_accepted(ctx: _Run) -> str:
    rendered = _render(ctx)
    payload = _call(ctx, "SubmeterProcesso", rendered.document)
    if payload.tag != f"{{{NS}}}ReciboProcesso":
        raise CheckFailed(f"answered {payload.tag}, not sip:ReciboProcesso")
    ctx.accepted, ctx.receipt = rendered, payload
    return f"{rendered.case.case_ref}: ReciboProcesso {_numero(payload)}"


def _receipt_signature(ctx: _Run) -> str:
    rendered, receipt = _needs_accepted(ctx)
    verified = verify(
        soap.standalone(receipt), ctx.trust, FORMAT.header, expected_sender=ctx.agency
    )  # SignatureRejected propagates: its class and message are the detail
    FORMAT.validate(verified.element)
    parsed = FORMAT.parse_receipt(verified.element)
    if parsed.header.case_ref != rendered.case.case_ref:
        raise CheckFailed(f"receipt names {parsed.header.case_ref}")
    if parsed.header.recipient != GATEWAY_PARTY:
        raise CheckFailed(f"receipt addressed to {parsed.header.recipient}")
    return f"signed by {verified.sender} (certificate {verified.fingerprint[:16]}…)"


def _idempotent_repeat(ctx: _Run) -> str:
    rendered, first = _needs_accepted(ctx)
    again = _call(ctx, "SubmeterProcesso", rendered.document)
    a, b = _numero(first), _numero(again)
    if a != b:
        raise CheckFailed(f"the repeat got NumeroProcesso {b}, the first {a}")
    identical = _c14n(first) == _c14n(again)
    return f"same NumeroProcesso {a}" + (
        "; identical receipt" if identical else "; receipt re-issued"
    )


def _conflict(ctx: _Run) -> str:
    rendered, _ = _needs_accepted(ctx)
    changed = _rerender(ctx, rendered)
    prazo = changed.find("sip:Prazo/sip:DiasUteisCompromisso", _NSMAP)
    prazo.text = str(int(prazo.text) + 1)
    return _expect_fault(ctx, sign(changed, ctx.key), "CONFLITO_DUPLICADO")


def _schema_fault(ctx: _Run) -> str:
    document = _render(ctx, signed=False).document
    document.remove(document.find("sip:Prazo", _NSMAP))  # a required element
    return _expect_fault(ctx, sign(document, ctx.key), "ESQUEMA")


def _signature_fault(ctx: _Run) -> str:
    document = _render(ctx).document
    prazo = document.find("sip:Prazo/sip:DiasUteisCompromisso", _NSMAP)
    prazo.text = str(int(prazo.text) + 1)  # still schema-valid; no longer what was signed
    return _expect_fault(ctx, document, "ASSINATURA")


def _status_retrieval(ctx: _Run) -> str:
    """On a case of its own, so that a failed repeat or conflict check cannot spill over."""
    rendered = _render(ctx)
    receipt = _call(ctx, "SubmeterProcesso", rendered.document)
    report = ctx.client.fetch_status(rendered.case.case_ref)  # verified as the agency there
    if report is None:
        raise CheckFailed("the agency does not know the case it acknowledged")
    if report.agency_case_ref != _numero(receipt):
        raise CheckFailed(f"EstadoProcesso names {report.agency_case_ref}, not {_numero(receipt)}")
    codes = ", ".join(e.agency_status for e in report.events) or "no events yet"
    return f"signed EstadoProcesso verified as {report.header.sender}: {codes}"


def _unknown_case(ctx: _Run) -> str:
    case_ref = "GBA-" + uuid.uuid4().hex[:20].upper()
    report = ctx.client.fetch_status(case_ref)  # None only for PROCESSO_DESCONHECIDO
    if report is not None:
        raise CheckFailed(f"an unknown case got an EstadoProcesso with {len(report.events)} events")
    return "soap:Client PROCESSO_DESCONHECIDO"


# --- helpers ------------------------------------------------------------------------------------


def _render(ctx: _Run, *, signed: bool = True) -> Rendered:
    """A new case from the example: fresh application number, so a fresh case ref."""
    data = copy.deepcopy(ctx.example)
    data["applicationNo"] = f"CONF-{uuid.uuid4().hex[:20]}"
    rendered = ctx.pipeline.render(ctx.pipeline.accept(data), None)
    recipient = rendered.document.find("sip:Cabecalho/sip:Destinatario", _NSMAP)
    recipient.text = ctx.agency
    if signed:
        rendered.document = sign(rendered.document, ctx.key)
    return rendered


def _rerender(ctx: _Run, rendered: Rendered) -> etree._Element:
    """The same case again, unsigned, under a new message id (a new IdMensagem and Id)."""
    again = ctx.pipeline.render(
        rendered.case.application, None, sent_at=dt.datetime.now(dt.UTC)
    ).document
    again.find("sip:Cabecalho/sip:Destinatario", _NSMAP).text = ctx.agency
    return again


def _call(ctx: _Run, operation: str, document: etree._Element) -> etree._Element:
    try:
        return ctx.client.exchange(operation, document)
    except AgencyCallFailed as exc:
        raise CheckFailed(f"{exc.result.outcome}: {exc.result.detail}") from None


def _expect_fault(ctx: _Run, document: etree._Element, codigo: str) -> str:
    try:
        payload = ctx.client.exchange("SubmeterProcesso", document)
    except AgencyCallFailed as exc:
        if exc.fault is not None and exc.fault.is_client and exc.fault.codigo == codigo:
            return f"soap:Client {codigo}: {exc.fault.faultstring}"
        raise CheckFailed(f"expected soap:Client {codigo}; got {exc.result.detail}") from None
    raise CheckFailed(f"expected soap:Client {codigo}; the agency answered {payload.tag}")


def _needs_accepted(ctx: _Run) -> tuple[Rendered, etree._Element]:
    if ctx.accepted is None or ctx.receipt is None:
        raise CheckFailed("needs submit.accepted, which failed")
    return ctx.accepted, ctx.receipt


def _numero(receipt: etree._Element) -> str:
    return str(receipt.xpath("string(sip:NumeroProcesso)", namespaces=_NSMAP)).strip()


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True)


__all__ = ["CheckFailed", "run"]
