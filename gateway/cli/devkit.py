"""``gbagw sandbox`` and ``conformance``: sandbox agencies and the conformance kits."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.common import REJECTED, KeysOpt, Target, err, keys_dir, out


def register(app: typer.Typer) -> None:
    app.command()(sandbox)
    app.command()(conformance)


#: sandbox parties: the agency regions (hk, mo, …) and gd, the Guangdong notification receiver
Sandbox = StrEnum("Sandbox", {**{t.value: t.value for t in Target}, "gd": "gd"})  # type: ignore[misc]


def sandbox(
    region: Annotated[
        Sandbox,
        typer.Argument(help="Agency format (region), or gd: the Guangdong receiver."),
    ],
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free one).")
    ] = 0,
    config: Annotated[
        Path | None, typer.Option("--config", help="Sandbox YAML (scenarios, faults).")
    ] = None,
    keys: KeysOpt = None,
    database: Annotated[
        Path | None,
        typer.Option(
            "--db",
            "--database",
            help="SQLite file (default: var/sandbox-REGION-PORT.db, one per agency instance).",
        ),
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            "--secret",
            help="gd: the webhook secret (whsec_…); default $GBAGW_NOTIFY_SECRET, else the "
            "file webhooks/guangdong.secret under --keys (created when missing).",
        ),
    ] = None,
    unavailable_seconds: Annotated[
        float, typer.Option("--unavailable-seconds", help="gd: answer 503 for this long.")
    ] = 0.0,
    unavailable_requests: Annotated[
        int, typer.Option("--unavailable-requests", help="gd: answer 503 to this many first.")
    ] = 0,
) -> None:
    """Run a sandbox HK or Macao agency, or the Guangdong notification receiver (gd), on
    127.0.0.1 until interrupted."""
    from gateway.serve import LOOPBACK, free_port, serve_forever

    if region.value == "gd":
        app = _gd_app(keys, database, secret, unavailable_seconds, unavailable_requests)
        serve_forever(app, _announce_port(port, "sandbox Guangdong receiver", "/webhooks/gateway"))
        return
    from gateway.registry import sandbox_factory
    from signing import KeyDirectory

    keys_path = keys_dir(keys)
    port = port or free_port()
    if config is not None:
        cfg: Path | dict[str, object] = config
    else:
        directory = KeyDirectory(keys_path)
        if not directory.trust_file.exists():
            directory.init()
            err.print(f"created development keys in {keys_path}")
        # by port: `gbagw run`'s own sandbox of the region uses var/sandbox-REGION.db, and two
        # agencies sharing one file would see each other's cases (and lock each other out)
        db = database or Path("var") / f"sandbox-{region.value}-{port}.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        cfg = {"region": region.value.upper(), "keys_dir": keys_path, "database": db}
    err.print(f"sandbox {region.value.upper()} agency on http://{LOOPBACK}:{port}")
    serve_forever(sandbox_factory(region.value.upper())(cfg), port)


def _announce_port(port: int, what: str, path: str) -> int:
    from gateway.serve import LOOPBACK, free_port

    port = port or free_port()
    err.print(f"{what} on http://{LOOPBACK}:{port}{path}")
    return port


def _gd_app(
    keys: Path | None,
    database: Path | None,
    secret: str | None,
    unavailable_seconds: float,
    unavailable_requests: int,
) -> object:
    from gateway.config import settings
    from gateway.devkit.gd_receiver import create_app
    from gateway.notify import webhook

    keys_path = keys_dir(keys)
    chosen = webhook.load_secret(secret or settings().notify_secret, keys_path, create=True)
    if not secret and not settings().notify_secret:
        err.print(f"webhook secret from {webhook.secret_path(keys_path)}")
    assert chosen is not None  # created when missing
    db = database or Path("var") / "sandbox-gd.db"
    return create_app(
        chosen,
        db,
        unavailable_seconds=unavailable_seconds,
        unavailable_requests=unavailable_requests,
    )


def conformance(
    agency: Annotated[Target, typer.Option("--agency", help="Agency format (region) to test.")],
    url: Annotated[str, typer.Option("--url", help="The agency endpoint under test.")],
    code: Annotated[
        str | None,
        typer.Option("--code", help="Agency code (default: the region's first mapped agency)."),
    ] = None,
    keys: KeysOpt = None,
) -> None:
    """Run the conformance checks against a CBCE or SIP endpoint; print a pass/fail table."""
    from gateway.registry import conformance_runner
    from signing import KeyDirectory

    region = agency.value.upper()
    code = code or _first_agency(region)
    results = conformance_runner(region)(url, KeyDirectory(keys_dir(keys)), code)
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
        raise typer.Exit(REJECTED)


def _first_agency(region: str) -> str:
    """The first agency (by code) that a bundled mapping routes ``region`` to."""
    from gateway.cli.common import pipeline_for

    pipeline = pipeline_for(None, False)
    return min(m.agency for m in pipeline.mappings if m.region == region)
