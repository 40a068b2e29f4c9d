"""Questions in the query language: /search, /region, /type, plain text and unknown commands.

Each is a plain function (context, text) -> Reply like the other commands; all three
commands are the same parser with a different expectation (a region, a type, anything), so
`/region Bretagne financement` and `/type financement Bretagne` both work.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from bot.commands.callbacks import MAX_PAGE, encode
from bot.commands.lookups import COUNT_CAP, PAGE, _listing
from bot.commands.reply import Button, Ctx, Reply, excerpt
from bot.i18n import t, type_label
from bot.query.model import Query
from bot.query.parse import explain, parse
from bot.render import esc
from classifiers.taxonomy import REGIONS, TYPES


def chat_zone(ctx: Ctx) -> ZoneInfo:
    """The chat's time zone (Paris when unknown)."""
    chat = ctx.chats.get(ctx.chat_id)
    try:
        return ZoneInfo(chat.timezone if chat else "Europe/Paris")
    except (ValueError, KeyError, OSError):
        return ZoneInfo("Europe/Paris")


def understood(ctx: Ctx, query: Query, zone: ZoneInfo) -> str:
    """The 'what I understood' line, escaped, with the places read as their region."""
    line = "🔎 <b>" + excerpt(explain(query, ctx.lang, now=ctx.now, tz=zone), 300) + "</b>"
    notes = [
        f"{excerpt(shown, 40)} → {esc(region)}"
        for shown, region in query.places[:4]
        if region in REGIONS
    ]
    if notes:
        line += "\n<i>" + ", ".join(notes) + "</i>"
    if query.truncated:
        line += "\n" + t(ctx.lang, "ask_truncated")
    return line


def _suggestions(ctx: Ctx, query: Query) -> tuple[str, tuple[tuple[Button, ...], ...]]:
    """'Did you mean Lille (Hauts-de-France)?' for the free words, with region buttons."""
    found: list[tuple[str, str]] = []
    for word in query.unknown[:4]:
        if len(word) < 4 or word.isdigit():
            continue
        for place in ctx.gazetteer.suggest_places(word, limit=2):
            if place not in found:
                found.append(place)
    if not found:
        return "", ()
    names = ", ".join(
        esc(shown) if shown == region else f"{esc(shown)} ({esc(region)})"
        for shown, region in found[:4]
    )
    regions = list(dict.fromkeys(region for _, region in found if region in REGIONS))[:3]
    buttons = tuple((Button(r, encode("rg", r, 0)),) for r in regions)
    return t(ctx.lang, "region_suggest", names=names), buttons


def ask(ctx: Ctx, text: str, page: int = 0, *, expect: str = "") -> Reply:
    """Answer a query; expect='region' or 'type' when a command asked for one."""
    text = text.strip()
    if not text:
        usage = {"region": "region_usage", "type": "type_usage"}.get(expect, "search_usage")
        names = ", ".join(type_label(k, ctx.lang) for k in TYPES)
        return Reply((t(ctx.lang, usage, names=names),))
    zone = chat_zone(ctx)
    query = parse(text, ctx.gazetteer, now=ctx.now, tz=zone)
    if expect == "region" and not query.regions:
        hint, buttons = _suggestions(ctx, query)
        if not hint:  # no name is close: the regions that look most alike
            near = ctx.gazetteer.suggest_regions(text[:60])
            if near:
                hint = t(ctx.lang, "region_suggest", names=", ".join(esc(r) for r in near))
                buttons = tuple((Button(r, encode("rg", r, 0)),) for r in near if r in REGIONS)
        message = t(ctx.lang, "region_unknown", query=excerpt(text))
        return Reply(("\n".join(filter(None, (message, hint))),), buttons)
    if expect == "type" and not query.types:
        names = ", ".join(type_label(k, ctx.lang) for k in TYPES)
        return Reply((t(ctx.lang, "type_unknown", query=excerpt(text), names=names),))
    if query.empty:
        return Reply((t(ctx.lang, "ask_empty"),))
    items = ctx.store.recent_items(query=query, limit=PAGE + 1, offset=page * PAGE)
    head = understood(ctx, query, zone)
    if not items:
        hint, buttons = _suggestions(ctx, query)
        body = "\n".join(filter(None, (head, t(ctx.lang, "ask_none"), hint)))
        return Reply((body,), buttons)
    data = _page_data(query, text)
    total = ctx.store.count_listed(query=query, cap=COUNT_CAP)
    if data is None:  # too long to come back in a button: one page, and say so
        reply = _listing(ctx, head, items[:PAGE], page, "", lambda p: encode("se", p, "-"), total)
        if len(items) > PAGE:
            last = reply.messages[-1] + "\n" + t(ctx.lang, "ask_narrow")
            return Reply((*reply.messages[:-1], last))
        return reply
    return _listing(ctx, head, items, page, "", data, total)


def _page_data(query: Query, text: str) -> Callable[[int], str] | None:
    """Callback data that brings a page back: the region alone, or the whole text."""
    plain = (query.terms, query.excludes, query.period) == ((), (), None)
    if plain and not query.types and len(query.regions) == 1 and query.regions[0] in REGIONS:
        region = query.regions[0]
        return lambda p: encode("rg", region, p)
    if plain and not query.regions and len(query.types) == 1:
        kind = query.types[0]
        return lambda p: encode("ty", kind, p)
    line = " ".join(text.split())
    if line.isprintable() and encode("se", MAX_PAGE, line).endswith(":" + line):
        return lambda p: encode("se", p, line)
    return None


def search(ctx: Ctx, text: str, page: int = 0) -> Reply:
    """/search <query>: anything the query language says."""
    return ask(ctx, text, page)


def region(ctx: Ctx, text: str, page: int = 0) -> Reply:
    """/region <name> [more]: a region's items, narrowed by any other words."""
    return ask(ctx, text, page, expect="region")


def type_(ctx: Ctx, text: str, page: int = 0) -> Reply:
    """/type <type> [more]: a type's items, narrowed by any other words."""
    return ask(ctx, text, page, expect="type")


def nearest_command(name: str, names: list[str]) -> str | None:
    """The known command closest to a mistyped one ('serch' -> 'search'), if any is close."""
    name = name.lower()[:40]
    if not name:
        return None
    prefixed = [n for n in names if n.startswith(name) or name.startswith(n)]
    if prefixed:
        return min(prefixed, key=len)
    found = process.extractOne(name, names, scorer=Levenshtein.distance, score_cutoff=2)
    return str(found[0]) if found else None


def unknown_command(ctx: Ctx, name: str, names: list[str]) -> Reply:
    """An unknown /command: the nearest known one, and /help."""
    near = nearest_command(name, names)
    text = t(ctx.lang, "unknown_command_named", name=excerpt(name, 30))
    if near:
        text += " " + t(ctx.lang, "did_you_mean_command", name=near)
    return Reply((text + "\n" + t(ctx.lang, "see_help"),))
