"""chats.empty_digest: what a chat's empty digest does (skip: nothing is sent; line: one line)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "chats",
        sa.Column("empty_digest", sa.String(length=8), nullable=False, server_default="skip"),
    )


def downgrade() -> None:
    # Not a batch (a copy of chats would cascade-delete its alerts): SQLite >= 3.35 drops columns.
    op.drop_column("chats", "empty_digest")
