"""The layers hold both ways: found by reading every import statement, including local ones.

- ``signing/`` is a library: it imports nothing from the gateway or its adapters;
- the core (``gateway/``) never names an adapter package: formats, transports, sandboxes and
  conformance kits are found through entry points (``gateway.registry``);
- production paths import no development kit (sandboxes, conformance kits, ``gateway.devkit``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVKIT = ("adapters.sandbox", "gateway.devkit")
DEVKIT_SUFFIXES = (".sandbox", ".conformance")


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(paths: list[Path], forbidden) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in paths
        for name in sorted(imports(path))
        if forbidden(name)
    ]


def is_devkit(name: str) -> bool:
    return any(under(name, p) for p in DEVKIT) or (
        under(name, "adapters") and any(s in name for s in DEVKIT_SUFFIXES)
    )


def test_signing_imports_neither_the_gateway_nor_adapters() -> None:
    bad = violations(modules("signing"), lambda n: under(n, "gateway") or under(n, "adapters"))
    assert bad == []


def test_the_core_never_names_an_adapter() -> None:
    # gateway/devkit is test tooling (a whole deployment as processes) and may read a sandbox
    # agency's store; everything else reaches adapters through entry points only
    core = [p for p in modules("gateway") if "devkit" not in p.parts]
    assert violations(core, lambda n: under(n, "adapters")) == []


def production_modules() -> list[Path]:
    core = [p for p in modules("gateway") if not {"devkit", "cli"} & set(p.parts)]
    adapters = [
        p
        for p in modules("adapters")
        if "sandbox" not in p.parts and p.stem not in ("sandbox", "conformance")
    ]
    return core + adapters


def test_production_paths_import_no_development_kit() -> None:
    assert violations(production_modules(), is_devkit) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import gateway.ports\n", {"gateway.ports"}),
        ("def f():\n    from adapters.hk import sandbox\n", {"adapters.hk", "adapters.hk.sandbox"}),
        ("from . import x\n", set()),
    ],
)
def test_the_import_walker_sees_local_and_dotted_imports(tmp_path, source, expected) -> None:
    module = tmp_path / "m.py"
    module.write_text(source, encoding="utf-8")
    assert imports(module) == expected
