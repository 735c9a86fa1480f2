"""The applicant's chosen delivery channel on the case, in the clear.

A result notification names the channel (Art. 22); reading it from the sealed application
meant decrypting every applicant's personal data in a batch to learn one word that is not
personal. Cases filed before this revision keep NULL: their notifications still read the
application (:func:`gateway.notify.enqueue`), so the upgrade needs no data keys.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("delivery_channel", sa.String(length=16), nullable=True))


def downgrade() -> None:
    # in place on both backends (SQLite since 3.35): a batch copy of ``cases`` would drop the
    # table its rows' events and messages refer to
    op.execute("ALTER TABLE cases DROP COLUMN delivery_channel")
