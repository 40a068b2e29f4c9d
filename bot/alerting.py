"""Alert profiles into the outbox: real-time alerts for new items, and due digests.

A chat's profiles add up: an item is sent once to a chat however many of its alerts it
matches, and says which ones. Profiles of a chat due at the same time share one digest; an
empty digest is not sent (the profile is simply rescheduled).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import story_alerts
from bot.delivery import media_payload, message_payload
from bot.digest import Digest, build_digest, digest_period, next_digest_time
from bot.i18n import t
from bot.media import ChartCache, chart_key, map_key
from bot.query.match import ItemFacts, select_items
from bot.query.model import Query
from bot.render import TELEGRAM_LIMIT, alert_html, digest_html, esc
from bot.store.alerts import AlertProfile, AlertStore, profiles_by_chat
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox
from bot.store.repo import Store
from bot.store.rows import Filters, StoredItem
from bot.weblinks import WebLinks, week_line

log = logging.getLogger(__name__)
DIGEST_ITEMS = 2000
ALERT_MAX_AGE = timedelta(days=2)  # an older item is not news: no real-time alert
ALERTS_PER_ROUND = 20  # per chat and round, so a burst of items cannot flood a chat


def matched_line(names: Sequence[str], lang: str) -> str:
    """'🔔 Alertes : HDF, Jumeau' under an item."""
    return "🔔 " + t(lang, "alerts_matched", names=esc(", ".join(names)))


def enqueue_profile_alerts(
    store: Store,
    chats: ChatStore,
    item_ids: Sequence[int],
    now: datetime,
    *,
    retagged: bool = False,
) -> int:
    """One message per new item and chat whose running instant profiles it matches.

    Only tagged items whose alerts are not queued yet are considered; they are marked done in
    the transaction that queues their alerts, so a crash loses or repeats none of them.
    retagged: items whose tags the article text changed, already alerted once on their feed
    text; their new matches are queued (the dedup key keeps an item from one chat twice).
    """
    outbox = Outbox(store)
    if retagged:
        pending = list(item_ids)
    else:
        pending = outbox.awaiting_alerts(item_ids, limit=max(1, len(item_ids)))
    if not pending:
        return 0
    # The profiles first: with none, the items are never read (most rounds of most services).
    profiles = AlertStore(store).instant()
    items = {
        i.id: i
        for i in (
            store.recent_items(ids=pending, limit=len(pending), per_story=False) if profiles else []
        )
        if i.topic_ai and now - i.published_at <= ALERT_MAX_AGE
    }
    # One alert per story and chat; the stories' alerts already queued are edited instead.
    story_of = story_alerts.stories_of(store, pending)
    grown = {s: i for i, s in sorted(story_of.items())}  # story -> its newest item here
    known = story_alerts.StoryAlerts.load(outbox, grown)
    messages = story_alerts.edits_for_grown(store, outbox, known, grown, now)
    if profiles and items:
        stems = store.stems_of(list(items))
        facts = [
            ItemFacts(i.id, i.regions, i.types, i.national, i.published_at, stems.get(i.id, ""))
            for i in items.values()
        ]
        also = store.duplicates_of(list(items))
        for chat_id, own in profiles_by_chat(profiles).items():
            chosen = select_items(facts, [(p.name, p.query) for p in own])
            lang = own[0].language
            told: set[int] = set()
            queued = 0
            for f, names in chosen:
                if queued >= ALERTS_PER_ROUND:
                    break
                story = story_of.get(f.id)
                if story is not None:
                    if story in told or known.alerted(chat_id, story):
                        continue  # the story's alert says it (edited above)
                    told.add(story)
                footer = matched_line(names, lang)
                text = alert_html(items[f.id], lang, story_alerts.sources_line(also.get(f.id, [])))
                payload = message_payload(text + "\n" + footer)
                message: dict[str, Any] = {
                    "chat_id": chat_id,
                    "kind": "alert",
                    "dedup_key": f"alert:{chat_id}:{f.id}",
                    "payload": payload,
                }
                if story is not None:
                    payload["story"] = story_alerts.story_meta(f.id, footer, lang)
                    message.update(story_id=story, dedup_key=story_alerts.alert_key(chat_id, story))
                messages.append(message)
                queued += 1
    return outbox.enqueue(messages, now, items_alerted=() if retagged else pending)


def profile_items(
    store: Store, queries: Sequence[tuple[str, Query]], start: datetime, end: datetime
) -> tuple[list[StoredItem], dict[int, list[str]]]:
    """Items of [start, end) matching any (name, query), newest first, and the names each matched."""
    found: dict[int, StoredItem] = {}
    names: dict[int, list[str]] = {}
    for name, query in queries:
        for item in store.recent_items(query=query, since=start, until=end, limit=DIGEST_ITEMS):
            found.setdefault(item.id, item)
            if name not in names.setdefault(item.id, []):
                names[item.id].append(name)
    ordered = sorted(found.values(), key=lambda i: (i.published_at, i.id), reverse=True)
    return ordered, names


def profile_digest(
    store: Store, queries: Sequence[tuple[str, Query]], start: datetime, end: datetime
) -> Digest | None:
    """The digest of some (name, query) of one chat, None when nothing matched."""
    items, _ = profile_items(store, queries, start, end)
    if not items:
        return None
    # Headings follow what the alerts follow (every region or type when one alert has none).
    regions: set[str] = set()
    types: set[str] = set()
    if all(query.regions for _, query in queries):
        regions = {r for _, query in queries for r in query.regions}
    if all(query.types for _, query in queries):
        types = {k for _, query in queries for k in query.types}
    filters = Filters(regions=frozenset(regions), types=frozenset(types))
    also = store.duplicates_of([i.id for i in items])
    return build_digest(items, start=start, end=end, filters=filters, also_in=also)


def digest_messages(
    store: Store,
    queries: Sequence[tuple[str, Query]],
    start: datetime,
    end: datetime,
    lang: str,
    *,
    title_key: str,
) -> list[str]:
    """The digest messages of some (name, query) of one chat (none when nothing matched)."""
    digest = profile_digest(store, queries, start, end)
    return render_profile_digest(digest, queries, lang, title_key) if digest else []


def render_profile_digest(
    digest: Digest, queries: Sequence[tuple[str, Query]], lang: str, title_key: str
) -> list[str]:
    """A digest's messages, naming under the title the alerts it answers."""
    chunks = digest_html(digest, lang, title_key=title_key)
    names = ", ".join(name for name, _ in queries if name)
    if names:  # under the title line: which alerts this digest answers
        header = "🔔 " + esc(names[:300])
        title, _, rest = chunks[0].partition("\n")
        if len(chunks[0]) + len(header) + 1 <= TELEGRAM_LIMIT:
            chunks[0] = f"{title}\n{header}\n{rest}" if rest else f"{title}\n{header}"
        else:
            chunks.insert(1, header)
    return chunks


