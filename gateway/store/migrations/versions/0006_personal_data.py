"""Personal data: keyed hashes for look-ups by ID number; retention; encryption at rest.

The encrypted columns keep their types (JSON, bytes, text hold ``gbe1`` envelopes), so the
upgrade encrypts the rows already stored and hashes their ID numbers, and the downgrade
decrypts them. Either needs the data keys (``GBAGW_DATA_KEYS``, or the embedded key file)
only when there are rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.privacy import sealing
from gateway.privacy.rotation import SealedColumn, index_batch, reseal_all
from gateway.store.types import EncryptedBytes, EncryptedJSON, EncryptedText

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = sa.DateTime(timezone=True)
BATCH = 500

#: the columns this revision encrypts, as they were at this revision
SEALED = (
    SealedColumn("cases", "case_ref", "application", EncryptedJSON("cases.application")),
    SealedColumn("cases", "case_ref", "texts", EncryptedJSON("cases.texts")),
    SealedColumn("messages", "id", "body", EncryptedBytes("messages.body")),
    SealedColumn("agency_events", "id", "remarks", EncryptedText("agency_events.remarks")),
    SealedColumn(
        "supplement_requests", "id", "remarks", EncryptedText("supplement_requests.remarks")
    ),
    SealedColumn(
        "supplement_requests",
        "id",
        "remarks_simplified",
        EncryptedText("supplement_requests.remarks_simplified"),
    ),
)


def upgrade() -> None:
    op.create_table(
        "identity_hashes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("case_ref", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.CheckConstraint("role IN ('applicant', 'agent')", name=op.f("ck_identity_hashes_role")),
        sa.ForeignKeyConstraint(
            ["case_ref"], ["cases.case_ref"], name=op.f("fk_identity_hashes_case_ref_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_hashes")),
        sa.UniqueConstraint("case_ref", "role", name=op.f("uq_identity_hashes_case_ref_role")),
    )
    op.create_index(op.f("ix_identity_hashes_digest"), "identity_hashes", ["digest"])
    op.create_table(
        "personal_data_removals",
        sa.Column("case_ref", sa.String(length=32), nullable=False),
        sa.Column("removed_at", AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_ref"],
            ["cases.case_ref"],
            name=op.f("fk_personal_data_removals_case_ref_cases"),
        ),
        sa.PrimaryKeyConstraint("case_ref", name=op.f("pk_personal_data_removals")),
    )
    connection = op.get_bind()
    for spec in SEALED:
        for _ in reseal_all(connection, spec, BATCH):
            pass
    after: str | None = None
    while True:
        after, _ = index_batch(connection, SEALED[0], after, BATCH)
        if after is None:
            break


def _unseal_all(connection: sa.Connection, spec: SealedColumn) -> None:
    rows_of = sa.table(spec.table, sa.column(spec.key), sa.column(spec.column, spec.type.impl))
    key, value = rows_of.c[spec.key], rows_of.c[spec.column]
    for pk, raw in connection.execute(sa.select(key, value).where(value.is_not(None))).all():
        raw = bytes(raw) if isinstance(raw, memoryview) else raw
        if isinstance(raw, bytes | str) and sealing.is_sealed(raw):
            plain = spec.type.process_result_value(raw, connection.dialect)
            connection.execute(sa.update(rows_of).where(key == pk).values({spec.column: plain}))


def downgrade() -> None:
    connection = op.get_bind()
    for spec in SEALED:
        _unseal_all(connection, spec)
    op.drop_table("personal_data_removals")
    op.drop_index(op.f("ix_identity_hashes_digest"), table_name="identity_hashes")
    op.drop_table("identity_hashes")
