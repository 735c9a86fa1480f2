"""Item versions published at run time (``PUT /v1/items/{itemCode}``), kept in the store.

The bundled records are the catalogue a process starts with; a version published later lives
in the store's ``items`` table, so every process (api replicas, ``gbagw file``) can adopt it
without a redeploy. Versions only grow: a new one must be greater than the latest known, and a
published version never changes (Guangdong's catalogue rule, gd-intake.md §1).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.catalogue.loader import Catalogue, CatalogueError, item_problems
from gateway.domain import ServiceItem
from gateway.intake.problems import Problem, json_path
from gateway.store.digest import json_sha256
from gateway.store.items import ItemVersionConflict, record_item
from gateway.store.tables import Item

log = logging.getLogger(__name__)


class ItemRecordInvalid(ValueError):
    """The record is not an acceptable item version; ``problems`` name each field."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))


class VersionNotNewer(Exception):
    """The version is not greater than the latest one (or it is the latest, with other content)."""

    def __init__(self, item_code: str, version: int, latest: int):
        self.latest = latest
        super().__init__(
            f"item {item_code} is at version {latest}: a new version must be greater "
            f"(v{version} {'is published with other content' if version == latest else 'is older'})"
        )


@dataclass(frozen=True)
class Published:
    item: ServiceItem
    created: bool  # False: the same record as the latest version, published again
    previous: int | None  # the latest version before this one


def parse_item(record: Mapping[str, Any]) -> ServiceItem:
    """The item version in a Guangdong record, checked as the catalogue loader checks files."""
    try:
        item = ServiceItem.model_validate(record)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise ItemRecordInvalid([Problem(json_path(e["loc"]), e["msg"]) for e in errors]) from None
    problems = item_problems(item)
    if problems:
        raise ItemRecordInvalid([Problem(path, message) for path, message in problems])
    return item


def adopt_published(catalogue: Catalogue, session: Session) -> int:
    """Add to ``catalogue`` the store's versions it lacks; how many were added."""
    known = session.execute(select(Item.item_code, Item.version)).all()
    missing = {(code, version) for code, version in known if catalogue.get(code, version) is None}
    if not missing:
        return 0
    added = 0
    codes = {code for code, _ in missing}
    for row in session.scalars(select(Item).where(Item.item_code.in_(codes))):
        if (row.item_code, row.version) not in missing:
            continue
        try:
            catalogue.add(ServiceItem.model_validate(row.content))
            added += 1
        except (ValueError, CatalogueError) as exc:  # a bundled file changed under the store
            log.error("stored item %s v%s not adopted: %s", row.item_code, row.version, exc)
    return added


def publication_dates(
    session: Session, item_code: str | None = None
) -> dict[tuple[str, int], dt.datetime]:
    """When each stored version was published, by (item code, version)."""
    query = select(Item.item_code, Item.version, Item.recorded_at)
    if item_code is not None:
        query = query.where(Item.item_code == item_code)
    return {(code, version): at for code, version, at in session.execute(query)}


def publish(session: Session, catalogue: Catalogue, item: ServiceItem) -> Published:
    """Store ``item`` as its code's newest version (in the caller's transaction).

    Raises :class:`VersionNotNewer` unless the version is greater than the latest known (or
    is the latest, unchanged: then nothing is written), and ``ItemVersionConflict`` when a
    concurrent publisher stored the same version first with other content.
    """
    _one_publisher_per_item(session, item.item_code)
    adopt_published(catalogue, session)
    versions = catalogue.versions(item.item_code)
    latest = versions[-1] if versions else None
    record = item.model_dump(mode="json", by_alias=True)
    if latest is not None and item.version <= latest:
        current = catalogue.get(item.item_code, latest)
        assert current is not None
        same = json_sha256(current.model_dump(mode="json", by_alias=True)) == json_sha256(record)
        if item.version == latest and same:
            return Published(
                current, created=False, previous=versions[-2] if len(versions) > 1 else None
            )
        raise VersionNotNewer(item.item_code, item.version, latest)
    record_item(session, record, now=dt.datetime.now(dt.UTC))  # after the wait: in order
    return Published(item, created=True, previous=latest)


def _one_publisher_per_item(session: Session, item_code: str) -> None:
    """Concurrent publishers of one item take turns, so versions only grow. SQLite writers
    already do (``BEGIN IMMEDIATE``); PostgreSQL takes a transaction-scoped advisory lock."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(
            bytes.fromhex(json_sha256(["item", item_code]))[:8], "big", signed=True
        )
        session.execute(select(func.pg_advisory_xact_lock(key)))


__all__ = [
    "ItemRecordInvalid",
    "ItemVersionConflict",
    "Published",
    "VersionNotNewer",
    "adopt_published",
    "parse_item",
    "publication_dates",
    "publish",
]
