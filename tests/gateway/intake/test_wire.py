"""gateway.intake.wire: every wire model is strict, so no value is taken outside its JSON type."""

from __future__ import annotations

import typing
from collections.abc import Iterator

from pydantic import BaseModel

from gateway.intake.wire import ApplicationIn


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[type[BaseModel]]:
    if model in seen:
        return
    seen.add(model)
    yield model
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            tp = stack.pop()
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                yield from _models(tp, seen)
            stack.extend(typing.get_args(tp))


def test_every_model_reachable_from_the_application_is_strict() -> None:
    models = list(_models(ApplicationIn, set()))
    assert len(models) >= 9  # application, applicant, agent, name, address, delivery, ...
    lax = [m.__name__ for m in models if not m.model_config.get("strict")]
    assert lax == []
