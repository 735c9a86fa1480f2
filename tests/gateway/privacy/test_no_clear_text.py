"""The acceptance check of Art. 28: after a full run of the bundled examples through the real
``gbagw`` commands, no ID number, phone number, name (nor address or e-mail) of any example
appears in the logs or anywhere in the database in clear — on SQLite and on PostgreSQL.

The run is the README's main job (``gbagw demo``: file every example, deliver it to the
sandbox agencies, apply their answers), then the operator's views (``cases list/show``,
``outbox list``), a repeat filing of the shared spec examples and the retention job, all with
debug logging. The database is then dumped table by table (and, for SQLite, read as raw file
bytes). The same search over the store decrypted finds every value: the needles are right.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from gateway.privacy import keyring
from gateway.privacy.identity import normalise
from gateway.store import make_engine, session_factory, transaction
from gateway.store.tables import Case, Message
from gateway.store.testing import throwaway_postgres

ROOT = Path(__file__).resolve().parents[3]
GBAGW = str(Path(sys.executable).with_name("gbagw"))
BUNDLED = sorted((ROOT / "gateway" / "data" / "examples").glob("*.json"))
SHARED = sorted(Path("/work/shared/specs/examples").glob("*.json")) or BUNDLED
PERSONAL_TEXT = re.compile(r"(^|\.)(name|nameTraditional|address\.lines\[\d+\])$")


def national(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    for code in ("852", "853", "86"):
        if phone.strip().startswith(("+" + code, "00" + code)):
            return digits[len(code) :]
    return digits


def needles(applications: list[dict[str, Any]]) -> dict[str, set[str]]:
    """What must never appear in clear, by kind, in every written form the gateway uses."""
    found: dict[str, set[str]] = {"id": set(), "phone": set(), "name": set(), "other": set()}
    for application in applications:
        for role in ("applicant", "agent"):
            person = application.get(role) or {}
            if "idNumber" in person:
                found["id"] |= {person["idNumber"], normalise(person["idNumber"])}
            if "mobile" in person:
                compact = re.sub(r"[\s-]", "", person["mobile"])
                found["phone"] |= {person["mobile"], compact, national(person["mobile"])}
            found["name"] |= {person[k] for k in ("name", "nameTraditional") if k in person}
            given = (person.get("nameLatin") or {}).get("given", "")
            if len(given) >= 5:  # surnames alone (MA, NG, LO) are not one person
                found["name"].add(given)
            found["other"] |= set((person.get("address") or {}).get("lines", []))
            found["other"] |= {person["email"]} if "email" in person else set()
    return found


def scratch_env(work: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBAGW_")}
    env |= {
        "GBAGW_KEYS": str(work / "var" / "keys"),
        "GBAGW_DATABASE_URL": database_url,
        "GBAGW_LOG_LEVEL": "debug",
        "HOME": str(work),
    }
    return env


def gbagw(logs: list[str], env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [GBAGW, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    logs.append(f"$ gbagw {' '.join(args)}\n{done.stdout}{done.stderr}")
    assert done.returncode == 0, logs[-1][-3000:]
    where = done.stderr.find("Traceback")
    assert where < 0, done.stderr[max(0, where - 600) : where + 3000]  # the whole of it
    return done.stdout


@contextmanager
def database(kind: str, work: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{work / 'var' / 'gateway.db'}"
    else:
        with throwaway_postgres("pii") as url:
            yield url


def dump(url: str) -> dict[str, str]:
    """Every table as text: each value as stored (bytes decoded leniently, JSON as text)."""
    engine = make_engine(url)
    tables = {}
    try:
        with engine.connect() as connection:
            for name in inspect(connection).get_table_names():
                values = []
                for row in connection.execute(text(f'SELECT * FROM "{name}"')):
                    for value in row:
                        if isinstance(value, memoryview | bytes):
                            values.append(bytes(value).decode("utf-8", "replace"))
                        elif isinstance(value, dict | list):
                            values.append(json.dumps(value, ensure_ascii=False))
                        else:
                            values.append(str(value))
                tables[name] = "\n".join(values)
    finally:
        engine.dispose()
    return tables


def decrypted(url: str, key_file: Path) -> str:
    """The store as the gateway reads it: applications, texts and every message, in clear."""
    engine = make_engine(url)
    keyring.bind(engine, keyring.read_key_file(key_file))
    try:
        with transaction(session_factory(engine), read_only=True) as session:
            parts = [
                json.dumps([case.application, case.texts], ensure_ascii=False)
                for case in session.scalars(select(Case))
            ]
            parts += [b.decode("utf-8") for b in session.scalars(select(Message.body))]
    finally:
        engine.dispose()
    return "\n".join(parts)


def converted_forms(clear: str) -> set[str]:
    """Names and addresses as the gateway converted them (kept in ``cases.texts``)."""
    forms = set()
    for match in re.finditer(
        r'\{"path": "([^"]+)", "original": "([^"]*)", "converted": "([^"]*)"', clear
    ):
        if PERSONAL_TEXT.search(match.group(1)):
            forms |= {match.group(2), match.group(3)}
    return forms - {""}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_no_personal_data_in_clear_after_a_full_run(kind: str, tmp_path: Path) -> None:
    work = tmp_path / "gateway"
    work.mkdir()
    logs: list[str] = []
    with database(kind, work) as url:
        env = scratch_env(work, url)
        if kind == "postgresql":
            gbagw(logs, env, work, "db", "upgrade")
        gbagw(logs, env, work, "demo", "--timeout", "150")
        gbagw(logs, env, work, "file", *map(str, SHARED))  # a repeat: found, not filed again
        refs = [
            c["case_ref"] for c in json.loads(gbagw(logs, env, work, "cases", "list", "--json"))
        ]
        assert len(refs) == len(BUNDLED)
        for ref in (refs[0], refs[-1]):  # each command costs a process start: two cases
            gbagw(logs, env, work, "cases", "show", ref)
            gbagw(logs, env, work, "cases", "show", ref, "--json")
        gbagw(logs, env, work, "outbox", "list")
        gbagw(logs, env, work, "cases", "purge-personal-data")
        tables = dump(url)
        key_file = keyring.key_file(work / "var")
        clear = decrypted(url, key_file)

    assert key_file.stat().st_mode & 0o777 == 0o600
    log_text = "\n".join(logs)
    assert f"created the data encryption key {key_file}" in log_text
    stored = dict(tables)
    if kind == "sqlite":  # the files themselves, free pages and write-ahead log included
        for path in (work / "var").glob("gateway.db*"):
            stored[path.name] = path.read_bytes().decode("utf-8", "replace")

    examples = [json.loads(p.read_text("utf-8")) for p in BUNDLED + SHARED]
    wanted = needles(examples)
    wanted["name"] |= {f for f in converted_forms(clear) if len(f) <= 8}
    wanted["other"] |= {f for f in converted_forms(clear) if len(f) > 8}
    every = set().union(*wanted.values())
    # the needles are right: the store read through the gateway holds every person's name,
    # ID number and phone number in one of the forms searched for
    for application in examples:
        for kind_, forms in needles([application]).items():
            if kind_ != "other":
                assert any(form in clear for form in forms), (kind_, forms)

    leaks = {
        (kind_, where, needle)
        for kind_, values in wanted.items()
        for needle in values
        for where, content in [("logs", log_text), *stored.items()]
        if needle in content
    }
    assert not leaks, f"personal data in clear: {sorted(leaks)[:20]}"
    assert len(every) > 100 and len(log_text) > 10_000  # the search had something to search
