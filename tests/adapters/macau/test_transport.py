"""The Macao SIP client (zeep on the project WSDL) against the Macao sandbox, over loopback HTTP."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from zeep.wsdl import Document

from adapters.macau import FORMAT, soap
from adapters.macau.format import NS
from adapters.macau.transport import AgencyCallFailed, MacaoClient, connect
from adapters.sandbox import SandboxAgency
from gateway.devkit.examples import bundled_examples
from gateway.domain import DocumentRef, MessageHeader, Receipt, StatusReport, Supplement
from gateway.ports import AgencyClient, Outcome
from gateway.render.pipeline import Pipeline, Rendered
from gateway.serve import free_port, serving
from signing import KeyDirectory, sign, verify
from signing.parties import GATEWAY_PARTY

NSMAP = {"sip": NS}
MO_EXAMPLES = [p.stem for p in bundled_examples() if p.stem.endswith("-mo")]
#: types of the shared fixtures in conftest.py (which test modules cannot import)
RenderExample = Callable[..., Rendered]
RunSandbox = Callable[..., AbstractContextManager[tuple[str, SandboxAgency]]]


# --- helpers ------------------------------------------------------------------------------------


def signed_bytes(root: etree._Element, keys: KeyDirectory) -> bytes:
    return etree.tostring(sign(root, keys.gateway_key()), xml_declaration=True, encoding="UTF-8")


def client_for(url: str, keys: KeyDirectory, agency: str = "MO-DSAT", **kw: Any) -> MacaoClient:
    return connect(url, keys.trust_store(), agency=agency, **kw)


def supplement_for(rendered: Rendered, agency_case_ref: str, keys: KeyDirectory) -> bytes:
    case = rendered.case
    supplement = Supplement(
        header=MessageHeader(
            message_id=str(uuid.uuid4()),
            case_ref=case.case_ref,
            sent_at=dt.datetime.now(dt.UTC),
            sender=GATEWAY_PARTY,
            recipient=case.agency,
        ),
        agency_case_ref=agency_case_ref,
        documents=[
            DocumentRef(
                doc_id="SUP-0123456789ab",
                type="DOCUMENTO-SUPLEMENTAR",
                media_type="application/pdf",
                size=1024,
                sha256="ab" * 32,
                uri="https://att.gdzwfw.example/files/sup.pdf",
            )
        ],
    )
    return signed_bytes(FORMAT.render_supplement(supplement), keys)


class Capture:
    """ASGI wrapper remembering every request's headers and body exactly as received."""

    def __init__(self, app: Any):
        self.app = app
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.methods: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append((headers, body))
        self.methods.append(scope["method"])

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@pytest.fixture
def mo_client(mo_sandbox_url: str, keys: KeyDirectory) -> Iterator[MacaoClient]:
    with client_for(mo_sandbox_url, keys) as client:
        yield client


# --- the client is zeep on the project's WSDL ----------------------------------------------------


