"""The audit log over real HTTP: every write request is recorded — who, what, the result,
when, from where — refused ones included; reads are not; nothing can change a row after."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from gateway.store import transaction
from gateway.store.tables import ApiClient, AuditEntry
from gateway.store.testing import Backend
from signing import KeyDirectory
from tests.gateway.api.conftest import Api, probe_router, running_api

ROUTE = "/probe/cases/{ref}/notes"


@pytest.fixture
def probed(db: Backend, keys: KeyDirectory) -> Iterator[Api]:
    with running_api(db, keys, routers=[probe_router()], api_rate=1.0, api_burst=2) as api:
        yield api


def a_case() -> str:
    """A target no other test writes to (the log outlives each test's rows)."""
    return f"GBA-{uuid.uuid4().hex[:20].upper()}"


def logged(api: Api, target: str) -> list[AuditEntry]:
    with transaction(api.runtime.sessions, read_only=True) as session:
        query = select(AuditEntry).where(AuditEntry.target == target).order_by(AuditEntry.id)
        rows = list(session.scalars(query))
        session.expunge_all()
    return rows


def client_id(api: Api, name: str) -> str:
    with transaction(api.runtime.sessions, read_only=True) as session:
        found = session.scalar(select(ApiClient.id).where(ApiClient.name == name))
    assert found is not None
    return found


def test_a_write_is_recorded_with_who_what_result_when_and_where(probed: Api) -> None:
    ref, before = a_case(), dt.datetime.now(dt.UTC)
    response = probed.as_("platform", "gd-1").post(f"/probe/cases/{ref}/notes", json={"n": 1})
    assert response.status_code == 200, response.text
    (entry,) = logged(probed, ref)
    assert (entry.actor, entry.role, entry.client_id) == (
        "gd-1",
        "platform",
        client_id(probed, "gd-1"),
    )
    assert (entry.method, entry.route, entry.target, entry.status) == ("POST", ROUTE, ref, 200)
    assert entry.address == "127.0.0.1"
    assert before <= entry.at <= dt.datetime.now(dt.UTC)


def test_refused_writes_are_recorded_too(probed: Api) -> None:
    ref = a_case()
    path = f"/probe/cases/{ref}/notes"
    probed.anonymous.post(path, json={})  # 401: nobody
    probed.as_("agency:HK-TD", "td").post(path, json={})  # 403: the wrong role
    greedy = probed.as_("platform", "greedy")
    statuses = [greedy.post(path, json={}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    probed.as_("platform", "sloppy").post(
        path, content=b'{"a": 1, "a": 2}', headers={"content-type": "application/json"}
    )
    seen = [(e.actor, e.role, e.status) for e in logged(probed, ref)]
    assert seen == [
        (None, None, 401),
        ("td", "agency:HK-TD", 403),
        ("greedy", "platform", 200),
        ("greedy", "platform", 200),
        ("greedy", "platform", 429),
    ]
    # the guard refused the last body before any route or token was looked at: the path
    with transaction(probed.runtime.sessions, read_only=True) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.route == path)).one()
    assert (entry.actor, entry.method, entry.status) == (None, "POST", 400)


def test_an_unexpected_failure_is_recorded_as_500(probed: Api) -> None:
    client = probed.as_("operator", "ops-boom")
    assert client.post("/probe/boom").status_code == 500
    with transaction(probed.runtime.sessions, read_only=True) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.actor == "ops-boom")).one()
    assert (entry.route, entry.status, entry.target) == ("/probe/boom", 500, None)


def test_reads_are_not_recorded(probed: Api) -> None:
    client = probed.as_("operator", "reader")
    assert client.get("/probe/whoami").status_code == 200
    with transaction(probed.runtime.sessions, read_only=True) as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.actor == "reader")).all() == []


def test_no_token_and_no_body_reach_the_log(probed: Api) -> None:
    ref = a_case()
    token = probed.token("platform", "careful")
    secret = "K628913(4)"
    response = probed._client({"Authorization": f"Bearer {token}"}).post(
        f"/probe/cases/{ref}/notes", json={"idNumber": secret}
    )
    assert response.status_code == 200
    (entry,) = logged(probed, ref)
    said = " ".join(str(getattr(entry, c.key)) for c in AuditEntry.__table__.columns)
    assert token not in said and secret not in said and "idNumber" not in said


@pytest.mark.parametrize(
    "statement",
    [update(AuditEntry).values(status=200), delete(AuditEntry)],
    ids=["update", "delete"],
)
def test_the_database_refuses_to_change_the_log(
    probed: Api, db: Backend, statement: object
) -> None:
    ref = a_case()
    probed.anonymous.post(f"/probe/cases/{ref}/notes", json={})
    with pytest.raises(DBAPIError, match="audit_log is append-only"):
        with transaction(db.factory) as session:
            session.execute(statement.where(AuditEntry.target == ref))  # type: ignore[attr-defined]
    assert [e.status for e in logged(probed, ref)] == [401]
