"""The wire shape of a Guangdong application: gd-intake.md §2's JSON, as strict pydantic models.

This is intake's one validator of shape and of every value that can be judged on its own:
types, required and unknown fields, patterns, and the identity of each person (ID number
check characters, issuing country, a mobile number readable in some region, a birth date that
agrees with the PRC ID and is not in the future). Valid values come out normalised: an ID
number in canonical printed form, a mobile in E.164. Rules that need the service item run
afterwards on these models (``gateway.intake.rules``).

Validate the dict the JSON text parsed into (``model_validate(raw, context=wire_context(clock))``;
the birth-date checks take "today" from the context). Every model here is strict, so a value is
taken only in its JSON type: ``"5"`` is not a number, ``1`` not a boolean. Dates and times are
the one exception, as JSON has no such type: they are read from strings, and only from strings.
Validating the parsed dict rather than the text spares a second JSON parse.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from gateway.clock import GBA_TZ, Clock, SystemClock
from gateway.domain import (
    Address,
    Attachment,
    Channel,
    Commitment,
    Consent,
    Delivery,
    DeliveryChannel,
    Identity,
    IdType,
    LatinName,
    Region,
    Wire,
)
from gateway.domain.base import assemble
from gateway.domain.identity import (
    IdentityError,
    PhoneError,
    canonical_id,
    is_residence_permit,
    issuing_country,
    normalise_phone,
    phone_region_for,
)
from gateway.domain.workdays import FIRST_YEAR, LAST_YEAR

_SHA256 = r"^[0-9a-f]{64}$"
_HTTPS = r"^https://[^\s]+$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# as the agencies' schemas spell it (CBCE NameEn): letters, single runs of separators between
# them, an optional final full stop ("JR.") — never a trailing separator
_LATIN_NAME = re.compile(r"[A-Za-z]+([ '.\-]+[A-Za-z]+)*\.?")


def wire_context(clock: Clock) -> dict[str, Any]:
    # Birth dates are calendar dates in the Bay Area, so "today" is taken there.
    return {"today": clock.today(GBA_TZ)}


def _today(info: ValidationInfo) -> dt.date:
    today = (info.context or {}).get("today")
    return today if isinstance(today, dt.date) else SystemClock().today(GBA_TZ)


def _refused(reason: str) -> PydanticCustomError:
    # A custom error keeps the message as written (a ValueError would gain "Value error, ").
    return PydanticCustomError("refused", "{reason}", {"reason": reason})


def _json_string(value: Any) -> Any:
    # Lax date parsing would also take a number as a Unix timestamp: JSON dates are strings.
    if not isinstance(value, str):
        raise _refused("must be a string in ISO 8601 form")
    return value


JsonDate = Annotated[dt.date, Strict(False), BeforeValidator(_json_string)]
JsonDateTime = Annotated[AwareDatetime, Strict(False), BeforeValidator(_json_string)]
# Wire names only: the contract spells fields camelCase; `id_number` would be a second spelling.
_STRICT = ConfigDict(strict=True, validate_by_name=False, validate_by_alias=True)


class AddressIn(Address):
    model_config = _STRICT
    # the agencies' schemas want at least one line, none of them blank
    lines: list[str] = Field(min_length=1)

    @field_validator("lines")
    @classmethod
    def _no_blank_line(cls, value: list[str]) -> list[str]:
        if any(not line.strip() for line in value):
            raise _refused("every line must hold more than spaces")
        return value


class DeliveryIn(Delivery):
    model_config = _STRICT
    channel: DeliveryChannel
    address: AddressIn | None = None


class LatinNameIn(LatinName):
    model_config = _STRICT
    surname: str = Field(min_length=1)
    given: str = Field(min_length=1)

    @field_validator("surname", "given")
    @classmethod
    def _latin_letters(cls, value: str) -> str:
        if not _LATIN_NAME.fullmatch(value):
            raise _refused("must be Latin letters, with single spaces, -, ' or . between them")
        return value


#: the largest whole number every JSON reader keeps exactly (2**53 - 1): a 400-digit count is
#: not a count, and another system may read it as something else
MAX_WHOLE_NUMBER = 2**53 - 1


class AttachmentIn(Attachment):
    model_config = _STRICT
    size: int = Field(ge=0, le=MAX_WHOLE_NUMBER)
    sha256: str = Field(pattern=_SHA256)
    url: str = Field(pattern=_HTTPS)


# Field order is validation order: each check below reads the fields declared before it from
# ``info.data``, where a field that failed its own check is absent (and already reported).


class _PersonIn(Wire):
    model_config = _STRICT
    name: str = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise _refused("must hold more than spaces")
        return value

    name_latin: LatinNameIn
    id_type: IdType
    id_number: str
    # validate_default: a PASSPORT without an issuing country must be reported too
    id_issuing_country: str | None = Field(default=None, validate_default=True)

    @field_validator("id_number")
    @classmethod
    def _canonical_number(cls, value: str, info: ValidationInfo) -> str:
        id_type = info.data.get("id_type")
        if id_type is None:
            return value
        try:
            return canonical_id(id_type, value, today=_today(info))
        except IdentityError as exc:
            raise _refused(str(exc)) from None

    @field_validator("id_issuing_country")
    @classmethod
    def _issuer(cls, value: str | None, info: ValidationInfo) -> str | None:
        id_type, number = info.data.get("id_type"), info.data.get("id_number")
        if id_type is None or number is None:
            return value
        permit = id_type == "PRC_ID" and is_residence_permit(number)
        try:
            country = issuing_country(id_type, permit, value)
        except IdentityError as exc:
            raise _refused(str(exc)) from None
        if id_type != "PASSPORT" and value not in (None, country):
            raise _refused(f"a {id_type} is issued by {country}")
        return value

    @property
    def identity(self) -> Identity:
        permit = self.id_type == "PRC_ID" and is_residence_permit(self.id_number)
        return assemble(
            Identity,
            type=self.id_type,
            number=self.id_number,
            issuing_country=issuing_country(self.id_type, permit, self.id_issuing_country),
            residence_permit=permit,
        )


class ApplicantIn(_PersonIn):
    name_traditional: str | None = None
    birth_date: JsonDate
    address: AddressIn | None = None
    mobile: str  # after address: a number without country code is read in its region
    email: str | None = Field(default=None, pattern=_EMAIL)

    @field_validator("birth_date")
    @classmethod
    def _birth_date(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        number = info.data.get("id_number")
        # Art. 25: an automatic check where the ID itself states the birth date
        if info.data.get("id_type") == "PRC_ID" and number is not None:
            if number[6:14] != value.strftime("%Y%m%d"):
                raise _refused("does not match the birth date in the ID number")
        if value > _today(info):
            raise _refused("is in the future")
        return value

    @field_validator("mobile")
    @classmethod
    def _e164(cls, value: str, info: ValidationInfo) -> str:
        if "address" not in info.data or "id_type" not in info.data:
            return value  # the region to read it in is unknown; that field reports why
        address: AddressIn | None = info.data["address"]
        region = phone_region_for(address.region if address else None, info.data["id_type"])
        try:
            return normalise_phone(value, region)
        except PhoneError as exc:
            raise _refused(str(exc)) from None


class AgentIn(_PersonIn):
    authorisation_material: str


class CommitmentIn(Commitment):
    model_config = _STRICT
    at: JsonDateTime


class ConsentIn(Consent):
    model_config = _STRICT
    at: JsonDateTime


class ApplicationIn(Wire):
    model_config = _STRICT
    application_no: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")
    item_code: str
    item_version: int = Field(gt=0)
    target_region: Region
    channel: Channel
    submitted_at: JsonDateTime
    applicant: ApplicantIn
    agent: AgentIn | None = None
    form: dict[str, Any]
    materials: list[AttachmentIn]
    deficient: list[str] = []
    commitment: CommitmentIn | None = None
    consents: list[ConsentIn]
    delivery: DeliveryIn

    @field_validator("submitted_at")
    @classmethod
    def _within_the_calendars(cls, value: dt.datetime) -> dt.datetime:
        # time limits count working days from it: outside the calendars none can be counted
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise _refused(
                f"must be in {FIRST_YEAR}–{LAST_YEAR}, the years the working-day calendars cover"
            )
        return value


# --- when the application as a whole does not validate -----------------------------------------

# pydantic names a validated default by its Python name (there is no key to take the wire name
# from): ``applicant.id_issuing_country``. Errors are reported by wire name only.
_DEFAULT_CHECKED = {
    name: field.alias
    for name, field in _PersonIn.model_fields.items()
    if field.validate_default and field.alias
}


def error_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    return tuple(_DEFAULT_CHECKED.get(p, p) if isinstance(p, str) else p for p in loc)


@functools.cache
def _field_adapters() -> dict[str, tuple[str, TypeAdapter[Any]]]:
    """Field name -> (wire name, validator of that field alone). Built on the first refusal."""
    adapters = {}
    for name, field in ApplicationIn.model_fields.items():
        annotation: Any = field.annotation
        if field.metadata:  # the field's constraints (pattern, gt) go with it
            annotation = Annotated[(annotation, *field.metadata)]
        adapters[name] = (field.alias or name, TypeAdapter[Any](annotation))
    return adapters


def valid_fields(
    raw: Mapping[str, Any], failed: set[str], context: dict[str, Any]
) -> dict[str, Any]:
    """The top-level fields that validate on their own, by field name.

    Used when the application as a whole did not validate: the item rules still run on these,
    so a bad hash in one material does not hide a missing form field. ``failed`` holds the
    wire names pydantic already reported.
    """
    out: dict[str, Any] = {}
    for name, (wire_name, adapter) in _field_adapters().items():
        if wire_name in failed:
            continue
        if wire_name not in raw:
            field = ApplicationIn.model_fields[name]
            if not field.is_required():
                out[name] = field.get_default(call_default_factory=True)
            continue
        try:
            # Lax for a top-level scalar (the model's strictness does not reach a lone str or
            # int); harmless, as only values the whole model accepted get here.
            value = adapter.validate_python(raw[wire_name], context=context)
        except ValidationError:
            continue  # cannot happen for a field the whole model did not report; stay silent
        out[name] = value
    return out
