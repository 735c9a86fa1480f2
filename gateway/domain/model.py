"""The canonical case model: the one vocabulary the core and every adapter share.

Guangdong wire JSON is parsed into these types once (see ``gateway.intake.validator``);
adapters read only :class:`Submission`, never the Guangdong JSON. Field names are snake_case in
Python and camelCase on the Guangdong wire (``alias``), so the same models read the platform's
files.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from signing.parties import GATEWAY_PARTY

Region = Literal["HK", "MO"]
AddressRegion = Literal["HK", "MO", "CN-GD", "OTHER"]
Channel = Literal["ONLINE", "MOBILE", "KIOSK", "COUNTER"]
IdType = Literal["PRC_ID", "HK_ID", "MO_ID", "HKMO_PERMIT", "PASSPORT"]
FieldType = Literal["string", "date", "int", "decimal", "bool", "enum"]
DeliveryChannel = Literal["ELECTRONIC", "COUNTER", "POST"]
ConsentPurpose = Literal["CROSS_BORDER_TRANSFER", "CASE_PROCESSING", "BIOMETRIC_VERIFICATION"]
FormValue = str | int | bool | Decimal | dt.date


class Wire(BaseModel):
    """Base for models that read Guangdong's camelCase JSON and reject unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


# --- service items (the catalogue) -----------------------------------------------------------


class ItemType(Wire):
    code: str
    name: str


class LegalBasis(Wire):
    law: str
    article: str


class Department(Wire):
    name: str
    credit_code: str


class MaterialSpec(Wire):
    code: str
    name: str
    required: bool
    deficiency_allowed: bool
    deficiency_days: int = Field(ge=0)


class FormFieldSpec(Wire):
    key: str
    label: str
    type: FieldType
    required: bool
    enum: list[str] | None = None


class ServiceItem(Wire):
    """One version of a Guangdong service item (政務服務事項)."""

    item_code: str
    base_code: str
    version: int = Field(gt=0)
    name: str
    type: ItemType
    basis: list[LegalBasis]
    department: Department
    statutory_days: int | None = Field(default=None, gt=0)
    committed_days: int = Field(gt=0)
    commitment_allowed: bool
    materials: list[MaterialSpec]
    form: list[FormFieldSpec]
    channels: list[Channel]
    cross_region: list[Region]
    biometric_required: bool
    status: Literal["ACTIVE", "WITHDRAWN"]

    @cached_property
    def _materials(self) -> dict[str, MaterialSpec]:
        return {m.code: m for m in self.materials}

    @cached_property
    def _fields(self) -> dict[str, FormFieldSpec]:
        return {f.key: f for f in self.form}

    def material(self, code: str) -> MaterialSpec | None:
        return self._materials.get(code)

    def field(self, key: str) -> FormFieldSpec | None:
        return self._fields.get(key)


# --- the application, after intake -----------------------------------------------------------


class LatinName(Wire):
    surname: str
    given: str


class Address(Wire):
    lines: list[str]
    region: AddressRegion


class Identity(Wire):
    """An identity document in canonical printed form (``A123456(7)``, ``1234567(8)``)."""

    type: IdType
    number: str
    issuing_country: str  # ISO 3166 alpha-3: HKG, MAC, CHN, or the passport's issuer
    residence_permit: bool = False  # PRC_ID numbers starting 810000 / 820000


class Applicant(Wire):
    name: str
    name_traditional: str | None = None
    name_latin: LatinName
    identity: Identity
    birth_date: dt.date
    mobile: str  # E.164
    email: str | None = None
    address: Address | None = None


class Agent(Wire):
    name: str
    name_latin: LatinName
    identity: Identity
    authorisation_material: str


class Attachment(Wire):
    code: str
    file_name: str
    media_type: str
    size: int = Field(ge=0)
    sha256: str
    url: str

    @property
    def doc_id(self) -> str:
        """Stable document id sent to agencies: material code + content hash prefix."""
        return f"{self.code}-{self.sha256[:12]}"


class Commitment(Wire):
    accepted: bool
    at: dt.datetime
    text: str


class Consent(Wire):
    purpose: ConsentPurpose
    biometric: bool
    at: dt.datetime


