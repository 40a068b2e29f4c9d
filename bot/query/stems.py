"""French stems without accents: what the full-text index holds and what queries look for.

SQLite's FTS5 table holds `index_text(title, summary, content)` (written by the store for new
items; for updated ones, by triggers through a SQL function registered on every connection);
PostgreSQL's `veille_fr` configuration does the same with `unaccent` then the Snowball French
stemmer. Words are folded first (lowercase ASCII, hyphens split), then stemmed, so "jumeaux
numériques" and "jumeau numérique" meet.
"""

from __future__ import annotations

import re
import sqlite3
from functools import lru_cache

import Stemmer

from classifiers.text import fold_words

CONTENT_CHARS = 4000  # as PostgreSQL's index (migration 0003): the body's start is enough
MAX_FIELD_CHARS = 20000

_stemmer = Stemmer.Stemmer("french")
_NON_WORD = re.compile(r"[\W_]+")


def words(text: str) -> list[str]:
    """The lowercase words of a text, accents kept (PostgreSQL folds them itself, or not)."""
    return [w for w in _NON_WORD.split(text.lower()) if w]


def term(text: str) -> str:
    """A search term as stored in a query: lowercase words, one space apart."""
    return " ".join(words(text))


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The stem of one folded word ("numeriques" -> "numer")."""
    return str(_stemmer.stemWord(word))


_known_stems: dict[str, str] = {}  # stems(): stem() without a call per word


def stems(text: str) -> list[str]:
    """The stems of a text's words, in order."""
    words = fold_words(text[:MAX_FIELD_CHARS])
    known = _known_stems
    try:
        return list(map(known.__getitem__, words))
    except KeyError:
        if len(known) > 200_000:  # as stem()'s cache: a worker's memory stays bounded
            known.clear()
        for w in words:
            if w not in known:
                known[w] = stem(w)
        return list(map(known.__getitem__, words))


def index_text(title: str | None, summary: str | None, content: str | None) -> str:
    """What the SQLite full-text table holds for an item: its stems, space-separated."""
    parts = (title or "", summary or "", (content or "")[:CONTENT_CHARS])
    return " ".join(" ".join(stems(p)) for p in parts if p)


def register_sqlite(dbapi_conn: sqlite3.Connection) -> None:
    """Make `veille_stems(title, summary, content)` callable from SQL (the full-text triggers of
    updated items; new items' rows are written by bot.store.search.index_items)."""
    dbapi_conn.create_function("veille_stems", 3, index_text, deterministic=True)
