"""French stems without accents: what the full-text index holds and what queries look for.

SQLite's FTS5 table holds `index_text(title, summary, content)` (filled by triggers through a
SQL function registered on every connection); PostgreSQL's `veille_fr` configuration does the
same with `unaccent` then the Snowball French stemmer. Words are folded first (lowercase
ASCII, hyphens split), then stemmed, so "jumeaux numériques" and "jumeau numérique" meet.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache

import Stemmer

from classifiers.text import fold_key

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


def stems(text: str) -> list[str]:
    """The stems of a text's words, in order."""
    words = fold_key(text[:MAX_FIELD_CHARS]).split()
    return [stem(w) for w in words]


def index_text(title: str | None, summary: str | None, content: str | None) -> str:
    """What the SQLite full-text table holds for an item: its stems, space-separated."""
    parts = (title or "", summary or "", (content or "")[:CONTENT_CHARS])
    return " ".join(" ".join(stems(p)) for p in parts if p)


IndexTexts = Mapping[tuple[str | None, str | None, str | None], str]
_given = threading.local()


@contextmanager
def given_index_texts(texts: IndexTexts) -> Iterator[None]:
    """Within, the full-text triggers fired on this thread take an item's stems from `texts`
    (index_text's results by (title, summary, content), computed ahead by the parse workers)
    instead of computing them: the single writer thread then only stores."""
    _given.texts = texts
    try:
        yield
    finally:
        _given.texts = None


def _sql_index_text(title: str | None, summary: str | None, content: str | None) -> str:
    texts: IndexTexts | None = getattr(_given, "texts", None)
    if texts:
        found = texts.get((title, summary, content))
        if found is not None:
            return found
    return index_text(title, summary, content)


def register_sqlite(dbapi_conn: sqlite3.Connection) -> None:
    """Make `veille_stems(title, summary, content)` callable from SQL (the FTS triggers)."""
    dbapi_conn.create_function("veille_stems", 3, _sql_index_text, deterministic=True)
