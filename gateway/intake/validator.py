"""Intake: a Guangdong application (gd-intake.md §2) checked against its item and normalised.

Every problem is reported at once, each with the JSON path of the field it concerns
(``applicant.idNumber``, ``form.plateNumber``, ``materials[2]``), so the platform can show the
applicant all corrections in one go (Art. 19). Three steps, one module each: the JSON text
(``jsontext``), the shape and self-contained values (``wire``), the rules that need the item
(``rules``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from gateway.catalogue.loader import Catalogue
from gateway.clock import Clock, SystemClock
from gateway.domain import (
    Agent,
    Applicant,
    Application,
    FormValue,
)
from gateway.domain.base import assemble
from gateway.intake import rules
from gateway.intake.jsontext import MAX_APPLICATION_BYTES, MAX_DEPTH, read_object_marked
from gateway.intake.problems import ApplicationRejected, Problem, dedupe, json_path
from gateway.intake.wire import ApplicationIn, error_loc, valid_fields, wire_context
from gateway.text import convert as text
from gateway.text.tables import INVISIBLE_LEADS, may_hold_invisible_or_noncharacter

__all__ = ["MAX_APPLICATION_BYTES", "ApplicationRejected", "Intake", "Problem"]


# ApplicationIn.model_validate without its Python wrapper: the same validation
_validate_wire = ApplicationIn.__pydantic_validator__.validate_python


class Intake:
    """Validates applications against a catalogue; one instance serves many applications."""

    def __init__(self, catalogue: Catalogue, clock: Clock | None = None):
        self.catalogue = catalogue
        self.clock = clock or SystemClock()

    def parse(self, data: bytes | str | dict[str, Any]) -> Application:
        """The normalised application, or :class:`ApplicationRejected` listing every problem."""
        if isinstance(data, dict):
            data = _dumps(data)
        raw, marks = read_object_marked(data, _CONTROL_LEADS)
        problems = (
            [Problem(path, issue) for path, issue in _control_characters(raw)]
            if _may_hide_control(data, marks)
            else []
        )
        context = wire_context(self.clock)
        try:
            shape: ApplicationIn | None = _validate_wire(raw, context=context)
            parts = dict(vars(shape))
        except ValidationError as exc:
            shape = None
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            problems += [Problem(json_path(error_loc(e["loc"])), e["msg"]) for e in errors]
            failed = {str(e["loc"][0]) for e in errors if e["loc"]}
            parts = valid_fields(raw, failed, context)
        values: dict[str, FormValue] = {}
        if "item_code" in parts and "item_version" in parts:
            found = rules.find_item(self.catalogue, parts["item_code"], parts["item_version"])
            if isinstance(found, Problem):
                problems.append(found)
            else:
                parts["item"] = found
                values, form_problems = rules.form_values(found, parts.get("form", {}))
                problems += form_problems
        problems += rules.check(parts)
        if problems or shape is None:
            raise ApplicationRejected(dedupe(problems))
        return _application(shape, values)

    def problems(self, data: bytes | str | dict[str, Any]) -> list[Problem]:
        try:
            self.parse(data)
        except ApplicationRejected as exc:
            return exc.problems
        return []


def _dumps(data: dict[str, Any]) -> str:
    try:
        return json.dumps(data, ensure_ascii=False)
    except RecursionError:  # json.dumps recurses once per level
        raise ApplicationRejected([Problem("", f"nested deeper than {MAX_DEPTH} levels")]) from None


# In JSON text a control character can only arrive escaped (\u0000, \b, \f) or, for DEL and
# C1 (UTF-8 lead byte C2), raw. Text holding none of these markers needs no per-string walk.
_ESCAPED_CONTROL_MARKERS = (b"\\u", b"\\b", b"\\f")
# Every byte a marker or a form the walk looks for starts with: reading the JSON text keeps
# these (read_object_marked), so most applications are cleared without searching the text.
_CONTROL_LEADS = b"\\\x7f\xc2" + INVISIBLE_LEADS


def _may_hide_control(data: bytes | str, marks: bytes) -> bool:
    if isinstance(data, str):
        if text.check_text(data) is not None:
            return True
        return "\\" in data and any(m.decode() in data for m in _ESCAPED_CONTROL_MARKERS)
    if b"\x7f" in marks or b"\xc2" in marks or may_hold_invisible_or_noncharacter(data, marks):
        return True
    return b"\\" in marks and any(marker in data for marker in _ESCAPED_CONTROL_MARKERS)


def _control_characters(raw: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for loc, value in _strings(raw, ()):
        if (issue := text.check_text(value)) is not None:
            yield json_path(loc), issue


def _strings(node: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    # Depth is bounded by jsontext.MAX_DEPTH, so recursion is safe.
    if isinstance(node, str):
        yield loc, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*loc, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, (*loc, i))


def _application(shape: ApplicationIn, values: dict[str, FormValue]) -> Application:
    # Every value below was validated as exactly its canonical type moments ago (the wire
    # models subclass the canonical ones, so they are taken as they are): assembled, not
    # validated a second time.
    person = shape.applicant
    agent = shape.agent
    return assemble(
        Application,
        application_no=shape.application_no,
        item_code=shape.item_code,
        item_version=shape.item_version,
        target_region=shape.target_region,
        channel=shape.channel,
        submitted_at=shape.submitted_at,
        applicant=assemble(
            Applicant,
            name=person.name,
            name_traditional=person.name_traditional,
            name_latin=person.name_latin,
            identity=person.identity,
            birth_date=person.birth_date,
            mobile=person.mobile,
            email=person.email,
            address=person.address,
        ),
        agent=None
        if agent is None
        else assemble(
            Agent,
            name=agent.name,
            name_latin=agent.name_latin,
            identity=agent.identity,
            authorisation_material=agent.authorisation_material,
        ),
        form=values,
        materials=list(shape.materials),
        deficient=list(shape.deficient),
        commitment=shape.commitment,
        consents=list(shape.consents),
        delivery=shape.delivery,
    )
