"""Engine disagreements recorded at filing, grouped for ``gbagw text review``.

Written in the filing's transaction, with the case, in one INSERT (none when the case has no
open disagreement); a repeated filing writes nothing because it files no case. Grouped by
region, Simplified characters and the two engines' forms, largest groups first, each with
its latest examples (case reference, field path, context when the field is not personal).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from gateway.store.tables import TextDisagreement

EXAMPLES = 3


class Span(Protocol):
    """One open disagreement of a filed text (``gateway.text.review.Found``)."""

    @property
    def path(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def source(self) -> str: ...
    @property
    def primary(self) -> str: ...
    @property
    def secondary(self) -> str: ...
    @property
    def context(self) -> str | None: ...


@dataclass(frozen=True)
class Example:
    case_ref: str | None  # None: a text read from a file (``gbagw text review FILE``)
    path: str
    context: str | None  # None: a personal field, only its path is kept


@dataclass
class DisagreementGroup:
    """One character (or phrase) on which the engines keep differing in one region."""

    region: str
    source: str
    primary: str  # zhconv-rs: the form sent
    secondary: str  # OpenCC
    count: int
    cases: int
    examples: list[Example] = field(default_factory=list)


def record_disagreements(
    session: Session,
    case_ref: str,
    region: str,
    found: Sequence[Span],
    now: dt.datetime | None = None,
) -> int:
    """Add ``found`` for ``case_ref`` in one statement; returns how many."""
    if not found:
        return 0
    now = now or dt.datetime.now(dt.UTC)
    rows = [
        {
            "case_ref": case_ref,
            "region": region,
            "path": f.path,
            "position": f.position,
            "source": f.source,
            "primary_form": f.primary,
            "secondary_form": f.secondary,
            "context": f.context,
            "recorded_at": now,
        }
        for f in found
    ]
    session.execute(insert(TextDisagreement).values(rows))
    return len(rows)


def list_disagreement_groups(
    session: Session, *, region: str | None = None, limit: int = 100
) -> list[DisagreementGroup]:
    """The largest groups first (ties by characters), each with its latest examples."""
    t = TextDisagreement
    key = (t.region, t.source, t.primary_form, t.secondary_form)
    counted = select(
        *key, func.count().label("n"), func.count(func.distinct(t.case_ref)).label("cases")
    ).group_by(*key)
    if region is not None:
        counted = counted.where(t.region == region)
    top = session.execute(counted.order_by(func.count().desc(), *key).limit(limit)).all()
    groups = {
        (r.region, r.source, r.primary_form, r.secondary_form): DisagreementGroup(
            r.region, r.source, r.primary_form, r.secondary_form, r.n, r.cases
        )
        for r in top
    }
    if not groups:
        return []
    rank = func.row_number().over(partition_by=key, order_by=t.id.desc()).label("rank")
    latest = select(*key, t.case_ref, t.path, t.context, rank).where(
        t.source.in_({k[1] for k in groups})
    )
    if region is not None:
        latest = latest.where(t.region == region)
    ranked = latest.subquery()
    for r in session.execute(
        select(ranked).where(ranked.c.rank <= EXAMPLES).order_by(ranked.c.rank)
    ):
        group = groups.get((r.region, r.source, r.primary_form, r.secondary_form))
        if group is not None:
            group.examples.append(Example(r.case_ref, r.path, r.context))
    return list(groups.values())