class Delivery(Wire):
    channel: DeliveryChannel
    address: Address | None = None


class Application(Wire):
    """A validated cross-region application (跨境通辦申請), values typed and normalised."""

    application_no: str
    item_code: str
    item_version: int
    target_region: Region
    channel: Channel
    submitted_at: dt.datetime
    applicant: Applicant
    agent: Agent | None = None
    form: dict[str, FormValue]
    materials: list[Attachment]
    deficient: list[str] = []
    commitment: Commitment | None = None
    consents: list[Consent]
    delivery: Delivery


# --- the case the gateway keeps ---------------------------------------------------------------


class CaseStatus(StrEnum):
    """Canonical case status; each mapping translates its agency's codes into these."""

    RECEIVED = "RECEIVED"
    ACCEPTED = "ACCEPTED"
    INFO_REQUIRED = "INFO_REQUIRED"
    IN_PROGRESS = "IN_PROGRESS"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    COMPLETED = "COMPLETED"


class TextPair(BaseModel):
    """A text as Guangdong filed it beside what was sent; never regenerate one from the other."""

    model_config = ConfigDict(frozen=True)

    path: str  # where it came from: ``form.businessScope``, ``applicant.address.lines[0]``
    original: str
    converted: str | None  # None: left out on purpose (e.g. an ambiguous personal name)


class MessageRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    message_id: str
    kind: str  # CaseSubmission, PedidoProcesso, Receipt, StatusNotice, ...
    direction: Literal["out", "in"]
    at: dt.datetime


class Case(BaseModel):
    """Everything the gateway must remember about one cross-region case."""

    case_ref: str  # GBA- + 20 upper-case alphanumerics
    application: Application
    item_code: str
    item_version: int
    mapping_id: str
    mapping_version: int
    region: Region
    agency: str
    status: CaseStatus | None = None
    texts: list[TextPair] = []
    messages: list[MessageRecord] = []


# --- what an adapter renders: region-neutral, already mapped and converted -------------------


class SubmissionHeader(BaseModel):
    message_id: str
    case_ref: str
    sent_at: dt.datetime  # always +08:00
    sender: str = GATEWAY_PARTY
    recipient: str


class SubmissionService(BaseModel):
    service_code: str
    source_item_code: str
    name_zh: str  # Traditional Chinese, regional usage
    name_foreign: str  # English for HK, Portuguese for Macao


class PersonOut(BaseModel):
    name_zh: str | None  # None when it could not be written safely
    surname: str  # upper-case Latin
    given: str
    identity: Identity


class AddressOut(BaseModel):
    lines: list[str]
    region: AddressRegion


class ApplicantOut(PersonOut):
    birth_date: dt.date
    phone: str
    email: str | None = None
    address: AddressOut | None = None


class AgentOut(PersonOut):
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


class CommitmentOut(BaseModel):
    accepted: bool
    at: dt.datetime
    text: str


class ConsentOut(BaseModel):
    purpose: str
    biometric: bool
    at: dt.datetime


class TimeLimit(BaseModel):
    committed_days: int
    statutory_days: int | None
    due_date: dt.date


class DeliveryOut(BaseModel):
    channel: DeliveryChannel
    address: AddressOut | None = None


class Submission(BaseModel):
    """The content of one case submission, mapped and converted, before any agency format."""

    header: SubmissionHeader
    service: SubmissionService
    applicant: ApplicantOut
    agent: AgentOut | None = None
    particulars: list[Particular]
    documents: list[DocumentRef]
    deficiencies: list[PendingDocument]
    commitment: CommitmentOut | None = None
    consents: list[ConsentOut]
    time_limit: TimeLimit
    delivery: DeliveryOut


class SupplementOut(BaseModel):
    """Documents answering an INFO_REQUIRED / PENDENTE_DOCUMENTOS request (補正)."""

    header: SubmissionHeader
    agency_case_ref: str
    documents: list[DocumentRef]


# --- what agencies send back -----------------------------------------------------------------


class MessageHeader(BaseModel):
    """The header every signed document carries, whichever format it came in."""

    message_id: str
    case_ref: str
    sent_at: dt.datetime
    sender: str
    recipient: str


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
