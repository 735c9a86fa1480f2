"""A validated cross-region application (跨境通辦申請), after intake.

Guangdong wire JSON is parsed into these types once (see ``gateway.intake.validator``), values
typed and normalised; adapters never read them directly, only a :class:`Submission`.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from gateway.domain.base import (
    AddressRegion,
    Channel,
    ConsentPurpose,
    DeliveryChannel,
    FormValue,
    IdType,
    Region,
    Wire,
)


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
