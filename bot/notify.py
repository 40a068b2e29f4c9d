"""Turn new items and due digests into outbox messages (alerts, digests, the weekly chart)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.chart import weekly_chart
from bot.commands import render_digest
from bot.delivery import message_payload, photo_payload
from bot.digest import digest_period, next_digest_time
from bot.i18n import t
from bot.render import alert_html, esc
from bot.store.chats import ChatStore
from bot.store.repo import Store

log = logging.getLogger(__name__)
ALERT_MAX_AGE = timedelta(days=2)
ALERTS_PER_ROUND = 20


def enqueue_alerts(store: Store, chats: ChatStore, item_ids: Sequence[int], now: datetime) -> int:
    """One alert per new matching item and chat; a story carried by several feeds is one alert."""
    if not item_ids:
        return 0
    items = [i for i in store.recent_items(ids=list(item_ids), limit=len(item_ids))
             if i.topic_ai and now - i.published_at <= ALERT_MAX_AGE]
    if not items:
        return 0
    also = store.duplicates_of([i.id for i in items])
    queued = 0
    for chat in chats.alert_chats():
        matching = [i for i in items if chat.filters.matches(i)][:ALERTS_PER_ROUND]
        messages = [{"chat_id": chat.id, "kind": "alert", "dedup_key": f"alert:{chat.id}:{i.id}",
                     "payload": message_payload(alert_html(i, chat.language, also.get(i.id, ())))}
                    for i in matching]
        queued += chats.enqueue(messages, now)
    return queued


def enqueue_due_digests(store: Store, chats: ChatStore, now: datetime) -> int:
    """Queue the digest of every chat whose time has come, and schedule its next one (atomically)."""
    queued = 0
    charts: dict[tuple[str, str], bytes | None] = {}
    for chat in chats.due_digests(now):
        slot = chat.next_digest_at or now
        start, end = digest_period(chat.digest, now, chat.last_digest_at)
        title = "digest_title" if chat.digest == "weekly" else "digest_daily_title"
        chunks = render_digest(store, chat.filters, start, end, chat.language, title_key=title)
        key = f"digest:{chat.id}:{slot:%Y%m%dT%H%M}"
        messages = [{"chat_id": chat.id, "kind": "digest", "dedup_key": f"{key}:{n}",
                     "payload": message_payload(text)} for n, text in enumerate(chunks)]
        if chat.digest == "weekly":
            png = charts.get((f"{start:%Y%m%d}", chat.language), b"")
            if png == b"":
                counts_region = store.label_counts("region", start)
                counts_type = store.label_counts("type", start)
                png = charts[(f"{start:%Y%m%d}", chat.language)] = (
                    weekly_chart(counts_region, counts_type, lang=chat.language,
                                 title=t(chat.language, "chart_title"))
                    if counts_region or counts_type else None)
            if png:
                messages.append({"chat_id": chat.id, "kind": "chart", "dedup_key": f"{key}:chart",
                                 "payload": photo_payload(png, esc(t(chat.language, "chart_title")))})
        following = next_digest_time(chat.digest, chat.digest_weekday, chat.digest_hour,
                                     chat.timezone, max(now, slot))
        queued += chats.enqueue(messages, now, chat_update=(chat.id, {
            "last_digest_at": now, "next_digest_at": following}))
        log.info("digest queued chat=%s messages=%d next=%s", chat.id, len(messages), following)
    return queued
