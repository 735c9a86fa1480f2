"""``HkClient.poll``: the pulled StatusNotice verified, with its bytes as received; an
unbelievable one is PERMANENT and carries the bytes for quarantine. Against the real HK
sandbox app on loopback (and a mock transport for a notice about another case)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from lxml import etree

from adapters.hk import FORMAT
from adapters.hk.transport import HkClient, TransportError, connect
from adapters.sandbox import SandboxAgency
from gateway.domain import MessageHeader, StatusEvent, StatusReport
from gateway.ports import AgencyCallFailed, Outcome, Polled
from gateway.render.pipeline import Rendered
from signing import KeyDirectory, SignatureRejected, sign, verify
from signing.parties import GATEWAY_PARTY

EXAMPLE = "northbound-vehicle-hk"
RenderExample = Callable[..., Rendered]
RunSandbox = Callable[..., AbstractContextManager[tuple[str, SandboxAgency]]]


def client_for(url: str, keys: KeyDirectory, agency: str, **kw: object) -> HkClient:
    return connect(url, keys.trust_store(), agency=agency, **kw)  # type: ignore[arg-type]


def test_poll_returns_the_verified_report_and_the_notice_as_received(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(EXAMPLE)
    ref, agency = rendered.case.case_ref, rendered.case.agency
    with run_sandbox("HK", tmp_path, step_seconds=0) as (url, _):
        with client_for(url, keys, agency) as client:
            assert client.poll(ref) is None  # unknown at the agency
            assert client.submit(rendered.to_bytes()).outcome is Outcome.DELIVERED
            polled = client.poll(ref)
            assert isinstance(polled, Polled)
            fetched = client.fetch_status(ref)  # the same, without the document
            assert fetched is not None and fetched.events == polled.report.events
            newer = client.poll(ref, since_seq=polled.report.events[-1].seq)
    assert polled.report.header.case_ref == ref
    assert [e.agency_status for e in polled.report.events] == ["COMPLETED"]  # the latest only
    verified = verify(polled.document, keys.trust_store(), FORMAT.header, expected_sender=agency)
    assert etree.QName(verified.element).localname == "StatusNotice"
    assert FORMAT.parse_status(verified.element) == polled.report
    assert newer is not None and newer.report.events == []


def test_a_notice_signed_with_an_unregistered_key_is_permanent_and_kept(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(EXAMPLE)
    ref, agency = rendered.case.case_ref, rendered.case.agency
    with run_sandbox("HK", tmp_path, step_seconds=0, faults={"wrong_key": True}) as (url, _):
        with client_for(url, keys, agency) as client:
            client.submit(rendered.to_bytes())  # PERMANENT for us; the agency filed it
            with pytest.raises(AgencyCallFailed) as failed:
                client.poll(ref)
    assert isinstance(failed.value, TransportError)  # the same type fetch_status raises
    result = failed.value.result
    assert result.outcome is Outcome.PERMANENT and "signature rejected" in result.detail
    assert result.document is not None
    assert etree.QName(etree.fromstring(result.document)).localname == "StatusNotice"
    with pytest.raises(SignatureRejected):
        verify(result.document, keys.trust_store(), FORMAT.header, expected_sender=agency)


def _notice(keys: KeyDirectory, case_ref: str, *, recipient: str = GATEWAY_PARTY) -> bytes:
    report = StatusReport(
        header=MessageHeader(
            message_id=str(uuid.uuid4()),
            case_ref=case_ref,
            sent_at=dt.datetime.now(dt.UTC),
            sender="HK-TD",
            recipient=recipient,
        ),
        agency_case_ref="HK-TD-2026-1",
        events=[StatusEvent(seq=1, agency_status="RECEIVED", changed_at=dt.datetime.now(dt.UTC))],
    )
    root = sign(FORMAT.render_status(report), keys.agency_key("HK-TD"))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.mark.parametrize(
    ("case_ref", "recipient", "reason"),
    [
        ("GBA-BBBBBBBBBBBBBBBBBBBB", GATEWAY_PARTY, "GBA-BBBBBBBBBBBBBBBBBBBB"),
        ("GBA-AAAAAAAAAAAAAAAAAAAA", "HK-IMMD", "HK-IMMD"),
    ],
)
def test_a_verified_notice_about_another_case_or_party_is_permanent_and_kept(
    keys: KeyDirectory, case_ref: str, recipient: str, reason: str
) -> None:
    body = _notice(keys, case_ref, recipient=recipient)
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"Content-Type": "text/xml"})
    )
    with client_for("http://cbce.test", keys, "HK-TD", transport=transport) as client:
        with pytest.raises(AgencyCallFailed) as failed:
            client.poll("GBA-AAAAAAAAAAAAAAAAAAAA")
    assert failed.value.outcome is Outcome.PERMANENT and reason in failed.value.result.detail
    assert failed.value.result.document == body  # exactly the bytes received


def test_failures_without_an_answer_carry_no_document(keys: KeyDirectory) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(503, content=b"down"))
    with client_for("http://cbce.test", keys, "HK-TD", transport=transport) as client:
        with pytest.raises(AgencyCallFailed) as failed:
            client.poll("GBA-AAAAAAAAAAAAAAAAAAAA")
    assert failed.value.outcome is Outcome.RETRYABLE and failed.value.result.document is None
