"""The rules of an application against its service item, applied to the parsed wire model.

Shape is settled before these run (``gateway.intake.wire``). Each rule names the parts it reads,
``item`` or a field of :class:`~gateway.intake.wire.ApplicationIn`, and runs only when all of
them are valid: a field that failed its shape check is reported once, not again as a
consequence, while the rules on the other fields still report everything they find.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

from gateway.catalogue.loader import Catalogue
from gateway.domain import Delivery, FormValue, ServiceItem
from gateway.intake.problems import Problem
from gateway.intake.wire import MAX_WHOLE_NUMBER, AgentIn, AttachmentIn, CommitmentIn, ConsentIn

Rule = Callable[..., Iterator[Problem]]
#: (the parts a rule reads, their getter, whether it reads one part only, the rule), in
#: registration order; itemgetter gives one part as itself, several as a tuple
_RULES: list[tuple[frozenset[str], itemgetter[Any], bool, Rule]] = []
_READ: set[str] = set()  # every part some rule reads


def _rule(*reads: str) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        _RULES.append((frozenset(reads), itemgetter(*reads), len(reads) == 1, rule))
        _READ.update(reads)
        return rule

    return register


def check(parts: Mapping[str, Any]) -> list[Problem]:
    """Every rule whose parts are all present in ``parts`` (field name -> valid value)."""
    present = parts.keys()
    every = _READ <= present  # a valid application: no rule need be asked what it reads
    problems: list[Problem] = []
    for needed, get, single, rule in _RULES:
        if every or needed <= present:
            problems += rule(get(parts)) if single else rule(*get(parts))
    return problems


def find_item(catalogue: Catalogue, code: str, version: int) -> ServiceItem | Problem:
    item = catalogue.get(code, version)
    if item is None:  # only now list the versions: that walks the whole catalogue
        known = catalogue.versions(code)
        if not known:
            return Problem("itemCode", f"unknown service item {code}")
        return Problem("itemVersion", f"item {code} has no version {version} (known: {known})")
    if item.status == "WITHDRAWN":
        return Problem("itemVersion", f"item {code} v{version} is withdrawn")
    return item


# --- form: typed per the item's form spec ------------------------------------------------------

_DECIMAL = re.compile(r"-?\d{1,18}(\.\d{1,6})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def form_values(
    item: ServiceItem, form: Mapping[str, Any]
) -> tuple[dict[str, FormValue], list[Problem]]:
    """The form's values typed per the item (``decimal`` → Decimal, ``date`` → date)."""
    known = item.fields_by_key
    problems = [
        Problem(f"form.{key}", "not a field of this item") for key in form if key not in known
    ]
    values: dict[str, FormValue] = {}
    for key, spec_type, enum, required, label in item.form_rows:
        filled = form.get(key)
        if filled is None:
            if required:
                problems.append(Problem(f"form.{key}", f"required ({label})"))
            continue
        # most fields are text or a code: accepted here as _form_value would, without a call
        if (
            isinstance(filled, str)
            and (spec_type == "string" or (spec_type == "enum" and enum and filled in enum))
            and filled.strip()
        ):
            values[key] = filled
            continue
        value, error = _form_value(spec_type, filled, enum)
        if error:
            problems.append(Problem(f"form.{key}", error))
        else:
            values[key] = value
    return values, problems


def _form_value(spec_type: str, value: Any, enum: list[str] | None) -> tuple[FormValue, str | None]:
    """The typed value of one form entry, or an error message."""
    if spec_type in ("string", "enum"):
        if not isinstance(value, str):
            return value, "must be a string"
        if spec_type == "enum" and value not in (enum or []):
            return value, f"{value!r} is not one of {', '.join(enum or [])}"
        if not value.strip():
            return value, "must not be empty"
        return value, None
    if spec_type == "bool":
        return value, None if isinstance(value, bool) else "must be true or false"
    if spec_type == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            return value, "must be a whole number"
        # form numbers are counts and quantities (seats, years, persons): never below zero
        if not 0 <= value <= MAX_WHOLE_NUMBER:
            return value, f"must be a whole number from 0 to {MAX_WHOLE_NUMBER}"
        return value, None
    if spec_type == "decimal":
        # A JSON number would already have passed through a binary float and may lose cents.
        if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
            return value, 'must be a decimal number written as a string, e.g. "1234.50"'
        try:
            return Decimal(value), None
        except InvalidOperation:
            return value, "is not a decimal number"
    if spec_type == "date":
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                return dt.date.fromisoformat(value), None
            except ValueError:
                return value, f"{value!r} is not a real date"
        return value, "must be a date YYYY-MM-DD"
    return value, f"unsupported field type {spec_type}"


