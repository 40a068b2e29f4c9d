"""Full-text search behind one module: SQLite FTS5 over French stems, PostgreSQL tsvector, else LIKE.

Both real backends match Snowball French stems of accent-folded words (bot.query.stems), so
"jumeaux numériques" finds "jumeau numérique". SQLite's items_fts rows are keyed by publication
time (migration 0005), so `newest_matches` reads a common word's matches newest first and stops
after a page's worth. Terms reach SQL as folded words only: nothing a user types (quotes,
NEAR(, *, AND/OR, a lone '-') is read as full-text syntax. Another backend is one more branch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, bindparam, exists, or_, select, text

from bot.query.model import NATIONAL, Query
from bot.query.stems import stem, term
from bot.store.schema import item_labels, item_tags, items
from classifiers.text import fold_key

# Created on PostgreSQL by migration 0003 (items.search_tsv, text search config veille_fr).
PG_SEARCH_COLUMN = "items.search_tsv"
PG_SEARCH_CONFIG = "veille_fr"
TIME_KEY_IDS = 1 << 22  # items_fts.rowid = published epoch seconds * TIME_KEY_IDS + id % it
WINDOW = 500  # how many of the newest matches of the words are tried first (SQLite)
WINDOW_PER_ROW = 20  # ... at least this many per row of the page asked for
MAX_WINDOW = 32_000  # past that many candidates, every match is listed instead
COUNT_WINDOW = 4000  # a list's total counts words among this many newest matches (SQLite)


# The rowid of an item's items_fts row, in SQL, from its stored published_at and its id (as
# migration 0006's triggers compute it).
TIME_KEY_SQL = f"CAST(strftime('%s', ?) AS INTEGER) * {TIME_KEY_IDS} + (? % {TIME_KEY_IDS})"


def index_items(conn: Any, rows: Sequence[tuple[int, datetime, str]]) -> None:
    """SQLite: write the full-text rows of new items, (id, published_at, stems), in the
    connection's transaction.

    In rowid order (publication second, then id): FTS5 flushes its pending index whenever a
    rowid is not above the last one, and a feed lists its newest items first, so in feed
    order it flushed at every row.
    """
    if not rows:
        return
    when = items.c.published_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    params = [(when(at) if when else at, id_, stems, id_) for id_, at, stems in rows]
    params.sort(key=lambda p: (str(p[0])[:19], p[1]))  # "YYYY-MM-DD HH:MM:SS", as stored
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(
            f"INSERT INTO items_fts(rowid, stems, item_id) VALUES ({TIME_KEY_SQL}, ?, ?)", params
        )
    finally:
        cursor.close()


def time_key(when: datetime) -> int:
    """The SQLite full-text rowid of an item published at `when` with id 0 (migration 0005)."""
    return int(when.timestamp()) * TIME_KEY_IDS


def matching_ids(dialect: str, query: str) -> Any:
    """A SELECT of the ids of items whose text has every word of a plain search."""
    words = term(query).split()
    return match_ids(dialect, [(w,) for w in words] or [("",)])


def fts_expression(groups: Sequence[Sequence[str]]) -> str:
    """SQLite: the FTS5 query of the groups, made of quoted stems only ('' when empty)."""
    clean = [[t for t in (fold_key(t).split() for t in g) if t] for g in groups]
    if not clean or any(not g for g in clean):
        return ""
    return " AND ".join(
        "(" + " OR ".join('"' + " ".join(stem(w) for w in t) + '"' for t in g) + ")" for g in clean
    )


def match_ids(dialect: str, groups: Sequence[Sequence[str]]) -> Any:
    """Ids of the items whose text has, for every group, one of its words or phrases."""
    split = fold_key if dialect == "sqlite" else term
    clean = [[t for t in (split(t).split() for t in g) if t] for g in groups]
    if not clean or any(not g for g in clean):
        return select(items.c.id).where(text("0 = 1"))
    if dialect == "sqlite":
        match = fts_expression(groups)
        return (
            select(text("item_id"))
            .select_from(text("items_fts"))
            .where(text("items_fts MATCH :m").bindparams(bindparam("m", match, unique=True)))
        )
    if dialect == "postgresql":
        # Migration 0003's tsvector and configuration (unaccent + French stems): the same stems
        # as SQLite's table. Words are letters and digits only, so they carry no operators.
        terms = " & ".join(
            "(" + " | ".join("(" + " <-> ".join(t) + ")" for t in g) + ")" for g in clean
        )
        return select(items.c.id).where(
            text(f"{PG_SEARCH_COLUMN} @@ to_tsquery('{PG_SEARCH_CONFIG}', :q)").bindparams(
                bindparam("q", terms, unique=True)
            )
        )
    like = [
        or_(
            *(
                or_(
                    items.c.title.ilike(f"%{' '.join(t)}%"),
                    items.c.summary.ilike(f"%{' '.join(t)}%"),
                )
                for t in g
            )
        )
        for g in clean
    ]
    return select(items.c.id).where(and_(*like))


def newest_matches(conn: Any, query: Query, window: int) -> list[int]:
    """SQLite: ids of the `window` most recently published items matching the words and none
    of the exclusions, within the query's period (newest first, read straight off the index)."""
    found = newest_select(conn, query, window)
    return [] if found is None else [int(i) for i in conn.execute(found).scalars()]


