"""What every ``gbagw`` command shares: consoles, options, failure output, reading input."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gateway.catalogue.loader import CatalogueError
from gateway.intake.validator import ApplicationRejected, Problem
from gateway.mappings.engine import MappingError

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


def fail(problems: list[Problem], as_json: bool, code: int = 1) -> None:
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


def pipeline_for(catalogue: Path | None, as_json: bool):
    from gateway.render.pipeline import Pipeline

    try:
        return Pipeline(catalogue_dir=catalogue)
    except (CatalogueError, MappingError) as exc:
        fail([Problem("", line) for line in str(exc).splitlines()], as_json, code=3)


def read_input(path: Path, as_json: bool) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail([Problem("", f"cannot read {path}: {exc.strerror}")], as_json, code=2)
        raise  # unreachable


def accept_for(pipeline, path: Path, to: Target, as_json: bool):
    """The validated application, which must target the region the user named."""
    try:
        application = pipeline.accept(read_input(path, as_json))
    except ApplicationRejected as exc:
        fail(exc.problems, as_json)
    if application.target_region != to.value.upper():
        wrong = f"application targets {application.target_region}, not {to.value.upper()}"
        fail([Problem("targetRegion", wrong)], as_json)
    return application


KeysOpt = Annotated[
    Path | None,
    typer.Option("--keys", help="Key directory (default: $GBAGW_KEYS or ./var/keys)."),
]