# --- where and how the item may be filed ------------------------------------------------------


@_rule("item", "target_region")
def _region_offered(item: ServiceItem, region: str) -> Iterator[Problem]:
    if region not in item.cross_region:
        only = ", ".join(item.cross_region)
        yield Problem("targetRegion", f"item is not handled in {region} (only {only})")


@_rule("item", "channel")
def _channel_offered(item: ServiceItem, channel: str) -> Iterator[Problem]:
    if channel not in item.channels:
        only = ", ".join(item.channels)
        yield Problem("channel", f"item cannot be filed via {channel} (only {only})")


@_rule("item", "commitment")
def _commitment_allowed(item: ServiceItem, commitment: CommitmentIn | None) -> Iterator[Problem]:
    if commitment is not None and not item.commitment_allowed:
        yield Problem("commitment", "item cannot be handled under 告知承諾")


# --- materials ---------------------------------------------------------------------------------


@_rule("item", "materials", "deficient")
def _materials(
    item: ServiceItem, materials: list[AttachmentIn], deficient: list[str]
) -> Iterator[Problem]:
    specs = item.materials_by_code
    supplied: list[str] = []
    for i, material in enumerate(materials):
        code = material.code
        if code not in specs:
            yield Problem(f"materials[{i}].code", f"{code} is not a material of this item")
        elif code in supplied:
            yield Problem(f"materials[{i}].code", f"{code} supplied twice")
        supplied.append(code)
    # 容缺: only a material the item lets follow later, and not one that was supplied anyway
    for i, code in enumerate(deficient):
        spec = specs.get(code)
        if spec is None:
            yield Problem(f"deficient[{i}]", f"{code} is not a material of this item")
        elif not spec.deficiency_allowed:
            yield Problem(
                f"deficient[{i}]", f"{code} ({spec.name}) may not be missing at acceptance"
            )
        elif code in supplied:
            yield Problem(f"deficient[{i}]", f"{code} is both supplied and missing")
    for spec in item.materials:
        if spec.required and spec.code not in supplied and spec.code not in deficient:
            yield Problem("materials", f"required material {spec.code} ({spec.name}) missing")


@_rule("item", "agent", "materials")
def _power_of_attorney(
    item: ServiceItem, agent: AgentIn | None, materials: list[AttachmentIn]
) -> Iterator[Problem]:
    # The agent's authority is checked at acceptance, so the document must be there now.
    if agent is None:
        return
    code = agent.authorisation_material
    if item.material(code) is None:
        yield Problem("agent.authorisationMaterial", f"{code} is not a material of this item")
    elif code not in {m.code for m in materials}:
        yield Problem("agent.authorisationMaterial", f"power of attorney {code} not supplied")


# --- consents and delivery ---------------------------------------------------------------------


@_rule("consents")
def _consents(consents: list[ConsentIn]) -> Iterator[Problem]:
    # A biometric consent must stand alone (PIPL Art. 28): a flag on another purpose is not one.
    for i, consent in enumerate(consents):
        if consent.purpose == "BIOMETRIC_VERIFICATION" and not consent.biometric:
            yield Problem(
                f"consents[{i}].biometric", "a biometric consent must say biometric: true"
            )
        if consent.biometric and consent.purpose != "BIOMETRIC_VERIFICATION":
            yield Problem(
                f"consents[{i}].purpose",
                "biometric consent must be given separately, for BIOMETRIC_VERIFICATION",
            )
    # Sending personal data to HK/Macao is a cross-border transfer: it needs its own consent.
    if not any(c.purpose == "CROSS_BORDER_TRANSFER" for c in consents):
        yield Problem("consents", "consent CROSS_BORDER_TRANSFER is missing")


@_rule("item", "consents")
def _biometric_consent(item: ServiceItem, consents: list[ConsentIn]) -> Iterator[Problem]:
    if item.biometric_required and not any(
        c.purpose == "BIOMETRIC_VERIFICATION" and c.biometric for c in consents
    ):
        yield Problem(
            "consents", "item needs biometric verification: separate biometric consent missing"
        )


@_rule("delivery")
def _post_needs_address(delivery: Delivery) -> Iterator[Problem]:
    if delivery.channel == "POST" and delivery.address is None:
        yield Problem("delivery.address", "required for delivery by POST")
