"""Turn new items and due digests into outbox messages (alerts, digests, the week's map and chart)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.chart import weekly_chart
from bot.delivery import media_payload, message_payload
from bot.digest import Digest, digest_period, next_digest_time, select_digest
from bot.francemap import digest_map
from bot.i18n import t
from bot.render import alert_html, digest_html, esc
from bot.store.chats import ChatSettings, ChatStore
from bot.store.outbox import Outbox
from bot.store.repo import Store
from bot.weblinks import WebLinks, filters_query, week_line

log = logging.getLogger(__name__)
ALERT_MAX_AGE = timedelta(days=2)
ALERTS_PER_ROUND = 20


def enqueue_alerts(store: Store, chats: ChatStore, item_ids: Sequence[int], now: datetime) -> int:
    """One alert per new matching item and chat; a story carried by several feeds is one alert.

    Only tagged items whose alerts are not queued yet are considered; they are marked done in
    the transaction that queues their alerts, so a crash loses or repeats none of them.
    """
    outbox = Outbox(store)
    pending = outbox.awaiting_alerts(item_ids, limit=max(1, len(item_ids)))
    if not pending:
        return 0
    items = [
        i
        for i in store.recent_items(ids=pending, limit=len(pending))
        if i.topic_ai and now - i.published_at <= ALERT_MAX_AGE
    ]
    also = store.duplicates_of([i.id for i in items]) if items else {}
    messages: list[dict[str, Any]] = []
    for chat in chats.alert_chats() if items else ():
        matching = [i for i in items if chat.filters.matches(i)][:ALERTS_PER_ROUND]
        messages.extend(
            {
                "chat_id": chat.id,
                "kind": "alert",
                "dedup_key": f"alert:{chat.id}:{i.id}",
                "payload": message_payload(alert_html(i, chat.language, also.get(i.id, ()))),
            }
            for i in matching
        )
    return outbox.enqueue(messages, now, items_alerted=pending)


def _chart_key(
    chats: ChatStore,
    digest: Digest,
    lang: str,
    now: datetime,
    charts: dict[tuple[object, ...], str | None],
) -> str | None:
    """The media key of a digest's chart (drawn once per distinct counts and language)."""
    counts = (lang, tuple(sorted(digest.by_region.items())), tuple(sorted(digest.by_type.items())))
    if counts not in charts:
        png = weekly_chart(digest, lang=lang)
        key = None
        if png is not None:
            key = "chart-" + hashlib.sha256(png).hexdigest()[:32]
            chats.put_media(key, png, now)
        charts[counts] = key
    return charts[counts]


def map_key(
    chats: ChatStore, digest: Digest, lang: str, now: datetime, stored: set[str] | None = None
) -> str:
    """The media key of a digest's map (drawn once per content, stored once per round)."""
    png = digest_map(digest, lang)
    key = "map-" + hashlib.sha256(png).hexdigest()[:32]
    if stored is None or key not in stored:
        chats.put_media(key, png, now)
        if stored is not None:
            stored.add(key)
    return key


def enqueue_due_digests(
    store: Store,
    chats: ChatStore,
    now: datetime,
    *,
    batch: int = 500,
    web: WebLinks | None = None,
) -> int:
    """Queue the digest of every chat whose time has come, and schedule its next one (atomically).

    A weekly digest comes with the map of the chat's week (and a link to its web page when the
    web window is on), then its chart."""
    queued = 0
    charts: dict[tuple[object, ...], str | None] = {}
    maps: set[str] = set()
    while True:
        due = chats.due_digests(now, limit=batch)
        for chat in due:
            queued += _enqueue_digest(store, chats, chat, now, charts, maps, web)
        if len(due) < batch:
            return queued


def _enqueue_digest(
    store: Store,
    chats: ChatStore,
    chat: ChatSettings,
    now: datetime,
    charts: dict[tuple[object, ...], str | None],
    maps: set[str],
    web: WebLinks | None,
) -> int:
    slot = chat.next_digest_at or now
    start, end = digest_period(chat.digest, now, chat.last_digest_at)
    title = "digest_title" if chat.digest == "weekly" else "digest_daily_title"
    digest = select_digest(store, chat.filters, start, end)
    chunks = digest_html(digest, chat.language, title_key=title)
    key = f"digest:{chat.id}:{slot:%Y%m%dT%H%M}"
    messages = [
        {
            "chat_id": chat.id,
            "kind": "digest",
            "dedup_key": f"{key}:{n}",
            "payload": message_payload(text),
        }
        for n, text in enumerate(chunks)
    ]
    if chat.digest == "weekly" and digest.total:
        caption = esc(t(chat.language, "map_caption"))
        if web is not None:
            caption += "\n" + week_line(web, filters_query(chat.filters), start, end, chat.language)
        messages.append(
            {
                "chat_id": chat.id,
                "kind": "map",
                "dedup_key": f"{key}:map",
                "payload": media_payload(map_key(chats, digest, chat.language, now, maps), caption),
            }
        )
    chart = (
        _chart_key(chats, digest, chat.language, now, charts) if chat.digest == "weekly" else None
    )
    if chart:
        messages.append(
            {
                "chat_id": chat.id,
                "kind": "chart",
                "dedup_key": f"{key}:chart",
                "payload": media_payload(chart, esc(t(chat.language, "chart_title"))),
            }
        )
    following = next_digest_time(
        chat.digest, chat.digest_weekday, chat.digest_hour, chat.timezone, max(now, slot)
    )
    added = Outbox(store).enqueue(
        messages, now, chat_update=(chat.id, {"last_digest_at": now, "next_digest_at": following})
    )
    log.info("digest queued chat=%s messages=%d next=%s", chat.id, len(messages), following)
    return added
