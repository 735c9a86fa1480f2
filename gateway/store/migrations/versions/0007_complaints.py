"""Complaints (Art. 31) and evaluations (Art. 29) on a case.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_ref", sa.String(length=32), nullable=False),
        sa.Column("complaint_no", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("filed_at", AT, nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("answered_at", AT, nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'answered', 'closed')", name=op.f("ck_complaints_state")
        ),
        sa.ForeignKeyConstraint(
            ["case_ref"], ["cases.case_ref"], name=op.f("fk_complaints_case_ref_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
        sa.UniqueConstraint(
            "case_ref", "complaint_no", name=op.f("uq_complaints_case_ref_complaint_no")
        ),
    )
    op.create_index(op.f("ix_complaints_state"), "complaints", ["state"])
    op.create_table(
        "evaluations",
        sa.Column("case_ref", sa.String(length=32), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("evaluated_at", AT, nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_evaluations_rating")),
        sa.ForeignKeyConstraint(
            ["case_ref"], ["cases.case_ref"], name=op.f("fk_evaluations_case_ref_cases")
        ),
        sa.PrimaryKeyConstraint("case_ref", name=op.f("pk_evaluations")),
    )


def downgrade() -> None:
    op.drop_table("evaluations")
    op.drop_index(op.f("ix_complaints_state"), table_name="complaints")
    op.drop_table("complaints")