def enqueue_due_profile_digests(
    store: Store,
    chats: ChatStore,
    now: datetime,
    *,
    batch: int = 500,
    web: WebLinks | None = None,
) -> int:
    """Queue the digest of every due profile (one per chat and time slot); reschedule them.

    A weekly digest comes with the map of the chat's week (and a link to its web page when the
    web window is on), then its chart."""
    profiles = AlertStore(store)
    charts: ChartCache = {}  # one chart per distinct counts
    maps: set[str] = set()  # maps stored this round
    queued = 0
    while True:
        due = profiles.due(now, limit=batch)
        for chat_id, own in profiles_by_chat(due).items():
            slots: dict[datetime, list[AlertProfile]] = {}
            for p in own:
                slots.setdefault(p.next_digest_at or now, []).append(p)
            for slot, group in slots.items():
                queued += _enqueue_slot(
                    store, chats, profiles, chat_id, slot, group, now, charts, maps, web
                )
        if len(due) < batch:
            return queued


def week_text(profiles: Sequence[AlertProfile]) -> str:
    """The query of a digest's web page: its one alert's, or everything when it answers several."""
    return profiles[0].text if len(profiles) == 1 else ""


@dataclass(frozen=True)
class DigestMessages:
    """A digest as it is sent: HTML messages, then pictures (media key, HTML caption)."""

    texts: tuple[str, ...]
    pictures: tuple[tuple[str, str], ...] = ()


