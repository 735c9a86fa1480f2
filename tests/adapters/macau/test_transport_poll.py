"""``MacaoClient.poll``: ConsultarEstado's EstadoProcesso verified, and serialised from the SOAP
body so that :func:`signing.verify` accepts it as it stands; an unbelievable one is PERMANENT
and carries those bytes for quarantine. Against the real Macao sandbox app on loopback (and a
mock transport for an answer about another case)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from adapters.macau import FORMAT, soap
from adapters.macau.transport import AgencyCallFailed, MacaoClient, connect
from adapters.sandbox import SandboxAgency
from gateway import ports
from gateway.devkit.examples import bundled_examples
from gateway.domain import MessageHeader, StatusEvent, StatusReport
from gateway.ports import Outcome, Polled
from gateway.render.pipeline import Rendered
from signing import KeyDirectory, SignatureRejected, sign, verify
from signing.parties import GATEWAY_PARTY

MO_EXAMPLES = [p.stem for p in bundled_examples() if p.stem.endswith("-mo")]
RenderExample = Callable[..., Rendered]
RunSandbox = Callable[..., AbstractContextManager[tuple[str, SandboxAgency]]]


def client_for(url: str, keys: KeyDirectory, agency: str, **kw: Any) -> MacaoClient:
    return connect(url, keys.trust_store(), agency=agency, **kw)


def test_poll_returns_the_verified_report_and_a_document_that_verifies(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(MO_EXAMPLES[0])
    ref, agency = rendered.case.case_ref, rendered.case.agency
    with run_sandbox("MO", tmp_path, step_seconds=0) as (url, _):
        with client_for(url, keys, agency) as client:
            assert client.poll(ref) is None  # PROCESSO_DESCONHECIDO
            assert client.submit(rendered.to_bytes()).outcome is Outcome.DELIVERED
            polled = client.poll(ref)
            later = client.poll(ref, since_seq=3)
            fetched = client.fetch_status(ref)
    assert isinstance(polled, Polled)
    assert [e.seq for e in polled.report.events] == [1, 2, 3, 4, 5]
    assert later is not None and [e.seq for e in later.report.events] == [4, 5]
    assert fetched is not None and fetched.events == polled.report.events
    verified = verify(polled.document, keys.trust_store(), FORMAT.header, expected_sender=agency)
    assert etree.QName(verified.element).localname == "EstadoProcesso"
    assert FORMAT.parse_status(verified.element) == polled.report
    assert etree.QName(etree.fromstring(polled.document)).localname == "EstadoProcesso"


def test_an_answer_signed_with_an_unregistered_key_is_permanent_and_kept(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(MO_EXAMPLES[0])
    ref, agency = rendered.case.case_ref, rendered.case.agency
    with run_sandbox("MO", tmp_path, step_seconds=0, faults={"wrong_key": True}) as (url, _):
        with client_for(url, keys, agency) as client:
            client.submit(rendered.to_bytes())  # PERMANENT for us; the agency filed it
            with pytest.raises(ports.AgencyCallFailed) as failed:
                client.poll(ref)
    assert isinstance(failed.value, AgencyCallFailed)  # the same type fetch_status raises
    result = failed.value.result
    assert result.outcome is Outcome.PERMANENT and "signature rejected" in result.detail
    assert result.document is not None
    assert etree.QName(etree.fromstring(result.document)).localname == "EstadoProcesso"
    with pytest.raises(SignatureRejected):
        verify(result.document, keys.trust_store(), FORMAT.header, expected_sender=agency)


def _answer(keys: KeyDirectory, case_ref: str, recipient: str) -> tuple[bytes, bytes]:
    report = StatusReport(
        header=MessageHeader(
            message_id=str(uuid.uuid4()),
            case_ref=case_ref,
            sent_at=dt.datetime.now(dt.UTC),
            sender="MO-DSAT",
            recipient=recipient,
        ),
        agency_case_ref="MO-DSAT-2026-000001",
        events=[StatusEvent(seq=1, agency_status="RECEBIDO", changed_at=dt.datetime.now(dt.UTC))],
    )
    signed = etree.tostring(sign(FORMAT.render_status(report), keys.agency_key("MO-DSAT")))
    return signed, soap.response_envelope(signed)


@pytest.mark.parametrize(
    ("case_ref", "recipient", "reason"),
    [
        ("GBA-BBBBBBBBBBBBBBBBBBBB", GATEWAY_PARTY, "GBA-BBBBBBBBBBBBBBBBBBBB"),
        ("GBA-AAAAAAAAAAAAAAAAAAAA", "MO-DSI", "MO-DSI"),
    ],
)
def test_a_verified_answer_about_another_case_or_party_is_permanent_and_kept(
    keys: KeyDirectory, case_ref: str, recipient: str, reason: str
) -> None:
    signed, envelope = _answer(keys, case_ref, recipient)
    transport = httpx.MockTransport(
        lambda request: httpx.Response(
            200, content=envelope, headers={"Content-Type": soap.CONTENT_TYPE}
        )
    )
    with client_for("http://sip.test/sip", keys, "MO-DSAT", transport=transport) as client:
        with pytest.raises(AgencyCallFailed) as failed:
            client.poll("GBA-AAAAAAAAAAAAAAAAAAAA")
    result = failed.value.result
    assert result.outcome is Outcome.PERMANENT and reason in result.detail
    assert result.document is not None
    # the signed element as it stood in the Body, and it still verifies on its own
    assert verify(result.document, keys.trust_store(), FORMAT.header).sender == "MO-DSAT"
    kept = etree.fromstring(result.document)
    assert etree.tostring(kept, method="c14n", exclusive=True) == etree.tostring(
        etree.fromstring(signed), method="c14n", exclusive=True
    )


def test_failures_without_an_answer_carry_no_document(keys: KeyDirectory) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(503, content=b"down"))
    with client_for("http://sip.test/sip", keys, "MO-DSAT", transport=transport) as client:
        with pytest.raises(AgencyCallFailed) as failed:
            client.poll("GBA-AAAAAAAAAAAAAAAAAAAA")
    assert failed.value.outcome is Outcome.RETRYABLE and failed.value.result.document is None
