"""Conformance checks for any CBCE 1.0 endpoint (a real HK agency's, or our sandbox).

Uses the gateway's key and the trust store of a key directory (the agency's certificate must be
registered there), and renders real applications from the bundled HK examples through the
pipeline, each with a fresh ``applicationNo`` so every run opens new cases. Checks are named
stably; a failed one says why. Checks talk raw HTTP (not :class:`HkClient`) to see exactly
what the endpoint answered.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from lxml import etree

from adapters.hk import FORMAT
from adapters.hk.format import NS
from adapters.hk.transport import read_fault
from gateway.devkit.conformance import CheckResult, example_for
from gateway.ports import DocumentInvalid
from gateway.render.pipeline import Pipeline
from signing import (
    KeyDirectory,
    SignatureRejected,
    SigningKey,
    TrustStore,
    parse_untrusted,
    sign,
    verify,
)
from signing.parties import GATEWAY_PARTY

XML = "application/xml; charset=utf-8"
DEFAULT_AGENCY = "HK-TD"
#: how long status.retrieval waits for a first StatusNotice of a just-accepted case
STATUS_WAIT_SECONDS = 5.0

CHECKS = (
    "submit.accepted",
    "submit.receipt-signature",
    "submit.idempotent-repeat",
    "submit.conflict",
    "submit.schema-fault",
    "submit.signature-fault",
    "status.retrieval",
    "status.unknown-case",
)


def _q(path: str) -> str:
    return "/".join(f"{{{NS}}}{p}" for p in path.split("/"))


def _bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class CheckFailed(Exception):
    """Raised inside a check with the reason it failed."""


@dataclass
class _Case:
    """One rendered application: its unsigned root, the signed bytes, its case ref."""

    unsigned: etree._Element
    signed: bytes
    case_ref: str


class _Kit:
    def __init__(self, url: str, keys: KeyDirectory, agency: str, pipeline: Pipeline):
        self.base = url.rstrip("/")
        self.agency = agency
        self.key: SigningKey = keys.gateway_key()
        self.trust: TrustStore = keys.trust_store()
        self.pipeline = pipeline
        self.http = httpx.Client(timeout=httpx.Timeout(15.0, connect=5.0))
        self.example, self.retarget = example_for(pipeline, "HK", agency)
        self.token = secrets.token_hex(4).upper()
        self.serial = 0
        self.first: _Case | None = None
        self.first_receipt: httpx.Response | None = None

    # --- documents ----------------------------------------------------------------------

    def new_case(self) -> _Case:
        """A fresh application (new applicationNo, so a new case ref), rendered and signed."""
        self.serial += 1
        data = dict(self.example)
        data["applicationNo"] = f"{data['applicationNo']}-C{self.token}{self.serial}"[:64]
        return self.render(data)

    def render(self, data: dict, edit: Callable[[etree._Element], None] | None = None) -> _Case:
        app = self.pipeline.accept(data)
        unsigned = self.pipeline.render(app, None).document
        if self.retarget:
            unsigned.find(_q("Header/Recipient")).text = self.agency
        if edit is not None:
            edit(unsigned)
        case_ref = unsigned.find(_q("Header/GatewayCaseRef")).text
        return _Case(unsigned, _bytes(sign(unsigned, self.key)), case_ref)

    def rerender(self, case: _Case, edit: Callable[[etree._Element], None]) -> bytes:
        """The same case with a new message id (and new Id), edited, signed again."""
        root = etree.fromstring(_bytes(case.unsigned))
        message_id = str(uuid.uuid4())
        root.find(_q("Header/MessageId")).text = message_id
        root.set("Id", f"cs-{message_id}")
        edit(root)
        return _bytes(sign(root, self.key))

    # --- HTTP ---------------------------------------------------------------------------

    def post_case(self, body: bytes) -> httpx.Response:
        return self.http.post(
            f"{self.base}/cbce/v1/cases", content=body, headers={"Content-Type": XML}
        )

    def get_status(self, case_ref: str) -> httpx.Response:
        return self.http.get(f"{self.base}/cbce/v1/cases/{case_ref}/status")

    def verified_as_agency(self, body: bytes, kind: str, case_ref: str) -> etree._Element:
        try:
            verified = verify(body, self.trust, FORMAT.header, expected_sender=self.agency)
        except SignatureRejected as exc:
            raise CheckFailed(f"{kind} signature rejected: {exc.reason}: {exc.message}") from None
        element = verified.element
        if element.tag != _q(kind):
            raise CheckFailed(f"expected a {kind}, got {element.tag}")
        header = FORMAT.parse_header(element)
        if header.case_ref != case_ref or header.recipient != GATEWAY_PARTY:
            raise CheckFailed(
                f"{kind} header names case {header.case_ref} / recipient {header.recipient}"
            )
        return element


def _expect_status(response: httpx.Response, *expected: int) -> None:
    if response.status_code not in expected:
        fault = read_fault(response.content)
        said = f" ({fault[1]})" if fault else ""
        raise CheckFailed(f"HTTP {response.status_code}{said}, expected {expected}")


def _expect_fault(response: httpx.Response, status: int, code: str) -> None:
    fault = read_fault(response.content)
    if response.status_code != status or fault is None or fault[0] != code:
        said = fault[1] if fault else "no CBCE Fault"
        raise CheckFailed(f"HTTP {response.status_code} {said}; expected {status} + Fault {code}")


def _schema_valid(body: bytes, kind: str) -> etree._Element:
    try:
        root = parse_untrusted(body)
        FORMAT.validate(root)
    except (SignatureRejected, DocumentInvalid) as exc:
        raise CheckFailed(f"{kind} is not a valid CBCE document: {exc}") from None
    if root.tag != _q(kind):
        raise CheckFailed(f"expected a {kind}, got {root.tag}")
    return root


def _agency_ref(body: bytes) -> str | None:
    try:
        return parse_untrusted(body).findtext(_q("AgencyCaseRef"))
    except SignatureRejected:
        return None


def _change_phone(root: etree._Element) -> None:
    """A schema-valid change of content: the applicant phone's last digit."""
    phone = root.find(_q("Applicant/Phone"))
    phone.text = phone.text[:-1] + ("1" if phone.text[-1] != "1" else "2")


