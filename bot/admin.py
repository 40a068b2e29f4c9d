"""Admin commands (/feeds, /addfeed, /removefeed, /stats): plain functions, for configured admin chats."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.commands import Ctx, Reply
from bot.config import Settings
from bot.errors import FetchError, ParseError, UnsafeURL
from bot.feeds.fetcher import Fetcher
from bot.feeds.normalize import fold_key
from bot.feeds.parser import parse_feed
from bot.feeds.safety import check_public_url
from bot.i18n import t
from bot.render import esc, split_chunks


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
            f"❌ <code>{esc(f.id)}</code> depuis {since} — {esc((f.last_error or '')[:120])}"
        )
    for f in states:
        if f.status not in {"failing"} and f.enabled:
            lines.append(f"✅ <code>{esc(f.id)}</code> {f.items_total}")
    return Reply(tuple(split_chunks(lines)))


async def addfeed(ctx: Ctx, settings: Settings, url: str) -> Reply:
    """/addfeed <url>: refused for private addresses; fetched and parsed before it is added."""
    url = url.strip()
    if not re.match(r"^https?://\S+$", url):
        return Reply((t(ctx.lang, "addfeed_usage"),))
    try:
        await check_public_url(url, allow_private=settings.allow_private_feeds)
        async with Fetcher(settings) as fetcher:
            result = await fetcher.fetch(url, now=ctx.now)
        if settings.allow_private_feeds is False and result.final_url != url:
            await check_public_url(result.final_url)
        parsed = parse_feed(result.body or b"", now=ctx.now, content_type=result.content_type)
    except (UnsafeURL, FetchError, ParseError) as exc:
        return Reply((t(ctx.lang, "addfeed_refused", reason=esc(str(exc))),))
    name = parsed.title or url
    base = re.sub(r"-+", "-", fold_key(name).replace(" ", "-")).strip("-")[:40] or "feed"
    taken = {f.id for f in ctx.store.feed_states()}
    feed_id, n = base, 2
    while feed_id in taken:
        feed_id, n = f"{base}-{n}", n + 1
    ctx.store.add_feed(feed_id, name[:300], result.final_url, ctx.now)
    return Reply((t(ctx.lang, "addfeed_ok", name=esc(name), n=len(parsed.items)),))


def removefeed(ctx: Ctx, feed_id: str) -> Reply:
    """/removefeed <id>: disable a source (its items stay)."""
    feed_id = feed_id.strip()
    if not feed_id:
        return Reply((t(ctx.lang, "removefeed_usage"),))
    if ctx.store.remove_feed(feed_id):
        return Reply((t(ctx.lang, "removefeed_ok", id=esc(feed_id)),))
    return Reply((t(ctx.lang, "removefeed_unknown", id=esc(feed_id)),))


def stats(ctx: Ctx) -> Reply:
    """/stats: items, feeds, chats and outbox counts."""
    counts = ctx.chats.counts()
    week = ctx.store.label_counts("type", ctx.now - timedelta(days=7))
    states = ctx.store.feed_states()
    lines = [
        t(ctx.lang, "stats_title"),
        f"items: {ctx.store.count_items()}",
        f"feeds: {len(states)} ({sum(f.status == 'ok' for f in states)} ok)",
        *(f"{k}: {v}" for k, v in counts.items()),
        "types (7 j): " + ", ".join(f"{k} {v}" for k, v in sorted(week.items())),
    ]
    return Reply(("\n".join(lines),))
