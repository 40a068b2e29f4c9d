"""Look-ups: /latest, /regions and /help, and the paged listing every list of items uses
(/search, /region and /type are questions in the query language: bot.commands.ask)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from bot.commands.callbacks import encode
from bot.commands.reply import Button, Ctx, Reply
from bot.i18n import t
from bot.render import esc, item_line, split_chunks
from bot.store.rows import StoredItem
from classifiers.taxonomy import REGIONS

PAGE = 8
MAX_QUERY_CHARS = 200  # a search longer than this is cut (nobody types more; FTS stays cheap)


def pager(
    page: int, has_more: bool, lang: str, data: Callable[[int], str]
) -> tuple[tuple[Button, ...], ...]:
    """Previous/next buttons for a paged list; data(page) is a page's callback data."""
    row = []
    if page > 0:
        row.append(Button(t(lang, "prev"), data(page - 1)))
    if has_more:
        row.append(Button(t(lang, "more"), data(page + 1)))
    return (tuple(row),) if row else ()


def _listing(
    ctx: Ctx,
    head: str,
    items: list[StoredItem],
    page: int,
    empty: str,
    data: Callable[[int], str],
) -> Reply:
    has_more = len(items) > PAGE
    items = items[:PAGE]
    if not items:
        return Reply((empty,))
    also = ctx.store.duplicates_of([i.id for i in items])
    if page:
        head += f" ({t(ctx.lang, 'page', page=page + 1)})"
    blocks = [head, *(item_line(i, ctx.lang, also_in=also.get(i.id, ())) for i in items)]
    return Reply(tuple(split_chunks(blocks)), pager(page, has_more, ctx.lang, data))


def latest(ctx: Ctx, page: int = 0) -> Reply:
    """/latest: the newest items."""
    items = ctx.store.recent_items(limit=PAGE + 1, offset=page * PAGE)
    return _listing(
        ctx,
        t(ctx.lang, "latest_title"),
        items,
        page,
        t(ctx.lang, "none"),
        lambda p: encode("la", p),
    )


def regions_count(ctx: Ctx) -> Reply:
    """/regions: items per region over the last 7 days."""
    counts = ctx.store.label_counts("region", ctx.now - timedelta(days=7))
    lines = [t(ctx.lang, "regions_title")]
    for name in sorted(REGIONS, key=lambda r: (-counts.get(r, 0), r)):
        lines.append(f"{esc(name)} : {counts.get(name, 0)}")
    return Reply(("\n".join(lines),))


def help_(ctx: Ctx) -> Reply:
    """/start, /help: what the bot does, with examples."""
    return Reply((t(ctx.lang, "help"),))
