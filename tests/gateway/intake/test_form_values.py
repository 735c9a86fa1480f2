"""form_values takes text and codes without a call per field: the same values and problems."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from gateway.catalogue.loader import Catalogue
from gateway.domain import FormValue, ServiceItem
from gateway.intake.problems import Problem
from gateway.intake.rules import _form_value, form_values

CANDIDATES: list[Any] = ["x", " ", "", "  a ", 1, 1.5, True, None, [], {}, "2025-01-02", "12.50"]


def _one_by_one(
    item: ServiceItem, form: dict[str, Any]
) -> tuple[dict[str, FormValue], list[Problem]]:
    problems = [Problem(f"form.{k}", "not a field of this item") for k in form if not item.field(k)]
    values: dict[str, FormValue] = {}
    for spec in item.form:
        if form.get(spec.key) is None:
            if spec.required:
                problems.append(Problem(f"form.{spec.key}", f"required ({spec.label})"))
            continue
        value, error = _form_value(spec.type, form[spec.key], spec.enum)
        if error:
            problems.append(Problem(f"form.{spec.key}", error))
        else:
            values[spec.key] = value
    return values, problems


def test_every_field_type_and_value_as_one_by_one() -> None:
    for item in Catalogue.load():
        for candidate in CANDIDATES:
            for spec in item.form:
                for value in [candidate, *(spec.enum or [])[:2]]:
                    form = {f.key: value if f.key == spec.key else None for f in item.form}
                    form["extra"] = 1
                    assert form_values(item, form) == _one_by_one(item, form), (spec.key, value)


def test_values_are_typed() -> None:
    assert _form_value("decimal", "12.50", None) == (Decimal("12.50"), None)
    assert _form_value("date", "2025-01-02", None) == (dt.date(2025, 1, 2), None)
