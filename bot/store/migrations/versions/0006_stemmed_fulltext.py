"""Full-text search on French stems without accents, the same on SQLite and PostgreSQL

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

SQLite's FTS5 table held the words as written (accents folded), so "jumeaux numériques"
never met "jumeau numérique". It now holds the Snowball French stems of the folded words
(bot.query.stems.index_text, called by the triggers as the SQL function veille_stems, which
bot.store.db registers on every connection), rebuilt here from the stored items. PostgreSQL
already stems with its `veille_fr` configuration (migration 0003): nothing changes there.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_STEMS = "veille_stems({p}.title, {p}.summary, {p}.content)"
# The rowid is a time key (published epoch seconds * 2^22 + id modulo 2^22, as
# bot.store.repo.time_key): FTS5 then reads a word's matches newest first and can stop after
# the first page's worth, instead of listing thousands of ids to sort them by date.
_KEY = "CAST(strftime('%s', {p}.published_at) AS INTEGER) * 4194304 + ({p}.id % 4194304)"


def _row(p: str) -> str:
    return f"({_KEY.format(p=p)}, {_STEMS.format(p=p)}, {p}.id)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("items_fts_ai", "items_fts_ad", "items_fts_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS items_fts")
    # Stems are ASCII words separated by spaces: the ascii tokenizer splits them as written.
    op.execute(
        "CREATE VIRTUAL TABLE items_fts USING fts5(stems, item_id UNINDEXED, tokenize='ascii')"
    )
    op.execute(
        "CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN "
        f"INSERT INTO items_fts(rowid, stems, item_id) VALUES {_row('new')}; END"
    )
    op.execute(
        "CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN "
        f"DELETE FROM items_fts WHERE rowid = {_KEY.format(p='old')}; END"
    )
    op.execute(
        "CREATE TRIGGER items_fts_au AFTER UPDATE OF title, summary, content, published_at "
        f"ON items BEGIN DELETE FROM items_fts WHERE rowid = {_KEY.format(p='old')}; "
        f"INSERT INTO items_fts(rowid, stems, item_id) VALUES {_row('new')}; END"
    )
    op.execute(
        "INSERT INTO items_fts(rowid, stems, item_id) "
        f"SELECT {_KEY.format(p='items')}, {_STEMS.format(p='items')}, id FROM items"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("items_fts_ai", "items_fts_ad", "items_fts_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS items_fts")
    # Migration 0001's table and triggers: words as written, accents folded.
    op.execute(
        "CREATE VIRTUAL TABLE items_fts USING fts5(title, summary, content, "
        "content='items', content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN "
        "INSERT INTO items_fts(rowid, title, summary, content) "
        "VALUES (new.id, new.title, new.summary, substr(new.content, 1, 20000)); END"
    )
    op.execute(
        "CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN "
        "INSERT INTO items_fts(items_fts, rowid, title, summary, content) "
        "VALUES ('delete', old.id, old.title, old.summary, substr(old.content, 1, 20000)); END"
    )
    op.execute(
        "CREATE TRIGGER items_fts_au AFTER UPDATE OF title, summary, content ON items BEGIN "
        "INSERT INTO items_fts(items_fts, rowid, title, summary, content) "
        "VALUES ('delete', old.id, old.title, old.summary, substr(old.content, 1, 20000)); "
        "INSERT INTO items_fts(rowid, title, summary, content) "
        "VALUES (new.id, new.title, new.summary, substr(new.content, 1, 20000)); END"
    )
    op.execute("INSERT INTO items_fts(items_fts) VALUES ('rebuild')")
