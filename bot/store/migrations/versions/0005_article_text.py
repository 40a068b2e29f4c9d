"""full text behind teasers: feeds.full_text, items.text_source/article_status, article_pages

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

QUEUE = sa.text("article_status IS NULL")


def upgrade() -> None:
    op.add_column(
        "feeds",
        sa.Column("full_text", sa.String(length=8), nullable=False, server_default="auto"),
    )
    op.add_column(
        "items",
        sa.Column("text_source", sa.String(length=8), nullable=False, server_default="feed"),
    )
    op.add_column("items", sa.Column("article_status", sa.String(length=16), nullable=True))
    op.add_column("items", sa.Column("article_key", sa.String(length=40), nullable=True))
    # Items stored before this revision keep their feed text: the article stage looks only at
    # new ones (a deployment with years of items would otherwise fetch every page at once).
    op.execute("UPDATE items SET article_status = 'skipped'")
    op.create_index(
        "ix_items_article_queue", "items", ["id"], sqlite_where=QUEUE, postgresql_where=QUEUE
    )
    op.create_table(
        "article_pages",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("final_url", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("article_pages")
    op.drop_index("ix_items_article_queue", table_name="items")
    # Plain DROP COLUMN (SQLite >= 3.35): a batch copy of items would lose its FTS triggers.
    for column in ("article_key", "article_status", "text_source"):
        op.drop_column("items", column)
    op.drop_column("feeds", "full_text")
