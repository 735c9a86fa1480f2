"""``gbagw supplement`` as a user runs it: a subprocess configured by environment variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from gateway.store.tables import Outbox

GBAGW = str(Path(sys.executable).with_name("gbagw"))

REF = {
    "fileName": "住址证明.pdf",
    "mediaType": "application/pdf",
    "size": 2048,
    "sha256": "c" * 64,
    "url": "https://files.gd.gov.cn/materials/address.pdf",
}


def gbagw(db, keys, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GBAGW_DATABASE_URL=db.url, GBAGW_KEYS=str(keys.path))
    return subprocess.run(
        [GBAGW, *args], capture_output=True, text=True, timeout=120, env=env, input=stdin
    )


def test_forward_then_repeat_then_refusals(db, keys, file_example, tmp_path):
    case_ref = file_example("driving-licence-exchange-hk", delivered="TD-2026-1")
    ref = tmp_path / "m05.json"
    ref.write_text(json.dumps(REF, ensure_ascii=False), encoding="utf-8")

    done = gbagw(db, keys, "supplement", case_ref, "--material", f"M05={ref}", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["result"] == "forwarded" and record["forwarded_pending"] == ["M05"]
    assert record["documents"][0]["agencyType"] == "ADDRESS-PROOF"

    again = gbagw(db, keys, "supplement", case_ref, "--material", "M05=-", stdin=ref.read_text())
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"already-forwarded {case_ref} outbox {record['outbox_id']}")
    with db.factory() as session:
        assert session.scalars(select(Outbox.id).where(Outbox.kind == "supplement")).all() == [
            record["outbox_id"]
        ]

    unknown = gbagw(db, keys, "supplement", "GBA-00000000000000000000", "--material", f"M05={ref}")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error no case GBA-00000000000000000000"

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(REF | {"url": "http://files.gd.gov.cn/a.pdf"}), encoding="utf-8")
    refused = gbagw(db, keys, "supplement", case_ref, "--material", f"M05={bad}")
    assert refused.returncode == 1 and "url" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    bad.write_text("{not json", encoding="utf-8")
    not_json = gbagw(db, keys, "supplement", case_ref, "--material", f"M05={bad}")
    assert not_json.returncode == 1 and "not valid JSON" in not_json.stderr

    missing = gbagw(db, keys, "supplement", case_ref, "--material", f"M05={tmp_path / 'no.json'}")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    usage = gbagw(db, keys, "supplement", case_ref, "--material", "M05")
    assert usage.returncode == 2 and "CODE=FILE" in usage.stderr
    for result in (unknown, refused, not_json, missing, usage):
        assert "Traceback" not in result.stderr
