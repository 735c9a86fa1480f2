"""The Macao sandbox agency over real loopback HTTP: SOAP handling, WSDL, conformance kit."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
import yaml
import zeep
from lxml import etree

from adapters.macau import soap
from adapters.macau.conformance import run
from adapters.macau.format import BINDING, NS, SipFormat
from adapters.macau.sandbox import ESTADOS, create_app
from adapters.sandbox import SandboxAgency, SandboxConfig
from gateway.domain import CaseStatus
from gateway.render.pipeline import Pipeline, Rendered
from gateway.serve import free_port
from signing import KeyDirectory, sign, verify

FORMAT = SipFormat()
NSMAP = {"sip": NS}
EXAMPLE = "northbound-vehicle-mo"
#: types of the shared fixtures in conftest.py (which test modules cannot import)
RenderExample = Callable[..., Rendered]
RunSandbox = Callable[..., AbstractContextManager[tuple[str, SandboxAgency]]]
CHECKS = [
    "wsdl.served",
    "submit.accepted",
    "submit.receipt-signature",
    "submit.idempotent-repeat",
    "submit.conflict",
    "submit.schema-fault",
    "submit.signature-fault",
    "status.retrieval",
    "status.unknown-case",
]


def envelope(payload: bytes, *, declarations: str = "", header: bytes = b"") -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{soap.SOAP_ENV}"{declarations}>'.encode()
        + header
        + b"<soap:Body>"
        + payload
        + b"</soap:Body></soap:Envelope>"
    )


def post(url: str, body: bytes, action: str = "SubmeterProcesso") -> httpx.Response:
    headers = {"Content-Type": soap.CONTENT_TYPE, "SOAPAction": f'"urn:mo-gov:sip:1.0/{action}"'}
    return httpx.post(url, content=body, headers=headers, timeout=10)


def fault_of(response: httpx.Response) -> soap.FaultInfo:
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/xml")
    info = soap.read_fault(etree.fromstring(response.content))
    assert info is not None
    return info


def payload_of(response: httpx.Response) -> etree._Element:
    assert response.status_code == 200, response.text
    found = soap.body_payload(etree.fromstring(response.content))
    assert found is not None
    return found


def doc_bytes(rendered: Rendered) -> bytes:
    return etree.tostring(rendered.document, encoding="UTF-8")


# --- WSDL --------------------------------------------------------------------------------------


def test_wsdl_is_served_with_its_schema_and_own_address(mo_sandbox_url: str) -> None:
    client = zeep.Client(f"{mo_sandbox_url}?wsdl")  # follows the rewritten XSD import over HTTP
    assert BINDING in client.wsdl.bindings
    port = client.wsdl.services["ServicoIntercambioProcessos"].ports["SIPPort"]
    assert port.binding_options["address"] == mo_sandbox_url
    assert httpx.get(f"{mo_sandbox_url}?xsd=sip-1.0.xsd").content.startswith(b"<?xml")
    assert httpx.get(f"{mo_sandbox_url}?xsd=../../pyproject.toml").status_code == 404
    assert httpx.get(mo_sandbox_url).status_code == 404


# --- request handling ---------------------------------------------------------------------------


def test_receipt_is_the_stored_signed_bytes_verbatim(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(EXAMPLE)
    with run_sandbox("MO", tmp_path) as (url, agency):
        first = post(url, envelope(doc_bytes(rendered)))
        again = post(url, envelope(doc_bytes(rendered)))
        assert agency.store.count_cases() == 1
    receipt = payload_of(first)
    assert first.content == again.content
    verified = verify(soap.standalone(receipt), keys.trust_store(), FORMAT.header)
    assert verified.sender == "MO-DSAT"
    FORMAT.validate(verified.element)


def test_signature_verifies_with_namespaces_declared_only_on_the_envelope(
    render_example: RenderExample, mo_sandbox_url: str
) -> None:
    """The payload leans on the envelope's ``xmlns:sip``; exclusive C14N does not care."""
    data = doc_bytes(render_example(EXAMPLE))
    root_tag_end = data.index(b">")
    head = data[:root_tag_end].replace(f' xmlns:sip="{NS}"'.encode(), b"")
    assert head != data[:root_tag_end]
    leaning = head + data[root_tag_end:]
    declarations = f' xmlns:sip="{NS}" xmlns="urn:unrelated:default" xmlns:x="urn:x"'
    response = post(mo_sandbox_url, envelope(leaning, declarations=declarations))
    assert etree.QName(payload_of(response)).localname == "ReciboProcesso"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<not-soap/>", "not a SOAP 1.1 envelope"),
        (envelope(b""), "one payload element, not 0"),
        (envelope(b'<sip:ConsultaEstado xmlns:sip="urn:mo-gov:sip:1.0"/>' * 2), "not 2"),
        (b'<!DOCTYPE x [<!ENTITY e "boom">]>' + envelope(b"&e;"), "dtd"),
        (envelope(b"<!-- comments are dropped --><a/>"), "no SIP operation"),
        (envelope(b"<a/>", header=b'<soap:Header><h soap:mustUnderstand="1"/></soap:Header>'), ""),
        (envelope(b'<sip:Nada xmlns:sip="urn:mo-gov:sip:1.0"/>'), "no SIP operation"),
    ],
)
def test_malformed_requests_get_client_faults(body: bytes, why: str, mo_sandbox_url: str) -> None:
    info = fault_of(post(mo_sandbox_url, body))
    assert info.code in ("Client", "MustUnderstand")
    assert info.codigo == "ESQUEMA"
    assert why in info.mensagem
    assert info.faultstring == soap.FAULT_STRINGS["ESQUEMA"]


