"""Indexes that let a list choose its page without reading rows: originals by publication
time (partial: duplicate_of IS NULL) and item_tags (item_id, topic_ai)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_items_live",
        "items",
        ["published_at"],
        sqlite_where=sa.text("duplicate_of IS NULL"),
        postgresql_where=sa.text("duplicate_of IS NULL"),
    )
    op.create_index("ix_item_tags_topic", "item_tags", ["item_id", "topic_ai"])


def downgrade() -> None:
    op.drop_index("ix_item_tags_topic", table_name="item_tags")
    op.drop_index("ix_items_live", table_name="items")
