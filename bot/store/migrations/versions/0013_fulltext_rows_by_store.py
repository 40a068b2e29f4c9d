"""SQLite: new items' full-text rows are written by the store, not by a trigger

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

The insert trigger of migration 0006 wrote one items_fts row per inserted item, in the order of
the insert: a feed lists its newest items first, so the rowids (publication time keys) came
in descending order and FTS5 flushed its pending index at every row (a poll's inserts spent
most of their time there). The store now writes those rows itself (bot.store.search.index_items),
sorted by rowid, in the same transaction as the items. Updates and deletes keep their triggers.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_KEY = "CAST(strftime('%s', new.published_at) AS INTEGER) * 4194304 + (new.id % 4194304)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER IF EXISTS items_fts_ai")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN "
        f"INSERT INTO items_fts(rowid, stems, item_id) VALUES ({_KEY}, "
        "veille_stems(new.title, new.summary, new.content), new.id); END"
    )
