"""Drop the subscriptions table: migration 0007 turned every chat's subscriptions into alert
profiles, and nothing reads the table since

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Downgrade creates the table again, empty: the chats' choices live in `alerts` from 0007 on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("subscriptions")


def downgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("chat_id", "kind", "value"),
    )
