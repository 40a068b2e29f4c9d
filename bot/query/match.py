"""Does an item satisfy a query? The store answers in SQL; this answers in Python (alerts).

Both read the same stems (bot.query.stems), so an alert and a /search of the same query agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.query.model import NATIONAL, Query
from bot.query.stems import stem
from classifiers.text import fold_key


@dataclass(frozen=True)
class ItemFacts:
    """What matching needs of an item: its tags, date and the stems of its text."""

    id: int
    regions: tuple[str, ...]
    types: tuple[str, ...]
    national: bool
    published_at: datetime
    stems: str  # bot.query.stems.index_text of the item

    def has(self, term: str) -> bool:
        """True when the item's text holds the word or phrase (on stems)."""
        wanted = " ".join(stem(w) for w in fold_key(term).split())
        return bool(wanted) and f" {wanted} " in f" {self.stems} "


def matches(query: Query, item: ItemFacts) -> bool:
    """True when the item satisfies every part of the query."""
    if query.regions:
        named = set(query.regions) - {NATIONAL}
        if not (named & set(item.regions) or (NATIONAL in query.regions and item.national)):
            return False
    if query.types and not set(query.types) & set(item.types):
        return False
    if query.since is not None and item.published_at < query.since:
        return False
    if query.until is not None and item.published_at >= query.until:
        return False
    if not all(any(item.has(t) for t in group) for group in query.terms):
        return False
    return not any(item.has(t) for t in query.excludes)


def select_items(
    items: Sequence[ItemFacts], alerts: Sequence[tuple[str, Query]]
) -> list[tuple[ItemFacts, tuple[str, ...]]]:
    """Items matching any of a chat's alerts (name, query), each once with the names it matched.

    Alerts add up (an item need match only one); order of items is kept.
    """
    out: list[tuple[ItemFacts, tuple[str, ...]]] = []
    for item in items:
        names = tuple(dict.fromkeys(name for name, q in alerts if matches(q, item)))
        if names:
            out.append((item, names))
    return out
