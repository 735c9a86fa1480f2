"""``gbagw file``, ``run``, ``worker``, ``relay``, ``beat`` and ``db upgrade``: the service.

Configuration comes from ``GBAGW_*`` variables (docs/configuration.md). ``run`` is the
embedded mode (no servers); ``worker``, ``relay`` and ``beat`` are the production roles, any
number of each on any machine, against RabbitMQ or Redis and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from gateway.cli.common import (
    CONFIG,
    OK,
    REJECTED,
    USAGE,
    CatalogueOpt,
    JsonOpt,
    err,
    out,
    pipeline_for,
    read_input,
    stdin_once,
)
from gateway.config import settings

db_app = typer.Typer(no_args_is_help=True, help="The case store's schema.")


def register(app: typer.Typer) -> None:
    app.command("file")(file_applications)
    app.command()(run)
    app.command()(worker)
    app.command()(relay)
    app.command()(beat)
    app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the store's migrations to $GBAGW_DATABASE_URL (safe to run from many places)."""
    from gateway.store import upgrade

    url = settings().database_url
    try:
        upgrade(url)
    except Exception as exc:  # noqa: BLE001 - unreachable or refused database: say which
        err.print(f"error cannot upgrade the store: {type(exc).__name__}: {exc}", markup=False)
        raise typer.Exit(CONFIG) from None
    out.print("store schema is current", markup=False)


@db_app.command("rotate-keys")
def db_rotate_keys(
    batch: Annotated[int, typer.Option("--batch", min=1, max=10_000)] = 500,
) -> None:
    """Re-encrypt stored personal data under the first key of $GBAGW_DATA_KEYS.

    Deploy the new key first in the list on every machine (the old one after it), run this,
    then remove the old key. Safe while the gateway runs, and to run again."""
    from gateway.privacy.rotation import rehash_batch, reseal_batch, sealed_columns
    from gateway.store.tables import Base

    engine = open_runtime().engine
    columns = sealed_columns(Base.metadata)
    applications = next(c for c in columns if c.name == "cases.application")
    for spec in columns:
        after, total = None, 0
        while True:
            with engine.begin() as connection:
                after, rewritten = reseal_batch(connection, spec, after, batch)
            total += rewritten
            if after is None:
                break
        out.print(f"{spec.name}: {total} values re-encrypted", markup=False)
    rehashed = 0
    while True:
        with engine.begin() as connection:
            done = rehash_batch(connection, applications, batch)
        rehashed += done
        if done == 0:
            break
    out.print(f"identity_hashes: {rehashed} cases re-hashed", markup=False)


def open_runtime():
    from gateway.delivery.runtime import Runtime
    from gateway.store import SchemaNotCurrent

    runtime = Runtime()
    try:
        runtime.engine  # noqa: B018 - upgrades SQLite; checks PostgreSQL is current
    except SchemaNotCurrent as exc:
        err.print(f"error {exc} (run `gbagw db upgrade`)", markup=False)
        raise typer.Exit(CONFIG) from None
    except Exception as exc:  # noqa: BLE001 - unreachable database
        err.print(f"error cannot open the store: {type(exc).__name__}: {exc}", markup=False)
        raise typer.Exit(CONFIG) from None
    return runtime


