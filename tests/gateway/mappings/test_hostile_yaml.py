"""A mapping file is edited by hand and may come from anyone: alias bombs, cycles, deep
nesting, bytes that are not UTF-8 and oversize files are problems of that file (with a line),
found in bounded time and memory — the other files are still checked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.catalogue.loader import Catalogue
from gateway.mappings.engine import bundled_mappings_dir, check_directory
from gateway.registry import installed_formats
from gateway.yamltext import MAX_BYTES

LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
)


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        (LAUGHS.encode(), 2, "aliases (*a0) are not allowed"),
        (b"a: &a [*a, *a]\n", 1, "aliases (*a) are not allowed"),
        (b"[" * 50_000 + b"]" * 50_000, 1, "nested deeper than 32 levels"),
        (b"\xff\xfe", 1, "not UTF-8"),
        (b"# " + b"x" * MAX_BYTES, 1, "larger than"),
    ],
    ids=["billion-laughs", "cycle", "deep", "utf16-bom", "oversize"],
)
def test_a_hostile_mapping_file_is_a_problem_of_that_file(
    tmp_path: Path, content: bytes, line: int, problem: str
) -> None:
    for source in bundled_mappings_dir().glob("*.yaml"):
        shutil.copy(source, tmp_path)
    (tmp_path / "northbound-vehicle.hk.yaml").write_bytes(content)
    mappings, problems = check_directory(Catalogue.load(None), installed_formats(), tmp_path)
    (found,) = [p for p in problems if p.file == "northbound-vehicle.hk.yaml"]
    assert problem in found.message and found.line == line, str(found)
    assert len(mappings) == len(list(bundled_mappings_dir().glob("*.yaml"))) - 1
