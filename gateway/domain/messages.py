"""The messages both ways, region-neutral: what an adapter renders and what agencies answer.

One :class:`MessageHeader` for every direction. A :class:`Submission` is already mapped and
converted; it reuses the application's types where only the texts differ (address, commitment,
consent, delivery), and has its own only where the shape differs (:class:`Person`: converted
name, None when unsafe; upper-case Latin name).
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from gateway.domain.applications import Address, Commitment, Consent, Delivery, Identity

# --- what the gateway sends ----------------------------------------------------------------


class MessageHeader(BaseModel):
    """The header every signed document carries, whichever format and whichever direction.

    The gateway's own documents name :data:`signing.parties.GATEWAY_PARTY` as ``sender``; an
    agency's answers name it as ``recipient`` (the transports check that).
    """

    message_id: str
    case_ref: str
    sent_at: dt.datetime  # always +08:00 in what the gateway sends
    sender: str
    recipient: str


class SubmissionService(BaseModel):
    service_code: str
    source_item_code: str
    name_zh: str  # Traditional Chinese, regional usage
    name_foreign: str  # English for HK, Portuguese for Macao


class Person(BaseModel):
    """A person as the submission names them: converted name, upper-case Latin name.

    Not :class:`Applicant`: the Chinese name is the converted one, or None when it could not be
    written safely (an ambiguous character), and the Latin name is upper-cased.
    """

    name_zh: str | None  # None when it could not be written safely
    surname: str  # upper-case Latin
    given: str
    identity: Identity


class SubmissionApplicant(Person):
    """The applicant in a submission: contact details, address lines converted."""

    birth_date: dt.date
    phone: str
    email: str | None = None
    address: Address | None = None


class SubmissionAgent(Person):
    """The agent in a submission; the power of attorney is named by its document id."""

    authorisation_doc_id: str


class Particular(BaseModel):
    """One service-specific field, already in the agency's vocabulary."""

    name: str
    value: str  # lexical form: xs:date, true/false, decimal, text already converted
    currency: str | None = None  # ISO 4217, for amounts


class DocumentRef(BaseModel):
    doc_id: str
    type: str  # the agency's document type code
    media_type: str
    size: int
    sha256: str
    uri: str


class PendingDocument(BaseModel):
    type: str
    due_date: dt.date


class TimeLimit(BaseModel):
    committed_days: int
    statutory_days: int | None
    due_date: dt.date


class Submission(BaseModel):
    """The content of one case submission, mapped and converted, before any agency format.

    Types shared with :class:`Application` (address, commitment, consent, delivery) are reused:
    only their texts differ (converted), not their shape.
    """

    header: MessageHeader
    service: SubmissionService
    applicant: SubmissionApplicant
    agent: SubmissionAgent | None = None
    particulars: list[Particular]
    documents: list[DocumentRef]
    deficiencies: list[PendingDocument]
    commitment: Commitment | None = None
    consents: list[Consent]
    time_limit: TimeLimit
    delivery: Delivery


class Supplement(BaseModel):
    """Documents answering an INFO_REQUIRED / PENDENTE_DOCUMENTOS request (補正)."""

    header: MessageHeader
    agency_case_ref: str
    documents: list[DocumentRef]


# --- what agencies answer ------------------------------------------------------------------


class Receipt(BaseModel):
    header: MessageHeader
    agency_case_ref: str
    received_at: dt.datetime


class ResultRef(BaseModel):
    doc_id: str
    uri: str
    sha256: str


class StatusEvent(BaseModel):
    """One status change, still in the agency's own status code; mappings translate it."""

    seq: int = Field(gt=0)
    agency_status: str
    changed_at: dt.datetime
    remarks: str | None = None  # Traditional Chinese as the agency wrote it
    required_documents: list[PendingDocument] = []
    result: ResultRef | None = None


class StatusReport(BaseModel):
    """A CBCE StatusNotice (one event) or a SIP EstadoProcesso (any number of events)."""

    header: MessageHeader
    agency_case_ref: str
    events: list[StatusEvent]
