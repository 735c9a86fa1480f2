"""Bearer tokens over real HTTP: who is let in, as what, and agency pushes tied to the agency
that signed them. Test-only routes (``probe_router``) sit behind the real authentication; the
push route is HK's real receiver, mounted by the real app."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import httpx
import pytest
from lxml import etree
from sqlalchemy import func, select

from adapters.hk import FORMAT
from gateway.domain import MessageHeader, StatusEvent, StatusReport
from gateway.inbound.testing import case_state, file_case_for
from gateway.store import transaction
from gateway.store.clients import revoke_client
from gateway.store.tables import AuditEntry, Message
from gateway.store.testing import Backend
from signing import KeyDirectory, sign
from signing.parties import GATEWAY_PARTY
from tests.gateway.api.conftest import Api, probe_router, running_api

PUSH = "/cbce/v1/status-notices"
CASE = "GBA-00000000000000000B07"


@pytest.fixture
def probed(db: Backend, keys: KeyDirectory) -> Iterator[Api]:
    with running_api(db, keys, routers=[probe_router()]) as api:
        yield api


def refused(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    return response.json()["detail"]


# --- who is let in ---------------------------------------------------------------------------


def test_no_token_is_401_with_a_bearer_challenge(probed: Api) -> None:
    response = probed.anonymous.get("/probe/whoami")
    assert "token is required" in refused(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer gbagw_" + "A" * 43,  # the right shape, issued to nobody
        "Bearer not-a-gateway-token",
        "Bearer gbagw_" + "x" * 5000,  # longer than any token: not even hashed
        "Basic dXNlcjpwYXNz",
    ],
)
def test_a_bad_token_is_401(probed: Api, authorization: str) -> None:
    with httpx.Client(base_url=probed.url, headers={"Authorization": authorization}) as client:
        response = client.get("/probe/whoami")
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert authorization.split()[1] not in response.text  # the token is never echoed


def test_a_revoked_token_is_401_from_the_next_request(probed: Api) -> None:
    client = probed.as_("operator", "night-shift")
    assert client.get("/probe/whoami").json() == {
        "name": "night-shift",
        "role": "operator",
        "agency": None,
    }
    with transaction(probed.runtime.sessions) as session:
        assert revoke_client(session, "night-shift")
    assert "unknown or revoked" in refused(client.get("/probe/whoami"), 401)


def test_each_role_is_told_who_it_is(probed: Api) -> None:
    assert probed.as_("agency:hk-td").get("/probe/whoami").json()["agency"] == "HK-TD"
    assert probed.as_("platform", "gd-platform").get("/probe/whoami").json() == {
        "name": "gd-platform",
        "role": "platform",
        "agency": None,
    }


@pytest.mark.parametrize("role", ["operator", "agency:HK-TD"])
def test_a_wrong_role_is_403_and_the_route_does_not_run(probed: Api, role: str) -> None:
    response = probed.as_(role).post("/probe/cases/GBA-1/notes", json={"note": "x"})
    assert refused(response, 403) == f"the {role.split(':')[0]} role may not call this route"


def test_the_right_role_reaches_the_route(probed: Api) -> None:
    response = probed.as_("platform", "gd").post("/probe/cases/GBA-1/notes", json={"b": 1, "a": 2})
    assert response.status_code == 200, response.text
    assert response.json() == {"ref": "GBA-1", "keys": ["a", "b"], "by": "gd"}


def test_an_unexpected_error_is_a_json_500_without_trace_or_personal_data(
    probed: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = probed.as_("platform").post("/probe/boom")
    detail = refused(response, 500)
    assert detail.startswith("internal error (reference ")
    reference = detail.split("reference ")[1].split(")")[0]
    for secret in ("陈大文", "K628913", "91234567", "RuntimeError", "conftest"):
        assert secret not in response.text
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert f"unexpected RuntimeError in POST /probe/boom (reference {reference})" in logged
    for secret in ("陈大文", "K628913", "91234567"):
        assert secret not in logged
    assert probed.anonymous.get("/healthz").status_code == 200


# --- agency pushes ---------------------------------------------------------------------------


def notice(keys: KeyDirectory, seq: int, *, signed_by: str = "HK-TD") -> bytes:
    report = StatusReport(
        header=MessageHeader(
            message_id=f"00000000-0000-4000-8000-{seq:012d}",
            case_ref=CASE,
            sent_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
            sender=signed_by,
            recipient=GATEWAY_PARTY,
        ),
        agency_case_ref="TD-2026-7",
        events=[
            StatusEvent(
                seq=seq,
                agency_status="RECEIVED",
                changed_at=dt.datetime(2026, 3, 2, 1, tzinfo=dt.UTC),
            )
        ],
    )
    root = sign(FORMAT.render_status(report), keys.agency_key(signed_by))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


XML = {"Content-Type": "application/xml; charset=utf-8"}


def pushed(api: Api) -> int:
    with transaction(api.runtime.sessions, read_only=True) as session:
        return session.scalar(select(func.count()).select_from(Message)) or 0


@pytest.fixture
def gateway(api: Api) -> Api:
    file_case_for(api.runtime.sessions, CASE, "HK-TD")
    return api


def test_a_push_without_a_token_is_401_and_nothing_is_stored(
    gateway: Api, keys: KeyDirectory
) -> None:
    before = pushed(gateway)
    refused(gateway.anonymous.post(PUSH, content=notice(keys, 1), headers=XML), 401)
    assert pushed(gateway) == before
    assert case_state(gateway.runtime.sessions, CASE) == ("filed", [])


@pytest.mark.parametrize("role", ["platform", "operator"])
def test_a_push_by_another_role_is_403_and_nothing_is_stored(
    gateway: Api, keys: KeyDirectory, role: str
) -> None:
    before = pushed(gateway)
    refused(gateway.as_(role).post(PUSH, content=notice(keys, 1), headers=XML), 403)
    assert pushed(gateway) == before


def test_an_agency_pushing_what_another_agency_signed_is_quarantined(
    gateway: Api, keys: KeyDirectory
) -> None:
    """HK-CR's client pushes a notice HK-TD signed for HK-TD's case: kept, never applied."""
    response = gateway.as_("agency:HK-CR").post(PUSH, content=notice(keys, 1), headers=XML)
    assert response.status_code == 400, response.text
    assert FORMAT.parse_fault(etree.fromstring(response.content))[0] == "UNAUTHORISED"
    assert case_state(gateway.runtime.sessions, CASE) == ("filed", [])
    with transaction(gateway.runtime.sessions, read_only=True) as session:
        (message,) = session.scalars(select(Message).where(Message.direction == "in"))
        assert not message.verified
        assert message.quarantine_reason == "UNAUTHORISED: signed by HK-TD, pushed by HK-CR"


def test_the_agency_that_signed_pushes_with_its_own_token(gateway: Api, keys: KeyDirectory) -> None:
    response = gateway.as_("agency:HK-TD", "td-pusher").post(
        PUSH, content=notice(keys, 1), headers=XML
    )
    assert response.status_code == 204, response.text
    assert case_state(gateway.runtime.sessions, CASE) == ("RECEIVED", [1])
    with transaction(gateway.runtime.sessions, read_only=True) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.actor == "td-pusher")).one()
    assert (entry.role, entry.route, entry.target, entry.status) == (
        "agency:HK-TD",
        PUSH,
        CASE,
        204,
    )


def test_push_authentication_can_be_switched_off(db: Backend, keys: KeyDirectory) -> None:
    """For agencies (sandboxes) that send no token yet: the XML signature alone decides."""
    with running_api(db, keys, api_push_auth=False) as api:
        file_case_for(api.runtime.sessions, CASE, "HK-TD")
        response = api.anonymous.post(PUSH, content=notice(keys, 1), headers=XML)
        assert response.status_code == 204, response.text
        assert case_state(api.runtime.sessions, CASE) == ("RECEIVED", [1])
