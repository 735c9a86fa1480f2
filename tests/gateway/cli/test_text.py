"""``gbagw text review``: open disagreements recorded at filing, or those of given files.

Filing runs for real (pipeline, signature, store on SQLite and PostgreSQL); the listing is read
through the real console script, as an integration engineer runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from gateway.cases.filing import Filing
from gateway.cli import app
from gateway.devkit.examples import bundled_examples
from gateway.store.tables import TextDisagreement

GBAGW = str(Path(sys.executable).with_name("gbagw"))
SCOPE = "供应链管理服务；发卡业务；货物进出口。"  # 发卡: 發 (zhconv-rs) vs 髮 (OpenCC), no rule
ADDRESS = "深圳市南山区朴园路18号"  # 朴: 朴 vs 樸, no rule


def gbagw(db: Any, keys: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GBAGW_DATABASE_URL=db.url, GBAGW_KEYS=str(keys.path))
    return subprocess.run([GBAGW, *args], capture_output=True, text=True, timeout=120, env=env)


def application(number: str, scope: str, address: str) -> dict[str, Any]:
    path = next(p for p in bundled_examples() if p.stem == "investor-company-registration-hk")
    app_ = json.loads(path.read_text(encoding="utf-8"))
    app_["applicationNo"] = number
    app_["form"] |= {"businessScope": scope, "registeredAddress": address}
    return app_


def recorded(db: Any) -> int:
    with db.factory() as session:
        return session.scalar(select(func.count()).select_from(TextDisagreement)) or 0


def test_filing_records_open_disagreements_once_and_review_lists_them(db, keys, pipeline):
    filing = Filing(pipeline, keys.gateway_key(), db.factory)
    first = filing.file(application("GDZW-20250314-900001", SCOPE, ADDRESS))
    assert first.created and recorded(db) == 2
    assert not filing.file(application("GDZW-20250314-900001", SCOPE, ADDRESS)).created
    assert recorded(db) == 2  # a repeated filing records nothing more
    plain = "供应链管理服务；国内贸易代理。"
    filing.file(application("GDZW-20250314-900002", plain, "深圳市南山区桂湾五路128号"))
    assert recorded(db) == 2  # no disagreement, no row
    second = filing.file(application("GDZW-20250314-900003", "银行发卡", "深圳市福田区1号"))

    done = gbagw(db, keys, "text", "review", "--json")
    assert done.returncode == 0, done.stderr
    groups = {(g["source"], g["primary"], g["secondary"]): g for g in json.loads(done.stdout)}
    fa = groups[("发", "發", "髮")]
    assert (fa["region"], fa["count"], fa["cases"]) == ("HK", 2, 2)
    assert {e["case_ref"] for e in fa["examples"]} == {first.case_ref, second.case_ref}
    assert {e["path"] for e in fa["examples"]} == {"form.businessScope"}
    # a business scope is not personal: four characters either side are kept for triage
    assert {e["context"] for e in fa["examples"]} == {"理服务；发卡业务；", "银行发卡"}
    (pu,) = groups[("朴", "朴", "樸")]["examples"]
    # an address is personal data: its path and characters are kept, never its text
    assert pu == {"case_ref": first.case_ref, "path": "form.registeredAddress", "context": None}
    assert ADDRESS not in done.stdout and "朴园路" not in done.stdout

    table = gbagw(db, keys, "text", "review", "--region", "MO")
    assert table.returncode == 0 and "0 open disagreement groups" in table.stdout


def test_review_of_files_lists_groups_with_examples(tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("银行发卡\n发卡业务\n3只猫\n申请人\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["text", "review", str(texts), "--region", "HK", "--json"])
    assert result.exit_code == 0, result.output
    (group,) = json.loads(result.output)
    assert (group["source"], group["primary"], group["secondary"], group["count"]) == (
        "发",
        "發",
        "髮",
        2,
    )
    assert [e["path"] for e in group["examples"]] == [f"{texts}:1", f"{texts}:2"]
    assert [e["context"] for e in group["examples"]] == ["银行发卡", "发卡业务"]


def test_review_of_case_texts_skips_names_and_hides_personal_context(tmp_path: Path) -> None:
    case = {
        "texts": [
            {"path": "applicant.name", "original": "朴园"},
            {"path": "applicant.address.lines[0]", "original": "朴园路"},
            {"path": "form.businessScope", "original": "朴园路"},
        ]
    }
    f = tmp_path / "case.json"
    f.write_text(json.dumps(case, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["text", "review", str(f), "--region", "MO", "--json"])
    (group,) = json.loads(result.output)
    assert group["count"] == 2  # the name is not converted as text
    assert [(e["path"], e["context"]) for e in group["examples"]] == [
        ("applicant.address.lines[0]", None),
        ("form.businessScope", "朴园路"),
    ]


@pytest.mark.parametrize(
    ("content", "args", "code", "said"),
    [
        (None, ["--region", "TW"], 2, "--region must be HK, MO or both"),
        (None, [], 2, "cannot read"),
        ("{not json", [], 1, "not valid JSON"),
        ("正常\n坏\x00文本\n", [], 1, ":2: control character U+0000"),
    ],
    ids=["region", "missing", "json", "control"],
)
def test_review_refusals_are_one_line(tmp_path, content, args, code, said) -> None:
    f = tmp_path / ("in.json" if content and content.startswith("{") else "in.txt")
    if content is not None:
        f.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(app, ["text", "review", str(f), *args])
    assert result.exit_code == code, result.output
    assert said in result.stderr and "Traceback" not in result.output + result.stderr
