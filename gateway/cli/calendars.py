"""``gbagw calendars show REGION YEAR``: the working-day calendar time limits are counted on."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli.common import CONFIG, USAGE, JsonOpt, err, out

if TYPE_CHECKING:
    from gateway.domain.workdays import Day

calendars_app = typer.Typer(
    no_args_is_help=True,
    help="Working-day calendars (CN-GD, HK, MO) used for time limits.",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@calendars_app.callback()
def _group() -> None:
    """Working-day calendars (CN-GD, HK, MO) used for time limits."""


@calendars_app.command("show")
def show(
    region: Annotated[str, typer.Argument(help="CN-GD (Guangdong), HK or MO.")],
    year: Annotated[int, typer.Argument(help="Calendar year, e.g. 2026.")],
    as_json: JsonOpt = False,
) -> None:
    """The closed days (besides ordinary weekends) and the make-up working days of a year."""
    from gateway.domain.workdays import (
        FIRST_YEAR,
        LAST_YEAR,
        REGIONS,
        CalendarError,
        calendar,
    )

    code = region.strip().upper()
    if code not in REGIONS:
        err.print(f"error unknown region {region!r} (one of {', '.join(REGIONS)})", markup=False)
        raise typer.Exit(USAGE)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        err.print(f"error year {year} out of range ({FIRST_YEAR}–{LAST_YEAR})", markup=False)
        raise typer.Exit(USAGE)
    try:
        cal = calendar(code)
        y = cal.year(year)
    except CalendarError as exc:  # the override file is broken
        err.print(f"error {exc}", markup=False)
        raise typer.Exit(CONFIG) from None

    def rows(days: dict[dt.date, Day]) -> list[dict[str, str]]:
        return [
            {"date": d.date.isoformat(), "weekday": d.weekday, "name": d.name, "source": d.source}
            for d in days.values()
        ]

    note = (
        "provisional: the official arrangement (make-up working days) is not yet announced "
        "or not yet in the override file; dates may change"
        if y.provisional
        else None
    )
    if as_json:
        doc = {
            "region": code,
            "year": year,
            "provisional": y.provisional,
            "note": note,
            "source": {
                "package": "holidays",
                "country": cal.source.country,
                "categories": list(cal.source.categories),
                "description": cal.source.description,
            },
            "weekend": ["Sat", "Sun"],
            "closed": rows(y.closed),
            "makeupWorkingDays": rows(y.makeup),
            "halfDays": rows(y.half_days),
        }
        out.print_json(json.dumps(doc, ensure_ascii=False))
        return

    status = " (PROVISIONAL)" if y.provisional else ""
    out.print(f"{code} {year}{status}: {cal.source.description}", markup=False)
    if note:
        out.print(f"note {note}", markup=False)
    out.print(f"closed days besides ordinary weekends: {len(y.closed)}", markup=False)
    for d in y.closed.values():
        out.print(f"  {d.date}  {d.weekday}  {d.name}{_src(d)}", markup=False)
    out.print(f"make-up working days: {len(y.makeup)}", markup=False)
    for d in y.makeup.values():
        out.print(f"  {d.date}  {d.weekday}  {d.name}{_src(d)}", markup=False)
    if y.half_days:
        out.print("half-day exemptions (counted as working days):", markup=False)
        for d in y.half_days.values():
            out.print(f"  {d.date}  {d.weekday}  {d.name}{_src(d)}", markup=False)


def _src(day: Day) -> str:
    return "" if day.source == "holidays" else f"  [override: {day.source}]"
