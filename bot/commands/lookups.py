"""Look-ups: /region, /type, /search, /latest, /regions and /help, paged with buttons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from bot.commands.callbacks import encode
from bot.commands.reply import Button, Ctx, Reply, excerpt
from bot.i18n import t, type_label
from bot.query.parse import resolve_type
from bot.render import esc, item_line, split_chunks
from bot.store.rows import StoredItem
from classifiers.taxonomy import REGIONS, TYPES

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


def region(ctx: Ctx, query: str, page: int = 0, days: int = 30) -> Reply:
    """/region <name>: the latest items of a region, newest first, paged."""
    query = query.strip()
    if not query:
        return Reply((t(ctx.lang, "region_usage"),))
    name = ctx.gazetteer.resolve_region(query[:MAX_QUERY_CHARS])
    if name is None:
        text = t(ctx.lang, "region_unknown", query=excerpt(query))
        suggestions = ctx.gazetteer.suggest_regions(query[:MAX_QUERY_CHARS])
        if suggestions:
            text += "\n" + t(
                ctx.lang, "region_suggest", names=", ".join(esc(s) for s in suggestions)
            )
        buttons = tuple((Button(s, encode("rg", s, 0)),) for s in suggestions if s in REGIONS)
        return Reply((text,), buttons)
    items = ctx.store.recent_items(
        regions=[name], since=ctx.now - timedelta(days=days), limit=PAGE + 1, offset=page * PAGE
    )
    return _listing(
        ctx,
        t(ctx.lang, "region_title", region=esc(name)),
        items,
        page,
        t(ctx.lang, "region_none", region=esc(name)),
        lambda p: encode("rg", name, p),
    )


def type_(ctx: Ctx, query: str, page: int = 0, days: int = 30) -> Reply:
    """/type <type>: the latest items of an initiative type."""
    names = ", ".join(type_label(k, ctx.lang) for k in TYPES)
    if not query.strip():
        return Reply((t(ctx.lang, "type_usage", names=names),))
    kind = resolve_type(query[:MAX_QUERY_CHARS])
    if kind is None:
        return Reply((t(ctx.lang, "type_unknown", query=excerpt(query), names=names),))
    items = ctx.store.recent_items(
        types=[kind], since=ctx.now - timedelta(days=days), limit=PAGE + 1, offset=page * PAGE
    )
    label = type_label(kind, ctx.lang)
    return _listing(
        ctx,
        t(ctx.lang, "type_title", type=esc(label)),
        items,
        page,
        t(ctx.lang, "none"),
        lambda p: encode("ty", kind, p),
    )


def search(ctx: Ctx, query: str, page: int = 0) -> Reply:
    """/search <words>: full-text search, newest first."""
    query = " ".join(query.split())[:MAX_QUERY_CHARS]
    if not query:
        return Reply((t(ctx.lang, "search_usage"),))
    items = ctx.store.recent_items(search=query, limit=PAGE + 1, offset=page * PAGE)
    # The page goes before the query in the button: a long query is cut to fit, the page never.
    return _listing(
        ctx,
        t(ctx.lang, "search_title", query=excerpt(query)),
        items,
        page,
        t(ctx.lang, "search_none", query=excerpt(query)),
        lambda p: encode("se", p, query),
    )


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