def compose_digest(
    store: Store,
    chats: ChatStore,
    group: Sequence[AlertProfile],
    now: datetime,
    *,
    lang: str,
    empty: str = "skip",
    web: WebLinks | None = None,
    charts: ChartCache | None = None,
    maps: set[str] | None = None,
) -> DigestMessages:
    """The digest of some profiles of one chat due now (the scheduled message and /digest alike).

    Weekly unless all of them are daily (the map of the week, with its web page's link when the
    window is on, then the chart); the period runs from their last digest, at most a week
    back. Nothing matched: no message, or one line when the chat chose `empty="line"`.
    Without profiles: every item of the week."""
    weekly = not group or not all(p.frequency == "daily" for p in group)  # instant: the week
    last = max((p.last_digest_at for p in group if p.last_digest_at), default=None)
    start, end = digest_period("weekly" if weekly else "daily", now, last)
    title = "digest_title" if weekly else "digest_daily_title"
    queries = [(p.name, p.query) for p in group] or [("", Query())]
    digest = profile_digest(store, queries, start, end)
    if digest is None:
        if empty != "line":
            return DigestMessages(())
        names = esc(", ".join(p.name for p in group)[:300])
        return DigestMessages(
            (t(lang, "digest_empty_line", title=esc(t(lang, title)), names=names),)
        )
    texts = render_profile_digest(digest, queries, lang, title)
    if not weekly:
        return DigestMessages(tuple(texts))
    caption = esc(t(lang, "map_caption"))
    if web is not None:
        caption += "\n" + week_line(web, week_text(group), start, end, lang)
    pictures = [(map_key(chats, digest, lang, now, maps), caption)]
    chart = chart_key(chats, digest, lang, now, charts)
    if chart:
        pictures.append((chart, esc(t(lang, "chart_title"))))
    return DigestMessages(tuple(texts), tuple(pictures))


def _enqueue_slot(
    store: Store,
    chats: ChatStore,
    profiles: AlertStore,
    chat_id: int,
    slot: datetime,
    group: list[AlertProfile],
    now: datetime,
    charts: ChartCache,
    maps: set[str],
    web: WebLinks | None,
) -> int:
    lang = group[0].language
    composed = compose_digest(
        store,
        chats,
        group,
        now,
        lang=lang,
        empty=group[0].empty_digest,
        web=web,
        charts=charts,
        maps=maps,
    )
    key = f"digest:{chat_id}:a{min(p.id for p in group)}:{slot:%Y%m%dT%H%M}"
    messages: list[dict[str, Any]] = [
        {
            "chat_id": chat_id,
            "kind": "digest",
            "dedup_key": f"{key}:{n}",
            "payload": message_payload(text),
        }
        for n, text in enumerate(composed.texts)
    ]
    for media, caption in composed.pictures:
        kind = "map" if media.startswith("map-") else "chart"
        messages.append(
            {
                "chat_id": chat_id,
                "kind": kind,
                "dedup_key": f"{key}:{kind}",
                "payload": media_payload(media, caption),
            }
        )
    added = Outbox(store).enqueue(messages, now) if messages else 0
    for p in group:
        following = next_digest_time(p.frequency, p.weekday, p.hour, p.timezone, max(now, slot))
        profiles.update(p.id, chat_id, last_digest_at=now, next_digest_at=following)
    log.info(
        "profile digest chat=%s alerts=%d messages=%d skipped_empty=%s",
        chat_id,
        len(group),
        len(messages),
        not messages,
    )
    return added
