"""The Guangdong platform's routes over real HTTP, on SQLite and PostgreSQL: bundled example
applications filed, signed and stored for real; agency progress pushed as signed
StatusNotices to the same app; every refusal in the one error shape, never echoing a value."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from sqlalchemy import select

from adapters.hk import FORMAT
from gateway.domain import MessageHeader, PendingDocument, StatusEvent, StatusReport
from gateway.domain.messages import ResultRef
from gateway.render.pipeline import Pipeline
from gateway.store import transaction
from gateway.store.tables import Message, Outbox
from signing import KeyDirectory, sign, verify
from signing.parties import GATEWAY_PARTY
from tests.gateway.api.conftest import Api

EXAMPLES = Path(__file__).parents[3] / "gateway" / "data" / "examples"
PUSH = "/cbce/v1/status-notices"
PENSION = "pension-proof-of-life-hk"  # HK-SWD, no statutory limit, delivery ELECTRONIC
VEHICLE = "northbound-vehicle-hk"  # HK-TD: Latin name and address rendered
LICENCE = "driving-licence-exchange-hk"  # HK-TD, ONLINE, M05 accepted as missing (容缺)


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def material(code: str, n: int = 1, **changes: Any) -> dict[str, Any]:
    return {
        "code": code,
        "fileName": f"{code}-{n}.pdf",
        "mediaType": "application/pdf",
        "size": 1024 * n,
        "sha256": f"{n:x}" * 64,
        "url": f"https://att.gdzwfw.example/files/{code}-{n}.pdf",
    } | changes


def assert_refused(response: httpx.Response, status: int, *secrets: str) -> dict[str, Any]:
    """The one error shape, and none of ``secrets`` (values the client sent) in it."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert set(body) <= {"detail", "errors"}
    for secret in secrets:
        assert secret not in response.text
    return body


def push(api: Api, keys: KeyDirectory, case_ref: str, seq: int, status: str, **event: Any) -> None:
    """The agency (HK-TD) pushes one signed StatusNotice to the gateway's receiver."""
    report = StatusReport(
        header=MessageHeader(
            message_id=f"00000000-0000-4000-8000-{seq:04d}{int(case_ref[-8:], 16) % 10**8:08d}",
            case_ref=case_ref,
            sent_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
            sender="HK-TD",
            recipient=GATEWAY_PARTY,
        ),
        agency_case_ref="TD-2026-000123",
        events=[
            StatusEvent(
                seq=seq,
                agency_status=status,
                changed_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC) + dt.timedelta(hours=seq),
                **event,
            )
        ],
    )
    body = etree.tostring(
        sign(FORMAT.render_status(report), keys.agency_key("HK-TD")),
        xml_declaration=True,
        encoding="UTF-8",
    )
    response = api.as_("agency:HK-TD").post(
        PUSH, content=body, headers={"content-type": "application/xml"}
    )
    assert response.status_code == 204, response.text


@pytest.fixture
def platform(api: Api) -> httpx.Client:
    return api.as_("platform")


def file(platform: httpx.Client, name: str, **changes: Any) -> str:
    response = platform.post("/v1/applications", json=example(name) | changes)
    assert response.status_code == 201, response.text
    case_ref: str = response.json()["caseRef"]
    return case_ref


# --- POST /v1/applications ---------------------------------------------------------------------


