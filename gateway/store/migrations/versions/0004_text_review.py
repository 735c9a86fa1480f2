"""Text review: engine disagreements no rule settled, recorded at filing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "text_disagreements",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("case_ref", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=2), nullable=False),
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("primary_form", sa.String(length=64), nullable=False),
        sa.Column("secondary_form", sa.String(length=64), nullable=False),
        sa.Column("context", sa.String(length=80), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("region IN ('HK', 'MO')", name=op.f("ck_text_disagreements_region")),
        sa.ForeignKeyConstraint(
            ["case_ref"], ["cases.case_ref"], name=op.f("fk_text_disagreements_case_ref_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_disagreements")),
        sa.UniqueConstraint(
            "case_ref",
            "path",
            "position",
            name=op.f("uq_text_disagreements_case_ref_path_position"),
        ),
    )
    op.create_index(
        "ix_text_disagreements_region_source", "text_disagreements", ["region", "source"]
    )


def downgrade() -> None:
    op.drop_index("ix_text_disagreements_region_source", table_name="text_disagreements")
    op.drop_table("text_disagreements")
