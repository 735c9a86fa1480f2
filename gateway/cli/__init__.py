"""``gbagw``: the gateway's command line."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gateway.catalogue.loader import Catalogue, CatalogueError
from gateway.intake.validator import ApplicationRejected, Problem
from gateway.mappings.engine import MappingError, check_directory
from gateway.ports import DocumentInvalid

app = typer.Typer(no_args_is_help=True, help="Guangdong–HK–Macao cross-boundary case gateway.")
mappings_app = typer.Typer(no_args_is_help=True, help="Mapping files (mappings/*.yaml).")
app.add_typer(mappings_app, name="mappings")

err = Console(stderr=True)
out = Console()


class Target(StrEnum):
    hk = "hk"
    mo = "mo"


CatalogueOpt = Annotated[
    Path | None,
    typer.Option("--catalogue", help="Directory of item records (default: the bundled items)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Errors as JSON on stderr.")]


def _fail(problems: list[Problem], as_json: bool, code: int = 1) -> None:
    if as_json:
        json.dump(
            {"errors": [{"path": p.path, "message": p.message} for p in problems]},
            sys.stderr,
            ensure_ascii=False,
        )
        sys.stderr.write("\n")
    else:
        for p in problems:
            err.print(f"[red]error[/red] {p}", highlight=False, markup=True)
    raise typer.Exit(code)


def _pipeline(catalogue: Path | None, as_json: bool):
    from gateway.render.pipeline import Pipeline

    try:
        return Pipeline(catalogue_dir=catalogue)
    except (CatalogueError, MappingError) as exc:
        _fail([Problem("", line) for line in str(exc).splitlines()], as_json, code=3)


def _read(path: Path, as_json: bool) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        _fail([Problem("", f"cannot read {path}: {exc.strerror}")], as_json, code=2)
        raise  # unreachable


def _accept_for(pipeline, path: Path, to: Target, as_json: bool):
    """The validated application, which must target the region the user named."""
    try:
        application = pipeline.accept(_read(path, as_json))
    except ApplicationRejected as exc:
        _fail(exc.problems, as_json)
    if application.target_region != to.value.upper():
        wrong = f"application targets {application.target_region}, not {to.value.upper()}"
        _fail([Problem("targetRegion", wrong)], as_json)
    return application


@app.command()
def validate(
    application: Annotated[Path, typer.Argument(help="Guangdong application JSON.")],
    catalogue: CatalogueOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate an application against its item and mapping; print nothing but errors."""
    pipeline = _pipeline(catalogue, as_json)
    try:
        pipeline.accept(_read(application, as_json))
    except ApplicationRejected as exc:
        _fail(exc.problems, as_json)
    err.print(f"[green]valid[/green] {application}")


