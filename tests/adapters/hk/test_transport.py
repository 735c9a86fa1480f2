"""The gateway's HK client, push receiver and conformance kit against the sandbox on loopback."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from adapters.hk import FORMAT
from adapters.hk.conformance import CHECKS
from adapters.hk.conformance import run as conformance
from adapters.hk.inbound import PATH as NOTICE_PATH
from adapters.hk.inbound import create_receiver
from adapters.hk.transport import HkClient, TransportError, connect
from adapters.sandbox import REQUIRED_DOCUMENT_TYPE, SandboxAgency
from gateway.devkit.examples import bundled_examples
from gateway.domain import (
    DocumentRef,
    MessageHeader,
    Receipt,
    ResultRef,
    StatusEvent,
    StatusReport,
    Supplement,
)
from gateway.inbound.testing import file_case_for, recording_inbound
from gateway.ports import Outcome
from gateway.render.pipeline import Pipeline, Rendered
from gateway.serve import free_port, serving
from signing import KeyDirectory, sign
from signing.parties import GATEWAY_PARTY

HKT = dt.timezone(dt.timedelta(hours=8))
STEP = 0.05
EXAMPLE = "northbound-vehicle-hk"
#: types of the shared fixtures in conftest.py (which test modules cannot import)
RenderExample = Callable[..., Rendered]
RunSandbox = Callable[..., AbstractContextManager[tuple[str, SandboxAgency]]]
ToBytes = Callable[[etree._Element], bytes]


@contextmanager
def client_for(
    url: str, keys: KeyDirectory, agency: str = "HK-TD", timeout: float = 10.0
) -> Iterator[HkClient]:
    client = connect(url, keys.trust_store(), agency=agency, timeout=timeout)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def hk_sandbox_settings() -> dict[str, Any]:
    """This module's ``hk_sandbox`` steps its scripts in real time, so polls see them advance."""
    return {"step_seconds": STEP}


# --- outcomes -----------------------------------------------------------------------------


def test_the_five_hk_examples_are_delivered_and_repeats_are_duplicates(
    hk_sandbox: tuple[str, SandboxAgency], keys: KeyDirectory, render_example: RenderExample
) -> None:
    url, agency = hk_sandbox
    names = [p.stem for p in bundled_examples() if p.stem.endswith("-hk")]
    assert len(names) == 5
    for name in names:
        rendered = render_example(name)
        with client_for(url, keys, rendered.case.agency) as client:
            first = client.submit(rendered.to_bytes())
            again = client.submit(rendered.to_bytes())
        assert first.outcome is Outcome.DELIVERED, first.detail
        assert first.receipt is not None
        assert first.receipt.header.sender == rendered.case.agency
        assert first.receipt.header.case_ref == rendered.case.case_ref
        assert again.outcome is Outcome.DUPLICATE, again.detail
        assert again.receipt == first.receipt
        assert agency.store.count_cases(rendered.case.case_ref) == 1


def test_a_conflicting_repeat_is_conflict(
    hk_sandbox: tuple[str, SandboxAgency],
    keys: KeyDirectory,
    render_example: RenderExample,
    render_conflicting: Callable[[Rendered], Rendered],
) -> None:
    url, _ = hk_sandbox
    rendered = render_example(EXAMPLE)
    changed = render_conflicting(rendered)
    with client_for(url, keys) as client:
        assert client.submit(rendered.to_bytes()).outcome is Outcome.DELIVERED
        result = client.submit(changed.to_bytes())
    assert result.outcome is Outcome.CONFLICT
    assert result.fault_code == "DUPLICATE_CONFLICT"
    assert result.receipt is None


def test_schema_and_signature_faults_are_permanent(
    hk_sandbox: tuple[str, SandboxAgency],
    keys: KeyDirectory,
    pipeline: Pipeline,
    render_example: RenderExample,
    to_bytes: ToBytes,
) -> None:
    url, _ = hk_sandbox
    rendered = render_example(EXAMPLE)
    ns = FORMAT.namespace
    broken = pipeline.render(rendered.case.application, None).document
    broken.find(f"{{{ns}}}Applicant/{{{ns}}}Phone").text = "not-a-phone"
    tampered = etree.fromstring(rendered.to_bytes())
    tampered.find(f"{{{ns}}}Applicant/{{{ns}}}Phone").text += "0"
    with client_for(url, keys) as client:
        schema = client.submit(to_bytes(sign(broken, keys.gateway_key())))
        signature = client.submit(to_bytes(tampered))
    assert (schema.outcome, schema.fault_code) == (Outcome.PERMANENT, "SCHEMA")
    assert (signature.outcome, signature.fault_code) == (Outcome.PERMANENT, "SIGNATURE")
    assert "HTTP 400" in schema.detail


