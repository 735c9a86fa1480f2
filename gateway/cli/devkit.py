"""``gbagw sandbox`` and ``conformance``: sandbox agencies and the conformance kits."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.table import Table

from gateway.cli.common import (
    CONFIG,
    INTERNAL,
    REJECTED,
    USAGE,
    KeysOpt,
    Target,
    check_url,
    err,
    fail,
    finite,
    keys_dir,
    one_of,
    out,
    read_input,
)
from gateway.intake.problems import Problem


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
            help="gd: the webhook secret (whsec_<base64 of 24-64 bytes>); default "
            "$GBAGW_NOTIFY_SECRET, else the file webhooks/guangdong.secret under --keys "
            "(created when missing).",
        ),
    ] = None,
    unavailable_seconds: Annotated[
        float,
        typer.Option(
            "--unavailable-seconds", min=0, callback=finite, help="gd: answer 503 for this long."
        ),
    ] = 0.0,
    unavailable_requests: Annotated[
        int,
        typer.Option("--unavailable-requests", min=0, help="gd: answer 503 to this many first."),
    ] = 0,
) -> None:
    """Run a sandbox HK or Macao agency, or the Guangdong notification receiver (gd), on
    127.0.0.1 until interrupted; says where once it is serving."""
    if database is not None and database.is_dir():
        fail([Problem("", f"--db {database} is a directory, not a SQLite file")], False, USAGE)
    listener = _listen(port)  # the port first: the default database is named by it
    port = listener.getsockname()[1]
    if region.value == "gd":
        chosen = _gd_secret(secret, keys)
        db = database or Path("var") / "sandbox-gd.db"
        app = _built(
            lambda: _gd_app(chosen, db, unavailable_seconds, unavailable_requests),
            f"--db {db}",
            USAGE,
        )
        _serve(app, listener, "sandbox Guangdong receiver", "/webhooks/gateway")
        return
    from gateway.registry import sandbox_factory
    from signing import KeyDirectory

    factory = sandbox_factory(region.value.upper())
    if config is not None:
        _check_config(config)
        app = _built(lambda: factory(config), str(config), CONFIG)
    else:
        keys_path = keys_dir(keys)
        directory = KeyDirectory(keys_path)
        if not directory.trust_file.exists():
            directory.init()
            err.print(f"created development keys in {keys_path}", markup=False)
        # by port: `gbagw run`'s own sandbox of the region uses var/sandbox-REGION.db, and two
        # agencies sharing one file would see each other's cases (and lock each other out)
        db = database or Path("var") / f"sandbox-{region.value}-{port}.db"
        cfg = {"region": region.value.upper(), "keys_dir": keys_path, "database": db}
        app = _built(lambda: factory(cfg), f"--db {db}", USAGE)
    _serve(app, listener, f"sandbox {region.value.upper()} agency")


def _listen(port: int) -> socket.socket:
    """A socket bound to 127.0.0.1:``port`` (0: a free one), or a usage error saying why not."""
    from gateway.serve import LOOPBACK

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((LOOPBACK, port))
    except OSError as exc:
        listener.close()
        reason = exc.strerror or str(exc)
        fail([Problem("", f"cannot listen on {LOOPBACK}:{port}: {reason}")], False, USAGE)
    return listener


def _serve(app: object, listener: socket.socket, what: str, path: str = "") -> None:
    """Serve ``app`` on ``listener`` until interrupted; announce it only once it is serving."""
    import uvicorn

    from gateway.serve import LOOPBACK

    url = f"http://{LOOPBACK}:{listener.getsockname()[1]}{path}"

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                err.print(f"{what} on {url}", markup=False)

    # no access log: a sandbox records what it receives in its own store, and a log line a
    # request through the masking filter was ~13 % of a sandbox's CPU under load
    server = Announcing(uvicorn.Config(app, log_level="info", access_log=False))  # type: ignore[arg-type]
    server.run(sockets=[listener])
    if not server.started:  # the app's own start-up failed; uvicorn said why
        raise typer.Exit(INTERNAL)


def _check_config(config: Path) -> None:
    """Refuse a sandbox YAML that cannot be read or is no mapping, in one line; the sandbox
    itself (its own config class, through the entry point) checks the fields."""
    from gateway import yamltext

    data = read_input(str(config), False)  # missing, a directory: 2; too large: 1
    try:
        loaded = yamltext.load(data.decode("utf-8"))  # aliases and deep nesting refused
    except UnicodeDecodeError as exc:
        _config_error(f"{config}: not valid UTF-8: {exc.reason} at byte {exc.start}")
    except yamltext.YamlRefused as exc:
        _config_error(f"{config}: {exc}")
    if not isinstance(loaded, dict):
        said = "empty" if loaded is None else f"a {type(loaded).__name__}"
        _config_error(f"{config}: {said}; expected a mapping (region, keys_dir, database, …)")


def _config_error(message: str) -> NoReturn:
    fail([Problem("", message)], False, CONFIG)


def _built(build: Callable[[], object], what: str, code: int) -> object:
    """The app ``build`` makes, or one line per reason it could not: a field the sandbox's
    config refuses (pydantic), a database file that cannot be opened."""
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return build()
    except ValidationError as exc:
        problems = [
            Problem("", f"{what}: {'.'.join(str(part) for part in e['loc'])}: {e['msg']}")
            for e in exc.errors()
        ]
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        reason = getattr(exc, "orig", None) or getattr(exc, "strerror", None) or exc
        problems = [Problem("", f"{what}: cannot open the database: {reason}")]
        code = USAGE if what.startswith("--db") else CONFIG
    except ValueError as exc:  # the sandbox's own checks (region of another format …)
        problems = [Problem("", f"{what}: {exc}")]
    fail(problems, False, code)


def _gd_secret(secret: str | None, keys: Path | None) -> str:
    """The receiver's Standard Webhooks secret: ``--secret``, else $GBAGW_NOTIFY_SECRET, else
    the key directory's file (created when missing). A given one must be ``whsec_`` and the
    base64 of 24 to 64 bytes (docs/configuration.md); it is never printed."""
    from gateway.config import settings
    from gateway.notify import webhook

    keys_path = keys_dir(keys)
    if secret is not None:  # GBAGW_NOTIFY_SECRET is checked with every setting (exit 3)
        _check_secret(secret, "--secret", USAGE)
    chosen = webhook.load_secret(secret or settings().notify_secret, keys_path, create=True)
    if chosen is None:
        where = webhook.secret_path(keys_path)
        fail([Problem("", f"the webhook secret file {where} is empty")], False, CONFIG)
    if not secret and not settings().notify_secret:
        err.print(f"webhook secret from {webhook.secret_path(keys_path)}", markup=False)
    return chosen


def _check_secret(value: str, name: str, code: int) -> None:
    from gateway.config import webhook_secret_problem

    if (problem := webhook_secret_problem(value)) is not None:
        fail([Problem("", f"{name} {problem}")], False, code)


def _gd_app(secret: str, db: Path, unavailable_seconds: float, unavailable_requests: int) -> object:
    from gateway.devkit.gd_receiver import create_app

    return create_app(
        secret,
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

    check_url(url, False)
    region = agency.value.upper()
    code = one_of("--code", code, _agency_codes(region), False) or _first_agency(region)
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


def _agency_codes(region: str) -> list[str]:
    """The codes of the agency directory's agencies of ``region``'s format."""
    from gateway.agencies.directory import AgencyDirectory, DirectoryError
    from gateway.config import settings

    try:
        directory = AgencyDirectory.load(settings().agencies)
    except DirectoryError as exc:
        fail([Problem("", str(exc))], False, code=CONFIG)
    return sorted(a.code for a in directory if a.format == region)


def _first_agency(region: str) -> str:
    """The first agency (by code) that a bundled mapping routes ``region`` to."""
    from gateway.cli.common import pipeline_for

    pipeline = pipeline_for(None, False)
    return min(m.agency for m in pipeline.mappings if m.region == region)
