"""``gbagw inbound list`` and ``gbagw api``: what agencies sent, and the service that takes it."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.common import CONFIG, JsonOpt, err, out
from gateway.config import settings

inbound_app = typer.Typer(no_args_is_help=True, help="Documents received from agencies.")

DEFAULT_API_PORT = 8080


def register(app: typer.Typer) -> None:
    inbound_app.rich_markup_mode = None
    inbound_app.pretty_exceptions_enable = False
    app.add_typer(inbound_app, name="inbound")
    app.command()(api)


@inbound_app.command("list")
def inbound_list(
    quarantined: Annotated[
        bool, typer.Option("--quarantined", help="Only documents never applied, with why.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Received documents, newest first: how they came, from whom, for which case, and why a
    quarantined one was not applied."""
    from gateway.cli.service import open_runtime
    from gateway.store import transaction
    from gateway.store.inbound import list_inbound

    runtime = open_runtime()
    try:
        with transaction(runtime.sessions, read_only=True) as session:
            rows = list_inbound(session, quarantined=quarantined, limit=limit)
    finally:
        runtime.close()
    if as_json:
        records = [dataclasses.asdict(r) for r in rows]
        out.out(json.dumps(records, ensure_ascii=False, default=str), highlight=False)
        return
    title = f"{len(rows)} {'quarantined' if quarantined else 'inbound'} documents"
    table = Table(title=title)
    for column in ("id", "received", "via", "from", "case", "message id", "sha256", "reason"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r.id),
            f"{r.received_at:%Y-%m-%d %H:%M:%S}",
            r.via or "",
            r.counterpart or "",
            r.case_ref or "",
            r.message_id,
            r.sha256[:12],
            r.reason or "",
        )
    out.print(table)


def api(
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=1, max=65535, help="Port (default: $GBAGW_API_PORT, else 8080)."
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Processes serving the port (default: $GBAGW_API_WORKERS, else 1); one per core.",
        ),
    ] = None,
    loglevel: Annotated[
        str, typer.Option("--loglevel", help="debug, info, warning or error.")
    ] = "info",
) -> None:
    """The gateway's HTTP service: the public API for the Guangdong platform and operators
    (/v1/…: applications, cases, supplements, complaints, items, mappings, outbox, inbound),
    the agencies' routes (/agencies/v1/…) and push receivers (HK StatusNotices), /metrics,
    /healthz and /readyz; described at /openapi.json. Any number of them, behind a load
    balancer, against the shared store."""
    import uvicorn

    from gateway import heap
    from gateway.api.app import create_app
    from gateway.cli.service import open_runtime
    from signing import TrustConfigError

    runtime = open_runtime()
    chosen = port or settings().api_port or DEFAULT_API_PORT
    processes = workers or settings().api_workers
    try:
        try:
            app = create_app(runtime)  # also proves the configuration before any worker starts
        except TrustConfigError as exc:
            err.print(f"error {exc}", markup=False)
            raise typer.Exit(CONFIG) from None
        if processes == 1:
            heap.settle()  # this process builds no other app
            uvicorn.run(app, host=host, port=chosen, log_level=loglevel)
            return
    finally:
        runtime.close()
    # each worker process builds its own app (and database pool) from the same environment
    uvicorn.run(
        "gateway.api.app:app_from_environment",
        factory=True,
        workers=processes,
        host=host,
        port=chosen,
        log_level=loglevel,
    )
