"""Helpers shared by the bot tests and bench/deliver.py: stored items with tags, a bot runtime.

Items are inserted and tagged directly (no tagger training); the gazetteer is the real one.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.feeds.normalize import canonical_url, title_key
from bot.store.chats import ChatStore
from bot.store.repo import Store
from bot.store.rows import ParsedItem
from classifiers.gazetteer import Gazetteer

_GAZETTEER: Gazetteer | None = None


def gazetteer() -> Gazetteer:
    """The real gazetteer, loaded once per process (about 0.2 s)."""
    global _GAZETTEER
    if _GAZETTEER is None:
        _GAZETTEER = Gazetteer.load()
    return _GAZETTEER


def utcnow() -> datetime:
    """Wall-clock UTC (the sender paces on real time, so end-to-end tests use it too)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Spec:
    """One item to store: its text, date and tags."""

    title: str
    published_at: datetime
    regions: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    link: str | None = None
    summary: str = ""
    topic_ai: bool = True
    national: bool = False


def parsed(spec: Spec) -> ParsedItem:
    """The ParsedItem the parser would have produced for spec."""
    link = (
        spec.link or "https://example.org/a/" + hashlib.sha1(spec.title.encode()).hexdigest()[:12]
    )
    return ParsedItem(
        dedup_key=hashlib.sha1(link.encode()).hexdigest(),
        guid=link,
        link=link,
        canonical_link=canonical_url(link),
        title=spec.title,
        summary=spec.summary,
        content=spec.summary,
        author=None,
        published_at=spec.published_at,
        date_is_fallback=False,
        language="fr",
        title_key=title_key(spec.title),
    )


def tag_result(spec: Spec) -> dict[str, Any]:
    """A tagger result dict for spec (the shape Store.save_tags expects)."""
    return {
        "regions": list(spec.regions),
        "countries": [],
        "national": spec.national,
        "types": list(spec.types),
        "primary_type": spec.types[0] if spec.types else None,
        "topic_ai": spec.topic_ai,
        "scores": {
            "regions": dict.fromkeys(spec.regions, 0.9),
            "types": dict.fromkeys(spec.types, 0.8),
            "topic_ai": 0.95,
        },
        "evidence": {
            "regions": {r: ["Lille"] for r in spec.regions},
            "types": {t: ["appel à projets"] for t in spec.types},
        },
    }


def ensure_feed(store: Store, feed_id: str, name: str, now: datetime) -> None:
    """A feed row for items to belong to."""
    if store.feed_state(feed_id) is None:
        store.add_feed(feed_id, name, f"https://{feed_id}.example.org/rss", now)


def add_items(
    store: Store,
    specs: Sequence[Spec],
    now: datetime,
    *,
    feed_id: str = "la-voix",
    feed_name: str = "La Voix du Nord",
) -> list[int]:
    """Store and tag the items; returns their ids in the order of specs."""
    ensure_feed(store, feed_id, feed_name, now)
    ids = store.insert_items(feed_id, [parsed(s) for s in specs], now)
    assert len(ids) == len(specs), "items must be new"
    store.save_tags([(i, tag_result(s)) for i, s in zip(ids, specs, strict=True)], now, "test")
    return ids


def outbox_rows(chats: ChatStore) -> list[dict[str, Any]]:
    """Every outbox row, by id."""
    from sqlalchemy import select

    from bot.store.schema import outbox

    with chats.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(outbox).order_by(outbox.c.id))]


async def drain_until_empty(sender: Any, chats: ChatStore, *, timeout: float = 30.0) -> None:
    """Call Sender.drain until no message is pending or being sent (retries included)."""
    deadline = time.monotonic() + timeout
    while True:
        await sender.drain()
        rows = await asyncio.to_thread(outbox_rows, chats)
        if not any(r["status"] in {"pending", "sending"} for r in rows):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"outbox not drained: {[(r['id'], r['status']) for r in rows][:20]}")
        await asyncio.sleep(0.1)


def texts(messages: Iterable[dict[str, Any]]) -> list[str]:
    """The HTML texts (or captions) of server.sent entries."""
    return [m["text"] or m["caption"] or "" for m in messages]


def days_ago(now: datetime, days: float) -> datetime:
    """now minus some days."""
    return now - timedelta(days=days)
