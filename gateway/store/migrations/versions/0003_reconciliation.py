"""Reconciliation: time limits and poll schedule on cases, how inbound messages came,
supplement requests (補正) and materials accepted as missing (容缺).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("committed_due", sa.Date(), nullable=True))
        batch.add_column(sa.Column("agency_due", sa.Date(), nullable=True))
        batch.add_column(sa.Column("next_poll_at", AT, nullable=True))
        batch.add_column(sa.Column("last_contact_at", AT, nullable=True))
        batch.add_column(sa.Column("overdue_raised_at", AT, nullable=True))
    op.create_index(op.f("ix_cases_next_poll_at"), "cases", ["next_poll_at"])
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("via", sa.String(length=8), nullable=True))
    op.create_index(op.f("ix_messages_direction_verified"), "messages", ["direction", "verified"])
    op.create_index(op.f("ix_messages_direction_sha256"), "messages", ["direction", "sha256"])
    op.create_table(
        "supplement_requests",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("case_ref", sa.String(length=32), nullable=False),
        sa.Column("agency_seq", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("required", sa.JSON(), nullable=False),
        sa.Column("remarks", sa.Text(), nullable=True),
        sa.Column("remarks_simplified", sa.Text(), nullable=True),
        sa.Column("opened_at", AT, nullable=False),
        sa.Column("answered_at", AT, nullable=True),
        sa.Column("outbox_id", sa.String(length=36), nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'answered')", name=op.f("ck_supplement_requests_state")
        ),
        sa.ForeignKeyConstraint(
            ["case_ref"], ["cases.case_ref"], name=op.f("fk_supplement_requests_case_ref_cases")
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_supplement_requests_outbox_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplement_requests")),
        sa.UniqueConstraint(
            "case_ref", "agency_seq", name=op.f("uq_supplement_requests_case_ref_agency_seq")
        ),
    )
    op.create_index(op.f("ix_supplement_requests_state"), "supplement_requests", ["state"])
    op.create_table(
        "pending_materials",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("case_ref", sa.String(length=32), nullable=False),
        sa.Column("material_code", sa.String(length=64), nullable=False),
        sa.Column("agency_type", sa.String(length=64), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("overdue_raised_at", AT, nullable=True),
        sa.Column("forwarded_at", AT, nullable=True),
        sa.Column("outbox_id", sa.String(length=36), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'forwarded')", name=op.f("ck_pending_materials_state")
        ),
        sa.ForeignKeyConstraint(
            ["case_ref"], ["cases.case_ref"], name=op.f("fk_pending_materials_case_ref_cases")
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_pending_materials_outbox_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_materials")),
        sa.UniqueConstraint(
            "case_ref", "material_code", name=op.f("uq_pending_materials_case_ref_material_code")
        ),
    )
    op.create_index(
        op.f("ix_pending_materials_state_due_date"), "pending_materials", ["state", "due_date"]
    )


def downgrade() -> None:
    op.drop_table("pending_materials")
    op.drop_table("supplement_requests")
    op.drop_index(op.f("ix_messages_direction_sha256"), table_name="messages")
    op.drop_index(op.f("ix_messages_direction_verified"), table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("via")
    op.drop_index(op.f("ix_cases_next_poll_at"), table_name="cases")
    with op.batch_alter_table("cases") as batch:
        for name in (
            "overdue_raised_at",
            "last_contact_at",
            "next_poll_at",
            "agency_due",
            "committed_due",
        ):
            batch.drop_column(name)