# --- the checks ---------------------------------------------------------------------------


def _submit_accepted(kit: _Kit) -> str:
    case = kit.new_case()
    kit.first = case
    response = kit.post_case(case.signed)
    _expect_status(response, 202)
    kit.first_receipt = response
    _schema_valid(response.content, "Receipt")
    kit.verified_as_agency(response.content, "Receipt", case.case_ref)
    return f"202 with a signed Receipt for {case.case_ref}"


def _receipt_signature(kit: _Kit) -> str:
    if kit.first is None or kit.first_receipt is None:
        raise CheckFailed("no receipt to check (submit.accepted failed)")
    element = kit.verified_as_agency(kit.first_receipt.content, "Receipt", kit.first.case_ref)
    return f"receipt verifies as {kit.agency}, agency case {element.findtext(_q('AgencyCaseRef'))}"


def _idempotent_repeat(kit: _Kit) -> str:
    if kit.first is None or kit.first_receipt is None:
        raise CheckFailed("nothing to repeat (submit.accepted failed)")
    response = kit.post_case(kit.first.signed)
    _expect_status(response, 200)
    if response.content == kit.first_receipt.content:
        return "200 with the byte-identical receipt"
    first, again = _agency_ref(kit.first_receipt.content), _agency_ref(response.content)
    if first is None or first != again:
        raise CheckFailed(f"repeat answered with agency case {again}, first was {first}")
    return f"200 with the same AgencyCaseRef {first}"


def _conflict(kit: _Kit) -> str:
    if kit.first is None:
        raise CheckFailed("no accepted case to conflict with (submit.accepted failed)")
    _expect_fault(kit.post_case(kit.rerender(kit.first, _change_phone)), 409, "DUPLICATE_CONFLICT")
    return "409 DUPLICATE_CONFLICT"


def _schema_fault(kit: _Kit) -> str:
    case = kit.new_case()

    def _break(root: etree._Element) -> None:
        root.find(_q("Applicant/Phone")).text = "not-a-phone"

    _expect_fault(kit.post_case(kit.rerender(case, _break)), 400, "SCHEMA")
    return "400 SCHEMA"


def _signature_fault(kit: _Kit) -> str:
    case = kit.new_case()
    tampered = etree.fromstring(case.signed)
    _change_phone(tampered)  # after signing: the digest no longer matches
    _expect_fault(kit.post_case(_bytes(tampered)), 400, "SIGNATURE")
    return "400 SIGNATURE"


def _status_retrieval(kit: _Kit) -> str:
    if kit.first is None or kit.first_receipt is None:
        raise CheckFailed("no accepted case to ask about (submit.accepted failed)")
    deadline = time.monotonic() + STATUS_WAIT_SECONDS
    while True:
        response = kit.get_status(kit.first.case_ref)
        if response.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    _expect_status(response, 200)
    _schema_valid(response.content, "StatusNotice")
    element = kit.verified_as_agency(response.content, "StatusNotice", kit.first.case_ref)
    status = FORMAT.parse_status(element).events[0]
    return f"signed StatusNotice seq {status.seq} {status.agency_status}"


def _unknown_case(kit: _Kit) -> str:
    ref = "GBA-" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(20))
    _expect_fault(kit.get_status(ref), 404, "UNKNOWN_CASE")
    return f"404 UNKNOWN_CASE for {ref}"


_RUNNERS: dict[str, Callable[[_Kit], str]] = {
    "submit.accepted": _submit_accepted,
    "submit.receipt-signature": _receipt_signature,
    "submit.idempotent-repeat": _idempotent_repeat,
    "submit.conflict": _conflict,
    "submit.schema-fault": _schema_fault,
    "submit.signature-fault": _signature_fault,
    "status.retrieval": _status_retrieval,
    "status.unknown-case": _unknown_case,
}


def run(
    url: str,
    keys: KeyDirectory,
    agency: str = DEFAULT_AGENCY,
    *,
    pipeline: Pipeline | None = None,
) -> list[CheckResult]:
    """Run every check against the CBCE endpoint at ``url`` (entry point ``HK``)."""
    kit = _Kit(url, keys, agency, pipeline or Pipeline())
    results = []
    try:
        for name in CHECKS:
            try:
                results.append(CheckResult(name, True, _RUNNERS[name](kit)))
            except CheckFailed as exc:
                results.append(CheckResult(name, False, str(exc)))
            except httpx.HTTPError as exc:
                results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}"))
            except Exception as exc:  # a check must report, never abort the run
                results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}"))
    finally:
        kit.http.close()
    return results
