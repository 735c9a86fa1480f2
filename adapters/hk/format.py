"""HK CBCE 1.0 (docs/specs/hk-cbce-1.0.md): render canonical models as CBCE XML and read them back.

Renderers return unsigned roots (``signing/`` adds the ``ds:Signature`` as last child); parsers
take a root whose signature has already been verified and read leaf ``.text`` directly (a leaf
with a child, i.e. a comment the caller should have refused, raises instead of truncating).
Implements :class:`gateway.ports.AgencyFormat`; every parse error is a
:class:`~gateway.ports.DocumentInvalid`, as in the Macao format.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from gateway.domain import (
    Address,
    DocumentRef,
    Identity,
    MessageHeader,
    PendingDocument,
    Person,
    Receipt,
    Region,
    ResultRef,
    StatusEvent,
    StatusReport,
    Submission,
    Supplement,
)
from gateway.ports import AgencyFormat, DocumentInvalid
from gateway.render.documents import (
    UTC_PLUS_8,
    DocumentWriter,
    Schema,
    content_fingerprint,
    xs_boolean,
    xs_datetime,
)
from signing.header import HeaderSpec

NS = "urn:hk-gov:cbce:1.0"
SCHEMA_VERSION = "1.0"
STATUS_CODES = frozenset(
    {
        "RECEIVED",
        "ACCEPTED",
        "INFO_REQUIRED",
        "IN_PROGRESS",
        "APPROVED",
        "REJECTED",
        "WITHDRAWN",
        "COMPLETED",
    }
)
FAULT_CODES = frozenset(
    {"SCHEMA", "SIGNATURE", "UNKNOWN_CASE", "DUPLICATE_CONFLICT", "UNAUTHORISED", "INTERNAL"}
)

#: canonical IdType -> CBCE Identity Type (a residence permit PRC_ID is still PRCID)
_ID_TYPES = {
    "PRC_ID": "PRCID",
    "HK_ID": "HKID",
    "MO_ID": "MOBIR",
    "HKMO_PERMIT": "HKMTP",
    "PASSPORT": "PASSPORT",
}
#: IssuingPlace the spec fixes per Identity Type (PASSPORT: the passport's issuer)
_ISSUING_PLACE = {"HKID": "HKG", "MOBIR": "MAC", "PRCID": "CHN", "HKMTP": "CHN"}


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


_SCHEMA = Schema(Path(str(resources.files(__package__).joinpath("schema/cbce-1.0.xsd"))))


# --- lexical forms ----------------------------------------------------------------------------


def _parse_datetime(text: str) -> dt.datetime:
    """An xs:dateTime; one without offset is read as Hong Kong time, where agencies sit."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC_PLUS_8)


def _parse_date(text: str) -> dt.date:
    """An xs:date; the optional timezone xs:date allows carries nothing for a calendar date."""
    if text.endswith("Z"):
        text = text[:-1]
    elif len(text) > 10 and text[-6] in "+-" and text[-3] == ":":
        text = text[:-6]
    return dt.date.fromisoformat(text)


# --- small tree helpers -----------------------------------------------------------------------


def _writer(name: str, signed_id: str | None) -> DocumentWriter:
    return DocumentWriter(NS, "cbce", name, Id=signed_id, SchemaVersion=SCHEMA_VERSION)


def _leaf_text(el: etree._Element) -> str | None:
    """``.text`` of a leaf; a child (a comment the caller let through) would cut the value short."""
    if len(el):
        name = etree.QName(el).localname
        raise DocumentInvalid(name, [f"CBCE {name}: expected text only"])
    return el.text


def _text(parent: etree._Element, path: str) -> str:
    """Text of a required element (``A/B``, local names); loud when a caller skipped validation."""
    el = parent.find("/".join(_q(p) for p in path.split("/")))
    text = None if el is None else _leaf_text(el)
    if text is None:
        name = etree.QName(parent).localname
        raise DocumentInvalid(name, [f"CBCE {name}: no {path}"])
    return text


def _opt_text(parent: etree._Element, name: str) -> str | None:
    el = parent.find(_q(name))
    return None if el is None else _leaf_text(el)


def _expect(root: etree._Element, name: str) -> None:
    if root.tag != _q(name):
        raise DocumentInvalid(
            str(etree.QName(root).localname), [f"expected CBCE {name}, got {root.tag}"]
        )