def test_an_application_is_filed_once_and_read_back(api: Api, platform: httpx.Client) -> None:
    first = platform.post("/v1/applications", json=example(PENSION))
    assert first.status_code == 201, first.text
    case = first.json()
    assert first.headers["location"] == f"/v1/cases/{case['caseRef']}"
    assert case["caseRef"].startswith("GBA-") and len(case["caseRef"]) == 24
    assert (case["applicationNo"], case["agency"], case["region"], case["state"]) == (
        "GDZW-20250318-000744",
        "HK-SWD",
        "HK",
        "filed",
    )
    assert (case["channel"], case["deliveryChannel"]) == ("MOBILE", "ELECTRONIC")
    assert [(e["seq"], e["event"], e["source"]) for e in case["timeline"]] == [
        (1, "filed", "guangdong")
    ]
    # committed 10 GD working days after Tue 18 Mar 2025; the item states no statutory limit
    assert case["dueDates"] == {"statutory": None, "committed": "2025-04-01", "agency": None}
    assert case["pendingSupplements"] == [] and case["owedMaterials"] == [] and not case["result"]
    assert "许文龙" not in first.text and "Y385120" not in first.text  # no personal data

    again = platform.post("/v1/applications", json=example(PENSION))
    assert again.status_code == 200 and again.json() == case
    assert platform.get(first.headers["location"]).json() == case
    with transaction(api.runtime.sessions, read_only=True) as session:  # signed once, queued once
        assert len(session.scalars(select(Outbox.id)).all()) == 1


def test_the_statutory_limit_counts_gd_working_days_from_filing(platform: httpx.Client) -> None:
    case = platform.post("/v1/applications", json=example(LICENCE)).json()
    # filed Wed 12 Mar 2025: 10 GD working days → 26 Mar; 20 → 10 Apr (4 Apr is 清明)
    assert example(LICENCE)["submittedAt"].startswith("2025-03-12")
    assert case["dueDates"]["committed"] == "2025-03-26"
    assert case["dueDates"]["statutory"] == "2025-04-10"
    # M05 accepted as missing, owed within its 5 deficiency days
    assert case["owedMaterials"] == [
        {"materialCode": "M05", "agencyType": "ADDRESS-PROOF", "dueDate": "2025-03-19"}
    ]


def test_other_content_under_a_filed_number_is_a_conflict(platform: httpx.Client) -> None:
    file(platform, PENSION)
    changed = example(PENSION)
    changed["form"]["bankAccountTail"] = "9999"
    body = assert_refused(platform.post("/v1/applications", json=changed), 409, "9999")
    assert "GDZW-20250318-000744" in body["detail"] and "different content" in body["detail"]


