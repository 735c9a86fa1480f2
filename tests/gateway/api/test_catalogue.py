"""The catalogue routes over real HTTP on SQLite and PostgreSQL: items (list, versions,
publishing), mappings, and the dry-run render that stores nothing."""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.cases.filing import Filing
from gateway.catalogue.loader import Catalogue, bundled_items_dir
from gateway.domain import ServiceItem
from gateway.intake.problems import ApplicationRejected
from gateway.mappings.engine import MappingSet
from gateway.render.pipeline import Pipeline
from gateway.store.db import transaction
from gateway.store.tables import Base, Case
from signing import KeyDirectory
from tests.gateway.api.conftest import Api

EXAMPLES = Path(__file__).parents[3] / "gateway" / "data" / "examples"
NORTHBOUND = json.loads((bundled_items_dir() / "northbound-vehicle.json").read_text("utf-8"))
CODE = NORTHBOUND["itemCode"]


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text("utf-8"))


def as_served(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the API serves it: every field present (absent optionals as null)."""
    return ServiceItem.model_validate(record).model_dump(mode="json", by_alias=True)


def version_2(**changes: Any) -> dict[str, Any]:
    record = copy.deepcopy(NORTHBOUND)
    record.update(version=2, committedDays=NORTHBOUND["committedDays"] - 2)
    return record | changes


def row_counts(api: Api) -> dict[str, int]:
    """Rows per table, except who may call (tokens made by the test) and the audit log."""
    tables = [
        t for t in Base.metadata.sorted_tables if t.name != "api_clients" and "audit" not in t.name
    ]
    with transaction(api.runtime.sessions, read_only=True) as session:
        return {t.name: session.scalar(select(func.count()).select_from(t)) or 0 for t in tables}


# --- items -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["platform", "operator"])
def test_items_lists_every_bundled_item_with_its_limits(api: Api, role: str) -> None:
    answer = api.as_(role).get("/v1/items")
    assert answer.status_code == 200, answer.text
    items = {i["itemCode"]: i for i in answer.json()["items"]}
    bundled = Catalogue.load()
    assert set(items) == {item.item_code for item in bundled}
    for item in bundled:
        listed = items[item.item_code]
        assert (listed["name"], listed["type"]["code"]) == (item.name, item.type.code)
        assert listed["statutoryDays"] == item.statutory_days
        assert listed["committedDays"] == item.committed_days
        assert listed["basis"] == [b.model_dump() for b in item.basis]
        assert (listed["currentVersion"], listed["versions"]) == (item.version, [item.version])


def test_item_detail_serves_the_record_and_an_unknown_item_is_404(api: Api) -> None:
    client = api.as_("platform")
    answer = client.get(f"/v1/items/{CODE}")
    assert answer.status_code == 200, answer.text
    (version,) = answer.json()["history"]
    assert version == {"version": 1, "publishedAt": None, "record": as_served(NORTHBOUND)}
    missing = client.get(f"/v1/items/{CODE[:-1]}9")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no such service item", "errors": []}


def test_publishing_v2_keeps_v1_readable(api: Api) -> None:
    operator = api.as_("operator")
    published = operator.put(f"/v1/items/{CODE}", json=version_2())
    assert published.status_code == 201, published.text
    assert published.headers["location"] == f"/v1/items/{CODE}"
    body = published.json()
    assert (body["version"], body["created"], body["previousVersion"]) == (2, True, 1)
    # the bundled mappings name item version 1 only: v2 needs a mapping before filings
    assert (body["mappedRegions"], body["unmappedRegions"]) == ([], NORTHBOUND["crossRegion"])

    detail = api.as_("platform").get(f"/v1/items/{CODE}").json()
    assert (detail["currentVersion"], detail["versions"]) == (2, [1, 2])
    assert detail["committedDays"] == version_2()["committedDays"]
    v1, v2 = detail["history"]
    assert v1 == {"version": 1, "publishedAt": None, "record": as_served(NORTHBOUND)}
    assert v2["record"] == as_served(version_2()) and v2["publishedAt"] is not None

    listed = {i["itemCode"]: i for i in operator.get("/v1/items").json()["items"]}
    assert listed[CODE]["currentVersion"] == 2


def test_the_latest_again_is_200_and_anything_not_newer_is_409(api: Api) -> None:
    operator = api.as_("operator")
    assert operator.put(f"/v1/items/{CODE}", json=version_2()).status_code == 201
    again = operator.put(f"/v1/items/{CODE}", json=version_2())
    assert again.status_code == 200, again.text
    assert (again.json()["created"], again.json()["previousVersion"]) == (False, 1)

    changed = operator.put(f"/v1/items/{CODE}", json=version_2(name="另一个名称"))
    older = operator.put(f"/v1/items/{CODE}", json=NORTHBOUND)
    for refused in (changed, older):
        assert refused.status_code == 409, refused.text
        assert "version 2" in refused.json()["detail"]
    detail = operator.get(f"/v1/items/{CODE}").json()
    assert detail["history"][1]["record"] == as_served(version_2())


def test_concurrent_publishers_only_ever_add_newer_versions(api: Api) -> None:
    operator = api.as_("operator")
    versions = [5, 2, 7, 3, 6, 4, 8, 2]
    with ThreadPoolExecutor(len(versions)) as pool:
        answers = list(
            pool.map(
                lambda v: operator.put(f"/v1/items/{CODE}", json=version_2(version=v)), versions
            )
        )
    assert {a.status_code for a in answers} <= {200, 201, 409}, [a.text for a in answers]
    assert 8 in [v for v, a in zip(versions, answers, strict=True) if a.status_code == 201]
    history = operator.get(f"/v1/items/{CODE}").json()["history"][1:]  # after the bundled v1
    by_time = sorted(history, key=lambda v: v["publishedAt"])
    assert [v["version"] for v in by_time] == sorted(v["version"] for v in history)


def _without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


@pytest.mark.parametrize(
    ("body", "path", "says"),
    [
        (version_2(committedDays=NORTHBOUND["statutoryDays"] + 1), "committedDays", "exceeds"),
        (version_2(itemCode=CODE[:-1] + "9"), "itemCode", "path"),
        (_without(version_2(), "name"), "name", "required"),
        (
            version_2(department={"name": "某局", "creditCode": "11440000006939027X"}),
            "department.creditCode",
            "credit code",
        ),
        (
            version_2(materials=[*NORTHBOUND["materials"], NORTHBOUND["materials"][0]]),
            "materials[6]",
            "duplicate material",
        ),
        (version_2(version=0), "version", "greater than 0"),
    ],
)
def test_an_invalid_record_is_422_naming_the_field(
    api: Api, body: dict[str, Any], path: str, says: str
) -> None:
    operator = api.as_("operator")
    answer = operator.put(f"/v1/items/{CODE}", json=body)
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert any(e["path"] == path and says in e["message"] for e in errors), errors
    assert operator.get(f"/v1/items/{CODE}").json()["versions"] == [1]


@pytest.mark.parametrize(
    ("content", "media"),
    [(b"", "application/json"), (b"<item/>", "application/xml")],
)
def test_a_body_that_is_not_one_json_object_is_422(api: Api, content: bytes, media: str) -> None:
    # what the body guard lets through (empty, XML) still has to be one JSON object here
    answer = api.as_("operator").put(
        f"/v1/items/{CODE}", content=content, headers={"content-type": media}
    )
    assert answer.status_code == 422, answer.text
    assert [e["path"] for e in answer.json()["errors"]] == [""]
    assert "not valid JSON" in answer.json()["errors"][0]["message"]


# --- who may call what -----------------------------------------------------------------------

ROUTES = [
    ("GET", "/v1/items", None),
    ("GET", f"/v1/items/{CODE}", None),
    ("PUT", f"/v1/items/{CODE}", NORTHBOUND),
    ("GET", "/v1/mappings", None),
    ("POST", "/v1/mappings/dry-run", example("northbound-vehicle-hk")),
]


def test_no_token_or_an_unknown_token_is_401_everywhere(api: Api) -> None:
    stranger = api._client({"Authorization": "Bearer not-a-token"})
    for method, path, body in ROUTES:
        for client in (api.anonymous, stranger):
            answer = client.request(method, path, json=body)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"


def test_roles_decide_the_routes(api: Api) -> None:
    agency, platform, operator = api.as_("agency:HK-TD"), api.as_("platform"), api.as_("operator")
    for method, path, body in ROUTES:
        assert agency.request(method, path, json=body).status_code == 403, (method, path)
        allowed = 200 if method != "PUT" else 403  # publishing is for operators only
        assert platform.request(method, path, json=body).status_code == allowed, (method, path)
        assert operator.request(method, path, json=body).status_code == 200, (method, path)


def test_a_published_version_reaches_the_dry_run_and_waits_for_its_mapping(api: Api) -> None:
    operator = api.as_("operator")
    application = example("northbound-vehicle-hk") | {"itemVersion": 2}
    unknown = operator.post("/v1/mappings/dry-run", json=application)
    assert unknown.json()["errors"][0]["path"] == "itemVersion"
    assert operator.put(f"/v1/items/{CODE}", json=version_2()).status_code == 201
    unmapped = operator.post("/v1/mappings/dry-run", json=application)
    assert unmapped.status_code == 422
    assert unmapped.json()["errors"] == [
        {"path": "targetRegion", "message": "no agency mapping for this item version in HK"}
    ]


# --- filing picks up published versions ------------------------------------------------------


def test_filing_uses_a_version_published_after_it_started(
    api: Api, pipeline: Pipeline, keys: KeyDirectory
) -> None:
    # the mapping as an integration engineer would extend it to cover v2
    covering = [
        m.model_copy(update={"item_versions": [1, 2]})
        if m.mapping == "northbound-vehicle.hk"
        else m
        for m in pipeline.mappings
    ]
    started = Pipeline(Catalogue.load(), MappingSet(covering))
    filing = Filing(started, keys.gateway_key(), api.runtime.sessions)
    application = example("northbound-vehicle-hk") | {"itemVersion": 2}
    with pytest.raises(ApplicationRejected) as before:
        filing.file(application)
    assert [p.path for p in before.value.problems] == ["itemVersion"]

    assert api.as_("operator").put(f"/v1/items/{CODE}", json=version_2()).status_code == 201
    filed = filing.file(application)
    assert filed.created
    with transaction(api.runtime.sessions, read_only=True) as session:
        case = session.get(Case, filed.case_ref)
        assert case is not None and case.item_version == 2