def test_soap_action_must_match_the_payload(
    render_example: RenderExample, mo_sandbox_url: str
) -> None:
    info = fault_of(
        post(mo_sandbox_url, envelope(doc_bytes(render_example(EXAMPLE))), "ConsultarEstado")
    )
    assert (info.code, info.codigo) == ("Client", "ESQUEMA")


def test_gateway_document_signed_with_an_agency_key_is_a_signature_fault(
    keys: KeyDirectory, render_example: RenderExample, mo_sandbox_url: str
) -> None:
    signed = etree.tostring(
        sign(render_example(EXAMPLE, signed=False).document, keys.agency_key("MO-DSI"))
    )
    info = fault_of(post(mo_sandbox_url, envelope(signed)))
    assert (info.code, info.codigo) == ("Client", "ASSINATURA")
    assert "certificate_of_another_party" in info.mensagem


def test_agency_path_must_match_the_addressee(
    render_example: RenderExample, mo_sandbox_url: str
) -> None:
    rendered = render_example(EXAMPLE)  # to MO-DSAT
    info = fault_of(post(f"{mo_sandbox_url}/MO-FSS", envelope(doc_bytes(rendered))))
    assert (info.code, info.codigo) == ("Client", "NAO_AUTORIZADO")
    ok = post(f"{mo_sandbox_url}/MO-DSAT", envelope(doc_bytes(rendered)))
    assert etree.QName(payload_of(ok)).localname == "ReciboProcesso"


