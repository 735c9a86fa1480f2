"""HK CBCE 1.0 adapter: rendered documents follow the spec, the schema refuses what it forbids,
and what an agency sends reads back into the same canonical models."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.hk import FORMAT
from adapters.hk.format import NS
from gateway.domain import (
    Address,
    Commitment,
    Consent,
    Delivery,
    DocumentRef,
    Identity,
    MessageHeader,
    Particular,
    PendingDocument,
    Receipt,
    ResultRef,
    StatusEvent,
    StatusReport,
    Submission,
    SubmissionAgent,
    SubmissionApplicant,
    SubmissionService,
    Supplement,
    TimeLimit,
)
from gateway.ports import DocumentInvalid
from signing.algorithms import DS_NS
from signing.parties import GATEWAY_PARTY

HKT = dt.timezone(dt.timedelta(hours=8))
MSG_ID = "6f1c2b9e-3d4a-4b5c-8d7e-0a1b2c3d4e5f"
CASE_REF = "GBA-2024HK0000000000001A"
SHA = hashlib.sha256(b"licence scan").hexdigest()
SHA2 = hashlib.sha256(b"power of attorney").hexdigest()


def q(name: str) -> str:
    return f"{{{NS}}}{name}"


def names(el: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in el]


def submission(**changes: object) -> Submission:
    """A case with every optional part present: agent, commitment, deficiencies, amounts…"""
    s = Submission(
        header=MessageHeader(
            message_id=MSG_ID,
            case_ref=CASE_REF,
            sent_at=dt.datetime(2024, 3, 1, 2, 30, 0, tzinfo=dt.UTC),  # 10:30 in Hong Kong
            sender=GATEWAY_PARTY,
            recipient="HK-TD",
        ),
        service=SubmissionService(
            service_code="TD-DLX-01",
            source_item_code="11440000MB2C92181Q3440100001",
            name_zh="內地駕駛執照換領香港駕駛執照",
            name_foreign="Exchange of Mainland driving licence",
        ),
        applicant=SubmissionApplicant(
            name_zh="陳大文",
            surname="CHAN",
            given="TAI MAN",
            identity=Identity(
                type="PRC_ID",
                number="810000199001011234",
                issuing_country="CHN",
                residence_permit=True,
            ),
            birth_date=dt.date(1990, 1, 1),
            phone="+85291234567",
            email="chan@example.hk",
            address=Address(lines=["香港灣仔告士打道5號", "12樓"], region="HK"),
        ),
        agent=SubmissionAgent(
            name_zh="李小龍",
            surname="LEE",
            given="SIU LUNG",
            identity=Identity(type="HK_ID", number="A123456(7)", issuing_country="HKG"),
            authorisation_doc_id=f"POA-{SHA2[:12]}",
        ),
        particulars=[
            Particular(name="LicenceNo", value="440101199001011234"),
            Particular(name="IssueDate", value="2015-06-30"),
            Particular(name="Fee", value=str(Decimal("1000.00")), currency="HKD"),
            Particular(name="HasConvictions", value="false"),
        ],
        documents=[
            DocumentRef(
                doc_id=f"LIC-{SHA[:12]}",
                type="TD-LIC",
                media_type="application/pdf",
                size=123456,
                sha256=SHA,
                uri="https://files.gd.example/m/lic.pdf",
            ),
            DocumentRef(
                doc_id=f"POA-{SHA2[:12]}",
                type="TD-POA",
                media_type="image/jpeg",
                size=0,
                sha256=SHA2,
                uri="https://files.gd.example/m/poa.jpg",
            ),
        ],
        deficiencies=[PendingDocument(type="TD-EYE", due_date=dt.date(2024, 3, 31))],
        commitment=Commitment(
            accepted=True,
            at=dt.datetime(2024, 3, 1, 10, 0, tzinfo=HKT),
            text="本人承諾所填報資料真實。",
        ),
        consents=[
            Consent(
                purpose="CROSS_BORDER_TRANSFER",
                biometric=False,
                at=dt.datetime(2024, 3, 1, 10, 0, tzinfo=HKT),
            ),
            Consent(
                purpose="BIOMETRIC_VERIFICATION",
                biometric=True,
                at=dt.datetime(2024, 3, 1, 10, 1, tzinfo=HKT),
            ),
        ],
        time_limit=TimeLimit(committed_days=10, statutory_days=20, due_date=dt.date(2024, 3, 15)),
        delivery=Delivery(
            channel="POST", address=Address(lines=["廣州市天河區體育西路1號"], region="CN-GD")
        ),
    )
    return s.model_copy(update=changes)


def agency_header(**changes: object) -> MessageHeader:
    h = MessageHeader(
        message_id="0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d",
        case_ref=CASE_REF,
        sent_at=dt.datetime(2024, 3, 2, 9, 0, 5, tzinfo=HKT),
        sender="HK-TD",
        recipient="GD-GBA-GW",
    )
    return h.model_copy(update=changes)


def status_report(**event: object) -> StatusReport:
    e = StatusEvent(
        seq=3,
        agency_status="INFO_REQUIRED",
        changed_at=dt.datetime(2024, 3, 5, 16, 45, tzinfo=HKT),
        remarks="請補交視力測驗報告。",
        required_documents=[PendingDocument(type="TD-EYE", due_date=dt.date(2024, 3, 20))],
    )
    return StatusReport(
        header=agency_header(),
        agency_case_ref="TD/DLX/2024/000123",
        events=[e.model_copy(update=event)],
    )


def signature_element() -> etree._Element:
    """Stand-in for what signing/ appends; the schema skips its content."""
    sig = etree.Element(f"{{{DS_NS}}}Signature", nsmap={"ds": DS_NS})
    etree.SubElement(sig, f"{{{DS_NS}}}SignedInfo")
    return sig


# --- the submission ---------------------------------------------------------------------------


def test_full_submission_validates_and_follows_the_spec_order() -> None:
    root = FORMAT.render_submission(submission())
    FORMAT.validate(root)

    assert root.tag == q("CaseSubmission")
    assert root.prefix == "cbce"
    assert root.get("SchemaVersion") == "1.0"
    assert root.get("Id") == f"cs-{MSG_ID}"
    assert names(root) == [
        "Header",
        "Service",
        "Applicant",
        "Agent",
        "Particulars",
        "Documents",
        "Deficiencies",
        "Commitment",
        "Consents",
        "TimeLimit",
        "Delivery",
    ]
    assert names(root.find(q("Header"))) == [
        "MessageId",
        "GatewayCaseRef",
        "SentAt",
        "Sender",
        "Recipient",
    ]
    assert names(root.find(q("Service"))) == [
        "ServiceCode",
        "SourceItemCode",
        "ServiceNameZh",
        "ServiceNameEn",
    ]
    assert names(root.find(q("Applicant"))) == [
        "NameZh",
        "NameEn",
        "Identity",
        "DateOfBirth",
        "Phone",
        "Email",
        "Address",
    ]
    assert names(root.find(q("Agent"))) == ["NameZh", "NameEn", "Identity", "AuthorisationRef"]
    assert names(root.find(f"{q('Applicant')}/{q('NameEn')}")) == ["Surname", "GivenName"]
    assert names(root.find(f"{q('Applicant')}/{q('Address')}")) == ["Line", "Line", "Region"]
    assert names(root.find(f"{q('Delivery')}/{q('Address')}")) == ["Line", "Region"]


def test_submission_values_are_mapped_to_cbce() -> None:
    root = FORMAT.render_submission(submission())
    assert root.findtext(f"{q('Header')}/{q('SentAt')}") == "2024-03-01T10:30:00+08:00"
    assert root.find(FORMAT.header.sender).text == "GD-GBA-GW"
    assert root.find(FORMAT.header.message_id).text == MSG_ID
    ident = root.find(f"{q('Applicant')}/{q('Identity')}")
    assert (ident.text, ident.get("Type"), ident.get("IssuingPlace")) == (
        "810000199001011234",
        "PRCID",
        "CHN",
    )
    agent_id = root.find(f"{q('Agent')}/{q('Identity')}")
    assert (agent_id.get("Type"), agent_id.get("IssuingPlace")) == ("HKID", "HKG")
    fee = root.find(f"{q('Particulars')}/{q('Field')}[@Name='Fee']")
    assert (fee.text, fee.get("Currency")) == ("1000.00", "HKD")
    assert root.find(f"{q('Particulars')}/{q('Field')}[@Name='IssueDate']").get("Currency") is None
    doc = root.find(f"{q('Documents')}/{q('Document')}")
    assert dict(doc.attrib) == {
        "DocId": f"LIC-{SHA[:12]}",
        "Type": "TD-LIC",
        "MediaType": "application/pdf",
        "Size": "123456",
        "Sha256": SHA,
        "Uri": "https://files.gd.example/m/lic.pdf",
    }
    assert dict(root.find(f"{q('Deficiencies')}/{q('Pending')}").attrib) == {
        "Type": "TD-EYE",
        "DueDate": "2024-03-31",
    }
    commitment = root.find(q("Commitment"))
    assert commitment.attrib == {"Accepted": "true", "At": "2024-03-01T10:00:00+08:00"}
    assert commitment.text == "本人承諾所填報資料真實。"
    assert [c.get("Biometric") for c in root.find(q("Consents"))] == ["false", "true"]
    assert dict(root.find(q("TimeLimit")).attrib) == {
        "CommittedWorkingDays": "10",
        "StatutoryWorkingDays": "20",
        "DueDate": "2024-03-15",
    }
    assert root.find(q("Delivery")).get("Channel") == "POST"


@pytest.mark.parametrize(
    ("kind", "country", "cbce"),
    [
        ("HK_ID", "HKG", "HKID"),
        ("MO_ID", "MAC", "MOBIR"),
        ("HKMO_PERMIT", "CHN", "HKMTP"),
        ("PASSPORT", "GBR", "PASSPORT"),
        ("PRC_ID", "CHN", "PRCID"),
    ],
)
def test_identity_types(kind: str, country: str, cbce: str) -> None:
    s = submission()
    applicant = s.applicant.model_copy(
        update={"identity": Identity(type=kind, number="X1234567", issuing_country=country)}
    )
    root = FORMAT.render_submission(s.model_copy(update={"applicant": applicant}))
    FORMAT.validate(root)
    ident = root.find(f"{q('Applicant')}/{q('Identity')}")
    assert (ident.get("Type"), ident.get("IssuingPlace")) == (cbce, country)


def test_issuing_country_contradicting_the_spec_is_refused() -> None:
    s = submission()
    applicant = s.applicant.model_copy(
        update={"identity": Identity(type="HK_ID", number="A123456(7)", issuing_country="CHN")}
    )
    with pytest.raises(ValueError, match="HKID requires HKG"):
        FORMAT.render_submission(s.model_copy(update={"applicant": applicant}))


def test_minimal_submission_keeps_empty_wrappers_and_omits_optionals() -> None:
    s = submission(
        agent=None,
        particulars=[],
        documents=[],
        deficiencies=[],
        commitment=None,
        delivery=Delivery(channel="ELECTRONIC"),
        time_limit=TimeLimit(committed_days=5, statutory_days=None, due_date=dt.date(2024, 3, 8)),
    )
    applicant = s.applicant.model_copy(update={"name_zh": None, "email": None, "address": None})
    root = FORMAT.render_submission(s.model_copy(update={"applicant": applicant}))
    FORMAT.validate(root)
    assert names(root) == [
        "Header",
        "Service",
        "Applicant",
        "Particulars",
        "Documents",
        "Deficiencies",
        "Consents",
        "TimeLimit",
        "Delivery",
    ]
    assert all(len(root.find(q(w))) == 0 for w in ("Particulars", "Documents", "Deficiencies"))
    assert names(root.find(q("Applicant"))) == ["NameEn", "Identity", "DateOfBirth", "Phone"]
    assert "StatutoryWorkingDays" not in root.find(q("TimeLimit")).attrib
    assert len(root.find(q("Delivery"))) == 0


def test_naive_datetime_is_refused() -> None:
    header = submission().header.model_copy(update={"sent_at": dt.datetime(2024, 3, 1, 10, 0)})
    with pytest.raises(ValueError, match="naive"):
        FORMAT.render_submission(submission(header=header))


def test_signature_is_accepted_only_as_last_child() -> None:
    root = FORMAT.render_submission(submission())
    root.append(signature_element())
    FORMAT.validate(root)
    root.insert(0, root[-1])
    with pytest.raises(DocumentInvalid):
        FORMAT.validate(root)


# --- the schema refuses what the spec forbids -------------------------------------------------


def _set(path: str, attr: str | None, value: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        el = root.find("/".join(q(p) for p in path.split("/")))
        if attr is None:
            el.text = value
        else:
            el.set(attr, value)

    return mutate


def _remove(path: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        el = root.find("/".join(q(p) for p in path.split("/")))
        el.getparent().remove(el)

    return mutate


def _drop_attr(attr: str) -> Callable[[etree._Element], None]:
    return lambda root: root.attrib.pop(attr)


def _swap_particulars_documents(root: etree._Element) -> None:
    root.find(q("Particulars")).addnext(root.find(q("Documents")))
    root.find(q("Documents")).addnext(root.find(q("Particulars")))


SUBMISSION_VIOLATIONS = {
    "missing Particulars wrapper": _remove("Particulars"),
    "missing Deficiencies wrapper": _remove("Deficiencies"),
    "lower-case GatewayCaseRef": _set("Header/GatewayCaseRef", None, CASE_REF.lower()),
    "short GatewayCaseRef": _set("Header/GatewayCaseRef", None, CASE_REF[:-1]),
    "SentAt in UTC": _set("Header/SentAt", None, "2024-03-01T02:30:00Z"),
    "SentAt without offset": _set("Header/SentAt", None, "2024-03-01T10:30:00"),
    "not a UUID": _set("Header/MessageId", None, "6f1c2b9e3d4a4b5c8d7e0a1b2c3d4e5f"),
    "agency as sender": _set("Header/Sender", None, "HK-TD"),
    "Macao recipient": _set("Header/Recipient", None, "MO-DSAT"),
    "upper-case Sha256": _set("Documents/Document", "Sha256", SHA.upper()),
    "http Uri": _set("Documents/Document", "Uri", "http://files.gd.example/m/lic.pdf"),
    "negative Size": _set("Documents/Document", "Size", "-1"),
    "missing SchemaVersion": _drop_attr("SchemaVersion"),
    "SchemaVersion 1.1": lambda root: root.set("SchemaVersion", "1.1"),
    "missing Id": _drop_attr("Id"),
    "unknown Identity Type": _set("Applicant/Identity", "Type", "HKIC"),
    "IssuingPlace alpha-2": _set("Applicant/Identity", "IssuingPlace", "CN"),
    "Phone not E.164": _set("Applicant/Phone", None, "91234567"),
    "lower-case surname": _set("Applicant/NameEn/Surname", None, "Chan"),
    "boolean 1": _set("Consents/Consent", "Biometric", "1"),
    "no Consent": lambda root: root.find(q("Consents")).clear(),
    "bad Currency": _set("Particulars/Field[@Name='Fee']", "Currency", "hkd"),
    "empty Field": _set("Particulars/Field", None, ""),
    "bad Region": _set("Applicant/Address/Region", None, "MACAU"),
    "bad Channel": _set("Delivery", "Channel", "EMAIL"),
    "negative working days": _set("TimeLimit", "CommittedWorkingDays", "-1"),
    "Particulars after Documents": _swap_particulars_documents,
    "unknown element": lambda root: etree.SubElement(root, q("Extra")),
}


@pytest.mark.parametrize("mutate", SUBMISSION_VIOLATIONS.values(), ids=SUBMISSION_VIOLATIONS)
def test_submission_violation_is_refused(mutate: Callable[[etree._Element], None]) -> None:
    root = FORMAT.render_submission(submission())
    FORMAT.validate(root)  # so the failure below is the mutation's
    mutate(root)
    with pytest.raises(DocumentInvalid) as info:
        FORMAT.validate(root)
    assert info.value.document == "CaseSubmission"
    assert info.value.errors and all(e.startswith("line ") for e in info.value.errors)


AGENCY_VIOLATIONS = {
    "unknown Status": (
        lambda: FORMAT.render_status(status_report()),
        _set("Status", None, "PENDING"),
    ),
    "Seq 0": (lambda: FORMAT.render_status(status_report()), _set("Seq", None, "0")),
    "missing RequiredDocuments": (
        lambda: FORMAT.render_status(status_report()),
        _remove("RequiredDocuments"),
    ),
    "gateway as receipt sender": (
        lambda: FORMAT.render_receipt(
            Receipt(
                header=agency_header(sender="GD-GBA-GW", recipient="HK-TD"),
                agency_case_ref="X1",
                received_at=dt.datetime(2024, 3, 2, 9, tzinfo=HKT),
            )
        ),
        lambda root: None,
    ),
    "Fault with Id": (
        lambda: FORMAT.render_fault("SCHEMA", "bad"),
        lambda root: root.set("Id", "f-1"),
    ),
    "unknown Fault Code": (lambda: FORMAT.render_fault("TEAPOT", "bad"), lambda root: None),
    "Supplement without documents": (
        lambda: FORMAT.render_supplement(
            Supplement(header=submission().header, agency_case_ref="TD/1", documents=[])
        ),
        lambda root: None,
    ),
}


@pytest.mark.parametrize(("make", "mutate"), AGENCY_VIOLATIONS.values(), ids=AGENCY_VIOLATIONS)
def test_other_document_violation_is_refused(
    make: Callable[[], etree._Element], mutate: Callable[[etree._Element], None]
) -> None:
    root = make()
    mutate(root)
    with pytest.raises(DocumentInvalid) as info:
        FORMAT.validate(root)
    assert info.value.document == etree.QName(root).localname


def test_every_error_is_listed() -> None:
    root = FORMAT.render_submission(submission())
    _set("Header/GatewayCaseRef", None, "GBA-x")(root)
    _set("Documents/Document", "Uri", "http://x")(root)
    with pytest.raises(DocumentInvalid) as info:
        FORMAT.validate(root)
    assert len(info.value.errors) == 2
    assert "GatewayCaseRef" in info.value.errors[0] and "Uri" in info.value.errors[1]


def test_validation_compiles_the_schema_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """After the first validation no XSD is compiled again (it costs far more than a check)."""
    FORMAT.validate(FORMAT.render_fault("SCHEMA", "x"))

    def compile_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("the XSD was compiled again")

    monkeypatch.setattr(etree, "XMLSchema", compile_again)
    FORMAT.validate(FORMAT.render_fault("SCHEMA", "x"))
    with pytest.raises(DocumentInvalid):
        FORMAT.validate(FORMAT.render_fault("TEAPOT", "x"))


def test_port_attributes() -> None:
    assert FORMAT.region == "HK"
    assert re.fullmatch(FORMAT.agency_pattern, "HK-IMMD")
    assert not re.fullmatch(FORMAT.agency_pattern, "MO-DSAT")
    assert len(FORMAT.status_codes) == 8 and "INFO_REQUIRED" in FORMAT.status_codes


# --- round trips --------------------------------------------------------------------------------


def test_receipt_round_trip() -> None:
    receipt = Receipt(
        header=agency_header(),
        agency_case_ref="TD/DLX/2024/000123",
        received_at=dt.datetime(2024, 3, 2, 1, 0, 2, tzinfo=dt.UTC),
    )
    root = FORMAT.render_receipt(receipt)
    root.append(signature_element())
    FORMAT.validate(root)
    assert root.get("Id") == f"rc-{receipt.header.message_id}"
    assert FORMAT.parse_receipt(root) == receipt
    assert FORMAT.parse_receipt(root).received_at.utcoffset() == dt.timedelta(hours=8)


@pytest.mark.parametrize(
    "event",
    [
        {},
        {
            "agency_status": "COMPLETED",
            "remarks": None,
            "required_documents": [],
            "result": ResultRef(doc_id="TD-LIC-2024-1", uri="https://td.example/r/1", sha256=SHA),
        },
        {"agency_status": "RECEIVED", "seq": 1, "remarks": None, "required_documents": []},
    ],
    ids=["info-required", "completed", "received"],
)
def test_status_notice_round_trip(event: dict[str, object]) -> None:
    report = status_report(**event)
    root = FORMAT.render_status(report)
    FORMAT.validate(root)
    assert root.get("Id", "").startswith("sn-")
    assert FORMAT.parse_status(root) == report


def test_status_notice_carries_exactly_one_event() -> None:
    report = status_report()
    with pytest.raises(ValueError, match="exactly one"):
        FORMAT.render_status(report.model_copy(update={"events": report.events * 2}))


def test_naive_agency_datetime_is_read_as_hong_kong_time() -> None:
    root = FORMAT.render_status(status_report())
    root.find(q("ChangedAt")).text = "2024-03-05T16:45:00"
    FORMAT.validate(root)
    assert FORMAT.parse_status(root).events[0].changed_at == dt.datetime(
        2024, 3, 5, 16, 45, tzinfo=HKT
    )


def test_supplement_round_trip() -> None:
    s = Supplement(
        header=submission().header.model_copy(update={"message_id": MSG_ID.replace("6f", "7a")}),
        agency_case_ref="TD/DLX/2024/000123",
        documents=submission().documents[:1],
    )
    root = FORMAT.render_supplement(s)
    FORMAT.validate(root)
    assert names(root) == ["Header", "AgencyCaseRef", "Documents"]
    assert root.findtext(q("AgencyCaseRef")) == s.agency_case_ref
    header = FORMAT.parse_header(root)
    assert header.model_dump() == s.header.model_dump()
    doc = root.find(f"{q('Documents')}/{q('Document')}")
    assert (
        DocumentRef(
            doc_id=doc.get("DocId"),
            type=doc.get("Type"),
            media_type=doc.get("MediaType"),
            size=int(doc.get("Size")),
            sha256=doc.get("Sha256"),
            uri=doc.get("Uri"),
        )
        == s.documents[0]
    )


@pytest.mark.parametrize("detail", [None, "line 3: GatewayCaseRef does not match"])
def test_fault_round_trip(detail: str | None) -> None:
    root = FORMAT.render_fault("SCHEMA", "Document is not schema-valid", detail)
    FORMAT.validate(root)
    assert "Id" not in root.attrib and root.get("SchemaVersion") == "1.0"
    assert FORMAT.parse_fault(root) == ("SCHEMA", "Document is not schema-valid", detail)


def test_parser_refuses_another_document() -> None:
    with pytest.raises(DocumentInvalid, match="expected CBCE Receipt"):
        FORMAT.parse_receipt(FORMAT.render_status(status_report()))


def test_parser_refuses_a_text_split_by_a_comment() -> None:
    root = FORMAT.render_receipt(
        Receipt(
            header=agency_header(),
            agency_case_ref="TD/1",
            received_at=dt.datetime(2024, 3, 2, 9, tzinfo=HKT),
        )
    )
    ref = root.find(q("AgencyCaseRef"))
    ref.append(etree.Comment("x"))
    ref[0].tail = "23"
    with pytest.raises(DocumentInvalid, match="text only"):
        FORMAT.parse_receipt(root)


def test_parse_header_of_a_submission() -> None:
    header = FORMAT.parse_header(FORMAT.render_submission(submission()))
    assert header.model_dump() == submission().header.model_dump()


# --- fingerprint --------------------------------------------------------------------------------


def test_fingerprint_ignores_message_id_sent_at_signature_and_layout() -> None:
    first = FORMAT.render_submission(submission())
    header = submission().header.model_copy(
        update={
            "message_id": "11111111-2222-4333-8444-555555555555",
            "sent_at": dt.datetime(2024, 3, 1, 11, 0, tzinfo=HKT),
        }
    )
    retry = FORMAT.render_submission(submission(header=header))
    retry.append(signature_element())
    pretty = etree.fromstring(etree.tostring(retry, pretty_print=True))
    pretty.insert(2, etree.Comment("relayed"))
    assert FORMAT.submission_fingerprint(first) == FORMAT.submission_fingerprint(retry)
    assert FORMAT.submission_fingerprint(first) == FORMAT.submission_fingerprint(pretty)
    assert retry.find(f"{{{DS_NS}}}Signature") is not None  # the input is left alone


def test_fingerprint_changes_with_content() -> None:
    s = submission()
    changed = list(s.particulars)
    changed[2] = changed[2].model_copy(update={"value": "1000.01"})
    assert FORMAT.submission_fingerprint(
        FORMAT.render_submission(s)
    ) != FORMAT.submission_fingerprint(FORMAT.render_submission(submission(particulars=changed)))
    other_case = s.header.model_copy(update={"case_ref": "GBA-" + "B" * 20})
    assert FORMAT.submission_fingerprint(
        FORMAT.render_submission(s)
    ) != FORMAT.submission_fingerprint(FORMAT.render_submission(submission(header=other_case)))


# --- any valid submission renders to a valid document ------------------------------------------

CJK = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=6)
TEXT = st.text(
    st.characters(categories=("L", "M", "N", "P", "S", "Zs")), min_size=1, max_size=12
).filter(str.strip)
ZH = st.one_of(CJK, TEXT)
TOKEN = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9/_.-]{0,11}", fullmatch=True)
LATIN = st.from_regex(r"[A-Z]{1,8}( [A-Z]{1,8})?", fullmatch=True)
AWARE = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),
    max_value=dt.datetime(2099, 12, 31),
    timezones=st.sampled_from([dt.UTC, HKT, dt.timezone(dt.timedelta(hours=-5))]),
)
DATES = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31))
ADDRESS = st.builds(
    Address,
    lines=st.lists(ZH, min_size=1, max_size=3),
    region=st.sampled_from(["HK", "MO", "CN-GD", "OTHER"]),
)
ISSUER = {"PRC_ID": "CHN", "HK_ID": "HKG", "MO_ID": "MAC", "HKMO_PERMIT": "CHN"}


@st.composite
def identities(draw: st.DrawFn) -> Identity:
    kind = draw(st.sampled_from(["PRC_ID", "HK_ID", "MO_ID", "HKMO_PERMIT", "PASSPORT"]))
    country = ISSUER.get(kind) or draw(st.from_regex(r"[A-Z]{3}", fullmatch=True))
    return Identity(
        type=kind,
        number=draw(TOKEN),
        issuing_country=country,
        residence_permit=kind == "PRC_ID" and draw(st.booleans()),
    )


DOCUMENT = st.builds(
    DocumentRef,
    doc_id=TOKEN,
    type=TOKEN,
    media_type=st.sampled_from(["application/pdf", "image/jpeg"]),
    size=st.integers(min_value=0, max_value=10**10),
    sha256=st.binary(max_size=8).map(lambda b: hashlib.sha256(b).hexdigest()),
    uri=TOKEN.map(lambda t: f"https://files.gd.example/{t}"),
)
PERSON = {
    "name_zh": st.none() | ZH,
    "surname": LATIN,
    "given": LATIN | st.just(""),
    "identity": identities(),
}

SUBMISSIONS = st.builds(
    Submission,
    header=st.builds(
        MessageHeader,
        message_id=st.uuids().map(str),
        case_ref=st.from_regex(r"GBA-[A-Z0-9]{20}", fullmatch=True),
        sent_at=AWARE,
        sender=st.just(GATEWAY_PARTY),
        recipient=st.sampled_from(["HK-TD", "HK-IMMD", "HK-CR", "HK-SWD", "HK-HKPF"]),
    ),
    service=st.builds(
        SubmissionService, service_code=TOKEN, source_item_code=TOKEN, name_zh=ZH, name_foreign=TEXT
    ),
    applicant=st.builds(
        SubmissionApplicant,
        **PERSON,
        birth_date=DATES,
        phone=st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
        email=st.none() | st.emails(),
        address=st.none() | ADDRESS,
    ),
    agent=st.none() | st.builds(SubmissionAgent, **PERSON, authorisation_doc_id=TOKEN),
    particulars=st.lists(
        st.builds(
            Particular,
            name=TOKEN,
            value=ZH,
            currency=st.none() | st.sampled_from(["HKD", "CNY", "MOP"]),
        ),
        max_size=4,
    ),
    documents=st.lists(DOCUMENT, max_size=3),
    deficiencies=st.lists(st.builds(PendingDocument, type=TOKEN, due_date=DATES), max_size=2),
    commitment=st.none() | st.builds(Commitment, accepted=st.booleans(), at=AWARE, text=ZH),
    consents=st.lists(
        st.builds(
            Consent,
            purpose=st.sampled_from(
                ["CROSS_BORDER_TRANSFER", "CASE_PROCESSING", "BIOMETRIC_VERIFICATION"]
            ),
            biometric=st.booleans(),
            at=AWARE,
        ),
        min_size=1,
        max_size=3,
    ),
    time_limit=st.builds(
        TimeLimit,
        committed_days=st.integers(0, 365),
        statutory_days=st.none() | st.integers(1, 365),
        due_date=DATES,
    ),
    delivery=st.one_of(
        st.builds(Delivery, channel=st.sampled_from(["ELECTRONIC", "COUNTER"]), address=st.none()),
        st.builds(Delivery, channel=st.just("POST"), address=ADDRESS),
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SUBMISSIONS)
def test_any_valid_submission_renders_schema_valid(s: Submission) -> None:
    root = FORMAT.render_submission(s)
    FORMAT.validate(root)
    reparsed = etree.fromstring(etree.tostring(root, encoding="UTF-8"))
    FORMAT.validate(reparsed)
    assert FORMAT.parse_header(reparsed).case_ref == s.header.case_ref
    assert len(root.find(q("Particulars"))) == len(s.particulars)
