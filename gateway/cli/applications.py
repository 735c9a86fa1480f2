"""``gbagw validate``, ``render`` and ``send``: one Guangdong application at a time."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.common import (
    CatalogueOpt,
    JsonOpt,
    KeysOpt,
    Target,
    accept_for,
    err,
    fail,
    out,
    pipeline_for,
    read_input,
)
from gateway.intake.validator import ApplicationRejected, Problem
from gateway.ports import DocumentInvalid


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(render)
    app.command()(send)


def validate(
    application: Annotated[Path, typer.Argument(help="Guangdong application JSON.")],
    catalogue: CatalogueOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate an application against its item and mapping; print nothing but errors."""
    pipeline = pipeline_for(catalogue, as_json)
    try:
        pipeline.accept(read_input(application, as_json))
    except ApplicationRejected as exc:
        fail(exc.problems, as_json)
    err.print(f"[green]valid[/green] {application}")


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

    pipeline = pipeline_for(catalogue, as_json)
    application_ = accept_for(pipeline, application, to, as_json)
    try:
        signing_key = SigningKey.load(key, cert)
    except (OSError, ValueError) as exc:
        fail([Problem("", f"cannot load signing key: {exc}")], as_json, code=2)
    try:
        rendered = pipeline.render(application_, signing_key)
    except DocumentInvalid as exc:  # a mapping produced what the agency schema refuses
        fail([Problem("", e) for e in exc.errors], as_json, code=3)
    sys.stdout.buffer.write(rendered.to_bytes())
    sys.stdout.buffer.write(b"\n")


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

    pipeline = pipeline_for(catalogue, as_json)
    application_ = accept_for(pipeline, application, to, as_json)
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
