"""French full-text search on PostgreSQL (tsvector + GIN); SQLite keeps its FTS5 table from 0001

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

The text search configuration `veille_fr` is French with stemming ("financements" finds
"financement") and, when the unaccent extension can be created (postgresql-contrib; a
trusted extension, so a database owner may create it), accent folding ("numerique" finds
"numérique"). Without unaccent it is a plain copy of 'french'. Queries always name
`veille_fr`, so they need not know which it is.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CONFIG = "veille_fr"
COLUMN = "search_tsv"  # known to bot.store.repo.Store._fts_ids and migrations/env.py
INDEX = "ix_items_search_tsv"
CONTENT_CHARS = 4000  # enough to find an article by its body, small enough to index fast


def _create_unaccent() -> bool:
    conn = op.get_bind()
    available = conn.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'")
    ).first()
    if available is None:
        return False
    try:
        with conn.begin_nested():  # a refusal (no privilege) must not abort the migration
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS unaccent"))
    except SQLAlchemyError:  # e.g. no privilege: go without accent folding
        return False
    return True


def _vector(column: str) -> str:
    # Hyphens become spaces: the parser reads "IA-2030" or "Covid-19" as a word and a negative
    # number ('-2030'), which a search for "2030" would miss; queries split on them anyway.
    return f"to_tsvector('{CONFIG}', translate(coalesce({column}, ''), '-', ' '))"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {CONFIG}")
    op.execute(f"CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = french)")
    if _create_unaccent():
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {CONFIG} "
            "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, french_stem"
        )
    op.execute(
        f"ALTER TABLE items ADD COLUMN {COLUMN} tsvector GENERATED ALWAYS AS ("
        f"setweight({_vector('title')}, 'A') || setweight({_vector('summary')}, 'B') || "
        f"setweight({_vector(f'left(content, {CONTENT_CHARS})')}, 'C')) STORED"
    )
    op.execute(f"CREATE INDEX {INDEX} ON items USING gin ({COLUMN})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.execute(f"ALTER TABLE items DROP COLUMN IF EXISTS {COLUMN}")
    op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {CONFIG}")
    # The unaccent extension stays: other objects of the database may use it.
