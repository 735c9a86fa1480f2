"""``gbagw sandbox`` and ``conformance``: sandbox agencies and the conformance kits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.common import KeysOpt, Target, err, out


def register(app: typer.Typer) -> None:
    app.command()(sandbox)
    app.command()(conformance)


def sandbox(
    region: Annotated[Target, typer.Argument(help="hk or mo.")],
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 0,
    config: Annotated[
        Path | None, typer.Option("--config", help="Sandbox YAML (scenarios, faults).")
    ] = None,
    keys: KeysOpt = None,
    database: Annotated[Path | None, typer.Option("--db", help="SQLite file.")] = None,
) -> None:
    """Run a sandbox HK or Macao agency on 127.0.0.1 until interrupted."""
    from adapters.sandbox import SandboxConfig
    from gateway.registry import sandbox_factory
    from gateway.serve import LOOPBACK, free_port, serve_forever
    from signing import KeyDirectory
    from signing.cli import default_keys_dir

    keys_dir = keys or default_keys_dir()
    if config is not None:
        cfg = SandboxConfig.from_yaml(config)
    else:
        directory = KeyDirectory(keys_dir)
        if not directory.trust_file.exists():
            directory.init()
            err.print(f"created development keys in {keys_dir}")
        db = database or Path("var") / f"sandbox-{region.value}.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        cfg = SandboxConfig(region=region.value.upper(), keys_dir=keys_dir, database=db)
    port = port or free_port()
    err.print(f"sandbox {region.value.upper()} agency on http://{LOOPBACK}:{port}")
    serve_forever(sandbox_factory(region.value.upper())(cfg), port)


def conformance(
    agency: Annotated[Target, typer.Option("--agency", help="Format to test: hk or mo.")],
    url: Annotated[str, typer.Option("--url", help="The agency endpoint under test.")],
    code: Annotated[
        str | None, typer.Option("--code", help="Agency code (default HK-TD / MO-DSAT).")
    ] = None,
    keys: KeysOpt = None,
) -> None:
    """Run the conformance checks against a CBCE or SIP endpoint; print a pass/fail table."""
    from gateway.registry import conformance_runner
    from signing import KeyDirectory
    from signing.cli import default_keys_dir

    region = agency.value.upper()
    code = code or ("HK-TD" if region == "HK" else "MO-DSAT")
    results = conformance_runner(region)(url, KeyDirectory(keys or default_keys_dir()), code)
    table = Table(title=f"Conformance of {url} as {code}")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for r in results:
        table.add_row(r.name, "[green]pass[/green]" if r.passed else "[red]FAIL[/red]", r.detail)
    out.print(table)
    failed = [r.name for r in results if not r.passed]
    out.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)
