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
COUNT_CAP = 200  # a list's total is counted up to this ('200+ articles · page 2'): cheap
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
    total: tuple[int, bool] | None = None,
) -> Reply:
    """A page of items under a heading: each line its linked title, source, date, regions and
    main type; the total and 'page 2/7' under the heading (Store.count_listed's (n, exact))."""
    has_more = len(items) > PAGE
    items = items[:PAGE]
    if not items:
        return Reply((empty,))
    also = ctx.store.duplicates_of([i.id for i in items])
    head += "\n" + _position(ctx.lang, page, has_more, total)
    blocks = [
        head,
        *(item_line(i, ctx.lang, also_in=also.get(i.id, ()), tags=True) for i in items),
    ]
    return Reply(tuple(split_chunks(blocks)), pager(page, has_more, ctx.lang, data))


def _position(lang: str, page: int, has_more: bool, total: tuple[int, bool] | None) -> str:
    """'37 article(s) · page 2/5'; '1000+ articles · page 2' when the count stopped short."""
    if total is None:
        return "<i>" + t(lang, "page", page=page + 1) + "</i>"
    n, exact = total
    n = max(n, page * PAGE + (PAGE + 1 if has_more else 1))  # what this page shows exists
    if not exact:
        return "<i>" + t(lang, "list_position_many", n=f"{n}+", page=page + 1) + "</i>"
    pages = -(-n // PAGE)
    return "<i>" + t(lang, "list_position", n=n, page=page + 1, pages=pages) + "</i>"


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
        ctx.store.count_listed(cap=COUNT_CAP),
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
