"""``gbagw demo``: the README's main job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gateway.cli.common import out


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
