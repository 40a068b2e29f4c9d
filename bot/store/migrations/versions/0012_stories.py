"""stories: the same news from several feeds grouped into one (items.story_id, LSH band keys,
outbox.story_id)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("representative_id", Id, nullable=True),
        sa.Column("fingerprints", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_stories_first_seen", "stories", ["first_seen"])
    op.create_table(
        "story_keys",
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("story_id", Id, nullable=False),
        sa.ForeignKeyConstraint(["story_id"], ["stories.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key", "minute", "story_id"),
    )
    # No foreign key: SQLite cannot add one to a table without copying it (which would drop
    # the full-text triggers of 0001); the store keeps items.story_id consistent.
    op.add_column("items", sa.Column("story_id", Id, nullable=True))
    op.create_index("ix_items_story", "items", ["story_id"])
    # An alert's story (and its edits'): a later member edits the story's alert, never a second.
    op.add_column("outbox", sa.Column("story_id", Id, nullable=True))
    op.create_index("ix_outbox_story", "outbox", ["story_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_story", table_name="outbox")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE outbox DROP COLUMN story_id")
    else:
        op.drop_column("outbox", "story_id")
    op.drop_index("ix_items_story", table_name="items")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE items DROP COLUMN story_id")  # SQLite >= 3.35, no table copy
    else:
        op.drop_column("items", "story_id")
    op.drop_table("story_keys")
    op.drop_index("ix_stories_first_seen", table_name="stories")
    op.drop_table("stories")
