"""Cases filed for real (bundled examples through ``Filing``) on both backends, and the
notifications the supplement code queues, recorded instead of enqueued (the notification
outbox is tested with its own package)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from gateway.cases.filing import Filing
from gateway.render.pipeline import Pipeline
from gateway.store.tables import Case
from gateway.store.testing import Backend
from signing import KeyDirectory

EXAMPLES = Path(__file__).parents[3] / "gateway" / "data" / "examples"


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def load_example() -> Callable[[str], dict[str, Any]]:
    """A bundled example application as JSON values."""
    return example


@pytest.fixture
def notified(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    """Every ``notify`` call as ``(case_ref, event_type, data)``; the real ``notify`` still
    runs, so each event is also stored with its outbox row as in production."""
    from gateway.notify import enqueue

    calls: list[tuple[str, str, dict[str, Any]]] = []
    real = enqueue.notify

    def record(session, case_ref, event_type, data, *, now):  # noqa: ANN001
        calls.append((case_ref, event_type, data))
        return real(session, case_ref, event_type, data, now=now)

    monkeypatch.setattr("gateway.notify.enqueue.notify", record)
    return calls


@pytest.fixture
def file_example(db: Backend, pipeline: Pipeline, keys: KeyDirectory) -> Callable[..., str]:
    """File a bundled example; ``delivered=`` gives it an agency case number (its receipt)."""
    filing = Filing(pipeline, keys.gateway_key(), db.factory)

    def file(name: str, *, delivered: str | None = None) -> str:
        case_ref = filing.file(example(name)).case_ref
        if delivered is not None:
            with db.factory() as session, session.begin():
                session.execute(
                    update(Case)
                    .where(Case.case_ref == case_ref)
                    .values(agency_case_ref=delivered, state="delivered")
                )
        return case_ref

    return file