def file_applications(
    applications: Annotated[
        list[str], typer.Argument(help="Guangdong application JSON files; - reads stdin.")
    ],
    catalogue: CatalogueOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate, route, render, sign and store each application for delivery.

    Prints one line per application: its case reference, and whether it is new or was filed
    before (the same application again is not filed twice; other content under the same
    application number is refused as a conflict).
    """
    from gateway.cases.filing import Filing
    from gateway.intake.validator import ApplicationRejected
    from gateway.ports import DocumentInvalid
    from gateway.store import ApplicationConflict

    stdin_once(applications, as_json)
    pipeline = pipeline_for(catalogue, as_json)
    runtime = open_runtime()
    try:
        key = runtime.keys.gateway_key()
    except (OSError, KeyError, ValueError) as exc:
        err.print(f"error no gateway signing key in {runtime.settings.keys}: {exc}", markup=False)
        raise typer.Exit(CONFIG) from None
    filing = Filing(pipeline, key, runtime.sessions)
    code = OK
    for source in applications:
        name = "standard input" if source == "-" else source
        record: dict[str, object] = {"input": name}
        try:
            filed = filing.file(read_input(source, as_json))
        except typer.Exit as exc:  # unreadable or too large: reported by read_input
            code = max(code, exc.exit_code)
            continue
        except ApplicationRejected as exc:
            record |= {
                "result": "rejected",
                "errors": [{"path": p.path, "message": p.message} for p in exc.problems],
            }
            lines = [f"rejected {name}: {p}" for p in exc.problems]
            code = max(code, REJECTED)
        except ApplicationConflict as exc:
            record |= {"result": "conflict", "case_ref": exc.existing_case_ref, "reason": str(exc)}
            lines = [f"conflict {name}: {exc}"]
            code = max(code, REJECTED)
        except DocumentInvalid as exc:  # as the API's 422: element paths, never the values
            problems = exc.problems()
            record |= {
                "result": "rejected",
                "errors": [{"path": path, "message": why} for path, why in problems],
            }
            lines = [f"rejected {name}: {path}: {why}" for path, why in problems]
            code = max(code, REJECTED)
        else:
            result = "filed" if filed.created else "already-filed"
            record |= {"result": result, "case_ref": filed.case_ref, "agency": filed.agency}
            lines = [f"{result} {filed.case_ref} → {filed.agency} ({filed.application_no})"]
        if as_json:
            out.out(json.dumps(record, ensure_ascii=False), highlight=False)
        else:
            for line in lines:
                (out if record["result"] in ("filed", "already-filed") else err).print(
                    line, markup=False
                )
    runtime.close()
    raise typer.Exit(code)


@contextmanager
def _until_signalled() -> Iterator[threading.Event]:
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run() -> None:
    """The embedded gateway: worker, relay, sweep and sandbox agencies in this one process.

    SQLite and an in-process broker; nothing to install or start. Stop with Ctrl-C; a crash
    (even kill -9) loses nothing: what was filed is delivered after the restart.
    """
    from gateway.delivery.embedded import embedded

    config = settings()
    if config.broker_url:
        err.print(
            "error GBAGW_BROKER_URL is set: `gbagw run` is the embedded mode; "
            "start `gbagw worker`, `relay` and `beat` instead",
            markup=False,
        )
        raise typer.Exit(USAGE)
    with _until_signalled() as stop, embedded(config) as runtime:
        for agency in runtime.directory:
            out.print(f"agency {agency.code} ({agency.format}) at {agency.url}", markup=False)
        out.print(f"gateway running on {config.database_url}; Ctrl-C stops it", markup=False)
        stop.wait()


def _production(role: str) -> None:
    if not settings().broker_url:
        err.print(
            f"error GBAGW_BROKER_URL is empty: `gbagw {role}` is a production role and needs "
            "RabbitMQ (amqp://…) or Redis (redis://…); `gbagw run` is the embedded mode",
            markup=False,
        )
        raise typer.Exit(USAGE)


LogLevel = Annotated[str, typer.Option("--loglevel", help="debug, info, warning or error.")]


def worker(
    pool: Annotated[str, typer.Option("--pool", help="prefork (default) or threads.")] = "prefork",
    loglevel: LogLevel = "warning",
) -> None:
    """A delivery worker (production role): takes deliveries from the broker, any number."""
    from gateway import tasks

    _production("worker")
    open_runtime().close()  # the schema must be current before taking work
    tasks.declare_queues()
    tasks.app.worker_main(
        [
            "worker",
            f"--pool={pool}",
            f"--concurrency={settings().worker_concurrency}",
            f"--queues={tasks.queue_name(settings())}",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=gbagw-{os.getpid()}@%h",  # unique: a restarted worker finds its name free
        ]
    )


def relay() -> None:
    """The outbox relay (production role): publishes due deliveries to the broker."""
    from gateway import tasks
    from gateway.delivery.relay import run_relay

    _production("relay")
    runtime = open_runtime()
    tasks.declare_queues()
    with _until_signalled() as stop:
        run_relay(runtime, tasks.publish, stop)
    runtime.close()


def beat(loglevel: LogLevel = "warning") -> None:
    """The scheduler (production role, one is enough): asks a worker to sweep periodically."""
    from pathlib import Path

    from gateway import tasks

    _production("beat")
    Path("var").mkdir(exist_ok=True)
    tasks.app.Beat(schedule="var/beat-schedule", loglevel=loglevel.upper()).run()
