"""Operator routes over real HTTP: dead rows listed and redriven, quarantine visible,
metrics scraped — and every other role refused."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from gateway.inbound.receive import Inbound
from gateway.inbound.testing import file_case_for
from gateway.store import transaction
from gateway.store.tables import Outbox
from gateway.store.testing import Backend
from signing import KeyDirectory
from tests.gateway.api.conftest import Api, running_api

CASE = "GBA-00000000000000000A1"


def kill_outbox(api: Api, case_ref: str) -> str:
    """Make the case's delivery dead, as 12 failed attempts would."""
    with transaction(api.runtime.sessions) as session:
        row = session.query(Outbox).filter_by(case_ref=case_ref).one()
        session.execute(
            update(Outbox)
            .where(Outbox.id == row.id)
            .values(state="dead", attempts=12, last_error="HTTP 503 from agency")
        )
        return row.id


def test_dead_rows_are_listed_with_their_reason_and_redriven(api: Api) -> None:
    file_case_for(api.runtime.sessions, CASE, "HK-TD")
    dead = kill_outbox(api, CASE)
    operator = api.as_("operator")

    listed = operator.get("/v1/outbox", params={"state": "dead"})
    assert listed.status_code == 200, listed.text
    assert [(r["id"], r["last_error"]) for r in listed.json()] == [(dead, "HTTP 503 from agency")]

    redriven = operator.post(f"/v1/outbox/{dead}/redrive")
    assert redriven.status_code == 200, redriven.text
    assert redriven.json() == {"id": dead, "state": "pending"}
    assert operator.get("/v1/outbox", params={"state": "dead"}).json() == []
    again = operator.post(f"/v1/outbox/{dead}/redrive")
    assert again.status_code == 409
    assert "pending" in again.json()["detail"]
    assert operator.post("/v1/outbox/no-such-row/redrive").status_code == 404


def test_a_bad_state_is_422_naming_the_parameter(api: Api) -> None:
    response = api.as_("operator").get("/v1/outbox", params={"state": "lost"})
    assert response.status_code == 422
    assert "state" in response.text


def test_quarantined_documents_are_listed_with_why(api: Api) -> None:
    received = Inbound(api.runtime.sessions, api.runtime.trust).receive_pushed(b"<not-signed/>")
    rows = api.as_("operator").get("/v1/inbound", params={"quarantined": "true"}).json()
    assert [r["id"] for r in rows] == [received.message_pk]
    assert rows[0]["verified"] is False and rows[0]["reason"]
    assert "body" not in rows[0]
    assert api.as_("operator").get("/v1/inbound").json()[0]["id"] == received.message_pk


def test_metrics_report_store_figures_and_requests(api: Api) -> None:
    file_case_for(api.runtime.sessions, CASE, "HK-TD")
    kill_outbox(api, CASE)
    operator = api.as_("operator")
    operator.get("/v1/outbox")
    text = operator.get("/metrics").text
    assert 'gbagw_outbox_rows{state="dead"} 1.0' in text
    assert 'gbagw_http_requests_total{method="GET",route="/v1/outbox",status="200"} 1.0' in text
    assert "gbagw_cases{" in text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/outbox"),
        ("POST", "/v1/outbox/x/redrive"),
        ("GET", "/v1/inbound"),
        ("GET", "/metrics"),
    ],
)
def test_only_operators_reach_operations(api: Api, method: str, path: str) -> None:
    assert api.anonymous.request(method, path).status_code == 401
    for role in ("platform", "agency:HK-TD"):
        response = api.as_(role).request(method, path)
        assert response.status_code == 403, (role, response.text)


@pytest.mark.parametrize(
    ("broker", "ready"),
    [("amqp://guest:guest@127.0.0.1:5672//", True), ("redis://127.0.0.1:1/0", False)],
    ids=["rabbitmq-up", "broker-down"],
)
def test_readyz_asks_the_database_and_the_broker(
    db: Backend, keys: KeyDirectory, broker: str, ready: bool
) -> None:
    with running_api(db, keys, broker_url=broker) as api:
        response = api.anonymous.get("/readyz")
    assert response.status_code == (200 if ready else 503), response.text
    assert response.json()["status"] == ("ready" if ready else "unavailable")
