"""ix_items_live: originals by publication time (partial: duplicate_of IS NULL), covering what a
list checks before it reads a row

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
        ["published_at", "duplicate_of"],  # always NULL: there so the index covers the check
        sqlite_where=sa.text("duplicate_of IS NULL"),
        postgresql_where=sa.text("duplicate_of IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_items_live", table_name="items")
