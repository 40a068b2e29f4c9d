"""Full-text search behind one function: SQLite FTS5, PostgreSQL tsvector, else LIKE.

Another search backend is one more branch here; the rest of the store only calls matching_ids.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select, text

from bot.store.schema import items

# Created on PostgreSQL by migration 0003 (items.search_tsv, text search config veille_fr).
PG_SEARCH_COLUMN = "items.search_tsv"
PG_SEARCH_CONFIG = "veille_fr"


def matching_ids(dialect: str, query: str) -> Any:
    """A SELECT of the ids of items matching a search (every word; the last one as a prefix)."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in query).split() if w]
    if not words:
        return select(items.c.id).where(text("0 = 1"))
    if dialect == "sqlite":
        match = " ".join(f'"{w}"*' for w in words)
        return (
            select(text("rowid"))
            .select_from(text("items_fts"))
            .where(text("items_fts MATCH :m").bindparams(m=match))
        )
    if dialect == "postgresql":
        # Migration 0003's tsvector column and text search configuration (French stems,
        # accents folded). Words are letters and digits only, so they cannot carry tsquery
        # operators; the last one is a prefix, as in the SQLite search.
        terms = " & ".join([*words[:-1], words[-1] + ":*"])
        return select(items.c.id).where(
            text(f"{PG_SEARCH_COLUMN} @@ to_tsquery('{PG_SEARCH_CONFIG}', :q)").bindparams(q=terms)
        )
    like = [or_(items.c.title.ilike(f"%{w}%"), items.c.summary.ilike(f"%{w}%")) for w in words]
    return select(items.c.id).where(and_(*like))