@app.command()
def render(
    application: Annotated[Path, typer.Argument(help="Guangdong application JSON.")],
    to: Annotated[Target, typer.Option("--to", help="Target region.")],
    key: Annotated[Path, typer.Option("--key", help="Gateway private key (PEM).")],
    cert: Annotated[Path, typer.Option("--cert", help="Gateway certificate (PEM).")],
    catalogue: CatalogueOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the signed CaseSubmission (HK) or PedidoProcesso (Macao) to stdout."""
    from signing import SigningKey

    pipeline = _pipeline(catalogue, as_json)
    application_ = _accept_for(pipeline, application, to, as_json)
    try:
        signing_key = SigningKey.load(key, cert)
    except (OSError, ValueError) as exc:
        _fail([Problem("", f"cannot load signing key: {exc}")], as_json, code=2)
    try:
        rendered = pipeline.render(application_, signing_key)
    except DocumentInvalid as exc:  # a mapping produced what the agency schema refuses
        _fail([Problem("", e) for e in exc.errors], as_json, code=3)
    sys.stdout.buffer.write(rendered.to_bytes())
    sys.stdout.buffer.write(b"\n")


@mappings_app.command("validate")
def mappings_validate(
    directory: Annotated[
        Path | None, typer.Argument(help="Mapping directory (default: the bundled mappings).")
    ] = None,
    catalogue: CatalogueOpt = None,
) -> None:
    """Check every mapping against its schema, its item versions and its agency format."""
    from gateway.registry import installed_formats

    try:
        cat = Catalogue.load(catalogue)
    except CatalogueError as exc:
        err.print(f"[red]catalogue:[/red] {exc}")
        raise typer.Exit(3) from None
    mappings, problems = check_directory(cat, installed_formats(), directory)
    for p in problems:
        err.print(f"[red]error[/red] {p}", highlight=False)
    for m in mappings:
        out.print(
            f"[green]ok[/green] {m.mapping}.yaml (v{m.version}, {m.agency}, {m.service.code})"
        )
    if problems:
        raise typer.Exit(1)


@app.command()
def demo(
    keys_dir: Annotated[
        Path, typer.Option("--keys", help="Key directory (created if missing).")
    ] = Path("var/keys"),
    out_dir: Annotated[Path, typer.Option("--out", help="Where the signed documents go.")] = Path(
        "var/out"
    ),
) -> None:
    """Render, sign and verify every bundled example for its agency; print a summary table."""
    from gateway.devkit.examples import run_examples

    rows = run_examples(keys_dir, out_dir)
    table = Table(title="Bundled examples → signed agency documents")
    for col in (
        "example",
        "to",
        "agency",
        "service",
        "case ref",
        "fields",
        "docs",
        "pending",
        "bytes",
        "signature",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(*r.cells())
    console = out if out.is_terminal else Console(width=160)  # never squeeze rows when piped
    console.print(table)
    verified = sum(r.verified for r in rows)
    console.print(f"{verified} of {len(rows)} documents verified; written to {out_dir}/")
    if verified != len(rows):
        raise typer.Exit(1)


KeysOpt = Annotated[
    Path | None,
    typer.Option("--keys", help="Key directory (default: $GBAGW_KEYS or ./var/keys)."),
]


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="A signed CBCE or SIP document.")],
    sender: Annotated[
        str | None, typer.Option("--from", help="The party it must come from (HK-TD, GD-GBA-GW…).")
    ] = None,
    keys: KeysOpt = None,
) -> None:
    """Say who signed a document and whether it is accepted, with the reason when not."""
    from lxml import etree

    from gateway.registry import format_for_namespace
    from signing import MalformedDocument, parse_untrusted
    from signing.cli import verify_command

    try:
        root = parse_untrusted(file.read_bytes())
    except (OSError, MalformedDocument, ValueError) as exc:
        err.print(f"[red]REJECTED[/red] {file}: {exc}")
        raise typer.Exit(1) from None
    fmt = format_for_namespace(etree.QName(root).namespace or "")
    if fmt is None:
        err.print(f"[red]REJECTED[/red] {file}: not a CBCE or SIP document ({root.tag})")
        raise typer.Exit(1)
    raise typer.Exit(verify_command(file, sender, keys, fmt.header, console=out))


@app.command()
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


@app.command()
def send(
    application: Annotated[Path, typer.Argument(help="Guangdong application JSON.")],
    to: Annotated[Target, typer.Option("--to", help="Target region.")],
    url: Annotated[str, typer.Option("--url", help="Agency endpoint base URL.")],
    keys: KeysOpt = None,
    catalogue: CatalogueOpt = None,
    timeout: Annotated[float, typer.Option(help="Seconds per request.")] = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Render, sign and send an application; print the agency's verified receipt."""
    from gateway.ports import Outcome
    from gateway.registry import client_factory
    from signing import KeyDirectory
    from signing.cli import default_keys_dir

    pipeline = _pipeline(catalogue, as_json)
    application_ = _accept_for(pipeline, application, to, as_json)
    directory = KeyDirectory(keys or default_keys_dir())
    rendered = pipeline.render(application_, directory.gateway_key())
    client = client_factory(application_.target_region)(
        url, directory.trust_store(), agency=rendered.case.agency, timeout=timeout
    )
    try:
        result = client.submit(rendered.to_bytes())
    finally:
        client.close()
    receipt = result.receipt
    table = Table(
        title=f"{rendered.case.case_ref} → {rendered.case.agency}: {result.outcome.value}"
    )
    table.add_column("field")
    table.add_column("value")
    table.add_row("message id", rendered.case.messages[0].message_id)
    if receipt is not None:
        table.add_row("agency case ref", receipt.agency_case_ref)
        table.add_row("received at", receipt.received_at.isoformat())
        table.add_row("receipt signed by", receipt.header.sender)
    if result.detail:
        table.add_row("detail", result.detail)
    out.print(table)
    if result.outcome not in (Outcome.DELIVERED, Outcome.DUPLICATE):
        raise typer.Exit(1)


@app.command()
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


def _register_signing() -> None:
    from signing.cli import keys_app

    app.add_typer(keys_app, name="keys", help="Development keys, agency certificates, rotation.")


_register_signing()
