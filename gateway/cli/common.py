"""What every ``gbagw`` command shares: consoles, options, exit codes, failures, reading input.

Exit codes are the same for every command (documented in the README):
0 done · 1 rejected or invalid (the input was read and refused) · 2 usage or unreadable input ·
3 configuration (catalogue, mappings, keys, trust list) · 4 internal error (a bug; reported once,
without a traceback).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from gateway.config import settings
from gateway.intake.validator import ApplicationRejected, Problem

if TYPE_CHECKING:
    from gateway.domain import Application
    from gateway.render.pipeline import Pipeline

OK, REJECTED, USAGE, CONFIG, INTERNAL = 0, 1, 2, 3, 4


def _console(stderr: bool = False) -> Console:
    # soft_wrap: a message stays one line however narrow the terminal or pipe (rich wraps at 80
    # columns when it cannot measure a terminal, which breaks `grep` and log lines); tables get
    # room to keep each row on one line when piped.
    console = Console(stderr=stderr, soft_wrap=True, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, soft_wrap=True, highlight=False, width=240)
    return console


err = _console(stderr=True)
out = _console()


def _regions() -> dict[str, str]:
    # entry-point names only: choosing a region must not import every adapter
    names = sorted(ep.name for ep in entry_points(group="gba_gateway.formats"))
    return {name.lower(): name.lower() for name in names}


#: target regions, as installed adapter packages name them (hk, mo, …): never literals
Target = StrEnum("Target", _regions())  # type: ignore[misc]

CatalogueOpt = Annotated[
    Path | None,
    typer.Option("--catalogue", help="Directory of item records (default: the bundled items)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output (JSON).")]
KeysOpt = Annotated[
    Path | None,
    typer.Option("--keys", help="Key directory (default: $GBAGW_KEYS, else ./var/keys)."),
]
InputArg = Annotated[str, typer.Argument(help="Guangdong application JSON file, or - for stdin.")]


def finite(value: float | None) -> float | None:
    """Option callback: a number of seconds must be a number (``nan`` and ``inf`` parse as floats
    and slip past ``min=``: a deadline of ``nan`` never comes)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def positive(value: float | None) -> float | None:
    """Option callback: a finite number above 0 (a timeout of 0 or less means nothing)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value} is not a number above 0")
    return value


def keys_dir(keys: Path | None) -> Path:
    return keys or settings().keys


def fail(problems: list[Problem], as_json: bool, code: int = REJECTED) -> NoReturn:
    """Print every problem (one line each, or one JSON object) and exit with ``code``."""
    if as_json:
        json.dump(
            {"errors": [{"path": p.path, "message": p.message} for p in problems]},
            sys.stderr,
            ensure_ascii=False,
        )
        sys.stderr.write("\n")
    else:
        for p in problems:  # a problem of no field is said plainly, not as "(document)"
            err.print(f"error {p if p.path else p.message}", markup=False)
    raise typer.Exit(code)


def pipeline_for(catalogue: Path | None, as_json: bool) -> Pipeline:
    from gateway.catalogue.loader import CatalogueError
    from gateway.mappings.engine import MappingError
    from gateway.render.pipeline import Pipeline

    try:
        return Pipeline(catalogue_dir=catalogue)
    except (CatalogueError, MappingError) as exc:
        fail([Problem("", line) for line in str(exc).splitlines()], as_json, code=CONFIG)


def read_input(source: str, as_json: bool) -> bytes:
    """At most the configured size from a file, a pipe, a device or ``-`` (standard input)."""
    from gateway.inputs import InputTooLarge, InputUnreadable, read_bounded

    try:
        return read_bounded(source, settings().max_input_bytes)
    except InputTooLarge as exc:  # read, and refused: like any other invalid input
        fail([Problem("", str(exc))], as_json, code=REJECTED)
    except InputUnreadable as exc:
        fail([Problem("", str(exc))], as_json, code=USAGE)


def check_url(url: str, as_json: bool) -> None:
    """An agency URL, or a usage error before any work (the transports would call it a
    permanent failure anyway)."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        fail([Problem("", f"--url {url!r} is not a URL: {exc}")], as_json, code=USAGE)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        fail([Problem("", f"--url {url!r}: need http(s)://host[:port]/…")], as_json, code=USAGE)


def one_of(option: str, value: str | None, choices: Iterable[str], as_json: bool) -> str | None:
    """``value`` as ``choices`` spell it, matched ignoring case (case states mix ``filed`` and
    ``COMPLETED``; nobody should have to remember which), or a usage error listing them."""
    if value is None:
        return None
    spelled = {choice.lower(): choice for choice in choices}
    if value.lower() not in spelled:
        said = f"{option} must be one of {', '.join(spelled.values())}, not {value!r}"
        fail([Problem("", said)], as_json, code=USAGE)
    return spelled[value.lower()]


def source_name(source: str) -> str:
    return "standard input" if source == "-" else source


def stdin_once(sources: list[str], as_json: bool) -> None:
    """Refuse ``-`` given twice before anything is read: standard input can be read only once
    (the second read would find it empty and call that invalid)."""
    if sources.count("-") > 1:
        fail([Problem("", "standard input (-) can be read only once")], as_json, code=USAGE)


def read_json(source: str, as_json: bool) -> Any:
    """The JSON value in ``source`` (a file, a pipe, ``-``), read as strictly as an application
    (:func:`gateway.inputs.parse_json`): too large or refused exits 1, unreadable exits 2; each
    problem names the source."""
    from gateway.inputs import parse_json

    data = read_input(source, as_json)
    try:
        return parse_json(data)
    except ApplicationRejected as exc:
        name = source_name(source)
        fail([Problem(p.path, f"{name}: {p.message}") for p in exc.problems], as_json)


def accept_for(pipeline: Pipeline, source: str, to: StrEnum, as_json: bool) -> Application:
    """The validated application, which must target the region the user named."""
    try:
        application = pipeline.accept(read_input(source, as_json))
    except ApplicationRejected as exc:
        fail(exc.problems, as_json)
    if application.target_region != to.value.upper():
        wrong = f"application targets {application.target_region}, not {to.value.upper()}"
        fail([Problem("targetRegion", wrong)], as_json)
    return application
