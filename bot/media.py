"""A digest's pictures as stored media: the map of France and the week's chart, drawn once per
content and sent by key (the sender uploads a key once, then reuses Telegram's file_id)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from bot.digest import Digest
from bot.store.chats import ChatStore

ChartCache = dict[tuple[object, ...], str | None]


def chart_key(
    chats: ChatStore, digest: Digest, lang: str, now: datetime, charts: ChartCache | None = None
) -> str | None:
    """The media key of a digest's chart (drawn once per distinct counts and language), None
    when there is nothing to draw."""
    counts = (lang, tuple(sorted(digest.by_region.items())), tuple(sorted(digest.by_type.items())))
    if charts is not None and counts in charts:
        return charts[counts]
    from bot.chart import weekly_chart  # matplotlib (~45 MB): loaded by the first digest drawn

    png = weekly_chart(digest, lang=lang)
    key = None
    if png is not None:
        key = "chart-" + hashlib.sha256(png).hexdigest()[:32]
        chats.put_media(key, png, now)
    if charts is not None:
        charts[counts] = key
    return key


def map_key(
    chats: ChatStore, digest: Digest, lang: str, now: datetime, stored: set[str] | None = None
) -> str:
    """The media key of a digest's map (drawn once per content, stored once per round)."""
    from bot.francemap import digest_map  # matplotlib, as above

    png = digest_map(digest, lang)
    key = "map-" + hashlib.sha256(png).hexdigest()[:32]
    if stored is None or key not in stored:
        chats.put_media(key, png, now)
        if stored is not None:
            stored.add(key)
    return key
