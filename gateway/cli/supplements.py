"""``gbagw supplement``: forward an applicant's documents answering a 補正 request, or a
material owed from filing (容缺), to the case's agency through the outbox."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, NoReturn

import typer

from gateway.cli.common import (
    CONFIG,
    OK,
    REJECTED,
    USAGE,
    JsonOpt,
    fail,
    out,
    read_json,
    source_name,
    stdin_once,
)
from gateway.intake.validator import Problem


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("supplement")(supplement)


def _refuse(message: str, as_json: bool, code: int = REJECTED) -> NoReturn:
    """Refuse the whole command, printed like every other error (``fail``: one line, or a JSON
    object with ``path`` and ``message`` under --json)."""
    fail([Problem("", message)], as_json, code)


def _materials(pairs: list[str], as_json: bool) -> list[dict[str, Any]]:
    """``CODE=FILE`` → the FILE's material reference (JSON) with its code.

    Each FILE is read like an application (size, depth, repeated keys: the intake's reader):
    a repeated ``size`` or ``sha256`` would otherwise be whichever one the parser kept."""
    split = [pair.partition("=") for pair in pairs]
    for pair, (code, sep, source) in zip(pairs, split, strict=True):
        if not sep or not code or not source:
            _refuse(f"--material {pair}: expected CODE=FILE", as_json, USAGE)
    stdin_once([source for _, _, source in split], as_json)
    found: list[dict[str, Any]] = []
    for code, _, source in split:
        name = source_name(source)
        material = read_json(source, as_json)  # exits 2 (unreadable) or 1 (refused)
        if not isinstance(material, dict):
            fail([Problem("", f"{name}: a material reference must be a JSON object")], as_json)
        given = material.setdefault("code", code)
        if given != code:
            fail([Problem("", f"{name}: names material {given}, not {code}")], as_json)
        found.append(material)
    return found


def supplement(
    case_ref: Annotated[str, typer.Argument(metavar="REF", help="The case reference (GBA-…).")],
    material: Annotated[
        list[str],
        typer.Option(
            "--material",
            metavar="CODE=FILE",
            help="CODE=FILE: a Guangdong material code and a JSON file holding its reference "
            "{fileName, mediaType, size, sha256, url} (- reads stdin, once). Repeatable.",
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Forward documents to the case's agency (CBCE Supplement / SIP EntregaDocumentos).

    Each material must be requested by the agency (an open 補正 request) or owed from filing
    (a material accepted as missing). The supplement is signed once and queued in the outbox;
    the same materials again are not forwarded twice (the earlier outbox id is printed).
    """
    from gateway.cli.service import open_runtime
    from gateway.ports import DocumentInvalid
    from gateway.store import transaction
    from gateway.supplements.forward import SupplementRefused, forward_detailed

    materials = _materials(material, as_json)
    runtime = open_runtime()
    try:
        try:
            key = runtime.keys.gateway_key()
        except (OSError, KeyError, ValueError) as exc:
            _refuse(f"no gateway signing key in {runtime.settings.keys}: {exc}", as_json, CONFIG)
        try:
            with transaction(runtime.sessions) as session:
                done = forward_detailed(
                    session, case_ref, materials, key, now=dt.datetime.now(dt.UTC)
                )
        except (SupplementRefused, DocumentInvalid) as exc:
            _refuse(str(exc), as_json)
    finally:
        runtime.close()
    result = "forwarded" if done.created else "already-forwarded"
    if as_json:
        record = {
            "result": result,
            "case_ref": case_ref,
            "outbox_id": done.outbox_id,
            "message_id": done.message_id,
            "documents": done.documents,
            "answered_requests": done.answered_requests,
            "forwarded_pending": done.forwarded_pending,
        }
        out.out(json.dumps(record, ensure_ascii=False), highlight=False)
    else:
        out.print(f"{result} {case_ref} outbox {done.outbox_id} ({done.message_id})", markup=False)
        for d in done.documents:
            out.print(f"  {d['materialCode']} → {d['agencyType']} {d['docId']}", markup=False)
        if done.answered_requests:
            answered = ", ".join(str(i) for i in done.answered_requests)
            out.print(f"  answers request {answered}", markup=False)
        if done.forwarded_pending:
            out.print(f"  owed since filing: {', '.join(done.forwarded_pending)}", markup=False)
    raise typer.Exit(OK)
