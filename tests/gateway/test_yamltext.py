"""Edited YAML is read with bounds: no alias expansion, no deep nesting, no huge file — a
clear refusal naming the line instead of gigabytes of memory or a RecursionError."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import yamltext

LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (LAUGHS, "line 2: aliases (*a0) are not allowed"),
        ("a: &a [*a, *a]\n", "line 1: aliases (*a) are not allowed"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 32 levels"),
        ("".join(" " * i + "k:\n" for i in range(100)), "nested deeper than 32 levels"),
        ("a: [\n", "not valid YAML"),
        ("x" * (yamltext.MAX_BYTES + 1), "larger than"),
    ],
    ids=["billion-laughs", "cycle", "deep-flow", "deep-block", "syntax", "huge"],
)
def test_hostile_yaml_is_refused_with_what_and_where(text: str, problem: str) -> None:
    with pytest.raises(yamltext.YamlRefused, match=re.escape(problem)):
        yamltext.load(text)


def test_ordinary_yaml_reads_as_safe_load_does() -> None:
    text = "a: &anchor 1\nb: [1, two, {c: null}]\nd: '2026-01-01'\n"
    assert yamltext.load(text) == {"a": 1, "b": [1, "two", {"c": None}], "d": "2026-01-01"}
    node = yamltext.compose(text)
    assert node is not None and node.start_mark.line == 0


def test_a_file_is_read_only_up_to_the_limit_and_must_be_utf8(tmp_path: Path) -> None:
    (tmp_path / "utf16.yaml").write_bytes(b"\xff\xfea\x00:\x00")
    with pytest.raises(yamltext.YamlRefused, match="not UTF-8"):
        yamltext.read(tmp_path / "utf16.yaml")
    with pytest.raises(yamltext.YamlRefused, match="larger than"):
        yamltext.read(Path("/dev/zero"))
    with pytest.raises(yamltext.YamlRefused, match="cannot read"):
        yamltext.read(tmp_path)


def test_an_agency_directory_bomb_is_a_configuration_error_in_one_line(tmp_path: Path) -> None:
    bomb = tmp_path / "agencies.yaml"
    bomb.write_text(LAUGHS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBAGW_")}
    env |= {"GBAGW_AGENCIES": str(bomb), "GBAGW_DATABASE_URL": f"sqlite:///{tmp_path}/g.db"}
    gbagw = str(Path(sys.executable).with_name("gbagw"))
    run = subprocess.run(
        [gbagw, "agencies", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 3, run.stderr
    assert "aliases (*a0) are not allowed" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
