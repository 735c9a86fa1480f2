"""A repeat after the sandbox agency's key changed gets its first receipt, re-signed.

Both sandboxes, through the gateway's own clients (what a redrive does): the first answer is
signed with an unregistered key (``wrong_key``) and refused; the same agency restarted with its
registered key answers the repeat with the same receipt — same MessageId, agency case number
and times — which now verifies; while the key stays, repeats are byte-identical again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from adapters.sandbox import SandboxAgency
from gateway.domain import DocumentRef, MessageHeader, Supplement
from gateway.ports import AgencyClient, DeliveryResult, Outcome
from gateway.registry import client_factory, installed_formats
from gateway.render.documents import UTC_PLUS_8
from gateway.render.pipeline import Rendered
from signing import KeyDirectory, sign
from signing.parties import GATEWAY_PARTY

RenderExample = Callable[..., Rendered]
RunSandbox = Callable[..., AbstractContextManager[tuple[str, SandboxAgency]]]
EXAMPLES = {"HK": "northbound-vehicle-hk", "MO": "northbound-vehicle-mo"}


def client(region: str, url: str, keys: KeyDirectory, agency: str) -> AgencyClient:
    return client_factory(region)(url, keys.trust_store(), agency=agency, timeout=10.0)


def supplement_for(
    region: str, keys: KeyDirectory, case_ref: str, agency: str, agency_ref: str
) -> bytes:
    fmt = installed_formats()[region]
    root = fmt.render_supplement(
        Supplement(
            header=MessageHeader(
                message_id=str(uuid.uuid4()),
                case_ref=case_ref,
                sent_at=dt.datetime.now(UTC_PLUS_8),
                sender=GATEWAY_PARTY,
                recipient=agency,
            ),
            agency_case_ref=agency_ref,
            documents=[
                DocumentRef(
                    doc_id="M05-000000000001",
                    type="VEHICLE-PHOTO" if region == "HK" else "FOTO-VEICULO",
                    media_type="application/pdf",
                    size=1234,
                    sha256="a" * 64,
                    uri="https://files.example/m05.pdf",
                )
            ],
        )
    )
    fmt.validate(root)
    from lxml import etree

    return etree.tostring(sign(root, keys.gateway_key()), xml_declaration=True, encoding="UTF-8")


def refused_for_its_signature(result: DeliveryResult) -> None:
    assert result.outcome is Outcome.PERMANENT, result
    assert "signature" in result.detail.lower() and "not registered" in result.detail, result


@pytest.mark.parametrize("region", ["HK", "MO"], ids=["hk", "mo"])
def test_a_repeat_after_the_key_is_fixed_gets_the_first_receipt_signed_validly(
    region: str,
    keys: KeyDirectory,
    render_example: RenderExample,
    run_sandbox: RunSandbox,
    tmp_path: Path,
) -> None:
    rendered = render_example(EXAMPLES[region])
    case_ref, agency_code = rendered.case.case_ref, rendered.case.agency
    database = tmp_path / "agency.sqlite"

    with run_sandbox(region, tmp_path, database=database, faults={"wrong_key": True}) as (url, _):
        first = client(region, url, keys, agency_code).submit(rendered.to_bytes())
    refused_for_its_signature(first)

    with run_sandbox(region, tmp_path, database=database) as (url, agency):
        gateway = client(region, url, keys, agency_code)
        again = gateway.submit(rendered.to_bytes())
        third = gateway.submit(rendered.to_bytes())
        case = agency.case(case_ref)
        assert case is not None
        supplement = supplement_for(region, keys, case_ref, agency_code, case.agency_case_ref)
        supplied = gateway.send_supplement(case_ref, supplement)
        gateway.close()

    assert again.outcome in (Outcome.DUPLICATE, Outcome.DELIVERED), again  # SIP: no difference
    assert again.receipt is not None and third.receipt is not None
    assert again.receipt.agency_case_ref == case.agency_case_ref
    assert again.receipt.received_at == case.received_at.replace(microsecond=0)
    assert third.document == again.document  # the key did not change again: same bytes
    assert supplied.outcome is Outcome.DELIVERED, supplied
    store = agency.store
    assert store.count_cases(case_ref) == 1
    assert store.count_messages(case_ref=case_ref, outcome="new") == 2  # the case, the supplement
    assert store.count_messages(case_ref=case_ref, outcome="duplicate") == 2


@pytest.mark.parametrize("region", ["HK", "MO"], ids=["hk", "mo"])
def test_a_repeated_supplement_after_the_key_is_fixed_gets_its_receipt_signed_validly(
    region: str,
    keys: KeyDirectory,
    render_example: RenderExample,
    run_sandbox: RunSandbox,
    tmp_path: Path,
) -> None:
    rendered = render_example(EXAMPLES[region])
    case_ref, agency_code = rendered.case.case_ref, rendered.case.agency
    database = tmp_path / "agency.sqlite"

    with run_sandbox(region, tmp_path, database=database) as (url, agency):
        gateway = client(region, url, keys, agency_code)
        assert gateway.submit(rendered.to_bytes()).outcome is Outcome.DELIVERED
        case = agency.case(case_ref)
        assert case is not None
        gateway.close()
    supplement = supplement_for(region, keys, case_ref, agency_code, case.agency_case_ref)
    with run_sandbox(region, tmp_path, database=database, faults={"wrong_key": True}) as (url, _):
        refused_for_its_signature(
            client(region, url, keys, agency_code).send_supplement(case_ref, supplement)
        )
    with run_sandbox(region, tmp_path, database=database) as (url, agency):
        gateway = client(region, url, keys, agency_code)
        again = gateway.send_supplement(case_ref, supplement)
        gateway.close()
    assert again.outcome in (Outcome.DUPLICATE, Outcome.DELIVERED), again
    assert again.receipt is not None and again.receipt.agency_case_ref == case.agency_case_ref
    assert agency.store.count_messages(case_ref=case_ref, outcome="new") == 2