def test_client_is_zeep_reading_the_project_wsdl_and_keeps_signed_bytes(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    captured: list[Capture] = []

    def wrap(app: Any) -> Capture:
        captured.append(Capture(app))
        return captured[0]

    rendered = render_example(MO_EXAMPLES[0])
    with run_sandbox("MO", tmp_path, wrap_app=wrap) as (url, _):
        with client_for(url, keys, rendered.case.agency) as client:
            port: AgencyClient = client  # the port, statically; and its methods, here
            assert all(callable(getattr(port, m)) for m in ("submit", "fetch_status", "close"))
            result = client.submit(rendered.to_bytes())
    assert result.outcome is Outcome.DELIVERED, result.detail
    # the WSDL came from the package: the endpoint was never asked for ``?wsdl``
    assert captured[0].methods == ["POST"]

    (headers, body) = captured[0].requests[-1]
    assert headers["soapaction"] == '"urn:mo-gov:sip:1.0/SubmeterProcesso"'
    envelope = etree.fromstring(body)
    # zeep's envelope (its own soap-env prefix), not one built by hand
    assert envelope.tag == soap.ENVELOPE and envelope.prefix == "soap-env"
    (payload,) = envelope.find(soap.BODY)
    original = rendered.document
    assert etree.tostring(payload, method="c14n", exclusive=True) == etree.tostring(
        original, method="c14n", exclusive=True
    )
    assert payload.prefix == "sip"  # not re-rendered as ns0:
    verified = verify(soap.standalone(payload), keys.trust_store(), FORMAT.header)
    assert verified.sender == "GD-GBA-GW"


def test_new_clients_do_not_parse_the_wsdl_again_and_close_alone(
    keys: KeyDirectory,
    mo_sandbox_url: str,
    render_example: RenderExample,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parsing the WSDL costs far more than a call: it happens at most once per process. Each
    client still has its own connections: closing one leaves the other working."""
    rendered = render_example(MO_EXAMPLES[0])
    with client_for(mo_sandbox_url, keys):
        pass  # the first client of the process may parse it

    def parse_again(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the WSDL was parsed again")

    monkeypatch.setattr(Document, "__init__", parse_again)
    a = client_for(mo_sandbox_url, keys, "MO-DSI")
    with client_for(mo_sandbox_url, keys, rendered.case.agency) as b:
        a.close()
        assert b.submit(rendered.to_bytes()).outcome is Outcome.DELIVERED


# --- submissions -------------------------------------------------------------------------------


@pytest.mark.parametrize("example", MO_EXAMPLES)
def test_every_mo_example_is_delivered_with_a_verified_receipt(
    example: str, keys: KeyDirectory, render_example: RenderExample, mo_sandbox_url: str
) -> None:
    rendered = render_example(example)
    agency = rendered.case.agency
    with client_for(mo_sandbox_url, keys, agency) as client:
        result = client.submit(rendered.to_bytes())
    assert result.outcome is Outcome.DELIVERED, result.detail
    receipt = result.receipt
    assert receipt is not None
    assert receipt.header.sender == agency
    assert receipt.header.recipient == "GD-GBA-GW"
    assert receipt.header.case_ref == rendered.case.case_ref
    assert receipt.agency_case_ref.startswith(f"{agency}-")


def test_repeat_returns_the_same_receipt_and_files_one_case(
    keys: KeyDirectory,
    pipeline: Pipeline,
    render_example: RenderExample,
    run_sandbox: RunSandbox,
    tmp_path: Path,
) -> None:
    rendered = render_example(MO_EXAMPLES[0])
    case_ref = rendered.case.case_ref
    with (
        run_sandbox("MO", tmp_path) as (url, agency),
        client_for(url, keys, rendered.case.agency) as c,
    ):
        first = c.submit(rendered.to_bytes())
        again = c.submit(rendered.to_bytes())
        # re-signed under a new message id, same content: a retry, not a conflict
        retried = pipeline.render(rendered.case.application, keys.gateway_key())
        third = c.submit(retried.to_bytes())
    assert first.outcome is again.outcome is third.outcome is Outcome.DELIVERED
    assert first.receipt == again.receipt == third.receipt
    assert agency.store.count_cases(case_ref=case_ref) == 1
    assert agency.store.count_messages(case_ref=case_ref, kind="PedidoProcesso") == 3
    assert agency.store.count_messages(case_ref=case_ref, outcome="duplicate") == 2


def test_same_case_new_message_changed_content_is_conflict(
    keys: KeyDirectory, pipeline: Pipeline, mo_client: MacaoClient, render_example: RenderExample
) -> None:
    rendered = render_example(MO_EXAMPLES[0])
    assert mo_client.submit(rendered.to_bytes()).outcome is Outcome.DELIVERED
    changed = pipeline.render(rendered.case.application, None).document
    days = changed.find("sip:Prazo/sip:DiasUteisCompromisso", NSMAP)
    days.text = str(int(days.text) + 1)
    result = mo_client.submit(signed_bytes(changed, keys))
    assert result.outcome is Outcome.CONFLICT
    assert result.fault_code == "CONFLITO_DUPLICADO"
    assert result.receipt is None


@pytest.mark.parametrize("fault", ["ESQUEMA", "ASSINATURA", "NAO_AUTORIZADO"])
def test_refused_documents_are_permanent(
    fault: str, keys: KeyDirectory, render_example: RenderExample, mo_client: MacaoClient
) -> None:
    if fault == "ASSINATURA":
        document = render_example(MO_EXAMPLES[0]).document
        document.find("sip:Requerente/sip:Telefone", NSMAP).text = "+85369999999"
        data = etree.tostring(document)
    else:
        document = render_example(MO_EXAMPLES[0], signed=False).document
        if fault == "ESQUEMA":
            document.remove(document.find("sip:Prazo", NSMAP))
        else:
            document.find("sip:Cabecalho/sip:Destinatario", NSMAP).text = "MO-NOPE"
        data = signed_bytes(document, keys)
    result = mo_client.submit(data)
    assert result.outcome is Outcome.PERMANENT
    assert result.fault_code == fault
    assert "soap:Client" in result.detail


# --- faults: availability, time, keys -----------------------------------------------------------


def test_unavailable_is_retryable_then_delivered(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(MO_EXAMPLES[0])
    faults = {"unavailable_requests": 1}
    with run_sandbox("MO", tmp_path, faults=faults) as (url, _), client_for(url, keys) as client:
        down = client.submit(rendered.to_bytes())
        up = client.submit(rendered.to_bytes())
    assert down.outcome is Outcome.RETRYABLE
    assert down.fault_code == "INTERNO" and "soap:Server" in down.detail
    assert up.outcome is Outcome.DELIVERED, up.detail


def test_slow_agency_beyond_the_timeout_is_retryable(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(MO_EXAMPLES[0])
    with run_sandbox("MO", tmp_path, faults={"delay_seconds": 1.0}) as (url, _):
        with client_for(url, keys, timeout=0.3) as client:
            result = client.submit(rendered.to_bytes())
    assert result.outcome is Outcome.RETRYABLE
    assert "0.3" in result.detail


def test_connection_refused_is_retryable(keys: KeyDirectory, render_example: RenderExample) -> None:
    rendered = render_example(MO_EXAMPLES[0])
    with client_for(f"http://127.0.0.1:{free_port()}/sip", keys) as client:
        result = client.submit(rendered.to_bytes())
        with pytest.raises(AgencyCallFailed) as failed:
            client.fetch_status(rendered.case.case_ref)
    assert result.outcome is Outcome.RETRYABLE
    assert failed.value.outcome is Outcome.RETRYABLE


def test_receipt_signed_with_an_unregistered_key_is_permanent(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(MO_EXAMPLES[0])
    with run_sandbox("MO", tmp_path, faults={"wrong_key": True}) as (url, _):
        with client_for(url, keys) as client:
            result = client.submit(rendered.to_bytes())
            with pytest.raises(AgencyCallFailed) as failed:
                client.fetch_status(rendered.case.case_ref)
    assert result.outcome is Outcome.PERMANENT
    assert result.receipt is None
    assert "signature rejected (certificate_not_registered)" in result.detail
    assert failed.value.outcome is Outcome.PERMANENT


def _plain_app(status: int, body: bytes, media_type: str) -> Starlette:
    async def answer(_: Any) -> Response:
        return Response(body, status_code=status, media_type=media_type)

    return Starlette(routes=[Route("/sip", answer, methods=["POST"])])


@pytest.mark.parametrize(
    ("status", "body", "media_type", "outcome"),
    [
        (502, b"<html><body>Bad Gateway</body></html>", "text/html", Outcome.RETRYABLE),
        (503, b"", "text/plain", Outcome.RETRYABLE),
        (500, b"oops", "text/plain", Outcome.RETRYABLE),
        (404, b"not here", "text/plain", Outcome.PERMANENT),
        (200, b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", "text/xml", Outcome.PERMANENT),
    ],
)
def test_http_errors_without_a_soap_fault(
    status: int,
    body: bytes,
    media_type: str,
    outcome: Outcome,
    keys: KeyDirectory,
    render_example: RenderExample,
) -> None:
    rendered = render_example(MO_EXAMPLES[0])
    with serving(_plain_app(status, body, media_type)) as base:
        with client_for(f"{base}/sip", keys) as client:
            result = client.submit(rendered.to_bytes())
    assert result.outcome is outcome, result.detail
    assert f"HTTP {status}" in result.detail


def test_server_fault_code_is_read_as_a_qname(
    keys: KeyDirectory, render_example: RenderExample
) -> None:
    """``x:Client`` is a client fault only if ``x`` is the SOAP 1.1 namespace."""
    foreign = (
        b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:x="urn:other">'
        b"<e:Body><e:Fault><faultcode>x:Client</faultcode><faultstring>?</faultstring>"
        b"</e:Fault></e:Body></e:Envelope>"
    )
    own = soap.fault_envelope("Client", "Erro", "ESQUEMA", "m").replace(b"soap:", b"env:")
    own = own.replace(b"xmlns:soap=", b"xmlns:env=")
    rendered = render_example(MO_EXAMPLES[0])
    with serving(_plain_app(500, foreign, "text/xml")) as base:
        with client_for(f"{base}/sip", keys) as client:
            assert client.submit(rendered.to_bytes()).outcome is Outcome.RETRYABLE  # 5xx, no fault
    with serving(_plain_app(500, own, "text/xml")) as base:
        with client_for(f"{base}/sip", keys) as client:
            result = client.submit(rendered.to_bytes())
    assert (result.outcome, result.fault_code) == (Outcome.PERMANENT, "ESQUEMA")


# --- status and supplements --------------------------------------------------------------------


def test_status_with_and_without_since(
    render_example: RenderExample, mo_client: MacaoClient
) -> None:
    rendered = render_example(MO_EXAMPLES[0])
    receipt = mo_client.submit(rendered.to_bytes()).receipt
    assert receipt is not None
    full = mo_client.fetch_status(rendered.case.case_ref)
    assert full is not None
    assert full.header.sender == "MO-DSAT" and full.agency_case_ref == receipt.agency_case_ref
    assert [(e.seq, e.agency_status) for e in full.events] == [
        (1, "RECEBIDO"),
        (2, "ADMITIDO"),
        (3, "EM_APRECIACAO"),
        (4, "DEFERIDO"),
        (5, "CONCLUIDO"),
    ]
    assert full.events[-1].result is not None
    later = mo_client.fetch_status(rendered.case.case_ref, since_seq=3)
    assert later is not None and [e.seq for e in later.events] == [4, 5]
    nothing = mo_client.fetch_status(rendered.case.case_ref, since_seq=5)
    assert nothing is not None and nothing.events == []


def test_status_query_goes_through_zeeps_value_path(keys: KeyDirectory) -> None:
    """The unsigned ConsultaEstado is zeep's own rendering, posted with the WSDL's SOAPAction."""
    seen: list[httpx.Request] = []

    def unknown_case(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        fault = soap.client_fault("PROCESSO_DESCONHECIDO", "no such case").to_bytes()
        return httpx.Response(500, content=fault, headers={"Content-Type": soap.CONTENT_TYPE})

    with client_for(
        "http://sip.test/sip", keys, transport=httpx.MockTransport(unknown_case)
    ) as client:
        assert client.fetch_status("GBA-X", since_seq=3) is None
    (request,) = seen
    assert request.headers["SOAPAction"] == '"urn:mo-gov:sip:1.0/ConsultarEstado"'
    envelope = etree.fromstring(request.content)
    assert envelope.prefix == "soap-env"  # zeep's envelope
    (query,) = envelope.find(soap.BODY)
    assert query.tag == f"{{{NS}}}ConsultaEstado"
    assert query.findtext(f"{{{NS}}}ReferenciaGateway") == "GBA-X"
    assert query.findtext(f"{{{NS}}}DesdeSequencia") == "3"


def test_unknown_case_is_none(mo_client: MacaoClient) -> None:
    assert mo_client.fetch_status("GBA-AAAAAAAAAAAAAAAAAAAA") is None


def test_supplement_releases_a_case_waiting_for_documents(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(MO_EXAMPLES[0])
    case_ref = rendered.case.case_ref
    with run_sandbox("MO", tmp_path, scenario="supplement") as (url, _):
        with client_for(url, keys, rendered.case.agency) as client:
            receipt = client.submit(rendered.to_bytes()).receipt
            assert receipt is not None
            waiting = client.fetch_status(case_ref)
            assert waiting is not None
            assert [e.agency_status for e in waiting.events][-1] == "PENDENTE_DOCUMENTOS"
            assert waiting.events[-1].required_documents
            supplement = supplement_for(rendered, receipt.agency_case_ref, keys)
            answered = client.send_supplement(case_ref, supplement)
            again = client.send_supplement(case_ref, supplement)
            after = client.fetch_status(case_ref, since_seq=waiting.events[-1].seq)
            wrong_ref = client.send_supplement(
                case_ref, supplement_for(rendered, "MO-DSAT-1999-NOTACASE00", keys)
            )
    assert answered.outcome is Outcome.DELIVERED, answered.detail
    assert answered.receipt is not None
    assert answered.receipt.agency_case_ref == receipt.agency_case_ref
    assert again.receipt == answered.receipt
    assert after is not None
    assert [e.agency_status for e in after.events] == ["EM_APRECIACAO", "DEFERIDO", "CONCLUIDO"]
    assert (wrong_ref.outcome, wrong_ref.fault_code) == (Outcome.PERMANENT, "PROCESSO_DESCONHECIDO")


def test_supplement_for_another_case_is_refused_locally(
    keys: KeyDirectory, render_example: RenderExample, mo_client: MacaoClient
) -> None:
    rendered = render_example(MO_EXAMPLES[0])
    result = mo_client.send_supplement(
        "GBA-BBBBBBBBBBBBBBBBBBBB", supplement_for(rendered, "X", keys)
    )
    assert result.outcome is Outcome.PERMANENT and "another case" in result.detail


def test_the_client_returns_nothing_it_has_not_verified() -> None:
    """Its public face is the port and nothing else: no method hands out a raw reply (the
    conformance kit reaches unverified answers through a subclass of its own)."""
    public = {name for name in dir(MacaoClient) if not name.startswith("_")}
    assert public == {"submit", "send_supplement", "fetch_status", "poll", "close"}


def _signed_answer(
    keys: KeyDirectory, root: etree._Element, signer: str = "MO-DSAT"
) -> httpx.MockTransport:
    body = soap.response_envelope(etree.tostring(sign(root, keys.agency_key(signer))))
    return httpx.MockTransport(
        lambda request: httpx.Response(
            200, content=body, headers={"Content-Type": soap.CONTENT_TYPE}
        )
    )


def _answer_header(case_ref: str, recipient: str = GATEWAY_PARTY) -> MessageHeader:
    return MessageHeader(
        message_id=str(uuid.uuid4()),
        case_ref=case_ref,
        sent_at=dt.datetime.now(dt.UTC),
        sender="MO-DSAT",
        recipient=recipient,
    )


@pytest.mark.parametrize(
    ("case_ref", "recipient", "reason"),
    [
        (None, "MO-DSI", "MO-DSI"),  # refused by the schema or by the client
        ("GBA-ZZZZZZZZZZZZZZZZZZZZ", GATEWAY_PARTY, "GBA-ZZZZZZZZZZZZZZZZZZZZ"),
    ],
)
def test_a_verified_receipt_for_another_party_or_case_is_refused(
    case_ref: str | None,
    recipient: str,
    reason: str,
    keys: KeyDirectory,
    render_example: RenderExample,
) -> None:
    rendered = render_example(MO_EXAMPLES[0])
    now = dt.datetime.now(dt.UTC)
    receipt = Receipt(
        header=_answer_header(case_ref or rendered.case.case_ref, recipient),
        agency_case_ref="MO-DSAT-2025-000001",
        received_at=now,
    )
    transport = _signed_answer(keys, FORMAT.render_receipt(receipt))
    with client_for("http://sip.test/sip", keys, transport=transport) as client:
        result = client.submit(rendered.to_bytes())
    assert result.outcome is Outcome.PERMANENT and result.receipt is None
    assert reason in result.detail


def test_a_verified_status_for_another_party_is_refused(keys: KeyDirectory) -> None:
    report = StatusReport(
        header=_answer_header("GBA-AAAAAAAAAAAAAAAAAAAA", "MO-DSI"),
        agency_case_ref="MO-DSAT-2025-000001",
        events=[],
    )
    transport = _signed_answer(keys, FORMAT.render_status(report))
    with client_for("http://sip.test/sip", keys, transport=transport) as client:
        with pytest.raises(AgencyCallFailed) as failed:
            client.fetch_status("GBA-AAAAAAAAAAAAAAAAAAAA")
    assert failed.value.outcome is Outcome.PERMANENT
    assert "MO-DSI" in failed.value.result.detail
