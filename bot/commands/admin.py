"""Admin commands (/feeds, /addfeed, /removefeed, /stats): plain functions, for configured admin chats."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.commands.reply import Ctx, Reply, excerpt
from bot.errors import FetchError, ParseError, UnsafeURL
from bot.feeds.parser import parse_feed
from bot.feeds.user_url import fetch_user_url
from bot.i18n import t
from bot.render import esc, split_chunks
from classifiers.text import slugify

MAX_URL_CHARS = 2000


def feeds(ctx: Ctx) -> Reply:
    """/feeds: health of every source."""
    states = ctx.store.feed_states()
    ok = sum(f.status == "ok" for f in states)
    failing = [f for f in states if f.status == "failing"]
    off = sum(not f.enabled for f in states)
    lines = [t(ctx.lang, "feeds_title", ok=ok, failing=len(failing), off=off)]
    for f in failing:
        since = f"{f.failing_since:%d/%m %H:%M}" if f.failing_since else "?"
        lines.append(
            t(
                ctx.lang,
                "feeds_failing",
                id=esc(f.id),
                since=since,
                error=esc((f.last_error or "")[:120]),
            )
        )
    for f in states:
        if f.status not in {"failing"} and f.enabled:
            lines.append(f"✅ <code>{esc(f.id)}</code> {f.items_total}")
    return Reply(tuple(split_chunks(lines)))


async def addfeed(ctx: Ctx, url: str) -> Reply:
    """/addfeed <url>: refused for private addresses; fetched and parsed before it is added."""
    url = url.strip()
    if len(url) > MAX_URL_CHARS or not re.match(r"^https?://\S+$", url):
        return Reply((t(ctx.lang, "addfeed_usage"),))
    try:
        result = await fetch_user_url(ctx.settings, url, now=ctx.now)
        parsed = parse_feed(result.body or b"", now=ctx.now, content_type=result.content_type)
    except (UnsafeURL, FetchError, ParseError) as exc:
        return Reply((t(ctx.lang, "addfeed_refused", reason=excerpt(str(exc), 300)),))
    name = parsed.title or url
    feed_id = slugify(name, max_len=40, taken={f.id for f in ctx.store.feed_states()})
    ctx.store.add_feed(feed_id, name[:300], result.final_url, ctx.now)
    return Reply((t(ctx.lang, "addfeed_ok", name=esc(name[:300]), n=len(parsed.items)),))


def removefeed(ctx: Ctx, feed_id: str) -> Reply:
    """/removefeed <id>: disable a source (its items stay)."""
    feed_id = feed_id.strip()
    if not feed_id:
        return Reply((t(ctx.lang, "removefeed_usage"),))
    if len(feed_id) <= 64 and ctx.store.remove_feed(feed_id):
        return Reply((t(ctx.lang, "removefeed_ok", id=esc(feed_id)),))
    return Reply((t(ctx.lang, "removefeed_unknown", id=excerpt(feed_id)),))


def stats(ctx: Ctx) -> Reply:
    """/stats: items, feeds, chats and outbox counts."""
    counts = ctx.chats.counts()
    week = ctx.store.label_counts("type", ctx.now - timedelta(days=7))
    states = ctx.store.feed_states()
    lines = [
        t(ctx.lang, "stats_title"),
        t(ctx.lang, "stats_items", n=ctx.store.count_items()),
        t(ctx.lang, "stats_feeds", n=len(states), ok=sum(f.status == "ok" for f in states)),
        *(f"{k}: {v}" for k, v in counts.items()),
        t(ctx.lang, "stats_types", v=", ".join(f"{k} {v}" for k, v in sorted(week.items()))),
    ]
    return Reply(("\n".join(lines),))