def newest_select(conn: Any, query: Query, window: int) -> Any | None:
    """SQLite: newest_matches as a SELECT to use inside another statement (None: no words)."""
    match = fts_expression(query.terms)
    if not match:
        return None
    excluded = fts_expression([query.excludes]) if query.excludes else ""
    if excluded:
        match = f"({match}) NOT {excluded}"
    # While every id fits in the rowid's low bits (up to 4,194,303 items) the id is read off the
    # rowid, which the index holds; reading the item_id column costs a row read per match.
    small = conn.execute(text("SELECT coalesce(max(id), 0) FROM items")).scalar_one() < TIME_KEY_IDS
    column = f"rowid % {TIME_KEY_IDS}" if small else "item_id"
    sql = f"SELECT {column} AS item_id FROM items_fts WHERE items_fts MATCH :m"
    params: dict[str, Any] = {"m": match, "n": window}
    if query.since is not None:
        sql += " AND rowid >= :lo"
        params["lo"] = time_key(query.since)
    if query.until is not None:
        sql += " AND rowid < :hi"
        params["hi"] = time_key(query.until)
    sql += " ORDER BY rowid DESC LIMIT :n"
    return text(sql).bindparams(**params).columns(item_id=Integer)


def labelled(kind: str, values: Sequence[str], *, drive: bool = False) -> Any:
    """The condition 'the item has one of these labels'. EXISTS lets a newest-first page walk
    the time index and stop at its limit; drive=True (an IN over the label index) lets a count
    start from the label's items instead of every item."""
    if drive:
        return items.c.id.in_(
            select(item_labels.c.item_id).where(
                item_labels.c.kind == kind, item_labels.c.value.in_(list(values))
            )
        )
    return exists().where(
        item_labels.c.item_id == items.c.id,
        item_labels.c.kind == kind,
        item_labels.c.value.in_(list(values)),
    )


def apply_query(
    dialect: str,
    q: Any,
    query: Query,
    candidates: list[int] | Any | None = None,
    *,
    drive: bool = False,
) -> Any:
    """The query's conditions on a SELECT over items; `candidates` (newest_matches' ids, or
    newest_select's SELECT) stand for the words and exclusions when given; drive: see
    `labelled`."""
    if query.since is not None:
        q = q.where(items.c.published_at >= query.since)
    if query.until is not None:
        q = q.where(items.c.published_at < query.until)
    named = [r for r in query.regions if r != NATIONAL]
    places: list[Any] = []
    if named:
        places.append(labelled("region", named, drive=drive))
    if NATIONAL in query.regions:
        places.append(item_tags.c.national.is_(True))
    if places:
        q = q.where(or_(*places))
    if query.types:
        q = q.where(labelled("type", query.types, drive=drive))
    if isinstance(candidates, list):
        return q.where(items.c.id.in_(candidates))
    if candidates is not None:
        return q.where(items.c.id.in_(select(candidates.subquery().c.item_id)))
    if query.terms:
        q = q.where(items.c.id.in_(match_ids(dialect, query.terms)))
    if query.excludes:
        q = q.where(items.c.id.not_in(match_ids(dialect, [query.excludes])))
    return q
