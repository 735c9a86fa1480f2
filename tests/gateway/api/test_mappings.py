"""The mapping routes over real HTTP on SQLite and PostgreSQL: the installed mappings, and a
dry-run render that checks an application through them without storing, signing or sending."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree
from sqlalchemy import func, select

from gateway.api.app import create_app
from gateway.api.filing_service import FilingService
from gateway.catalogue.loader import Catalogue
from gateway.intake.problems import ApplicationRejected
from gateway.mappings.engine import MappingSet, bundled_mappings_dir
from gateway.registry import installed_formats
from gateway.render.pipeline import Pipeline
from gateway.serve import serving
from gateway.store.db import transaction
from gateway.store.tables import Base
from tests.gateway.api.conftest import Api

EXAMPLES = Path(__file__).parents[3] / "gateway" / "data" / "examples"


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text("utf-8"))


def row_counts(api: Api) -> dict[str, int]:
    """Rows per table, except who may call (tokens made by the test) and the audit log."""
    tables = [
        t for t in Base.metadata.sorted_tables if t.name != "api_clients" and "audit" not in t.name
    ]
    with transaction(api.runtime.sessions, read_only=True) as session:
        return {t.name: session.scalar(select(func.count()).select_from(t)) or 0 for t in tables}


# --- mappings --------------------------------------------------------------------------------


def test_mappings_lists_every_installed_file_with_its_checksum(api: Api) -> None:
    answer = api.as_("platform").get("/v1/mappings")
    assert answer.status_code == 200, answer.text
    listed = {m["id"]: m for m in answer.json()["mappings"]}
    files = sorted(bundled_mappings_dir().glob("*.yaml"))
    assert set(listed) == {f.stem for f in files}
    for path in files:
        content = yaml.safe_load(path.read_text("utf-8"))
        assert listed[path.stem] == {
            "id": path.stem,
            "version": content["version"],
            "itemCode": content["item"],
            "itemVersions": content["itemVersions"],
            "region": content["region"],
            "agency": content["agency"],
            "serviceCode": content["service"]["code"],
            "checksum": hashlib.sha256(path.read_bytes()).hexdigest(),
        }


# --- dry-run ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["northbound-vehicle-hk", "investor-company-registration-mo"])
def test_a_dry_run_renders_a_schema_valid_unsigned_document_and_stores_nothing(
    api: Api, pipeline: Pipeline, name: str
) -> None:
    application = example(name)
    before = row_counts(api)
    answer = api.as_("operator").post(
        "/v1/mappings/dry-run",
        json=application,
        params={"region": application["targetRegion"]},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = pipeline.mappings.find(
        application["itemCode"], application["itemVersion"], application["targetRegion"]
    )
    assert expected is not None
    assert body["mapping"] == {
        "id": expected.mapping,
        "version": expected.version,
        "region": expected.region,
        "agency": expected.agency,
        "serviceCode": expected.service.code,
    }
    assert (body["signed"], body["schemaValid"], body["problems"]) == (False, True, [])
    document = etree.fromstring(body["xml"].encode())
    assert etree.QName(document).localname == body["document"]
    installed_formats()[application["targetRegion"]].validate(document)  # the agency's XSD
    assert document.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature") is None
    accepted = pipeline.accept(application)
    assert body["caseRef"] == pipeline.render(accepted, None).case.case_ref
    assert {t["path"] for t in body["texts"]} and all(t["original"] for t in body["texts"])
    assert row_counts(api) == before


def test_a_dry_run_of_an_invalid_application_lists_what_the_cli_lists(
    api: Api, pipeline: Pipeline
) -> None:
    application = example("northbound-vehicle-hk")
    application["applicant"]["idNumber"] = "A1234567"  # wrong check digit
    del application["form"]["plateNumber"]
    with pytest.raises(ApplicationRejected) as cli:
        pipeline.accept(application)
    answer = api.as_("platform").post("/v1/mappings/dry-run", json=application)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [
        {"path": p.path, "message": p.message} for p in cli.value.problems
    ]
    assert {"applicant.idNumber", "form.plateNumber"} <= {
        e["path"] for e in answer.json()["errors"]
    }


def test_a_dry_run_refuses_another_region_or_agency(api: Api) -> None:
    client = api.as_("operator")
    application = example("northbound-vehicle-hk")
    region = client.post("/v1/mappings/dry-run", json=application, params={"region": "MO"})
    assert region.status_code == 422
    assert region.json()["errors"] == [
        {"path": "targetRegion", "message": "application targets HK, not MO"}
    ]
    agency = client.post("/v1/mappings/dry-run", json=application, params={"agency": "HK-CR"})
    assert agency.status_code == 422
    assert "HK-TD, not HK-CR" in agency.json()["errors"][0]["message"]
    for param, value in (("region", "XX"), ("agency", "hk td<script>")):
        nonsense = client.post("/v1/mappings/dry-run", json=application, params={param: value})
        assert nonsense.status_code == 422
        assert [e["path"] for e in nonsense.json()["errors"]] == [param]
        assert value not in nonsense.text  # what a client typed is never repeated


@pytest.fixture
def loose_mapping_api(api: Api, pipeline: Pipeline) -> Iterator[Api]:
    """The gateway with a mapping that passes `gbagw mappings validate` but renders what the
    HK schema refuses (a service code with a double space): what a dry-run is for."""
    loose = [
        m.model_copy(update={"service": m.service.model_copy(update={"code": "TD  NBT-01"})})
        if m.mapping == "northbound-vehicle.hk"
        else m
        for m in pipeline.mappings
    ]
    app = create_app(api.runtime)
    service = app.state.filing_service = FilingService(api.runtime)
    # its own catalogue: the routes adopt published versions into it
    service.pipeline = Pipeline(Catalogue.load(), MappingSet(loose))
    with serving(app) as url:
        loose_api = Api(url, api.runtime)
        yield loose_api
        for client in loose_api.clients:
            client.close()


def test_a_dry_run_says_what_the_agency_schema_refuses(loose_mapping_api: Api) -> None:
    answer = loose_mapping_api.as_("operator").post(
        "/v1/mappings/dry-run", json=example("northbound-vehicle-hk")
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["schemaValid"], body["xml"], body["document"]) == (False, None, "CaseSubmission")
    assert [p["path"] for p in body["problems"]] == ["CaseSubmission/Service/ServiceCode"]
    assert body["texts"]  # the conversions are still shown beside the refusal
