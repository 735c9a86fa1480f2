"""``gbagw demo``: the README's main job — the embedded gateway, running for real.

Starts the gateway (SQLite, in-process broker and worker, relay, sweep) and both sandbox
agencies on 127.0.0.1, files the ten bundled examples, shows live progress until each is
delivered, then prints one row per case. Exit 0 only when every case was delivered.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from gateway.cli.common import OK, REJECTED, KeysOpt, err, finite, out
from gateway.config import settings


@dataclass(frozen=True)
class Row:
    case_ref: str
    agency: str
    state: str
    agency_case_ref: str
    receipt_verified: bool
    attempts: int


def demo(
    keys: KeysOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, callback=finite, help="Seconds at most.")
    ] = 120,
) -> None:
    """File every bundled example into the embedded gateway and watch each reach its agency."""
    from gateway.cases.filing import Filing
    from gateway.cli.common import pipeline_for
    from gateway.delivery.embedded import embedded
    from gateway.devkit.examples import bundled_examples

    config = settings()
    if keys is not None:
        config = config.model_copy(update={"keys": keys})
    if config.broker_url:
        config = config.model_copy(update={"broker_url": ""})  # the demo is the embedded mode
    examples = bundled_examples()
    pipeline = pipeline_for(None, False)
    with embedded(config) as runtime:
        out.print(
            "sandbox agencies: "
            + ", ".join(sorted({f"{a.format} {a.url}" for a in runtime.directory})),
            markup=False,
        )
        filing = Filing(pipeline, runtime.keys.gateway_key(), runtime.sessions)
        refs = [filing.file(path.read_bytes()).case_ref for path in examples]
        rows = _watch(runtime, refs, timeout)
    table = Table(title="Bundled examples filed, signed and delivered")
    for column in ("case", "agency", "state", "agency case", "receipt", "attempts"):
        table.add_column(column)
    for r in rows:
        receipt = "[green]verified[/green]" if r.receipt_verified else "[red]none[/red]"
        table.add_row(r.case_ref, r.agency, r.state, r.agency_case_ref, receipt, str(r.attempts))
    out.print(table)
    delivered = sum(_delivered(r.state) and r.receipt_verified for r in rows)
    out.print(f"{delivered} of {len(rows)} cases delivered with a verified receipt", markup=False)
    raise typer.Exit(OK if delivered == len(rows) else REJECTED)


def _watch(runtime, refs: list[str], timeout: float) -> list[Row]:
    """Poll the store until every case is delivered (or the time is up), with progress."""
    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("delivering"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    ) as progress:
        task = progress.add_task("cases", total=len(refs))
        while True:
            rows = _rows(runtime, refs)
            done = sum(_delivered(r.state) and r.receipt_verified for r in rows)
            progress.update(task, completed=done)
            if done == len(refs) or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)


def _delivered(state: str) -> bool:
    """Delivered, or already further on at the agency (its pushes and polls are applied)."""
    return state not in ("filed", "undeliverable")


def _rows(runtime, refs: list[str]) -> list[Row]:
    from gateway.store import show_case, transaction

    rows = []
    with transaction(runtime.sessions, read_only=True) as session:
        for ref in refs:
            detail = show_case(session, ref)
            assert detail is not None, "filed a moment ago"
            receipts = {r.receipt_message_id for r in detail.receipts}
            verified = any(m.message_id in receipts and m.verified for m in detail.messages)
            rows.append(
                Row(
                    case_ref=ref,
                    agency=detail.summary.agency,
                    state=detail.summary.state,
                    agency_case_ref=detail.summary.agency_case_ref or "",
                    receipt_verified=verified,
                    attempts=sum(d.attempts for d in detail.deliveries),
                )
            )
    return rows
