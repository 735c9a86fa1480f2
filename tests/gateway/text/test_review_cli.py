"""``gbagw text review``: open disagreements with counts and examples."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from gateway.cli.text import text_app

app = typer.Typer()
app.add_typer(text_app, name="text")


def test_review_lists_open_disagreements_with_counts_and_examples(tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("侧冲\n下冲\n3只猫\n申请人\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["text", "review", str(texts), "--region", "HK", "--json"])
    assert result.exit_code == 0, result.output
    view = json.loads(result.output)
    assert view["texts"] == 4 and view["open"] == 2
    (group,) = view["groups"]
    assert (group["source"], group["primary"], group["secondary"], group["count"]) == (
        "冲",
        "沖",
        "衝",
        2,
    )
    assert group["examples"] == ["侧冲", "下冲"]
    assert view["decided_by"] == {"zhconv-rs": 2, "accepted": 1, "engines": 1}


def test_review_reads_case_texts_but_not_names(tmp_path: Path) -> None:
    case = {
        "texts": [{"path": "applicant.name", "original": "侧冲"}, {"path": "x", "original": "侧冲"}]
    }
    f = tmp_path / "case.json"
    f.write_text(json.dumps(case, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["text", "review", str(f), "--region", "MO", "--json"])
    assert json.loads(result.output)["texts"] == 1


def test_review_needs_input() -> None:
    result = CliRunner().invoke(app, ["text", "review"])
    assert result.exit_code != 0