def test_an_invalid_application_gets_every_problem_as_the_cli_does(
    platform: httpx.Client, pipeline: Pipeline
) -> None:
    bad = copy.deepcopy(example(PENSION))
    bad["applicant"]["idNumber"] = "Y385120(5)"  # wrong check digit
    bad["applicant"]["mobile"] = "12"
    bad["materials"][0]["sha256"] = "NOT-A-HASH"
    del bad["delivery"]
    body = assert_refused(
        platform.post("/v1/applications", json=bad), 422, "Y385120", "NOT-A-HASH", "许文龙"
    )
    expected = [{"path": p.path, "message": p.message} for p in pipeline.intake.problems(bad)]
    assert body["errors"] == expected
    assert {"applicant.idNumber", "applicant.mobile", "materials[0].sha256", "delivery"} <= {
        e["path"] for e in body["errors"]
    }


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b" \n", "not valid JSON"),
        (b"[]", "object"),
        (b'{"applicationNo": "A1", "applicationNo": "A2"}', "duplicate key"),
        (b'{"applicationNo": NaN}', "NaN"),
    ],
)
def test_a_body_that_is_not_an_application_is_refused(
    platform: httpx.Client, content: bytes, problem: str
) -> None:
    # not a JSON object at all: 400, whatever is wrong with it (422 is for the fields of one)
    response = platform.post(
        "/v1/applications", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert problem in response.text


@pytest.mark.parametrize("media", ["application/xml", "text/plain"])
def test_an_application_sent_as_another_media_type_is_415(
    platform: httpx.Client, media: str
) -> None:
    # as XML, a JSON body would skip the guard's strict JSON checks: it is not read at all
    body = json.dumps(example(PENSION)).encode()
    response = platform.post("/v1/applications", content=body, headers={"content-type": media})
    assert_refused(response, 415)


def test_names_and_address_lines_the_agencies_refuse_are_422_at_intake_without_the_value(
    platform: httpx.Client,
) -> None:
    # intake spells Latin names and address lines as the agencies' schemas do, so these are
    # refused by field before anything is rendered (they were 422s naming no field)
    refused = copy.deepcopy(example(VEHICLE))
    refused["applicationNo"] = "GDZW-20250318-990001"
    refused["applicant"]["nameLatin"]["surname"] = "CHANTAIMAN-"
    refused["applicant"]["address"]["lines"] = ["   "]
    body = assert_refused(platform.post("/v1/applications", json=refused), 422, "CHANTAIMAN")
    paths = {e["path"] for e in body["errors"]}
    assert paths == {"applicant.nameLatin.surname", "applicant.address.lines"}


def test_an_oversized_application_is_refused_unread(api: Api, platform: httpx.Client) -> None:
    limit = api.runtime.settings.max_input_bytes
    padded = example(PENSION) | {"padding": "x" * limit}
    response = platform.post("/v1/applications", json=padded)
    assert response.status_code == 413, response.text
    assert "x" * 100 not in response.text


def test_only_the_platform_files(api: Api) -> None:
    application = example(PENSION)
    assert_refused(api.anonymous.post("/v1/applications", json=application), 401)
    bad_token = httpx.Client(base_url=api.url, headers={"Authorization": "Bearer nope"})
    with bad_token:
        assert_refused(bad_token.post("/v1/applications", json=application), 401)
    assert_refused(api.as_("operator").post("/v1/applications", json=application), 403)
    assert_refused(api.as_("agency:HK-SWD").post("/v1/applications", json=application), 403)
    with transaction(api.runtime.sessions, read_only=True) as session:
        assert session.scalars(select(Outbox.id)).all() == []


# --- GET /v1/cases/{ref} -------------------------------------------------------------------------


def test_the_view_is_the_same_whichever_channel_filed_it(
    api: Api, platform: httpx.Client, pipeline: Pipeline, keys: KeyDirectory
) -> None:
    from gateway.cases.filing import Filing

    by_cli = Filing(pipeline, keys.gateway_key(), api.runtime.sessions).file(example(PENSION))
    counter = example(LICENCE) | {"channel": "COUNTER"}
    by_api = file(platform, LICENCE, channel="COUNTER")
    cli_view = platform.get(f"/v1/cases/{by_cli.case_ref}").json()
    api_view = platform.get(f"/v1/cases/{by_api}").json()
    assert set(cli_view) == set(api_view)
    assert (cli_view["channel"], api_view["channel"]) == ("MOBILE", counter["channel"])
    assert (
        [e["event"] for e in cli_view["timeline"]]
        == ["filed"]
        == [e["event"] for e in api_view["timeline"]]
    )
    assert api.as_("operator").get(f"/v1/cases/{by_api}").json() == api_view


def test_progress_requests_and_result_reach_the_view(
    api: Api, platform: httpx.Client, keys: KeyDirectory
) -> None:
    case_ref = file(platform, LICENCE)
    push(api, keys, case_ref, 1, "RECEIVED")
    push(
        api,
        keys,
        case_ref,
        2,
        "INFO_REQUIRED",
        remarks="請補交住址證明。",
        required_documents=[PendingDocument(type="PHOTO", due_date=dt.date(2026, 3, 20))],
    )
    case = platform.get(f"/v1/cases/{case_ref}").json()
    assert (case["state"], case["agencyCaseRef"]) == ("INFO_REQUIRED", "TD-2026-000123")
    [request] = case["pendingSupplements"]
    assert request["agencySeq"] == 2
    assert request["required"] == [
        {"materialCode": "M04", "agencyType": "PHOTO", "dueDate": "2026-03-20"}
    ]
    assert (request["remarks"], request["remarksOriginal"]) == (
        "请补交住址证明。",
        "請補交住址證明。",
    )
    assert [e["agencyStatus"] for e in case["timeline"] if e["event"] == "status"] == [
        "RECEIVED",
        "INFO_REQUIRED",
    ]

    result = ResultRef(doc_id="R-1", uri="https://td.gov.hk/r/1.pdf", sha256="ab" * 32)
    push(api, keys, case_ref, 3, "REJECTED", remarks="申請資料與記錄不符。", result=result)
    case = platform.get(f"/v1/cases/{case_ref}").json()
    assert case["state"] == "REJECTED" and case["deliveryChannel"] == "ELECTRONIC"
    assert case["result"] == {
        "status": "REJECTED",
        "agencyStatus": "REJECTED",
        "decidedAt": "2026-03-02T03:00:00Z",
        "reason": "申请资料与记录不符。",
        "reasonOriginal": "申請資料與記錄不符。",
        "resultDocument": {"docId": "R-1", "uri": "https://td.gov.hk/r/1.pdf", "sha256": "ab" * 32},
    }


@pytest.mark.parametrize(
    "ref", ["GBA-00000000000000000000", "GBA-xyz", "Y385120(4)", "%00", "GBA-" + "A" * 300]
)
def test_an_unknown_or_malformed_case_is_not_found(platform: httpx.Client, ref: str) -> None:
    assert_refused(platform.get(f"/v1/cases/{ref}"), 404, "Y385120")


def test_agencies_cannot_read_platform_routes(api: Api, platform: httpx.Client) -> None:
    case_ref = file(platform, PENSION)
    agency = api.as_("agency:HK-SWD")  # even the case's own agency
    assert_refused(agency.get(f"/v1/cases/{case_ref}"), 403)
    assert_refused(agency.get(f"/v1/cases/{case_ref}/complaints"), 403)
    assert_refused(agency.post(f"/v1/cases/{case_ref}/supplements", json={}), 403)
    assert_refused(api.anonymous.get(f"/v1/cases/{case_ref}"), 401)


# --- POST /v1/cases/{ref}/supplements ------------------------------------------------------------


def test_an_owed_material_is_forwarded_signed_once(
    api: Api, platform: httpx.Client, keys: KeyDirectory
) -> None:
    case_ref = file(platform, LICENCE)
    route = f"/v1/cases/{case_ref}/supplements"
    refused = platform.post(route, json={"materials": [material("M05")]})
    assert "not been delivered" in assert_refused(refused, 409)["detail"]

    push(api, keys, case_ref, 1, "RECEIVED")  # the agency has the case: its number is known
    first = platform.post(route, json={"materials": [material("M05")]})
    assert first.status_code == 201, first.text
    forwarded = first.json()
    assert forwarded["created"] and forwarded["forwardedPending"] == ["M05"]
    assert forwarded["documents"] == [
        {"materialCode": "M05", "agencyType": "ADDRESS-PROOF", "docId": "M05-" + "1" * 12}
    ]
    again = platform.post(route, json={"materials": [material("M05")]})
    assert again.status_code == 200 and not again.json()["created"]
    assert again.json()["outboxId"] == forwarded["outboxId"]

    with transaction(api.runtime.sessions, read_only=True) as session:
        [body] = session.scalars(
            select(Message.body)
            .join(Outbox, Outbox.message_pk == Message.id)
            .where(Outbox.kind == "supplement")
        ).all()
    verified = verify(body, keys.trust_store(), FORMAT.header, expected_sender=GATEWAY_PARTY)
    assert FORMAT.parse_header(verified.element).case_ref == case_ref
    assert platform.get(f"/v1/cases/{case_ref}").json()["owedMaterials"] == []


def test_supplement_refusals_name_the_problem(
    api: Api, platform: httpx.Client, keys: KeyDirectory
) -> None:
    case_ref = file(platform, LICENCE)
    push(api, keys, case_ref, 1, "RECEIVED")
    route = f"/v1/cases/{case_ref}/supplements"

    body = assert_refused(platform.post(route, json={"materials": [material("M01")]}), 422)
    assert "M01" in body["detail"] and "not requested" in body["detail"]
    bad_hash = material("M05", sha256="SECRET-VALUE")
    body = assert_refused(platform.post(route, json={"materials": [bad_hash]}), 422, "SECRET")
    assert [e["path"] for e in body["errors"]] == ["materials[0].sha256"]
    body = assert_refused(platform.post(route, json={"materials": []}), 422)
    assert [e["path"] for e in body["errors"]] == ["materials"]
    body = assert_refused(platform.post(route, json={"materials": [material("M05")], "x": 1}), 422)
    assert [e["path"] for e in body["errors"]] == ["x"]
    unknown = "/v1/cases/GBA-00000000000000000000/supplements"
    assert_refused(platform.post(unknown, json={"materials": [material("M05")]}), 404)

    push(api, keys, case_ref, 2, "WITHDRAWN")
    body = assert_refused(platform.post(route, json={"materials": [material("M05")]}), 409)
    assert "closed" in body["detail"]


# --- complaints ---------------------------------------------------------------------------------


def test_a_complaint_is_tracked_to_its_answer(api: Api, platform: httpx.Client) -> None:
    case_ref = file(platform, PENSION)
    complaint = {"complaintNo": "TS-2026-000017", "content": "审批进度没有更新。"}
    route = f"/v1/cases/{case_ref}/complaints"
    first = platform.post(route, json=complaint)
    assert first.status_code == 201, first.text
    filed = first.json()
    assert (filed["state"], filed["answer"], filed["caseRef"]) == ("open", None, case_ref)
    again = platform.post(route, json=complaint)
    assert again.status_code == 200 and again.json() == filed
    other = complaint | {"content": "另一件事"}
    assert_refused(platform.post(route, json=other), 409, "另一件事")
    assert platform.get(route).json() == [filed]

    operator = api.as_("operator", name="duty-officer")
    answer_route = f"/v1/complaints/{filed['id']}/answer"
    assert_refused(platform.post(answer_route, json={"answer": "好"}), 403)
    answer = {"answer": "已联系机构，进度已更新。", "close": True}
    answered = operator.post(answer_route, json=answer)
    assert answered.status_code == 200, answered.text
    assert answered.json()["state"] == "closed"
    assert answered.json()["answer"] == answer["answer"]
    assert operator.post(answer_route, json=answer).json() == answered.json()  # a retry
    assert_refused(operator.post(answer_route, json={"answer": "别的"}), 409, "别的")
    assert operator.get(route).json() == [answered.json()]
    events = [e["event"] for e in platform.get(f"/v1/cases/{case_ref}").json()["timeline"]]
    assert events == ["filed", "complaint-filed", "complaint-closed"]


def test_complaint_refusals(api: Api, platform: httpx.Client) -> None:
    case_ref = file(platform, PENSION)
    route = f"/v1/cases/{case_ref}/complaints"
    for complaint, path in [
        ({"complaintNo": "C1", "content": "   "}, "content"),
        ({"complaintNo": "C 1", "content": "ok"}, "complaintNo"),
        ({"complaintNo": "C1", "content": "ok", "idNumber": "Y385120(4)"}, "idNumber"),
        ({"content": "ok"}, "complaintNo"),
    ]:
        body = assert_refused(platform.post(route, json=complaint), 422, "Y385120")
        assert [e["path"] for e in body["errors"]] == [path]
    for control in ("\x00", "\x07", "\x1b"):  # the body guard (400) or the field's form (422)
        response = platform.post(route, json={"complaintNo": "C1", "content": f"a{control}b"})
        assert response.status_code in (400, 422), response.text
        assert [e["path"] for e in response.json()["errors"]] == ["content"]
    assert platform.get(route).json() == []
    complaint = {"complaintNo": "C1", "content": "ok"}
    assert_refused(
        platform.post("/v1/cases/GBA-00000000000000000000/complaints", json=complaint), 404
    )
    assert_refused(platform.get("/v1/cases/GBA-00000000000000000000/complaints"), 404)
    assert_refused(api.as_("operator").post(route, json=complaint), 403)
    operator = api.as_("operator")
    missing = "/v1/complaints/00000000-0000-4000-8000-000000000000/answer"
    assert_refused(operator.post(missing, json={"answer": "x"}), 404)
    assert_refused(operator.post("/v1/complaints/../answer", json={"answer": "x"}), 404)


# --- evaluation --------------------------------------------------------------------------------


def test_a_concluded_case_is_evaluated_once(
    api: Api, platform: httpx.Client, keys: KeyDirectory
) -> None:
    case_ref = file(platform, LICENCE)
    route = f"/v1/cases/{case_ref}/evaluation"
    evaluation = {"rating": 5, "comment": "办理很快。"}
    assert "concluded" in assert_refused(platform.post(route, json=evaluation), 409)["detail"]

    for seq, status in enumerate(["RECEIVED", "APPROVED"], start=1):
        push(api, keys, case_ref, seq, status)
    assert_refused(platform.post(route, json=evaluation), 409)  # decided, not yet completed
    push(api, keys, case_ref, 3, "COMPLETED")

    first = platform.post(route, json=evaluation)
    assert first.status_code == 201, first.text
    assert first.json()["rating"] == 5 and first.json()["caseRef"] == case_ref
    again = platform.post(route, json=evaluation | {"rating": 5.0})  # JSON's 5.0 is 5
    assert again.status_code == 200 and again.json() == first.json()
    assert_refused(platform.post(route, json={"rating": 1}), 409)
    case = platform.get(f"/v1/cases/{case_ref}").json()
    assert case["result"]["status"] == "COMPLETED" and case["timeline"][-1]["event"] == "evaluated"


@pytest.mark.parametrize(
    "evaluation",
    [{"rating": 0}, {"rating": 6}, {"rating": "5"}, {"rating": True}, {"rating": 4.5}, {}],
)
def test_a_rating_is_a_whole_number_from_1_to_5(platform: httpx.Client, evaluation: Any) -> None:
    case_ref = file(platform, PENSION)
    body = assert_refused(platform.post(f"/v1/cases/{case_ref}/evaluation", json=evaluation), 422)
    assert [e["path"] for e in body["errors"]] == ["rating"]


def test_operators_and_agencies_do_not_evaluate(api: Api, platform: httpx.Client) -> None:
    case_ref = file(platform, PENSION)
    route = f"/v1/cases/{case_ref}/evaluation"
    assert_refused(api.as_("operator").post(route, json={"rating": 5}), 403)
    assert_refused(api.as_("agency:HK-SWD").post(route, json={"rating": 5}), 403)


def test_the_platform_routes_are_described(api: Api) -> None:
    described = httpx.get(f"{api.url}/openapi.json").json()
    operations = {
        op["operationId"]: op
        for path in described["paths"].values()
        for op in path.values()
        if isinstance(op, dict) and "operationId" in op
    }
    platform_routes = {
        "fileApplication",
        "getCase",
        "forwardSupplement",
        "fileComplaint",
        "listComplaints",
        "answerComplaint",
        "evaluateCase",
    }
    assert platform_routes <= set(operations)
    schemas = described["components"]["schemas"]
    for name in platform_routes:
        op = operations[name]
        assert op["summary"] and op["description"]
        for status in ("401", "403", "422"):
            error = op["responses"][status]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ApiError"}
    for model in ("CaseView", "SupplementIn", "ComplaintIn", "ComplaintAnswerIn", "EvaluationIn"):
        assert schemas[model]["examples"], model
    body = operations["fileApplication"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"applicationNo", "applicant", "materials"} <= set(body["properties"])
    assert "$ref" not in json.dumps(body)  # written in place: nothing left to resolve
    assert httpx.get(f"{api.url}/docs").status_code == 200
