"""items.alerts_queued_at (alerts queued with the tags' outcome) and outbox.maybe_sent

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("alerts_queued_at", sa.DateTime(timezone=True), nullable=True))
    # Items stored before this revision had their alerts handled by the old code: never again.
    op.execute("UPDATE items SET alerts_queued_at = tagged_at WHERE tagged_at IS NOT NULL")
    op.create_index(
        "ix_items_alerts_pending",
        "items",
        ["tagged_at"],
        sqlite_where=sa.text("alerts_queued_at IS NULL"),
        postgresql_where=sa.text("alerts_queued_at IS NULL"),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("maybe_sent", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("maybe_sent")
    op.drop_index("ix_items_alerts_pending", table_name="items")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("alerts_queued_at")
