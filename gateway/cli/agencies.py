"""``gbagw agencies list``: the agency directory as the gateway will use it."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from gateway.cli.common import CONFIG, JsonOpt, err, out

agencies_app = typer.Typer(no_args_is_help=True, help="The agency directory ($GBAGW_AGENCIES).")


@agencies_app.command("list")
def list_agencies(as_json: JsonOpt = False) -> None:
    """Every agency: format, endpoint, timeout, concurrency limit and retry policy."""
    from gateway.agencies.directory import AgencyDirectory, DirectoryError
    from gateway.config import settings

    try:
        directory = AgencyDirectory.load(settings().agencies)
    except DirectoryError as exc:
        err.print(f"error {exc}", markup=False)
        raise typer.Exit(CONFIG) from None
    if as_json:
        out.print_json(json.dumps([a.model_dump(mode="json") for a in directory]))
        return
    table = Table(title=f"Agencies ({directory.source})")
    for column in ("agency", "format", "url", "timeout", "limit", "retry", "breaker"):
        table.add_column(column)
    for a in directory:
        r, b = a.retry, a.breaker
        table.add_row(
            a.code,
            a.format,
            a.url,
            f"{a.timeout:g}s",
            str(a.concurrency),
            f"{r.base_delay:g}s×{r.factor:g}≤{r.cap:g}s, {r.max_attempts} tries",
            f"{b.threshold} fails → {b.cooldown:g}s pause",
        )
    out.print(table)