def test_unavailable_is_a_server_fault_with_http_500(
    run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    with run_sandbox("MO", tmp_path, faults={"unavailable_requests": 1}) as (url, agency):
        info = fault_of(post(url, envelope(b"<a/>")))
        assert agency.store.count_messages(outcome="unavailable") == 1
    assert (info.code, info.codigo) == ("Server", "INTERNO")
    assert info.faultstring == soap.FAULT_STRINGS["INTERNO"]


def test_status_query_is_schema_checked_and_unknown_cases_refused(mo_sandbox_url: str) -> None:
    bad = b'<sip:ConsultaEstado xmlns:sip="urn:mo-gov:sip:1.0" VersaoEsquema="1.0"/>'
    assert fault_of(post(mo_sandbox_url, envelope(bad), "ConsultarEstado")).codigo == "ESQUEMA"
    query = FORMAT.render_query("GBA-ZZZZZZZZZZZZZZZZZZZZ")
    info = fault_of(post(mo_sandbox_url, envelope(etree.tostring(query)), "ConsultarEstado"))
    assert (info.code, info.codigo) == ("Client", "PROCESSO_DESCONHECIDO")


def test_every_canonical_status_has_a_sip_code_matching_the_mappings() -> None:
    assert set(ESTADOS) == set(CaseStatus)
    assert set(ESTADOS.values()) == FORMAT.status_codes
    for path in Path("mappings").glob("*.mo.yaml"):
        statuses = yaml.safe_load(path.read_text("utf-8"))["statuses"]
        assert {CaseStatus(v): k for k, v in statuses.items()} == ESTADOS, path


def test_out_of_order_holds_the_first_new_event_back_once(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    """SIP has no push, so "out of order" is across answers: the first of several new events
    comes only when asked again, after the later ones (each answer stays in order)."""
    from adapters.macau.transport import connect

    rendered = render_example(EXAMPLE)
    ref, code = rendered.case.case_ref, rendered.case.agency
    faults = {"out_of_order_notices": True}
    with (
        run_sandbox("MO", tmp_path, step_seconds=0, faults=faults) as (url, _),
        connect(url, keys.trust_store(), agency=code) as client,
    ):
        client.submit(rendered.to_bytes())
        first, again = client.fetch_status(ref), client.fetch_status(ref)
        later = client.fetch_status(ref, since_seq=2)
    assert first is not None and again is not None and later is not None
    assert [e.seq for e in first.events] == [2, 3, 4, 5]  # 1 held back
    assert [e.seq for e in again.events] == [1, 2, 3, 4, 5]  # held back once only
    assert [e.seq for e in later.events] == [4, 5]  # 3 is held back in its turn


def test_a_supplement_request_asks_for_the_submissions_first_document_again(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    from adapters.macau.transport import connect

    rendered = render_example(EXAMPLE)
    ref, code = rendered.case.case_ref, rendered.case.agency
    first_type = rendered.document.findtext(
        "sip:Documentos/sip:Documento/sip:Tipo", namespaces=NSMAP
    )
    with (
        run_sandbox("MO", tmp_path, scenario="supplement") as (url, _),
        connect(url, keys.trust_store(), agency=code) as client,
    ):
        client.submit(rendered.to_bytes())
        report = client.fetch_status(ref)
    assert report is not None
    (asked,) = [e for e in report.events if e.agency_status == "PENDENTE_DOCUMENTOS"]
    assert first_type and [d.type for d in asked.required_documents] == [first_type]


def test_region_must_be_macao(keys: KeyDirectory, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="region MO"):
        create_app(SandboxConfig(region="HK", keys_dir=keys.path, database=tmp_path / "x.db"))


# --- conformance ------------------------------------------------------------------------------


def test_conformance_passes_against_a_correct_sandbox(
    keys: KeyDirectory, pipeline: Pipeline, mo_sandbox_url: str
) -> None:
    results = run(mo_sandbox_url, keys, "MO-DSAT", pipeline=pipeline)
    assert [r.name for r in results] == CHECKS
    assert [r for r in results if not r.passed] == []


def test_conformance_for_an_agency_without_a_bundled_example(
    keys: KeyDirectory, pipeline: Pipeline, mo_sandbox_url: str
) -> None:
    results = run(mo_sandbox_url, keys, "MO-DSEDT", pipeline=pipeline)
    assert [r for r in results if not r.passed] == []


@pytest.mark.parametrize(
    ("faults", "failing"),
    [
        ({"wrong_key": True}, {"submit.receipt-signature", "status.retrieval"}),
        ({"ignore_idempotency": True}, {"submit.idempotent-repeat", "submit.conflict"}),
    ],
)
def test_conformance_names_what_a_broken_sandbox_gets_wrong(
    faults: dict[str, bool],
    failing: set[str],
    keys: KeyDirectory,
    pipeline: Pipeline,
    run_sandbox: RunSandbox,
    tmp_path: Path,
) -> None:
    with run_sandbox("MO", tmp_path, faults=faults) as (url, _):
        results = run(url, keys, pipeline=pipeline)
    assert {r.name for r in results if not r.passed} == failing, results


def test_conformance_reports_an_unreachable_endpoint(
    keys: KeyDirectory, pipeline: Pipeline
) -> None:
    results = run(f"http://127.0.0.1:{free_port()}/sip", keys, pipeline=pipeline, timeout=2)
    assert [r.name for r in results] == CHECKS
    assert not any(r.passed for r in results)
