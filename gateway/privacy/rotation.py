"""Re-encrypting stored personal data under the primary data key (``gbagw db rotate-keys``).

Rotation without downtime: every machine gets the new key first in ``GBAGW_DATA_KEYS`` (the
old one after it: both decrypt), then this job rewrites, in short batches, each value sealed
under another key — and any value still in clear (a store older than migration 0006) — and
recomputes ID-number hashes; then the old key can go. Rows are locked while rewritten, so a
concurrent writer (retention, a delivery) is never overwritten with an older value; a
repeated or interrupted run simply continues.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, MetaData, column, select, table, type_coerce, update
from sqlalchemy.types import TypeDecorator

from gateway.privacy import keyring as keyrings
from gateway.privacy import sealing
from gateway.privacy.identity import digest
from gateway.privacy.personal import id_number, people
from gateway.store.types import EncryptedBytes, EncryptedJSON, EncryptedText

SEALED_TYPES = (EncryptedBytes, EncryptedJSON, EncryptedText)


@dataclass(frozen=True)
class SealedColumn:
    table: str
    key: str  # the single-column primary key, for batching
    column: str
    type: TypeDecorator[Any]

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


def sealed_columns(metadata: MetaData) -> list[SealedColumn]:
    """Every encrypted column of the schema (found by type, so new ones are included)."""
    found = []
    for t in metadata.sorted_tables:
        keys = list(t.primary_key.columns)
        for c in t.columns:
            if isinstance(c.type, SEALED_TYPES):
                assert len(keys) == 1, f"{t.name}: batching needs a single-column key"
                found.append(SealedColumn(t.name, keys[0].name, c.name, c.type))
    return found


def _key_id(raw: Any) -> str | None:
    """The key id of a stored value; None for a value in clear."""
    if isinstance(raw, memoryview):
        raw = bytes(raw)
    if isinstance(raw, bytes | str) and sealing.is_sealed(raw):
        return sealing.key_id_of(raw)
    return None


def reseal_batch(
    connection: Connection, spec: SealedColumn, after: Any, batch: int
) -> tuple[Any, int]:
    """Rewrite under the primary key the values of up to ``batch`` rows after key ``after``;
    return ``(last key seen or None when the column is done, values rewritten)``."""
    ring = keyrings.for_dialect(connection.dialect)
    rows_of = table(spec.table, column(spec.key), column(spec.column, spec.type))
    key, value = rows_of.c[spec.key], rows_of.c[spec.column]
    query = select(key, type_coerce(value, spec.type.impl)).where(value.is_not(None))
    if after is not None:
        query = query.where(key > after)
    rows = connection.execute(query.order_by(key).limit(batch).with_for_update()).all()
    rewritten = 0
    for pk, raw in rows:
        if _key_id(raw) == ring.primary.key_id:
            continue
        if _key_id(raw) is None:
            plain = bytes(raw) if isinstance(raw, memoryview) else raw
        else:
            plain = spec.type.process_result_value(raw, connection.dialect)
        connection.execute(update(rows_of).where(key == pk).values({spec.column: plain}))
        rewritten += 1
    return (rows[-1][0] if len(rows) == batch else None), rewritten


_HASHES = table(
    "identity_hashes", column("case_ref"), column("role"), column("key_id"), column("digest")
)


def _cases(applications: SealedColumn) -> Any:
    return table("cases", column("case_ref"), column("application", applications.type))


def _index(connection: Connection, case_ref: str, application: Any) -> int:
    """Replace one case's ID-number hashes with ones under the primary key."""
    ring = keyrings.for_dialect(connection.dialect)
    connection.execute(_HASHES.delete().where(_HASHES.c.case_ref == case_ref))
    added = 0
    for role, person in people(application or {}):
        number = id_number(person)
        if number is not None:
            connection.execute(
                _HASHES.insert().values(
                    case_ref=case_ref,
                    role=role,
                    key_id=ring.primary.key_id,
                    digest=digest(ring.primary, number),
                )
            )
            added += 1
    return added


def rehash_batch(connection: Connection, applications: SealedColumn, batch: int) -> int:
    """Recompute the ID-number hashes of up to ``batch`` cases hashed under another key;
    return how many cases (0: none left)."""
    ring = keyrings.for_dialect(connection.dialect)
    cases = _cases(applications)
    refs = connection.scalars(
        select(_HASHES.c.case_ref)
        .where(_HASHES.c.key_id != ring.primary.key_id)
        .group_by(_HASHES.c.case_ref)
        .limit(batch)
    ).all()
    for case_ref, application in connection.execute(
        select(cases.c.case_ref, cases.c.application)
        .where(cases.c.case_ref.in_(refs))
        .with_for_update()
    ):
        _index(connection, case_ref, application)
    return len(refs)


def index_batch(
    connection: Connection, applications: SealedColumn, after: str | None, batch: int
) -> tuple[str | None, int]:
    """Hash the ID numbers of up to ``batch`` cases after ``after`` (a store filed before
    hashes existed); return ``(last case seen or None when done, hashes written)``."""
    cases = _cases(applications)
    query = select(cases.c.case_ref, cases.c.application)
    if after is not None:
        query = query.where(cases.c.case_ref > after)
    rows = connection.execute(query.order_by(cases.c.case_ref).limit(batch)).all()
    added = sum(_index(connection, case_ref, application) for case_ref, application in rows)
    return (rows[-1][0] if len(rows) == batch else None), added


def reseal_all(connection: Connection, spec: SealedColumn, batch: int) -> Iterator[int]:
    """Batches over one column on one connection (the migration's single transaction)."""
    after: Any = None
    while True:
        after, rewritten = reseal_batch(connection, spec, after, batch)
        yield rewritten
        if after is None:
            return
