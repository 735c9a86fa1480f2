"""schemathesis against the served OpenAPI description: every route, as each role that may
call it, with bounded generated examples — no 5xx, and no answer the description does not
allow (status, content type, body schema, headers).

Runs the schemathesis command line over real HTTP, as an integration engineer would.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gateway.api.conftest import Api

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
ROLES = ("platform", "operator", "agency:HK-TD")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


def operations_for(api: Api, role: str) -> list[str]:
    described = api.anonymous.get("/openapi.json").json()
    kind = role.partition(":")[0]
    return sorted(
        operation["operationId"]
        for path in described["paths"].values()
        for operation in path.values()
        if kind in operation.get("x-roles", ())
    )


def test_the_description_is_served_with_docs(api: Api) -> None:
    described = api.anonymous.get("/openapi.json")
    assert described.status_code == 200
    paths = described.json()["paths"]
    for path in ("/v1/applications", "/v1/cases/{ref}", "/v1/outbox", "/agencies/v1/cases"):
        assert path in paths, sorted(paths)
    assert api.anonymous.get("/docs").status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_schemathesis_finds_no_server_error_and_no_contradiction(
    api: Api, role: str, tmp_path: Path
) -> None:
    operations = operations_for(api, role)
    assert operations, f"no operation admits {role}"
    selection = [arg for op in operations for arg in ("--include-operation-id", op)]
    run = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{api.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {api.token(role)}",
            *selection,
            "--checks",
            CHECKS,
            "--phases",
            "examples,fuzzing",
            "--max-examples",
            "15",
            "--seed",
            "1",
            "--request-timeout",
            "30",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


README = Path(__file__).resolve().parents[3] / "README.md"


def _readme_routes(role: str) -> set[str]:
    """``METHOD /path`` the README's role table lists for ``role`` (query strings dropped)."""
    (row,) = re.findall(rf"^\| {role} \| (.*) \|$", README.read_text("utf-8"), re.M)
    return {
        f"{method} {_unnamed(path)}"
        for method, path in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)[^`]*`", row)
    }


def _unnamed(path: str) -> str:
    """Path parameters without their names (the README says {ref}, the API {case_ref})."""
    return re.sub(r"\{[^}]*\}", "{}", path)


@pytest.mark.parametrize("role", ["platform", "operator", "agency"])
def test_the_readme_role_table_lists_exactly_the_routes_each_role_may_call(
    api: Api, role: str
) -> None:
    described = api.anonymous.get("/openapi.json").json()
    served = {
        f"{method.upper()} {_unnamed(path)}"
        for path, operations in described["paths"].items()
        for method, operation in operations.items()
        if role in operation.get("x-roles", ())
        and (path.startswith("/v1/") or path.startswith("/agencies/"))
    }
    assert _readme_routes(role) == served
