"""Row types: what the store reads and writes, at the bottom of the import graph.

Every other module may import these; they import nothing of Veille's but the text helpers.
Datetimes come back aware and in UTC from every backend (schema.UtcDateTime does it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from classifiers.text import fold_key


@dataclass(frozen=True)
class ParsedItem:
    """One normalised feed entry, ready to store."""

    dedup_key: str
    guid: str | None
    link: str | None
    canonical_link: str | None
    title: str
    summary: str
    content: str
    author: str | None
    published_at: datetime
    date_is_fallback: bool
    language: str | None
    title_key: str | None
    enclosure_url: str | None = None


@dataclass(frozen=True)
class FeedState:
    """A feed row as the poller needs it."""

    id: str
    name: str
    url: str
    language: str | None
    region_hint: str | None
    min_interval: int
    max_interval: int
    enabled: bool
    status: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    next_check_at: datetime
    last_checked_at: datetime | None
    last_success_at: datetime | None
    failing_since: datetime | None
    consecutive_errors: int
    last_error: str | None
    items_total: int
    source: str = "config"
    full_text: str = "auto"

    @classmethod
    def from_row(cls, row: Any) -> FeedState:
        m = row._mapping
        return cls(
            id=m["id"],
            name=m["name"],
            url=m["url"],
            language=m["language"],
            region_hint=m["region_hint"],
            min_interval=m["min_interval"],
            max_interval=m["max_interval"],
            enabled=m["enabled"],
            status=m["status"],
            etag=m["etag"],
            last_modified=m["last_modified"],
            body_hash=m["body_hash"],
            next_check_at=m["next_check_at"],
            last_checked_at=m["last_checked_at"],
            last_success_at=m["last_success_at"],
            failing_since=m["failing_since"],
            consecutive_errors=m["consecutive_errors"],
            last_error=m["last_error"],
            items_total=m["items_total"],
            source=m["source"],
            full_text=m["full_text"],
        )


@dataclass(frozen=True)
class StoredItem:
    """An item with its tags, for selection and rendering."""

    id: int
    feed_id: str
    feed_name: str
    title: str
    link: str | None
    summary: str
    published_at: datetime
    duplicate_of: int | None
    regions: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    primary_type: str | None = None
    national: bool = False
    topic_ai: bool | None = None
    story_id: int | None = None


def one_per_story(items: Iterable[StoredItem]) -> list[StoredItem]:
    """One entry per story, where its first item comes in the given order, shown as its
    earliest member there (the original); items without a story are all kept. A listing shows
    a story once, its other members as 'also in' sources."""
    slots: list[StoredItem] = []
    where: dict[int, int] = {}  # story -> its slot
    for item in items:
        if item.story_id is None:
            slots.append(item)
        elif item.story_id not in where:
            where[item.story_id] = len(slots)
            slots.append(item)
        else:
            kept = slots[where[item.story_id]]
            if (item.published_at, item.id) < (kept.published_at, kept.id):
                slots[where[item.story_id]] = item
    return slots


@dataclass(frozen=True)
class Filters:
    """What a chat subscribed to: empty sets mean 'everything'."""

    regions: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    keywords: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    def matches(self, item: StoredItem) -> bool:
        """True when the item passes every filter of the chat."""
        in_region = bool(self.regions & set(item.regions)) or (
            "national" in self.regions and item.national
        )
        if self.regions and not in_region:
            return False
        if self.types and not (self.types & set(item.types)):
            return False
        text = f" {fold_key(item.title + ' ' + item.summary)} "
        if self.keywords and not any(f" {fold_key(k)} " in text for k in self.keywords):
            return False
        return not any(f" {fold_key(k)} " in text for k in self.excludes)
