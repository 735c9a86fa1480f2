"""Agency routes over real HTTP: an agency sees only what was routed to it."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.inbound.testing import file_case_for
from tests.gateway.api.conftest import Api

MINE = "GBA-00000000000000000B1"
THEIRS = "GBA-00000000000000000B2"


@pytest.fixture
def routed(api: Api) -> Api:
    file_case_for(api.runtime.sessions, MINE, "HK-TD")
    file_case_for(api.runtime.sessions, THEIRS, "HK-CR")
    return api


def test_an_agency_lists_only_its_cases_and_fetches_the_signed_bytes(routed: Api) -> None:
    agency = routed.as_("agency:HK-TD")
    page = agency.get("/agencies/v1/cases")
    assert page.status_code == 200, page.text
    cases = page.json()["cases"]
    assert [c["case_ref"] for c in cases] == [MINE]
    [document] = cases[0]["documents"]
    sent = agency.get(f"/agencies/v1/cases/{MINE}/documents/{document['message_id']}")
    assert sent.status_code == 200
    assert sent.headers["content-type"] == "application/xml"
    assert b"CaseSubmission" in sent.content


def test_since_returns_only_later_changes(routed: Api) -> None:
    agency = routed.as_("agency:HK-TD")
    first = agency.get("/agencies/v1/cases").json()
    later = agency.get("/agencies/v1/cases", params={"since": first["next_since"]}).json()
    assert later == {"cases": [], "next_since": first["next_since"]}
    before = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    assert len(agency.get("/agencies/v1/cases", params={"since": before}).json()["cases"]) == 1
    naive = agency.get("/agencies/v1/cases", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    # before the first instant UTC can represent: a clear 422, not a 500
    edge = agency.get("/agencies/v1/cases", params={"since": "0001-01-01T00:00:00+14:00"})
    assert edge.status_code == 422 and "since" in edge.text
    east = agency.get("/agencies/v1/cases", params={"since": "2000-01-01T08:00:00+08:00"})
    assert east.status_code == 200 and len(east.json()["cases"]) == 1


def test_another_agencys_case_is_404_like_a_missing_one(routed: Api) -> None:
    agency = routed.as_("agency:HK-TD")
    theirs = routed.as_("agency:HK-CR").get("/agencies/v1/cases").json()["cases"][0]
    message_id = theirs["documents"][0]["message_id"]
    stolen = agency.get(f"/agencies/v1/cases/{THEIRS}/documents/{message_id}")
    missing = agency.get(f"/agencies/v1/cases/{MINE}/documents/no-such-message")
    assert stolen.status_code == missing.status_code == 404
    assert stolen.json() == missing.json()


@pytest.mark.parametrize("role", ["platform", "operator"])
def test_other_roles_cannot_use_agency_routes(routed: Api, role: str) -> None:
    assert routed.as_(role).get("/agencies/v1/cases").status_code == 403
    assert routed.anonymous.get("/agencies/v1/cases").status_code == 401