def test_unavailable_by_requests_is_retryable_then_delivered(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(EXAMPLE)
    with (
        run_sandbox("HK", tmp_path, faults={"unavailable_requests": 2}) as (url, agency),
        client_for(url, keys) as client,
    ):
        outcomes = [client.submit(rendered.to_bytes()).outcome for _ in range(3)]
    assert outcomes == [Outcome.RETRYABLE, Outcome.RETRYABLE, Outcome.DELIVERED]
    assert agency.store.count_messages(outcome="unavailable") == 2


def test_unavailable_window_is_retryable_then_delivered(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(EXAMPLE)
    with (
        run_sandbox("HK", tmp_path, faults={"unavailable_seconds": 0.5}) as (url, _),
        client_for(url, keys) as client,
    ):
        first = client.submit(rendered.to_bytes())
        time.sleep(0.55)
        second = client.submit(rendered.to_bytes())
    assert first.outcome is Outcome.RETRYABLE and "503" in first.detail
    assert second.outcome is Outcome.DELIVERED


def test_a_response_slower_than_the_client_timeout_is_retryable(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(EXAMPLE)
    with (
        run_sandbox("HK", tmp_path, faults={"delay_seconds": 1.0}) as (url, _),
        client_for(url, keys, timeout=0.3) as client,
    ):
        started = time.monotonic()
        result = client.submit(rendered.to_bytes())
        elapsed = time.monotonic() - started
    assert result.outcome is Outcome.RETRYABLE
    assert "Timeout" in result.detail
    assert elapsed < 0.9


def test_nothing_listening_is_retryable(keys: KeyDirectory, render_example: RenderExample) -> None:
    rendered = render_example(EXAMPLE)
    with client_for(f"http://127.0.0.1:{free_port()}", keys, timeout=2) as client:
        result = client.submit(rendered.to_bytes())
    assert result.outcome is Outcome.RETRYABLE
    assert "ConnectError" in result.detail


def test_a_receipt_signed_with_an_unregistered_key_is_rejected(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(EXAMPLE)
    with run_sandbox("HK", tmp_path, faults={"wrong_key": True}) as (url, agency):
        with client_for(url, keys) as client:
            result = client.submit(rendered.to_bytes())
            with pytest.raises(TransportError) as status_error:
                client.fetch_status(rendered.case.case_ref)
    assert result.outcome is Outcome.PERMANENT
    assert result.receipt is None
    assert "receipt signature rejected" in result.detail.lower()
    assert "certificate_not_registered" in result.detail
    assert agency.case(rendered.case.case_ref) is not None  # the agency did file it
    assert status_error.value.outcome is Outcome.PERMANENT


def _mock(status: int, body: bytes = b"") -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(status, content=body, headers={"Content-Type": "text/xml"})
    )


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (429, Outcome.RETRYABLE),
        (502, Outcome.RETRYABLE),
        (503, Outcome.RETRYABLE),
        (504, Outcome.RETRYABLE),
        (500, Outcome.RETRYABLE),
        (400, Outcome.PERMANENT),
        (401, Outcome.PERMANENT),
        (403, Outcome.PERMANENT),
        (404, Outcome.PERMANENT),
        (418, Outcome.PERMANENT),
        (409, Outcome.CONFLICT),
        (301, Outcome.PERMANENT),
    ],
)
def test_http_status_to_outcome(
    keys: KeyDirectory,
    render_example: RenderExample,
    to_bytes: ToBytes,
    status: int,
    outcome: Outcome,
) -> None:
    fault = to_bytes(FORMAT.render_fault("UNAUTHORISED", "who are you"))
    client = HkClient(
        "http://127.0.0.1:9", keys.trust_store(), agency="HK-TD", transport=_mock(status, fault)
    )
    with client:
        result = client.submit(render_example(EXAMPLE).to_bytes())
    assert result.outcome is outcome
    assert result.fault_code == "UNAUTHORISED"
    assert f"HTTP {status}" in result.detail and "who are you" in result.detail


def test_a_validly_signed_receipt_for_another_case_is_not_believed(
    keys: KeyDirectory, render_example: RenderExample, to_bytes: ToBytes
) -> None:
    now = dt.datetime.now(HKT)
    other = Receipt(
        header=MessageHeader(
            message_id=str(uuid.uuid4()),
            case_ref="GBA-ZZZZZZZZZZZZZZZZZZZZ",
            sent_at=now,
            sender="HK-TD",
            recipient=GATEWAY_PARTY,
        ),
        agency_case_ref="HK-TD-1",
        received_at=now,
    )
    body = to_bytes(sign(FORMAT.render_receipt(other), keys.agency_key("HK-TD")))
    with HkClient(
        "http://127.0.0.1:9", keys.trust_store(), agency="HK-TD", transport=_mock(202, body)
    ) as client:
        result = client.submit(render_example(EXAMPLE).to_bytes())
        assert result.outcome is Outcome.PERMANENT
        assert "GBA-ZZZZZZZZZZZZZZZZZZZZ" in result.detail
    # and the same receipt from an agency we did not send to
    with HkClient(
        "http://127.0.0.1:9", keys.trust_store(), agency="HK-CR", transport=_mock(202, body)
    ) as client:
        result = client.submit(render_example(EXAMPLE).to_bytes())
        assert result.outcome is Outcome.PERMANENT
        assert "wrong_sender" in result.detail


def test_a_verified_receipt_addressed_to_another_party_is_refused(
    keys: KeyDirectory, render_example: RenderExample, to_bytes: ToBytes
) -> None:
    """Same checks as the Macao client: the right case, and the gateway as recipient."""
    rendered = render_example(EXAMPLE)
    now = dt.datetime.now(HKT)
    receipt = Receipt(
        header=MessageHeader(
            message_id=str(uuid.uuid4()),
            case_ref=rendered.case.case_ref,
            sent_at=now,
            sender="HK-TD",
            recipient="HK-CR",
        ),
        agency_case_ref="HK-TD-1",
        received_at=now,
    )
    body = to_bytes(sign(FORMAT.render_receipt(receipt), keys.agency_key("HK-TD")))
    with connect(
        "http://hk.test", keys.trust_store(), agency="HK-TD", transport=_mock(202, body)
    ) as client:
        result = client.submit(rendered.to_bytes())
    assert result.outcome is Outcome.PERMANENT and result.receipt is None
    assert "HK-CR" in result.detail  # the reason names the party it was addressed to


def test_a_verified_status_notice_addressed_to_another_party_is_refused(
    keys: KeyDirectory, to_bytes: ToBytes
) -> None:
    now = dt.datetime.now(HKT)
    report = StatusReport(
        header=MessageHeader(
            message_id=str(uuid.uuid4()),
            case_ref="GBA-AAAAAAAAAAAAAAAAAAAA",
            sent_at=now,
            sender="HK-TD",
            recipient="HK-CR",
        ),
        agency_case_ref="HK-TD-1",
        events=[StatusEvent(seq=1, agency_status="RECEIVED", changed_at=now)],
    )
    body = to_bytes(sign(FORMAT.render_status(report), keys.agency_key("HK-TD")))
    with connect(
        "http://hk.test", keys.trust_store(), agency="HK-TD", transport=_mock(200, body)
    ) as client:
        with pytest.raises(TransportError) as failed:
            client.fetch_status("GBA-AAAAAAAAAAAAAAAAAAAA")
    assert failed.value.outcome is Outcome.PERMANENT
    assert "HK-CR" in failed.value.detail


# --- status and supplements ---------------------------------------------------------------


def test_fetch_status_reaches_completed_and_none_for_an_unknown_case(
    hk_sandbox: tuple[str, SandboxAgency], keys: KeyDirectory, render_example: RenderExample
) -> None:
    url, _ = hk_sandbox
    rendered = render_example(EXAMPLE)
    with client_for(url, keys) as client:
        assert client.fetch_status(rendered.case.case_ref) is None
        assert client.submit(rendered.to_bytes()).outcome is Outcome.DELIVERED
        deadline = time.monotonic() + 10
        while True:
            report = client.fetch_status(rendered.case.case_ref)
            assert report is not None
            if report.events[0].agency_status == "COMPLETED" or time.monotonic() > deadline:
                break
            time.sleep(STEP)
        assert report.events[0].agency_status == "COMPLETED"
        assert report.events[0].seq == 5
        assert report.events[0].result is not None
        assert client.fetch_status(rendered.case.case_ref, since_seq=5).events == []


def test_supplement_path_over_the_client(
    keys: KeyDirectory,
    render_example: RenderExample,
    run_sandbox: RunSandbox,
    to_bytes: ToBytes,
    tmp_path: Path,
) -> None:
    rendered = render_example(EXAMPLE)
    ref = rendered.case.case_ref
    with (
        run_sandbox("HK", tmp_path, step_seconds=STEP, scenario="supplement") as (url, agency),
        client_for(url, keys) as client,
    ):
        delivered = client.submit(rendered.to_bytes())
        assert delivered.receipt is not None

        def status() -> StatusEvent:
            report = client.fetch_status(ref)
            assert report is not None
            return report.events[0]

        deadline = time.monotonic() + 10
        while status().agency_status != "INFO_REQUIRED" and time.monotonic() < deadline:
            time.sleep(STEP)
        asked = status()
        assert asked.agency_status == "INFO_REQUIRED"
        assert asked.required_documents[0].type == "HKMTP"  # the submission's first document

        supplement = Supplement(
            header=MessageHeader(
                message_id=str(uuid.uuid4()),
                case_ref=ref,
                sent_at=dt.datetime.now(HKT),
                sender=GATEWAY_PARTY,
                recipient="HK-TD",
            ),
            agency_case_ref=delivered.receipt.agency_case_ref,
            documents=[
                DocumentRef(
                    doc_id="SUPP-1",
                    type=REQUIRED_DOCUMENT_TYPE,
                    media_type="application/pdf",
                    size=10,
                    sha256="b" * 64,
                    uri="https://files.example/s.pdf",
                )
            ],
        )
        body = to_bytes(sign(FORMAT.render_supplement(supplement), keys.gateway_key()))
        sent = client.send_supplement(ref, body)
        assert sent.outcome is Outcome.DELIVERED, sent.detail
        assert client.send_supplement(ref, body).outcome is Outcome.DUPLICATE
        unknown = client.send_supplement("GBA-YYYYYYYYYYYYYYYYYYYY", body)
        assert unknown.outcome is Outcome.PERMANENT

        deadline = time.monotonic() + 10
        while status().agency_status != "COMPLETED" and time.monotonic() < deadline:
            time.sleep(STEP)
        assert status().agency_status == "COMPLETED"
        assert [e.seq for e in agency.events(ref)] == [1, 2, 3, 4, 5, 6]


# --- the push receiver --------------------------------------------------------------------


def _notice(
    keys: KeyDirectory, case_ref: str, sender: str, signer: str | None = None
) -> etree._Element:
    now = dt.datetime.now(HKT)
    report = StatusReport(
        header=MessageHeader(
            message_id=str(uuid.uuid4()),
            case_ref=case_ref,
            sent_at=now,
            sender=sender,
            recipient=GATEWAY_PARTY,
        ),
        agency_case_ref=f"{sender}-1",
        events=[
            StatusEvent(
                seq=5,
                agency_status="COMPLETED",
                changed_at=now,
                result=ResultRef(doc_id="R1", uri="https://r.example/1", sha256="c" * 64),
            )
        ],
    )
    return sign(FORMAT.render_status(report), keys.agency_key(signer or sender))


def test_receiver_stores_good_notices_and_refuses_the_rest(
    keys: KeyDirectory, to_bytes: ToBytes, tmp_path: Path
) -> None:
    with recording_inbound(tmp_path, keys.trust_store()) as inbound:
        file_case_for(inbound.sessions, "GBA-AAAAAAAAAAAAAAAAAAAA", "HK-TD")
        _receive_and_refuse(keys, to_bytes, create_receiver(inbound))
    stored = inbound.accepted
    assert len(stored) == 2
    assert stored[0][1] == stored[1][1]
    assert stored[0][0].events[0].agency_status == "COMPLETED"


def _receive_and_refuse(keys: KeyDirectory, to_bytes: ToBytes, app: Any) -> None:
    good = to_bytes(_notice(keys, "GBA-AAAAAAAAAAAAAAAAAAAA", "HK-TD"))
    tampered = good.replace(b"COMPLETED", b"REJECTED")
    cases_refused = [
        (tampered, "SIGNATURE"),
        (to_bytes(_notice(keys, "GBA-AAAAAAAAAAAAAAAAAAAA", "HK-TD", signer="HK-CR")), "SIGNATURE"),
        (to_bytes(_notice(keys, "GBA-BBBBBBBBBBBBBBBBBBBB", "HK-TD")), "UNKNOWN_CASE"),
        (to_bytes(_notice(keys, "GBA-AAAAAAAAAAAAAAAAAAAA", "HK-CR")), "UNAUTHORISED"),
        (b"<not xml", "SCHEMA"),
    ]
    with serving(app) as url, httpx.Client(base_url=url) as http:
        assert http.post(NOTICE_PATH, content=good).status_code == 204
        assert http.post(NOTICE_PATH, content=good).status_code == 204  # duplicates too
        for body, code in cases_refused:
            response = http.post(NOTICE_PATH, content=body)
            assert response.status_code == 400
            assert FORMAT.parse_fault(etree.fromstring(response.content))[0] == code


# --- conformance --------------------------------------------------------------------------


def _failed(results: list[Any]) -> set[str]:
    return {r.name for r in results if not r.passed}


def test_conformance_passes_against_a_correct_sandbox(
    hk_sandbox: tuple[str, SandboxAgency], keys: KeyDirectory, pipeline: Pipeline
) -> None:
    url, _ = hk_sandbox
    for agency in ("HK-TD", "HK-IMMD"):  # HK-IMMD: no bundled example, re-addressed
        results = conformance(url, keys, agency, pipeline=pipeline)
        assert [r.name for r in results] == list(CHECKS)
        assert _failed(results) == set(), [r for r in results if not r.passed]


def test_conformance_names_the_receipt_signature_against_a_wrong_key_sandbox(
    keys: KeyDirectory, pipeline: Pipeline, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    with run_sandbox("HK", tmp_path, faults={"wrong_key": True}) as (url, _):
        results = conformance(url, keys, "HK-TD", pipeline=pipeline)
    assert "submit.receipt-signature" in _failed(results)
    failed = next(r for r in results if r.name == "submit.receipt-signature")
    assert "certificate_not_registered" in failed.detail
    assert "submit.schema-fault" not in _failed(results)


def test_conformance_names_idempotency_against_an_ignore_idempotency_sandbox(
    keys: KeyDirectory, pipeline: Pipeline, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    with run_sandbox("HK", tmp_path, faults={"ignore_idempotency": True}) as (url, _):
        results = conformance(url, keys, "HK-TD", pipeline=pipeline)
    assert _failed(results) == {"submit.idempotent-repeat", "submit.conflict"}


def test_conformance_against_nothing_fails_every_check(keys: KeyDirectory) -> None:
    results = conformance(f"http://127.0.0.1:{free_port()}", keys, "HK-TD")
    assert _failed(results) == set(CHECKS)
    assert all(r.detail for r in results)


def test_push_end_to_end_with_the_receiver(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    """The sandbox pushes to the gateway's receiver; the receiver only stores verified ones."""
    rendered = render_example(EXAMPLE)
    with (
        recording_inbound(tmp_path / "gateway", keys.trust_store()) as inbound,
        serving(create_receiver(inbound)) as gateway_url,
    ):
        file_case_for(inbound.sessions, rendered.case.case_ref, rendered.case.agency)
        push_url = gateway_url + NOTICE_PATH
        with (
            run_sandbox("HK", tmp_path, step_seconds=STEP, push_url=push_url) as (url, _),
            client_for(url, keys) as client,
        ):
            assert client.submit(rendered.to_bytes()).outcome is Outcome.DELIVERED
            deadline = time.monotonic() + 10
            while len(inbound.accepted) < 5 and time.monotonic() < deadline:
                time.sleep(STEP)
    assert [r.events[0].seq for r, _ in inbound.accepted] == [1, 2, 3, 4, 5]
