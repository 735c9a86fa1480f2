"""``gbagw verify``: who signed a document, and whether it is accepted (or why not).

One line per document on standard output, never a traceback (``signing/cli.py`` describes the
lines; the reason code is the :class:`signing.SignatureRejected` subclass's name)::

    ACCEPTED <file>: signed by <party> (certificate …); message <id> sent <time>
    REJECTED <ReasonCode>: <file>: <why>

``ERROR InputUnreadable|TrustConfigError: …`` goes to standard error. With ``--json``, one
JSON object per document (one line each). Several files may be given, ``-`` is standard
input. Exit code: 0 all accepted, 1 one rejected, 2 usage or a document unreadable, 3 the
trust list unusable, 4 an internal error (a bug, reported in one line) — the highest wins.

Each document is read bounded (at most the size limit + 1 bytes), parsed once to find its
format by the root namespace (``gateway.registry``: this command names no adapter), then
verified by ``signing``. Business values (case ref, status, sequence) are read by local name
from the *verified canonical* element only, never from the received tree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from lxml import etree
    from rich.console import Console

    from signing import TrustStore

EXIT_INTERNAL = 4

#: business values ``--json`` reports, by local name in the verified canonical element:
#: ``(json key, CBCE names, SIP names)``. Header children first (the gateway's case ref);
#: for a list of events (SIP ``Evento``) the last one in document order counts (``Sequencia``
#: increases strictly, so it is the latest).
BUSINESS_FIELDS = (
    ("case_ref", ("GatewayCaseRef", "ReferenciaGateway")),
    ("agency_case_ref", ("AgencyCaseRef", "NumeroProcesso")),
    ("status", ("Status", "Estado")),
    ("sequence", ("Seq", "Sequencia")),
)


def verify(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Signed CBCE or SIP documents; - reads standard input.",
            metavar="FILE",
            show_default=False,
        ),
    ],
    sender: Annotated[
        str | None, typer.Option("--from", help="The party it must come from (HK-TD, GD-GBA-GW…).")
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            envvar="GBAGW_KEYS",
            show_envvar=False,
            help="Key directory holding trust.yaml (default: $GBAGW_KEYS, else ./var/keys).",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="One JSON object per document instead of a line of text."),
    ] = False,
) -> None:
    """Say who signed each document and whether it is accepted, with the reason when not."""
    from signing.cli import console

    out, err = console(), console(stderr=True)
    code = 0
    trust: list[TrustStore] = []  # loaded once, on the first document that needs it
    for name in files:
        try:
            code = max(code, _verify_one(name, sender, keys, as_json, trust, out, err))
        except Exception as exc:  # noqa: BLE001 - a bug must not print a traceback at a user
            from signing.cli import error_line, printable

            what = f"{printable(name)}: {type(exc).__name__}: {exc}"
            err.print(error_line("InternalError", f"{what} (please report this)"))
            code = max(code, EXIT_INTERNAL)
    raise typer.Exit(code)


def _verify_one(
    name: str,
    sender: str | None,
    keys: Path | None,
    as_json: bool,
    trust: list[TrustStore],
    out: Console,
    err: Console,
) -> int:
    from lxml import etree

    from gateway.registry import format_for_namespace
    from signing import SignatureRejected, TrustConfigError, UnsupportedFormat, parse_untrusted
    from signing.cli import (
        EXIT_CONFIG,
        EXIT_UNREADABLE,
        InputUnreadable,
        VerifyReport,
        error_line,
        load_trust,
        printable,
        read_document,
        rejected,
        report_line,
        verify_document,
    )

    def emit(report: VerifyReport) -> int:
        if as_json:
            from signing.cli import report_json

            record = report_json(report)
            record.update(business_values(report.verified.element if report.verified else None))
            out.out(json.dumps(record, ensure_ascii=False), highlight=False)
        else:
            out.print(report_line(report))
        return report.exit_code

    def error(code: str, message: str, exit_code: int = EXIT_UNREADABLE) -> int:
        if as_json:
            record = {"file": printable(name), "verdict": "error", "reason_code": code}
            record["reason"] = message
            out.out(json.dumps(record, ensure_ascii=False), highlight=False)
        err.print(error_line(code, message))
        return exit_code

    try:
        data = read_document(name)
    except InputUnreadable as exc:
        return error("InputUnreadable", printable(str(exc)))
    try:
        root = parse_untrusted(data)
        namespace = etree.QName(root).namespace or ""
        fmt = format_for_namespace(namespace)
        if fmt is None:
            raise UnsupportedFormat(
                f"the root {etree.QName(root).localname} in namespace {namespace or '(none)'} "
                "is not a document of an installed format (CBCE, SIP)"
            )
    except SignatureRejected as exc:
        return emit(rejected(name, exc))
    if not trust:
        try:
            trust.append(load_trust(keys))
        except TrustConfigError as exc:
            return error("TrustConfigError", f"cannot load the trust list: {exc}", EXIT_CONFIG)
    return emit(verify_document(data, fmt.header, trust[0], file=name, agency=sender))


def business_values(element: etree._Element | None) -> dict[str, str | int | None]:
    """``case_ref``, ``agency_case_ref``, ``status``, ``sequence`` of a *verified canonical*
    element, by local name (null when absent or when nothing was verified).

    Generic on purpose: the command knows no adapter. The first match in document order
    counts, except for ``status`` and ``sequence``, where the last one does (the latest SIP
    ``Evento``). Values come from the comment-free canonical form, so ``.text`` is whole.
    """
    values: dict[str, str | int | None] = {key: None for key, _ in BUSINESS_FIELDS}
    if element is None:
        return values
    wanted = {name: key for key, names in BUSINESS_FIELDS for name in names}
    for node in element.iter():
        tag = node.tag
        if not isinstance(tag, str):
            continue
        key = wanted.get(tag.rpartition("}")[2])
        if key is None or (values[key] is not None and key not in ("status", "sequence")):
            continue
        if len(node) == 0 and node.text and node.text.strip():
            values[key] = node.text.strip()
    sequence = values["sequence"]
    if isinstance(sequence, str) and sequence.isascii() and sequence.isdigit():
        values["sequence"] = int(sequence)
    return values
