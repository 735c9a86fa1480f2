"""assemble: the canonical application built from validated parts is what validation builds."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from gateway.devkit.examples import bundled_examples
from gateway.domain import Agent, Applicant, Application, Identity, TextPair
from gateway.domain.base import assemble
from gateway.render.pipeline import Pipeline


def _validated(model: BaseModel) -> BaseModel:
    """The same model rebuilt by validation from its own field values (nested ones too)."""
    values = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Applicant | Agent | Identity):
            value = _validated(value)
        values[name] = value
    return type(model)(**values)


def _fields_sets(model: BaseModel) -> list[tuple[str, set[str]]]:
    out = [(type(model).__name__, model.model_fields_set)]
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out += _fields_sets(value)
    return out


@pytest.mark.parametrize("path", bundled_examples(), ids=lambda p: p.stem)
def test_intake_builds_what_validation_builds(pipeline: Pipeline, path: Path) -> None:
    app = pipeline.intake.parse(path.read_bytes())
    again = _validated(app)
    assert app == again
    assert repr(app) == repr(again)
    assert app.model_dump_json() == again.model_dump_json()
    assert _fields_sets(app) == _fields_sets(again)
    assert app.applicant.identity == Identity(**dict(app.applicant.identity))


def test_assembled_instance_is_frozen_and_complete() -> None:
    pair = assemble(TextPair, path="a", original="b", converted="c", decided_by="d")
    assert pair == TextPair(path="a", original="b", converted="c", decided_by="d")
    assert pair.model_fields_set == {"path", "original", "converted", "decided_by"}
    with pytest.raises(ValidationError):
        pair.path = "x"  # type: ignore[misc]


def test_anything_but_every_field_in_order_is_validated() -> None:
    defaulted = assemble(TextPair, path="a", original="b", converted=None)
    assert defaulted.decided_by is None and defaulted.model_fields_set == {
        "path",
        "original",
        "converted",
    }
    reordered = assemble(TextPair, original="b", path="a", converted="c", decided_by="d")
    assert list(vars(reordered)) == ["path", "original", "converted", "decided_by"]
    with pytest.raises(ValidationError):
        assemble(TextPair, path=1, original="b")


def test_a_model_with_validators_is_always_validated() -> None:
    class Checked(BaseModel):
        value: str

        @field_validator("value")
        @classmethod
        def _upper(cls, v: str) -> str:
            return v.upper()

    assert assemble(Checked, value="x").value == "X"


def test_application_field_order_is_what_intake_passes() -> None:
    # intake names every field, in this order; a new field must be added there too
    assert list(Application.model_fields) == [
        "application_no",
        "item_code",
        "item_version",
        "target_region",
        "channel",
        "submitted_at",
        "applicant",
        "agent",
        "form",
        "materials",
        "deficient",
        "commitment",
        "consents",
        "delivery",
    ]


def test_validator_of_builds_and_refuses_what_the_constructor_does() -> None:
    from gateway.domain import Particular
    from gateway.domain.base import validator_of

    build = validator_of(Particular)
    made = build({"name": "Capital", "value": "1.00"})
    assert made == Particular(name="Capital", value="1.00")
    assert made.model_fields_set == {"name", "value"} and type(made) is Particular
    with pytest.raises(ValidationError) as by_validator:
        build({"name": "Capital", "value": 1})
    with pytest.raises(ValidationError) as by_constructor:
        Particular(name="Capital", value=1)
    assert by_validator.value.errors() == by_constructor.value.errors()
