"""``gbagw validate``, ``render`` and ``send``: one Guangdong application at a time."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from rich.table import Table

from gateway.cli.common import (
    CONFIG,
    REJECTED,
    USAGE,
    CatalogueOpt,
    InputArg,
    JsonOpt,
    KeysOpt,
    Target,
    accept_for,
    check_url,
    err,
    fail,
    keys_dir,
    out,
    pipeline_for,
    positive,
    read_input,
)
from gateway.intake.validator import ApplicationRejected, Problem
from gateway.ports import DocumentInvalid
from signing import KeyDirectory, SigningKey, TrustConfigError, TrustStore
from signing.parties import GATEWAY_PARTY

if TYPE_CHECKING:
    from gateway.domain import Case
    from gateway.ports import DeliveryResult


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(render)
    app.command()(send)


def validate(
    application: InputArg,
    catalogue: CatalogueOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate an application against its item and mapping: print `valid FILE`, or every
    problem with the JSON path of its field (exit 1); --json prints the problems as JSON."""
    pipeline = pipeline_for(catalogue, as_json)
    try:
        pipeline.accept(read_input(application, as_json))
    except ApplicationRejected as exc:
        fail(exc.problems, as_json)
    err.print(f"[green]valid[/green] {'standard input' if application == '-' else application}")


def render(
    application: InputArg,
    to: Annotated[Target, typer.Option("--to", help="Target region.")],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Gateway private key (PEM); default: the current one."),
    ] = None,
    cert: Annotated[
        Path | None, typer.Option("--cert", help="Its certificate (PEM); required with --key.")
    ] = None,
    keys: KeysOpt = None,
    catalogue: CatalogueOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the signed CaseSubmission (HK) or PedidoProcesso (Macao) to stdout.

    Only the gateway's registered, currently valid key signs: a document whose Sender is
    GD-GBA-GW must never carry an agency's or a stranger's signature.
    """
    pipeline = pipeline_for(catalogue, as_json)
    application_ = accept_for(pipeline, application, to, as_json)
    directory = _key_directory(keys, as_json)
    signing_key = _gateway_key(directory, key, cert, as_json)
    try:
        rendered = pipeline.render(application_, signing_key)
    except DocumentInvalid as exc:  # the agency schema refuses what the mapping made of it
        fail([Problem(*p) for p in exc.problems()], as_json, code=REJECTED)
    sys.stdout.buffer.write(rendered.to_bytes())
    sys.stdout.buffer.write(b"\n")


def _key_directory(keys: Path | None, as_json: bool) -> KeyDirectory:
    directory = KeyDirectory(keys_dir(keys))
    if not directory.trust_file.exists():
        fail(
            [Problem("", f"no key directory at {directory.path} (run `gbagw keys init`)")],
            as_json,
            code=CONFIG,
        )
    return directory


def _gateway_key(
    directory: KeyDirectory, key: Path | None, cert: Path | None, as_json: bool
) -> SigningKey:
    """The given pair if it is the gateway's registered one, valid now; else the current one."""
    now = datetime.now(UTC)
    try:
        trust = directory.trust_store()
        if key is None and cert is None:
            return directory.gateway_key(now)
    except (TrustConfigError, KeyError, OSError, ValueError) as exc:
        fail([Problem("", f"key directory {directory.path}: {exc}")], as_json, code=CONFIG)
    if key is None or cert is None:
        fail([Problem("", "--key and --cert go together")], as_json, code=USAGE)
    try:
        private_key = serialization.load_pem_private_key(key.read_bytes(), None)
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        fail([Problem("", f"cannot load signing key: {exc}")], as_json, code=USAGE)
    try:
        signing_key = SigningKey(private_key, certificate)  # type: ignore[arg-type]
    except ValueError as exc:  # not a pair, or a key type signatures cannot use
        problem = str(exc)
    else:
        problem = _not_the_gateway_pair(trust, signing_key, now)
    if problem:
        current = [
            str(directory.path / r.source) if r.source else r.fingerprint
            for r in trust.accepted_for(GATEWAY_PARTY, now)
        ]
        right = f"; the gateway's current certificate: {', '.join(current)}" if current else ""
        fail([Problem("", f"refusing to sign: {problem}{right}")], as_json, code=REJECTED)
    return signing_key


def _not_the_gateway_pair(trust: TrustStore, signing_key: SigningKey, now: datetime) -> str:
    name = f"certificate {signing_key.fingerprint[:16]}…"
    registered = trust.by_fingerprint(signing_key.fingerprint)
    if registered is None:
        return f"{name} is not in the trust list"
    if registered.party != GATEWAY_PARTY:
        return f"{name} is {registered.party}'s, not {GATEWAY_PARTY}'s"
    if not registered.accepted_at(now):
        return (
            f"{name} of {GATEWAY_PARTY} is not valid now "
            f"(accepted {registered.valid_from:%Y-%m-%d} to {registered.valid_until:%Y-%m-%d})"
        )
    return ""


def send(
    application: InputArg,
    to: Annotated[Target, typer.Option("--to", help="Target region.")],
    url: Annotated[str, typer.Option("--url", help="Agency endpoint base URL.")],
    keys: KeysOpt = None,
    catalogue: CatalogueOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", callback=positive, help="Seconds per request (above 0).")
    ] = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Render, sign and send an application; print the agency's verified receipt."""
    from gateway.ports import Outcome
    from gateway.registry import client_factory

    check_url(url, as_json)
    pipeline = pipeline_for(catalogue, as_json)
    application_ = accept_for(pipeline, application, to, as_json)
    directory = _key_directory(keys, as_json)
    try:
        rendered = pipeline.render(application_, _gateway_key(directory, None, None, as_json))
    except DocumentInvalid as exc:  # the agency schema refuses what the mapping made of it
        fail([Problem(*p) for p in exc.problems()], as_json, code=REJECTED)
    client = client_factory(application_.target_region)(
        url, directory.trust_store(), agency=rendered.case.agency, timeout=timeout
    )
    try:
        result = client.submit(rendered.to_bytes())
    finally:
        client.close()
    receipt = result.receipt
    if as_json:
        record = {
            "case_ref": rendered.case.case_ref,
            "agency": rendered.case.agency,
            "outcome": result.outcome.value,
            "message_id": rendered.case.messages[0].message_id,
            "agency_case_ref": receipt.agency_case_ref if receipt else None,
            "received_at": receipt.received_at.isoformat() if receipt else None,
            "receipt_signed_by": receipt.header.sender if receipt else None,
            "detail": result.detail or None,
        }
        out.out(json.dumps(record, ensure_ascii=False), highlight=False)
    else:
        _receipt_table(rendered.case, result)
    if result.outcome not in (Outcome.DELIVERED, Outcome.DUPLICATE):
        raise typer.Exit(REJECTED)


def _receipt_table(case: Case, result: DeliveryResult) -> None:
    receipt = result.receipt
    table = Table(title=f"{case.case_ref} → {case.agency}: {result.outcome.value}")
    table.add_column("field")
    table.add_column("value")
    table.add_row("message id", case.messages[0].message_id)
    if receipt is not None:
        table.add_row("agency case ref", receipt.agency_case_ref)
        table.add_row("received at", receipt.received_at.isoformat())
        table.add_row("receipt signed by", receipt.header.sender)
    if result.detail:
        table.add_row("detail", result.detail)
    out.print(table)
