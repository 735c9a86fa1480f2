"""Agency events: each status event once, by the agency's sequence number.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "agency_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("case_ref", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("agency_status", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remarks", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("message_pk", BIG_ID, nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('push', 'pull', 'poll', 'repair')", name=op.f("ck_agency_events_source")
        ),
        sa.ForeignKeyConstraint(
            ["case_ref"], ["cases.case_ref"], name=op.f("fk_agency_events_case_ref_cases")
        ),
        sa.ForeignKeyConstraint(
            ["message_pk"], ["messages.id"], name=op.f("fk_agency_events_message_pk_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_events")),
        sa.UniqueConstraint("case_ref", "seq", name=op.f("uq_agency_events_case_ref_seq")),
    )


def downgrade() -> None:
    op.drop_table("agency_events")