class CbceFormat:
    """The HK agency format (``gateway.ports.AgencyFormat``) and its agency-side counterpart."""

    region: Region = "HK"
    namespace = NS
    agency_pattern = r"HK-[A-Z]+"
    status_codes = STATUS_CODES
    header = HeaderSpec(
        sender=f"{_q('Header')}/{_q('Sender')}",
        message_id=f"{_q('Header')}/{_q('MessageId')}",
        sent_at=f"{_q('Header')}/{_q('SentAt')}",
    )

    # --- gateway -> agency --------------------------------------------------------------------

    def render_submission(self, submission: Submission) -> etree._Element:
        """A CaseSubmission, unsigned, ``Id="cs-<MessageId>"`` for the signature to reference."""
        s = submission
        w = _writer("CaseSubmission", f"cs-{s.header.message_id}")
        self._header(w, s.header)
        with w.element("Service"):
            w.leaf("ServiceCode", s.service.service_code)
            w.leaf("SourceItemCode", s.service.source_item_code)
            w.leaf("ServiceNameZh", s.service.name_zh)
            w.leaf("ServiceNameEn", s.service.name_foreign)

        a = s.applicant
        with w.element("Applicant"):
            self._person(w, a)
            w.leaf("DateOfBirth", a.birth_date.isoformat())
            w.leaf("Phone", a.phone)
            if a.email is not None:
                w.leaf("Email", a.email)
            if a.address is not None:
                self._address(w, a.address)

        if s.agent is not None:
            with w.element("Agent"):
                self._person(w, s.agent)
                w.leaf("AuthorisationRef", s.agent.authorisation_doc_id)

        with w.element("Particulars"):
            for p in s.particulars:
                w.leaf("Field", p.value, Name=p.name, Currency=p.currency)
        self._documents(w, s.documents)
        with w.element("Deficiencies"):
            for d in s.deficiencies:
                w.leaf("Pending", Type=d.type, DueDate=d.due_date.isoformat())
        if s.commitment is not None:
            c = s.commitment
            w.leaf("Commitment", c.text, Accepted=xs_boolean(c.accepted), At=xs_datetime(c.at))
        with w.element("Consents"):
            for consent in s.consents:
                w.leaf(
                    "Consent",
                    Purpose=consent.purpose,
                    Biometric=xs_boolean(consent.biometric),
                    GivenAt=xs_datetime(consent.at),
                )
        t = s.time_limit
        w.leaf(
            "TimeLimit",
            CommittedWorkingDays=str(t.committed_days),
            StatutoryWorkingDays=None if t.statutory_days is None else str(t.statutory_days),
            DueDate=t.due_date.isoformat(),
        )
        if s.delivery.address is None:
            w.leaf("Delivery", Channel=s.delivery.channel)
        else:
            with w.element("Delivery", Channel=s.delivery.channel):
                self._address(w, s.delivery.address)
        return w.finish()

    def render_supplement(self, supplement: Supplement) -> etree._Element:
        """A Supplement (補正 answer), unsigned, ``Id="sp-<MessageId>"``."""
        w = _writer("Supplement", f"sp-{supplement.header.message_id}")
        self._header(w, supplement.header)
        w.leaf("AgencyCaseRef", supplement.agency_case_ref)
        self._documents(w, supplement.documents)
        return w.finish()

    # --- agency -> gateway (what a sandbox agency sends) ---------------------------------------

    def render_receipt(self, r: Receipt) -> etree._Element:
        """A Receipt, unsigned, ``Id="rc-<MessageId>"``."""
        w = _writer("Receipt", f"rc-{r.header.message_id}")
        self._header(w, r.header)
        w.leaf("AgencyCaseRef", r.agency_case_ref)
        w.leaf("ReceivedAt", xs_datetime(r.received_at))
        return w.finish()

    def render_status(self, report: StatusReport) -> etree._Element:
        """A StatusNotice, unsigned, ``Id="sn-<MessageId>"``: CBCE sends one change per notice."""
        if len(report.events) != 1:
            raise ValueError(f"a StatusNotice carries exactly one event, got {len(report.events)}")
        e = report.events[0]
        w = _writer("StatusNotice", f"sn-{report.header.message_id}")
        self._header(w, report.header)
        w.leaf("AgencyCaseRef", report.agency_case_ref)
        w.leaf("Seq", str(e.seq))
        w.leaf("Status", e.agency_status)
        w.leaf("ChangedAt", xs_datetime(e.changed_at))
        if e.remarks is not None:
            w.leaf("Remarks", e.remarks)
        with w.element("RequiredDocuments"):
            for d in e.required_documents:
                w.leaf("Document", Type=d.type, DueDate=d.due_date.isoformat())
        if e.result is not None:
            w.leaf("Result", DocId=e.result.doc_id, Uri=e.result.uri, Sha256=e.result.sha256)
        return w.finish()

    def render_fault(self, code: str, message: str, detail: str | None = None) -> etree._Element:
        """A Fault: unsigned, so no ``Id``."""
        w = _writer("Fault", None)
        w.leaf("Code", code)
        w.leaf("Message", message)
        if detail is not None:
            w.leaf("Detail", detail)
        return w.finish()

    # --- parsers (input already signature-verified and schema-valid) -------------------------

    def parse_header(self, root: etree._Element) -> MessageHeader:
        """The header of any signed CBCE root."""
        return MessageHeader(
            message_id=_text(root, "Header/MessageId"),
            case_ref=_text(root, "Header/GatewayCaseRef"),
            sent_at=_parse_datetime(_text(root, "Header/SentAt")),
            sender=_text(root, "Header/Sender"),
            recipient=_text(root, "Header/Recipient"),
        )

    def parse_receipt(self, root: etree._Element) -> Receipt:
        _expect(root, "Receipt")
        return Receipt(
            header=self.parse_header(root),
            agency_case_ref=_text(root, "AgencyCaseRef"),
            received_at=_parse_datetime(_text(root, "ReceivedAt")),
        )

    def parse_status(self, root: etree._Element) -> StatusReport:
        """A StatusNotice as a report of one event, status still in the agency's code."""
        _expect(root, "StatusNotice")
        required = root.find(_q("RequiredDocuments"))
        docs = [] if required is None else required.findall(_q("Document"))
        result = root.find(_q("Result"))
        event = StatusEvent(
            seq=int(_text(root, "Seq")),
            agency_status=_text(root, "Status"),
            changed_at=_parse_datetime(_text(root, "ChangedAt")),
            remarks=_opt_text(root, "Remarks"),
            required_documents=[
                PendingDocument(type=d.get("Type"), due_date=_parse_date(d.get("DueDate")))
                for d in docs
            ],
            result=None
            if result is None
            else ResultRef(
                doc_id=result.get("DocId"), uri=result.get("Uri"), sha256=result.get("Sha256")
            ),
        )
        return StatusReport(
            header=self.parse_header(root),
            agency_case_ref=_text(root, "AgencyCaseRef"),
            events=[event],
        )

    def parse_fault(self, root: etree._Element) -> tuple[str, str, str | None]:
        """``(Code, Message, Detail)``."""
        _expect(root, "Fault")
        return _text(root, "Code"), _text(root, "Message"), _opt_text(root, "Detail")

    def submission_fingerprint(self, root: etree._Element) -> str:
        """SHA-256 of what a CaseSubmission *says*, to tell a conflicting repeat from a retry.

        Left out: the ``ds:Signature``, ``Header/MessageId``, ``Header/SentAt`` and the root
        ``Id`` (derived from the message id), plus comments and indentation between elements,
        none of which changes the case. Exclusive C14N makes the rest byte-stable.
        """
        return content_fingerprint(root, _q("Header"), (_q("MessageId"), _q("SentAt")))

    # --- validation ---------------------------------------------------------------------------

    def validate(self, root: etree._Element) -> None:
        """Raise :class:`DocumentInvalid` naming every schema error (line, path, message)."""
        _SCHEMA.validate(root)

    # --- shared pieces ------------------------------------------------------------------------

    @staticmethod
    def _header(w: DocumentWriter, h: MessageHeader) -> None:
        with w.element("Header"):
            w.leaf("MessageId", h.message_id)
            w.leaf("GatewayCaseRef", h.case_ref)
            w.leaf("SentAt", xs_datetime(h.sent_at))
            w.leaf("Sender", h.sender)
            w.leaf("Recipient", h.recipient)

    @staticmethod
    def _person(w: DocumentWriter, p: Person) -> None:
        if p.name_zh is not None:
            w.leaf("NameZh", p.name_zh)
        with w.element("NameEn"):
            w.leaf("Surname", p.surname)
            w.leaf("GivenName", p.given)
        kind, place = _identity(p.identity)
        w.leaf("Identity", p.identity.number, Type=kind, IssuingPlace=place)

    @staticmethod
    def _address(w: DocumentWriter, a: Address) -> None:
        with w.element("Address"):
            for line in a.lines:
                w.leaf("Line", line)
            w.leaf("Region", a.region)

    @staticmethod
    def _documents(w: DocumentWriter, documents: list[DocumentRef]) -> None:
        with w.element("Documents"):
            for d in documents:
                w.leaf(
                    "Document",
                    DocId=d.doc_id,
                    Type=d.type,
                    MediaType=d.media_type,
                    Size=str(d.size),
                    Sha256=d.sha256,
                    Uri=d.uri,
                )


def _identity(identity: Identity) -> tuple[str, str]:
    """(Type, IssuingPlace); an issuing country contradicting the spec's rule is an intake bug."""
    kind = _ID_TYPES[identity.type]
    expected = _ISSUING_PLACE.get(kind)
    if expected is not None and identity.issuing_country != expected:
        raise ValueError(
            f"{identity.type} issued by {identity.issuing_country}: CBCE {kind} requires {expected}"
        )
    return kind, identity.issuing_country


if TYPE_CHECKING:  # the type checker proves the format has the port's shape, member by member
    _port: AgencyFormat = CbceFormat()
