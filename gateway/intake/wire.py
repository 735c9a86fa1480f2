"""The wire shape of a Guangdong application: gd-intake.md §2's JSON, as strict pydantic models.

Fields are camelCase on the wire via the :class:`~gateway.domain.model.Wire` base (unknown
fields are rejected); :class:`gateway.intake.validator.Intake` validates with ``strict=True``.
Only the shape lives here: pydantic finds shape errors, while the rules that need the service
item run in ``gateway.intake.validator`` on the raw JSON alongside, so one type error does not
hide other problems.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import AwareDatetime, Field

from gateway.domain.model import (
    Address,
    Attachment,
    Channel,
    Commitment,
    Consent,
    Delivery,
    IdType,
    LatinName,
    Region,
    Wire,
)

_SHA256 = r"^[0-9a-f]{64}$"
_HTTPS = r"^https://[^\s]+$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class LatinNameIn(LatinName):
    surname: str = Field(min_length=1)
    given: str = Field(min_length=1)


class AttachmentIn(Attachment):
    sha256: str = Field(pattern=_SHA256)
    url: str = Field(pattern=_HTTPS)


class ApplicantIn(Wire):
    name: str = Field(min_length=1)
    name_traditional: str | None = None
    name_latin: LatinNameIn
    id_type: IdType
    id_number: str
    id_issuing_country: str | None = None
    birth_date: dt.date
    mobile: str
    email: str | None = Field(default=None, pattern=_EMAIL)
    address: Address | None = None


class AgentIn(Wire):
    name: str = Field(min_length=1)
    name_latin: LatinNameIn
    id_type: IdType
    id_number: str
    id_issuing_country: str | None = None
    authorisation_material: str


class CommitmentIn(Commitment):
    at: AwareDatetime


class ConsentIn(Consent):
    at: AwareDatetime


class ApplicationIn(Wire):
    application_no: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")
    item_code: str
    item_version: int = Field(gt=0)
    target_region: Region
    channel: Channel
    submitted_at: AwareDatetime
    applicant: ApplicantIn
    agent: AgentIn | None = None
    form: dict[str, Any]
    materials: list[AttachmentIn]
    deficient: list[str] = []
    commitment: CommitmentIn | None = None
    consents: list[ConsentIn]
    delivery: Delivery
