"""``gbagw clients``, through the real console script against both store backends: a token
shown once that then opens the API, never listed again, revoked at once, and every change in
the audit log."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gateway.store.testing import Backend
from signing import KeyDirectory
from tests.gateway.api.conftest import probe_router, running_api

GBAGW = str(Path(sys.executable).with_name("gbagw"))


def gbagw(db: Backend, keys: KeyDirectory, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBAGW_")}
    env |= {"GBAGW_DATABASE_URL": db.url, "GBAGW_KEYS": str(keys.path)}
    return subprocess.run(
        [GBAGW, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def one_line_error(run: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in run.stderr + run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    return lines[0]


def test_a_token_is_shown_once_opens_the_api_and_stops_when_revoked(
    db: Backend, keys: KeyDirectory
) -> None:
    added = gbagw(db, keys, "clients", "add", "gd-platform", "--role", "platform")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("gbagw_") and len(token.splitlines()) == 1
    assert "will not be shown again" in added.stderr and token not in added.stderr

    with running_api(db, keys, routers=[probe_router()]) as api:
        with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token}"}) as c:
            assert c.get("/probe/whoami").json()["name"] == "gd-platform"
            revoked = gbagw(db, keys, "clients", "revoke", "gd-platform")
            assert revoked.returncode == 0 and "revoked client gd-platform" in revoked.stdout
            assert c.get("/probe/whoami").status_code == 401

    again = gbagw(db, keys, "clients", "revoke", "gd-platform")
    assert again.returncode == 0 and "revoked already" in again.stdout


def test_list_never_shows_a_token_or_its_hash(db: Backend, keys: KeyDirectory) -> None:
    added = gbagw(db, keys, "clients", "add", "td", "--role", "agency:hk-td", "--json")
    assert added.returncode == 0, added.stderr
    issued = json.loads(added.stdout)
    assert (issued["name"], issued["role"]) == ("td", "agency:HK-TD")
    token = issued["token"]
    digest = hashlib.sha256(token.encode()).hexdigest()

    listed = gbagw(db, keys, "clients", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row == {k: v for k, v in issued.items() if k != "token"}
    table = gbagw(db, keys, "clients", "list")
    for said in (listed.stdout, table.stdout):
        assert token not in said and digest not in said
    assert "agency:HK-TD" in table.stdout


@pytest.mark.parametrize(
    ("role", "code", "message"),
    [
        ("agency:HK-NOPE", 2, "no agency HK-NOPE in the agency directory"),
        ("agency", 2, "an agency role names its code"),
        ("root", 2, "expected platform, operator or agency:CODE"),
    ],
)
def test_a_bad_role_is_refused_clearly(
    db: Backend, keys: KeyDirectory, role: str, code: int, message: str
) -> None:
    run = gbagw(db, keys, "clients", "add", "someone", "--role", role)
    assert run.returncode == code, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr
    listed = gbagw(db, keys, "clients", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_refusals_are_one_line_and_exit_1_or_2(db: Backend, keys: KeyDirectory) -> None:
    assert gbagw(db, keys, "clients", "add", "ops", "--role", "operator").returncode == 0
    twice = gbagw(db, keys, "clients", "add", "ops", "--role", "operator")
    assert twice.returncode == 1
    assert one_line_error(twice) == "error client 'ops' exists already"
    unknown = gbagw(db, keys, "clients", "revoke", "nobody")
    assert unknown.returncode == 1
    assert one_line_error(unknown) == "error no client named 'nobody'"
    bad_name = gbagw(db, keys, "clients", "add", "x y", "--role", "operator")
    assert bad_name.returncode == 2  # a malformed argument, like a role that does not parse
    assert one_line_error(bad_name).startswith("error client name 'x y'")


def test_client_changes_are_in_the_audit_log(db: Backend, keys: KeyDirectory) -> None:
    name = f"audited-{os.getpid()}-{db.name}"  # the log outlives each test's rows
    assert gbagw(db, keys, "clients", "add", name, "--role", "operator").returncode == 0
    assert gbagw(db, keys, "clients", "add", name, "--role", "operator").returncode == 1
    assert gbagw(db, keys, "clients", "revoke", name).returncode == 0

    run = gbagw(db, keys, "clients", "audit", "--client", "cli", "--limit", "50", "--json")
    assert run.returncode == 0, run.stderr
    mine = [e for e in json.loads(run.stdout) if e["target"] == name]
    assert [(e["method"], e["route"], e["status"]) for e in reversed(mine)] == [
        ("CLI", "clients add", 201),
        ("CLI", "clients add", 409),
        ("CLI", "clients revoke", 200),
    ]
    assert all(e["actor"] == "cli" and e["client_id"] is None for e in mine)
    table = gbagw(db, keys, "clients", "audit")
    assert table.returncode == 0 and "clients revoke" in table.stdout
