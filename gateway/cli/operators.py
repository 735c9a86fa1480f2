"""``gbagw cases …`` and ``gbagw outbox …``: what operators look at and act on."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from gateway.cli.common import CONFIG, OK, REJECTED, JsonOpt, err, fail, finite, one_of, out
from gateway.intake.problems import Problem

cases_app = typer.Typer(no_args_is_help=True, help="Cases in the store.")
outbox_app = typer.Typer(no_args_is_help=True, help="Deliveries owed to agencies.")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _sessions():
    from gateway.cli.service import open_runtime

    return open_runtime().sessions


@cases_app.command("list")
def cases_list(
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="Only cases in this state: filed, delivered, undeliverable, or a status the "
            "agency reported (RECEIVED … COMPLETED); any case.",
        ),
    ] = None,
    agency: Annotated[
        str | None,
        typer.Option("--agency", help="Only this agency's (a code of the agency directory)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Cases, newest first: state, agency and the agency's case number."""
    from gateway.domain import CaseStatus
    from gateway.store import list_cases, transaction
    from gateway.store.vocab import CaseState

    state = one_of("--state", state, [*CaseState, *CaseStatus], as_json)
    agency = one_of("--agency", agency, _agency_codes(as_json), as_json)

    with transaction(_sessions(), read_only=True) as session:
        rows = list_cases(session, state=state, agency=agency, limit=limit)
    if as_json:
        out.out(_json([dataclasses.asdict(r) for r in rows]), highlight=False)
        return
    table = Table(title=f"{len(rows)} cases")
    for column in ("case", "application", "agency", "state", "agency case", "updated"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.case_ref,
            r.application_no,
            r.agency,
            r.state,
            r.agency_case_ref or "",
            f"{r.updated_at:%Y-%m-%d %H:%M:%S}",
        )
    out.print(table)


def _agency_codes(as_json: bool) -> list[str]:
    """The agencies of the directory the gateway routes to ($GBAGW_AGENCIES)."""
    from gateway.agencies.directory import AgencyDirectory, DirectoryError
    from gateway.config import settings

    try:
        directory = AgencyDirectory.load(settings().agencies)
    except DirectoryError as exc:
        fail([Problem("", str(exc))], as_json, code=CONFIG)
    return sorted(a.code for a in directory)


@cases_app.command("show")
def cases_show(
    case_ref: Annotated[str, typer.Argument(help="A case reference (GBA-…).")],
    as_json: JsonOpt = False,
) -> None:
    """One case's timeline: filed, every delivery attempt and its outcome, the receipt."""
    from gateway.store import show_case, transaction

    with transaction(_sessions(), read_only=True) as session:
        detail = show_case(session, case_ref)
    if detail is None:
        fail([Problem("", f"no case {case_ref}")], as_json)
    if as_json:
        view = dataclasses.asdict(detail)
        view.pop("application")  # personal data stays in the store, not in a terminal
        view.pop("texts")  # names and addresses, as converted
        out.out(_json(view), highlight=False)
        return
    s = detail.summary
    out.print(
        f"{s.case_ref}  {s.application_no}  → {s.agency} ({s.region})  state {s.state}  "
        f"agency case {s.agency_case_ref or '-'}",
        markup=False,
    )
    table = Table(title="timeline")
    for column in ("at", "what", "detail"):
        table.add_column(column)
    rows: list[tuple[Any, str, str]] = [
        (e.at, f"{e.event} ({e.source})", e.detail or "") for e in detail.events
    ]
    for d in detail.deliveries:
        for a in d.history:
            what = f"{d.kind} attempt {a.attempt} → {a.outcome or 'in flight'}"
            rows.append((a.claimed_at, what, f"{d.message_id} {a.detail or ''}".strip()))
    for r in detail.receipts:
        rows.append((r.received_at, "receipt", f"{r.receipt_message_id} {r.agency_case_ref}"))
    for at, what, text in sorted(rows, key=lambda row: row[0]):
        table.add_row(f"{at:%Y-%m-%d %H:%M:%S}", what, text)
    out.print(table)


@outbox_app.command("list")
def outbox_list(
    state: Annotated[
        str | None,
        typer.Option("--state", help="pending, sending, delivered or dead (any case)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Outbox rows, oldest first; ``--state dead`` lists what needs an operator, with reasons."""
    from gateway.outbox import OutboxState, list_rows
    from gateway.store import transaction

    state = one_of("--state", state, OutboxState, as_json)
    with transaction(_sessions(), read_only=True) as session:
        rows = list_rows(session, state, limit=limit)
    if as_json:
        out.out(_json([dataclasses.asdict(r) for r in rows]), highlight=False)
        return
    table = Table(title=f"{len(rows)} outbox rows")
    for column in ("id", "kind", "to", "case", "state", "attempts", "next", "reason"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.id,
            r.kind,
            r.destination,
            r.case_ref or "",
            r.state,
            str(r.attempts),
            f"{r.next_attempt_at:%H:%M:%S}" if r.state == "pending" else "",
            r.last_error or "",
        )
    out.print(table)


@outbox_app.command("redrive")
def outbox_redrive(
    ids: Annotated[list[str], typer.Argument(help="Outbox ids of dead rows.")],
) -> None:
    """Give dead deliveries a fresh set of attempts, due now (after the fault is fixed)."""
    import datetime as dt

    from gateway.outbox import redrive
    from gateway.store import transaction

    with transaction(_sessions()) as session:
        done = redrive(session, ids, now=dt.datetime.now(dt.UTC))
    for outbox_id in done:
        out.print(f"redriven {outbox_id}", markup=False)
    for outbox_id in sorted(set(ids) - set(done)):
        err.print(f"error {outbox_id} is not a dead outbox row", markup=False)
    raise typer.Exit(OK if len(done) == len(set(ids)) else REJECTED)


@outbox_app.command("wait")
def outbox_wait(
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0, callback=finite, help="Seconds at most (0: look once)."),
    ] = 300,
) -> None:
    """Return when nothing is pending or sending (exit 1 on timeout): for scripts.

    Notifications to Guangdong count only when a webhook is configured (GBAGW_NOTIFY_URL);
    without one they are held and listed by `outbox list`, and waiting would never end."""
    from gateway.config import settings
    from gateway.outbox import pending_count
    from gateway.store import transaction

    notifications = bool(settings().notify_url)
    sessions = _sessions()
    deadline = time.monotonic() + timeout
    with err.status("waiting for deliveries") as status:
        while True:
            with transaction(sessions, read_only=True) as session:
                pending = pending_count(session, notifications=notifications)
            if pending == 0:
                break
            if time.monotonic() >= deadline:
                err.print(f"error {pending} deliveries still pending after {timeout:g}s")
                raise typer.Exit(REJECTED)
            status.update(f"{pending} deliveries pending")
            time.sleep(0.2)
    out.print("nothing pending", markup=False)


@cases_app.command("purge-personal-data")
def cases_purge_personal_data(
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=1,
            help="Closed this long ago (default $GBAGW_PERSONAL_DATA_RETENTION_DAYS).",
        ),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, max=10_000)] = 200,
) -> None:
    """Remove the personal data of cases closed long enough ago (the signed messages stay).

    Safe to run again and from several places: a case is purged once."""
    from gateway.config import settings
    from gateway.privacy.retention import purge_personal_data

    retention_days = days or settings().personal_data_retention_days
    purged = purge_personal_data(_sessions(), retention_days=retention_days, batch=batch)
    out.print(
        f"personal data removed from {purged} cases closed more than {retention_days} days ago",
        markup=False,
    )
