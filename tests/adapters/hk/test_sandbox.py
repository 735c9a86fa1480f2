"""The sandbox HK agency over real loopback HTTP: CBCE answers, idempotency, scripts, push.

Requests here are raw ``httpx`` so that status codes, content types and bytes are seen
exactly as an agency sends them; ``test_hk_transport.py`` covers the gateway's client.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from adapters.hk import FORMAT
from adapters.hk.format import NS
from adapters.hk.inbound import PATH as NOTICE_PATH
from adapters.hk.inbound import create_receiver
from adapters.sandbox import (
    REQUIRED_DOCUMENT_TYPE,
    SandboxAgency,
    SandboxConfig,
    SandboxStore,
)
from gateway.devkit.examples import bundled_examples
from gateway.domain import DocumentRef, MessageHeader, StatusReport, Supplement
from gateway.inbound.testing import file_case_for, recording_answers, recording_inbound
from gateway.render.pipeline import Pipeline, Rendered
from gateway.serve import serving
from signing import KeyDirectory, sign, verify
from signing.parties import GATEWAY_PARTY

XML = "application/xml; charset=utf-8"
HKT = dt.timezone(dt.timedelta(hours=8))
STEP = 0.05
EXAMPLE = "northbound-vehicle-hk"
#: one client for the module: creating one per request costs ~30 ms (TLS context)
HTTP = httpx.Client(timeout=10.0)
#: types of the shared fixtures in conftest.py (which test modules cannot import)
RenderExample = Callable[..., Rendered]
RunSandbox = Callable[..., AbstractContextManager[tuple[str, SandboxAgency]]]
ToBytes = Callable[[etree._Element], bytes]


# --- helpers ------------------------------------------------------------------------------


def hk_example(name: str = EXAMPLE) -> dict[str, Any]:
    path = next(p for p in bundled_examples() if p.stem == name)
    return json.loads(path.read_text(encoding="utf-8"))


def q(path: str) -> str:
    return "/".join(f"{{{NS}}}{p}" for p in path.split("/"))


def fault_code(response: httpx.Response) -> str:
    root = etree.fromstring(response.content)
    assert root.tag == q("Fault"), response.content[:200]
    return FORMAT.parse_fault(root)[0]


def post_case(url: str, body: bytes) -> httpx.Response:
    return HTTP.post(f"{url}/cbce/v1/cases", content=body, headers={"Content-Type": XML})


def supplement_doc(
    keys: KeyDirectory, case_ref: str, agency: str, agency_ref: str
) -> etree._Element:
    root = FORMAT.render_supplement(
        Supplement(
            header=MessageHeader(
                message_id=str(uuid.uuid4()),
                case_ref=case_ref,
                sent_at=dt.datetime.now(HKT),
                sender=GATEWAY_PARTY,
                recipient=agency,
            ),
            agency_case_ref=agency_ref,
            documents=[
                DocumentRef(
                    doc_id="SUPP-1",
                    type=REQUIRED_DOCUMENT_TYPE,
                    media_type="application/pdf",
                    size=1234,
                    sha256="a" * 64,
                    uri="https://files.example/supp-1.pdf",
                )
            ],
        )
    )
    return sign(root, keys.gateway_key())


def status_of(url: str, case_ref: str, keys: KeyDirectory, agency: str) -> StatusReport:
    response = HTTP.get(f"{url}/cbce/v1/cases/{case_ref}/status")
    assert response.status_code == 200, response.content
    assert response.headers["content-type"] == XML
    verified = verify(response.content, keys.trust_store(), FORMAT.header, expected_sender=agency)
    FORMAT.validate(verified.element)
    return FORMAT.parse_status(verified.element)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


# --- submission ---------------------------------------------------------------------------


def test_bundled_hk_examples_are_accepted_with_receipts_signed_by_their_agency(
    hk_sandbox: tuple[str, SandboxAgency], keys: KeyDirectory, render_example: RenderExample
) -> None:
    url, agency = hk_sandbox
    names = [p.stem for p in bundled_examples() if p.stem.endswith("-hk")]
    assert len(names) == 5
    trust = keys.trust_store()
    for name in names:
        rendered = render_example(name)
        response = post_case(url, rendered.to_bytes())
        assert response.status_code == 202, (name, response.content)
        assert response.headers["content-type"] == XML
        verified = verify(
            response.content, trust, FORMAT.header, expected_sender=rendered.case.agency
        )
        FORMAT.validate(verified.element)
        receipt = FORMAT.parse_receipt(verified.element)
        assert receipt.header.case_ref == rendered.case.case_ref
        assert receipt.agency_case_ref.startswith(rendered.case.agency)
        assert agency.case(rendered.case.case_ref) is not None


def test_a_repeat_gets_the_same_receipt_bytes_and_one_stored_case(
    hk_sandbox: tuple[str, SandboxAgency], render_example: RenderExample
) -> None:
    url, agency = hk_sandbox
    rendered = render_example(EXAMPLE)
    message_id = rendered.case.messages[0].message_id
    first = post_case(url, rendered.to_bytes())
    again = post_case(url, rendered.to_bytes())
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.content == first.content
    store = SandboxStore(agency.config.database)  # a second reader on the same file
    assert store.count_cases(rendered.case.case_ref) == 1
    assert store.count_messages(message_id=message_id) == 2
    assert store.count_messages(message_id=message_id, outcome="new") == 1


def test_same_content_under_a_new_message_id_is_a_duplicate_not_a_conflict(
    hk_sandbox: tuple[str, SandboxAgency], keys: KeyDirectory, pipeline: Pipeline
) -> None:
    """Documented choice: a retry of the same content re-signed with a new id is a repeat."""
    url, agency = hk_sandbox
    data = hk_example()
    data["applicationNo"] = f"{data['applicationNo']}-{uuid.uuid4().hex[:8]}"
    app = pipeline.accept(data)
    one = pipeline.render(app, keys.gateway_key())
    two = pipeline.render(app, keys.gateway_key())
    assert one.case.messages[0].message_id != two.case.messages[0].message_id
    first = post_case(url, one.to_bytes())
    again = post_case(url, two.to_bytes())
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.content == first.content
    assert agency.store.count_cases(one.case.case_ref) == 1


def test_same_case_with_other_content_is_a_409_conflict(
    hk_sandbox: tuple[str, SandboxAgency],
    render_example: RenderExample,
    render_conflicting: Callable[[Rendered], Rendered],
) -> None:
    url, agency = hk_sandbox
    rendered = render_example(EXAMPLE)
    assert post_case(url, rendered.to_bytes()).status_code == 202
    changed = render_conflicting(rendered)
    assert changed.case.case_ref == rendered.case.case_ref
    response = post_case(url, changed.to_bytes())
    assert response.status_code == 409
    assert response.headers["content-type"] == XML
    assert fault_code(response) == "DUPLICATE_CONFLICT"
    assert agency.store.count_messages(case_ref=rendered.case.case_ref, outcome="conflict") == 1


@pytest.mark.parametrize(
    "breakage",
    ["not-xml", "schema", "wrong-root"],
)
def test_unacceptable_documents_get_400_schema(
    hk_sandbox: tuple[str, SandboxAgency],
    keys: KeyDirectory,
    pipeline: Pipeline,
    breakage: str,
    render_example: RenderExample,
    to_bytes: ToBytes,
) -> None:
    url, _ = hk_sandbox
    rendered = render_example(EXAMPLE)
    if breakage == "not-xml":
        body = b"<CaseSubmission"
    elif breakage == "schema":
        root = pipeline.render(rendered.case.application, None).document
        root.find(q("Applicant/Phone")).text = "not-a-phone"
        body = to_bytes(sign(root, keys.gateway_key()))
    else:
        body = to_bytes(FORMAT.render_fault("INTERNAL", "not a submission"))
    response = post_case(url, body)
    assert response.status_code == 400
    assert fault_code(response) == "SCHEMA"


def test_a_comment_in_a_signed_submission_is_accepted(
    hk_sandbox: tuple[str, SandboxAgency], render_example: RenderExample
) -> None:
    """Comments are not signed content (CBCE §signatures): a toolkit that writes one is fine."""
    url, _ = hk_sandbox
    body = render_example(EXAMPLE).to_bytes()
    commented = body.replace(b"</cbce:Service>", b"<!-- x --></cbce:Service>")
    assert commented != body
    assert post_case(url, commented).status_code == 202


def test_tampered_or_wrongly_signed_documents_get_400_signature(
    hk_sandbox: tuple[str, SandboxAgency],
    keys: KeyDirectory,
    pipeline: Pipeline,
    render_example: RenderExample,
    to_bytes: ToBytes,
) -> None:
    url, agency = hk_sandbox
    rendered = render_example(EXAMPLE)
    tampered = etree.fromstring(rendered.to_bytes())
    tampered.find(q("Applicant/Phone")).text += "0"
    # signed, but by an agency's key while the header says the gateway sent it
    by_agency = sign(
        pipeline.render(rendered.case.application, None).document, keys.agency_key("HK-TD")
    )
    for body in (to_bytes(tampered), to_bytes(by_agency)):
        response = post_case(url, body)
        assert response.status_code == 400
        assert fault_code(response) == "SIGNATURE"
    assert agency.case(rendered.case.case_ref) is None


def test_a_recipient_the_sandbox_has_no_key_for_gets_400_unauthorised(
    hk_sandbox: tuple[str, SandboxAgency],
    keys: KeyDirectory,
    pipeline: Pipeline,
    render_example: RenderExample,
    to_bytes: ToBytes,
) -> None:
    url, _ = hk_sandbox
    root = pipeline.render(render_example(EXAMPLE).case.application, None).document
    root.find(q("Header/Recipient")).text = "HK-NOSUCH"
    response = post_case(url, to_bytes(sign(root, keys.gateway_key())))
    assert response.status_code == 400
    assert fault_code(response) == "UNAUTHORISED"


def test_unavailable_window_answers_503_then_accepts(
    render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(EXAMPLE)
    with run_sandbox("HK", tmp_path, faults={"unavailable_seconds": 0.4}) as (url, _):
        response = post_case(url, rendered.to_bytes())
        assert response.status_code == 503
        assert fault_code(response) == "INTERNAL"
        time.sleep(0.45)
        assert post_case(url, rendered.to_bytes()).status_code == 202


# --- status scripts -----------------------------------------------------------------------


def test_status_pull_follows_the_happy_script_to_completed(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    rendered = render_example(EXAMPLE)
    ref, code = rendered.case.case_ref, rendered.case.agency
    with run_sandbox("HK", tmp_path, step_seconds=0.4) as (url, agency):
        assert post_case(url, rendered.to_bytes()).status_code == 202
        first = status_of(url, ref, keys, code).events[0]
        assert first.seq <= 2 and first.agency_status in ("RECEIVED", "ACCEPTED")  # time-driven
        done = wait_for(
            lambda: status_of(url, ref, keys, code).events[0].agency_status == "COMPLETED"
        )
        assert done
        final = status_of(url, ref, keys, code)
        assert final.events[0].result is not None
        seqs = [e.seq for e in agency.events(ref)]
        assert seqs == sorted(set(seqs)) and len(seqs) == 5
        assert [e.status.value for e in agency.events(ref)] == [
            "RECEIVED",
            "ACCEPTED",
            "IN_PROGRESS",
            "APPROVED",
            "COMPLETED",
        ]


def test_status_of_an_unknown_case_is_404_unknown_case(
    hk_sandbox: tuple[str, SandboxAgency],
) -> None:
    url, _ = hk_sandbox
    response = HTTP.get(f"{url}/cbce/v1/cases/GBA-AAAAAAAAAAAAAAAAAAAA/status")
    assert response.status_code == 404
    assert fault_code(response) == "UNKNOWN_CASE"


def test_supplement_scenario_waits_for_the_supplement_then_completes(
    keys: KeyDirectory,
    render_example: RenderExample,
    run_sandbox: RunSandbox,
    to_bytes: ToBytes,
    tmp_path: Path,
) -> None:
    rendered = render_example(EXAMPLE)
    ref, code = rendered.case.case_ref, rendered.case.agency
    by_case = {ref: "補正"}
    with run_sandbox("HK", tmp_path, step_seconds=STEP, scenarios_by_case=by_case) as (url, agency):
        receipt = FORMAT.parse_receipt(
            etree.fromstring(post_case(url, rendered.to_bytes()).content)
        )
        waiting = wait_for(
            lambda: status_of(url, ref, keys, code).events[0].agency_status == "INFO_REQUIRED"
        )
        assert waiting
        time.sleep(3 * STEP)  # nothing moves while the supplement is outstanding
        event = status_of(url, ref, keys, code).events[0]
        assert event.agency_status == "INFO_REQUIRED"
        first_document = rendered.document.find(q("Documents/Document"))
        assert first_document is not None  # the 補正 asks for the submission's first one again
        assert [d.type for d in event.required_documents] == [first_document.get("Type")]

        body = to_bytes(supplement_doc(keys, ref, code, receipt.agency_case_ref))
        sent = HTTP.post(f"{url}/cbce/v1/cases/{ref}/supplements", content=body)
        assert sent.status_code == 202
        verified = verify(sent.content, keys.trust_store(), FORMAT.header, expected_sender=code)
        assert FORMAT.parse_receipt(verified.element).agency_case_ref == receipt.agency_case_ref
        again = HTTP.post(f"{url}/cbce/v1/cases/{ref}/supplements", content=body)
        assert (again.status_code, again.content) == (200, sent.content)

        assert wait_for(
            lambda: status_of(url, ref, keys, code).events[0].agency_status == "COMPLETED"
        )
        assert [e.status.value for e in agency.events(ref)] == [
            "RECEIVED",
            "ACCEPTED",
            "INFO_REQUIRED",
            "IN_PROGRESS",
            "APPROVED",
            "COMPLETED",
        ]


def test_supplement_for_an_unknown_case_is_refused(
    hk_sandbox: tuple[str, SandboxAgency], keys: KeyDirectory, to_bytes: ToBytes
) -> None:
    url, _ = hk_sandbox
    ref = "GBA-BBBBBBBBBBBBBBBBBBBB"
    body = to_bytes(supplement_doc(keys, ref, "HK-TD", "HK-TD-2025-X"))
    response = HTTP.post(f"{url}/cbce/v1/cases/{ref}/supplements", content=body)
    assert response.status_code == 404
    assert fault_code(response) == "UNKNOWN_CASE"


def test_scenarios_by_service_and_default_reach_rejected_and_withdrawn(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    vehicle = render_example("northbound-vehicle-hk")
    licence = render_example("driving-licence-exchange-hk")
    service = vehicle.translation.submission.service.service_code
    assert service != licence.translation.submission.service.service_code
    with run_sandbox(
        "HK", tmp_path, scenario="withdraw", scenarios_by_service={service: "reject"}
    ) as (url, _):
        for rendered, final in ((vehicle, "REJECTED"), (licence, "WITHDRAWN")):
            assert post_case(url, rendered.to_bytes()).status_code == 202
            report = status_of(url, rendered.case.case_ref, keys, rendered.case.agency)
            assert report.events[0].agency_status == final


def test_config_loads_from_yaml_with_relative_paths_and_the_補正_alias(
    keys: KeyDirectory, tmp_path: Path
) -> None:
    (tmp_path / "sandbox.yaml").write_text(
        f"region: HK\nkeys_dir: {keys.path}\ndatabase: data/hk.sqlite\n"
        "scenario: reject\nscenarios_by_service: {S1: 補正}\n"
        "scenarios_by_case: {GBA-CCCCCCCCCCCCCCCCCCCC: withdraw}\n"
        "step_seconds: 0.5\npush_url: http://127.0.0.1:9/x\n"
        "faults: {unavailable_requests: 2, duplicate_notices: true}\n",
        encoding="utf-8",
    )
    cfg = SandboxConfig.from_yaml(tmp_path / "sandbox.yaml")
    assert cfg.database == tmp_path / "data" / "hk.sqlite"
    assert cfg.faults.unavailable_requests == 2 and cfg.faults.duplicate_notices
    assert cfg.scenario_for("GBA-CCCCCCCCCCCCCCCCCCCC", "S1") == "withdraw"
    assert cfg.scenario_for("GBA-DDDDDDDDDDDDDDDDDDDD", "S1") == "supplement"
    assert cfg.scenario_for("GBA-DDDDDDDDDDDDDDDDDDDD", "S2") == "reject"
    with pytest.raises(ValueError):
        SandboxConfig.model_validate({**cfg.model_dump(), "scenario": "explode"})


# --- push ---------------------------------------------------------------------------------


class Gateway:
    """The gateway's push receiver on loopback over a real inbound path (a SQLite store in
    ``directory``), recording what it took and what it answered."""

    def __init__(self, keys: KeyDirectory, directory: Path, *, fail_first: int = 0):
        self.answers: list[tuple[int, bytes]] = []
        self._stack = ExitStack()
        self.inbound = self._stack.enter_context(
            recording_inbound(directory / "gateway", keys.trust_store(), fail_first=fail_first)
        )
        receiver = create_receiver(self.inbound)

        self.app = recording_answers(
            receiver, lambda status, body: self.answers.append((status, body))
        )

    def add_case(self, case_ref: str, agency: str) -> None:
        file_case_for(self.inbound.sessions, case_ref, agency)

    @property
    def stored(self) -> list[tuple[StatusReport, bytes]]:
        return list(self.inbound.accepted)

    def seqs(self, case_ref: str) -> list[int]:
        return self.inbound.seqs(case_ref)

    def close(self) -> None:
        self._stack.close()


@contextmanager
def pushing(
    run_sandbox: RunSandbox, tmp_path: Path, gateway: Gateway, **overrides: Any
) -> Iterator[str]:
    try:
        with serving(gateway.app) as gateway_url:
            push_url = f"{gateway_url}{NOTICE_PATH}"
            with run_sandbox("HK", tmp_path, push_url=push_url, **overrides) as (url, _):
                yield url
    finally:
        gateway.close()


def test_push_delivers_each_signed_notice_in_order(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    gateway = Gateway(keys, tmp_path, fail_first=2)  # two store failures: the sandbox retries
    rendered = render_example(EXAMPLE)
    ref = rendered.case.case_ref
    gateway.add_case(ref, rendered.case.agency)
    with pushing(run_sandbox, tmp_path, gateway, step_seconds=STEP) as url:
        assert post_case(url, rendered.to_bytes()).status_code == 202
        assert wait_for(lambda: len(gateway.seqs(ref)) >= 5)
        time.sleep(0.1)
    assert gateway.seqs(ref) == [1, 2, 3, 4, 5]
    assert [a for a, _ in gateway.answers].count(500) == 2
    statuses = [r.events[0].agency_status for r, _ in gateway.stored]
    assert statuses == ["RECEIVED", "ACCEPTED", "IN_PROGRESS", "APPROVED", "COMPLETED"]
    for report, raw in gateway.stored:
        verify(raw, keys.trust_store(), FORMAT.header, expected_sender=rendered.case.agency)
        assert report.header.sender == rendered.case.agency


def test_push_duplicates_arrive_twice_with_the_same_message_id(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    gateway = Gateway(keys, tmp_path)
    rendered = render_example(EXAMPLE)
    ref = rendered.case.case_ref
    gateway.add_case(ref, rendered.case.agency)
    with pushing(run_sandbox, tmp_path, gateway, faults={"duplicate_notices": True}) as url:
        assert post_case(url, rendered.to_bytes()).status_code == 202
        assert wait_for(lambda: len(gateway.seqs(ref)) >= 10)
        time.sleep(0.1)
    assert sorted(gateway.seqs(ref)) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    by_seq: dict[int, set[str]] = {}
    for report, _ in gateway.stored:
        by_seq.setdefault(report.events[0].seq, set()).add(report.header.message_id)
    assert all(len(ids) == 1 for ids in by_seq.values())
    assert {a for a, _ in gateway.answers} == {204}


def test_push_out_of_order_swaps_adjacent_notices(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    gateway = Gateway(keys, tmp_path)
    rendered = render_example(EXAMPLE)
    ref = rendered.case.case_ref
    gateway.add_case(ref, rendered.case.agency)
    faults = {"out_of_order_notices": True}
    with pushing(run_sandbox, tmp_path, gateway, step_seconds=STEP, faults=faults) as url:
        assert post_case(url, rendered.to_bytes()).status_code == 202
        assert wait_for(lambda: len(gateway.seqs(ref)) >= 5)
        time.sleep(0.1)
    assert gateway.seqs(ref) == [2, 1, 4, 3, 5]


def test_push_signed_with_an_unregistered_key_gets_400_signature(
    keys: KeyDirectory, render_example: RenderExample, run_sandbox: RunSandbox, tmp_path: Path
) -> None:
    gateway = Gateway(keys, tmp_path)
    rendered = render_example(EXAMPLE)
    gateway.add_case(rendered.case.case_ref, rendered.case.agency)
    with pushing(run_sandbox, tmp_path, gateway, faults={"wrong_key": True}) as url:
        assert post_case(url, rendered.to_bytes()).status_code == 202
        assert wait_for(lambda: len(gateway.answers) >= 5)
        time.sleep(0.1)
    assert gateway.stored == []
    assert len(gateway.answers) == 5  # refused notices are not retried
    for status, body in gateway.answers:
        assert status == 400
        assert FORMAT.parse_fault(etree.fromstring(body))[0] == "SIGNATURE"
