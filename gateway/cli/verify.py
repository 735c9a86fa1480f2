"""``gbagw verify``: who signed a document, and whether it is accepted (or why not)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import KeysOpt, err, out


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
