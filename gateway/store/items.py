"""Service item versions as the gateway saw them: a case names (item_code, version), and the
version's record stays readable after the catalogue moves on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.store.digest import json_sha256
from gateway.store.tables import Item


class ItemVersionConflict(Exception):
    """The same (item_code, version) was recorded before with different content."""


def record_item(
    session: Session, content: Mapping[str, Any], *, now: dt.datetime | None = None
) -> bool:
    """Keep one item version (Guangdong's camelCase record); True when it was new.

    Re-recording identical content is a no-op; other content under the same version raises
    :class:`ItemVersionConflict` (a published version never changes).
    """
    record = dict(content)
    code, version = str(record["itemCode"]), int(record["version"])
    sha = json_sha256(record)
    existing = session.get(Item, (code, version))
    if existing is None:
        try:
            with session.begin_nested():
                session.add(
                    Item(
                        item_code=code,
                        version=version,
                        base_code=str(record["baseCode"]),
                        name=str(record["name"]),
                        status=str(record["status"]),
                        content=record,
                        sha256=sha,
                        recorded_at=now or dt.datetime.now(dt.UTC),
                    )
                )
            return True
        except IntegrityError:
            existing = session.get(Item, (code, version), populate_existing=True)
            if existing is None:
                raise
    if existing.sha256 != sha:
        raise ItemVersionConflict(f"{code} version {version} recorded with other content")
    return False
