"""Bot commands as plain functions: (context, argument) -> Reply. Telegram and the terminal adapt them.

Callback data (<= 64 bytes): s:* subscription keyboard, rg:/ty:/se:/la: paging, fx:* corrections.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.digest import Filters, build_digest, digest_period, next_digest_time
from bot.i18n import WEEKDAYS, t, type_label
from bot.render import digest_html, esc, item_line, split_chunks
from bot.store.chats import ChatSettings, ChatStore
from bot.store.repo import Store, StoredItem
from classifiers.gazetteer import Gazetteer
from classifiers.taxonomy import REGIONS, TYPE_LABELS_EN, TYPE_LABELS_FR, TYPES

PAGE = 8
REGIONS_PER_PAGE = 6
TYPE_ALIASES: dict[str, str] = {
    **{v: k for k, v in TYPE_LABELS_FR.items()},
    **{v: k for k, v in TYPE_LABELS_EN.items()},
    **{k: k for k in TYPES},
    "strategie": "strategy",
    "plan": "strategy",
    "financements": "funding",
    "financement": "funding",
    "subvention": "funding",
    "appel a projets": "funding",
    "evenement": "event",
    "événements": "event",
    "evenements": "event",
    "evenementiel": "event",
    "partenariats": "partnership",
    "cooperation": "partnership",
    "coopération": "partnership",
    "formations": "training",
    "accompagnement": "business_support",
    "soutien": "business_support",
    "business-support": "business_support",
    "support": "business_support",
    "entreprises": "business_support",
    "recherches": "research",
    "labo": "research",
}


@dataclass(frozen=True)
class Button:
    """An inline button: label and callback data (<= 64 bytes)."""

    text: str
    data: str


@dataclass(frozen=True)
class Reply:
    """What a command answers: HTML messages and rows of buttons under the last one."""

    messages: tuple[str, ...]
    buttons: tuple[tuple[Button, ...], ...] = field(default_factory=tuple)
    photo: bytes | None = None

    @property
    def text(self) -> str:
        """All messages joined (for tests and the terminal)."""
        return "\n\n".join(self.messages)


@dataclass(frozen=True)
class Ctx:
    """What a command may read: the stores, the gazetteer, the clock's now, who is asking."""

    store: Store
    chats: ChatStore
    gazetteer: Gazetteer
    now: datetime
    chat_id: int
    lang: str = "fr"
    is_admin: bool = False
    chat_type: str = "private"


def resolve_type(query: str) -> str | None:
    """A type from its French or English name (accents optional)."""
    q = query.strip().lower().replace("_", " ")
    if q in TYPE_ALIASES:
        return TYPE_ALIASES[q]
    from bot.feeds.normalize import fold_key

    folded = fold_key(q)
    for alias, kind in TYPE_ALIASES.items():
        if fold_key(alias) == folded:
            return kind
    return None


def pager(prefix: str, page: int, has_more: bool, lang: str) -> tuple[tuple[Button, ...], ...]:
    """Previous/next buttons for a paged list."""
    row = []
    if page > 0:
        row.append(Button(t(lang, "prev"), _cb(f"{prefix}:{page - 1}")))
    if has_more:
        row.append(Button(t(lang, "more"), _cb(f"{prefix}:{page + 1}")))
    return (tuple(row),) if row else ()


def _cb(data: str) -> str:
    """Callback data cut to Telegram's 64 bytes."""
    raw = data.encode("utf-8")[:64]
    return raw.decode("utf-8", errors="ignore")


def _listing(
    ctx: Ctx, head: str, items: list[StoredItem], prefix: str, page: int, empty: str
) -> Reply:
    has_more = len(items) > PAGE
    items = items[:PAGE]
    if not items:
        return Reply((empty,))
    also = ctx.store.duplicates_of([i.id for i in items])
    if page:
        head += f" ({t(ctx.lang, 'page', page=page + 1)})"
    blocks = [head, *(item_line(i, ctx.lang, also_in=also.get(i.id, ())) for i in items)]
    return Reply(tuple(split_chunks(blocks)), pager(prefix, page, has_more, ctx.lang))


# ---- lookups ------------------------------------------------------------------------------


def region(ctx: Ctx, query: str, page: int = 0, days: int = 30) -> Reply:
    """/region <name>: the latest items of a region, newest first, paged."""
    query = query.strip()
    if not query:
        return Reply((t(ctx.lang, "region_usage"),))
    name = ctx.gazetteer.resolve_region(query)
    if name is None:
        text = t(ctx.lang, "region_unknown", query=esc(query))
        suggestions = ctx.gazetteer.suggest_regions(query)
        if suggestions:
            text += "\n" + t(
                ctx.lang, "region_suggest", names=", ".join(esc(s) for s in suggestions)
            )
        buttons = tuple(
            (Button(s, _cb(f"rg:{REGIONS.index(s)}:0")),) for s in suggestions if s in REGIONS
        )
        return Reply((text,), buttons)
    items = ctx.store.recent_items(
        regions=[name], since=ctx.now - timedelta(days=days), limit=PAGE + 1, offset=page * PAGE
    )
    return _listing(
        ctx,
        t(ctx.lang, "region_title", region=esc(name)),
        items,
        f"rg:{REGIONS.index(name)}",
        page,
        t(ctx.lang, "region_none", region=esc(name)),
    )


def type_(ctx: Ctx, query: str, page: int = 0, days: int = 30) -> Reply:
    """/type <type>: the latest items of an initiative type."""
    names = ", ".join(type_label(k, ctx.lang) for k in TYPES)
    if not query.strip():
        return Reply((t(ctx.lang, "type_usage", names=names),))
    kind = resolve_type(query)
    if kind is None:
        return Reply((t(ctx.lang, "type_unknown", query=esc(query.strip()), names=names),))
    items = ctx.store.recent_items(
        types=[kind], since=ctx.now - timedelta(days=days), limit=PAGE + 1, offset=page * PAGE
    )
    label = type_label(kind, ctx.lang)
    return _listing(
        ctx,
        t(ctx.lang, "type_title", type=esc(label)),
        items,
        f"ty:{kind}",
        page,
        t(ctx.lang, "none"),
    )


def search(ctx: Ctx, query: str, page: int = 0) -> Reply:
    """/search <words>: full-text search, newest first."""
    query = query.strip()
    if not query:
        return Reply((t(ctx.lang, "search_usage"),))
    items = ctx.store.recent_items(search=query, limit=PAGE + 1, offset=page * PAGE)
    return _listing(
        ctx,
        t(ctx.lang, "search_title", query=esc(query)),
        items,
        _cb(f"se:{query}")[:58],
        page,
        t(ctx.lang, "search_none", query=esc(query)),
    )


def latest(ctx: Ctx, page: int = 0) -> Reply:
    """/latest: the newest items."""
    items = ctx.store.recent_items(limit=PAGE + 1, offset=page * PAGE)
    return _listing(ctx, t(ctx.lang, "latest_title"), items, "la", page, t(ctx.lang, "none"))


def regions_count(ctx: Ctx) -> Reply:
    """/regions: items per region over the last 7 days."""
    counts = ctx.store.label_counts("region", ctx.now - timedelta(days=7))
    lines = [t(ctx.lang, "regions_title")]
    for name in sorted(REGIONS, key=lambda r: (-counts.get(r, 0), r)):
        lines.append(f"{esc(name)} : {counts.get(name, 0)}")
    return Reply(("\n".join(lines),))


def why(ctx: Ctx, arg: str) -> Reply:
    """/why <item>: the evidence behind an item's tags, with buttons to correct them."""
    match = re.search(r"\d+", arg or "")
    if not match:
        return Reply((t(ctx.lang, "why_usage"),))
    item_id = int(match.group())
    found = ctx.store.recent_items(
        ids=[item_id], topic_only=False, include_duplicates=True, limit=1
    )
    if not found:
        return Reply((t(ctx.lang, "why_unknown", id=item_id),))
    item = found[0]
    result = ctx.store.item_result(item_id)
    lines = [t(ctx.lang, "why_title"), item_line(item, ctx.lang, with_id=False)]
    if result is None:
        return Reply(("\n".join([*lines, t(ctx.lang, "why_untagged")]),))
    ev, scores = result.get("evidence", {}), result.get("scores", {})
    for r in result.get("regions", []):
        words = ", ".join(ev.get("regions", {}).get(r, [])[:6])
        lines.append(f"📍 {esc(r)} ({scores.get('regions', {}).get(r, '?')}) ← {esc(words)}")
    for c in result.get("countries", []):
        words = ", ".join(ev.get("countries", {}).get(c, [])[:4])
        lines.append(f"🌍 {esc(c)} ← {esc(words)}")
    if result.get("national"):
        lines.append(f"🇫🇷 national ← {esc(', '.join(ev.get('national', [])[:4]))}")
    for kind in result.get("types", []):
        words = ", ".join(ev.get("types", {}).get(kind, [])[:5])
        mark = "★ " if kind == result.get("primary_type") else ""
        lines.append(
            f"🏷 {mark}{esc(type_label(kind, ctx.lang))} "
            f"({scores.get('types', {}).get(kind, '?')}) ← {esc(words)}"
        )
    lines.append(
        f"🤖 IA : {'oui' if result.get('topic_ai') else 'non'} ({scores.get('topic_ai', '?')})"
    )
    lines.append(t(ctx.lang, "why_fix"))
    buttons = (
        (
            Button(t(ctx.lang, "fix_region"), f"fx:{item_id}:R"),
            Button(t(ctx.lang, "fix_type"), f"fx:{item_id}:T"),
            Button(t(ctx.lang, "fix_offtopic"), f"fx:{item_id}:n"),
        ),
    )
    return Reply(("\n".join(lines),), buttons)


def correction_keyboard(ctx: Ctx, item_id: int, what: str) -> Reply:
    """The choices offered after pressing 'fix region' or 'fix type'."""
    if what == "R":
        rows = [
            tuple(Button(r, f"fx:{item_id}:r:{i}") for i, r in enumerate(REGIONS[k : k + 3], k))
            for k in range(0, len(REGIONS), 3)
        ]
        return Reply((t(ctx.lang, "fix_pick_region"),), tuple(rows))
    rows = [
        tuple(
            Button(type_label(x, ctx.lang), f"fx:{item_id}:t:{i}")
            for i, x in enumerate(TYPES[k : k + 2], k)
        )
        for k in range(0, len(TYPES), 2)
    ]
    return Reply((t(ctx.lang, "fix_pick_type"),), tuple(rows))


def save_correction(ctx: Ctx, item_id: int, what: str, index: int | None) -> Reply:
    """Store a correction pressed on a /why keyboard."""
    from bot.corrections import add_correction

    if what == "r" and index is not None and 0 <= index < len(REGIONS):
        add_correction(
            ctx.store, item_id, "regions", [REGIONS[index]], chat_id=ctx.chat_id, now=ctx.now
        )
    elif what == "t" and index is not None and 0 <= index < len(TYPES):
        add_correction(
            ctx.store, item_id, "primary_type", TYPES[index], chat_id=ctx.chat_id, now=ctx.now
        )
    elif what == "n":
        add_correction(ctx.store, item_id, "topic_ai", False, chat_id=ctx.chat_id, now=ctx.now)
    else:
        return Reply((t(ctx.lang, "why_usage"),))
    return Reply((t(ctx.lang, "fix_saved"),))


# ---- subscriptions ------------------------------------------------------------------------


def describe_settings(ctx: Ctx, chat: ChatSettings) -> str:
    """The chat's settings as text."""
    lang = ctx.lang
    none = t(lang, "none_set")
    if chat.digest == "off":
        digest = t(lang, "digest_off")
    elif chat.digest == "daily":
        digest = t(lang, "digest_daily", hour=chat.digest_hour)
    else:
        digest = t(
            lang, "digest_weekly", day=WEEKDAYS[lang][chat.digest_weekday], hour=chat.digest_hour
        )
    return "\n".join(
        [
            t(lang, "settings_title"),
            t(lang, "settings_regions", v=esc(", ".join(sorted(chat.regions))) or t(lang, "all")),
            t(
                lang,
                "settings_types",
                v=esc(", ".join(type_label(x, lang) for x in sorted(chat.types))) or t(lang, "all"),
            ),
            t(lang, "settings_keywords", v=esc(", ".join(chat.keywords)) or none),
            t(lang, "settings_excludes", v=esc(", ".join(chat.excludes)) or none),
            t(lang, "settings_alerts", v=t(lang, "on") if chat.alerts else t(lang, "off")),
            t(lang, "settings_digest", v=digest),
        ]
    )


def settings(ctx: Ctx) -> Reply:
    """/settings: this chat's settings."""
    chat = ctx.chats.get(ctx.chat_id)
    if chat is None:
        return Reply((t(ctx.lang, "help"),))
    return Reply((describe_settings(ctx, chat),))


def subscribe_keyboard(ctx: Ctx, page: int = 0) -> Reply:
    """The /subscribe keyboard: regions (paged, ✓ ticked), types, alerts, digest, day and hour."""
    chat = ctx.chats.get(ctx.chat_id)
    assert chat is not None
    lang = ctx.lang
    rows: list[tuple[Button, ...]] = []
    start = page * REGIONS_PER_PAGE
    shown = list(enumerate(REGIONS))[start : start + REGIONS_PER_PAGE]
    for k in range(0, len(shown), 2):
        rows.append(
            tuple(
                Button(("✓ " if r in chat.regions else "") + r, f"s:r:{i}:{page}")
                for i, r in shown[k : k + 2]
            )
        )
    pages = (len(REGIONS) + REGIONS_PER_PAGE - 1) // REGIONS_PER_PAGE
    rows.append(
        (
            Button("◀", f"s:p:{(page - 1) % pages}"),
            Button(f"{page + 1}/{pages}", f"s:p:{page}"),
            Button("▶", f"s:p:{(page + 1) % pages}"),
        )
    )
    for k in range(0, len(TYPES), 3):
        rows.append(
            tuple(
                Button(("✓ " if x in chat.types else "") + type_label(x, lang), f"s:t:{i}:{page}")
                for i, x in enumerate(TYPES[k : k + 3], k)
            )
        )

    def mark(on: bool) -> str:
        return "✓ " if on else ""

    rows.append(
        (
            Button(mark(chat.alerts) + t(lang, "btn_alerts"), f"s:a:{page}"),
            Button(mark(chat.digest == "daily") + t(lang, "btn_daily"), f"s:d:daily:{page}"),
            Button(mark(chat.digest == "weekly") + t(lang, "btn_weekly"), f"s:d:weekly:{page}"),
            Button(mark(chat.digest == "off") + t(lang, "btn_off"), f"s:d:off:{page}"),
        )
    )
    rows.append(
        (
            Button(t(lang, "btn_day", day=WEEKDAYS[lang][chat.digest_weekday]), f"s:w:{page}"),
            Button(t(lang, "btn_hour", hour=chat.digest_hour), f"s:h:{page}"),
            Button(t(lang, "btn_done"), "s:x"),
        )
    )
    text = t(lang, "sub_keyboard") + "\n\n" + describe_settings(ctx, chat)
    return Reply((text,), tuple(rows))


def _reschedule(ctx: Ctx, chat_id: int) -> None:
    chat = ctx.chats.get(chat_id)
    if chat is None:
        return
    when = next_digest_time(
        chat.digest, chat.digest_weekday, chat.digest_hour, chat.timezone, ctx.now
    )
    ctx.chats.update(chat_id, next_digest_at=when)


def subscribe_press(ctx: Ctx, data: str) -> Reply:
    """Apply a press on the subscription keyboard and redraw it."""
    parts = data.split(":")
    chat = ctx.chats.get(ctx.chat_id)
    if chat is None:
        return Reply((t(ctx.lang, "help"),))
    page = int(parts[-1]) if parts[-1].isdigit() else 0
    kind = parts[1]
    if kind == "r":
        name = REGIONS[int(parts[2])]
        ctx.chats.set_subscription(ctx.chat_id, "region", name, name not in chat.regions)
    elif kind == "t":
        name = TYPES[int(parts[2])]
        ctx.chats.set_subscription(ctx.chat_id, "type", name, name not in chat.types)
    elif kind == "a":
        ctx.chats.update(ctx.chat_id, alerts=not chat.alerts, alerts_since=ctx.now)
    elif kind == "d":
        ctx.chats.update(ctx.chat_id, digest=parts[2])
        _reschedule(ctx, ctx.chat_id)
    elif kind == "w":
        ctx.chats.update(ctx.chat_id, digest_weekday=(chat.digest_weekday + 1) % 7)
        _reschedule(ctx, ctx.chat_id)
    elif kind == "h":
        ctx.chats.update(ctx.chat_id, digest_hour=(chat.digest_hour + 1) % 24)
        _reschedule(ctx, ctx.chat_id)
    elif kind == "x":
        updated = ctx.chats.get(ctx.chat_id)
        assert updated is not None
        return Reply((t(ctx.lang, "sub_done") + "\n\n" + describe_settings(ctx, updated),))
    return subscribe_keyboard(ctx, page)


def _parse_sub_args(arg: str) -> list[tuple[str, str]]:
    """('region'|'type'|'keyword'|'exclude'|'alerts'|'digest'|'unknown', value) from the argument."""
    try:
        tokens = shlex.split(
            arg.replace("«", '"').replace("»", '"').replace("“", '"').replace("”", '"')
        )
    except ValueError:
        tokens = arg.split()
    out: list[tuple[str, str]] = []
    i = 0
    words = {"mot", "mots", "keyword", "keywords", "mot-clé", "mot-cle", "kw"}
    while i < len(tokens):
        tok = tokens[i]
        low = tok.lower()
        if low.lstrip("-") in words and i + 1 < len(tokens):
            out.append(("exclude" if low.startswith("-") else "keyword", tokens[i + 1]))
            i += 2
            continue
        if low in {"alertes", "alerte", "alerts", "alert", "instant"}:
            out.append(("alerts", "on"))
        elif low in {"hebdo", "hebdomadaire", "weekly", "semaine"}:
            out.append(("digest", "weekly"))
        elif low in {"quotidien", "quotidienne", "daily", "jour"}:
            out.append(("digest", "daily"))
        elif low in {"national", "nationale", "france"}:
            out.append(("region", "national"))
        else:
            out.append(("term", tok))
        i += 1
    return out


def _resolve_terms(ctx: Ctx, arg: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Subscriptions named in the argument, and the parts that were not understood."""
    found: list[tuple[str, str]] = []
    unknown: list[str] = []
    pending: list[str] = []
    parsed = _parse_sub_args(arg)

    def flush() -> None:
        if not pending:
            return
        text = " ".join(pending)
        kind = resolve_type(text)
        name = None if kind else ctx.gazetteer.resolve_region(text)
        if kind:
            found.append(("type", kind))
        elif name:
            found.append(("region", name))
        else:  # try word by word ("Bretagne Normandie")
            for word in pending:
                k, n = resolve_type(word), ctx.gazetteer.resolve_region(word)
                if k:
                    found.append(("type", k))
                elif n:
                    found.append(("region", n))
                else:
                    unknown.append(word)
        pending.clear()

    for kind, value in parsed:
        if kind == "term":
            pending.append(value)
            continue
        flush()
        found.append((kind, value))
    flush()
    return found, unknown


def _describe(found: list[tuple[str, str]], lang: str) -> str:
    parts = []
    for kind, value in found:
        if kind == "type":
            parts.append(type_label(value, lang))
        elif kind == "keyword":
            parts.append(f"« {value} »" if lang == "fr" else f"“{value}”")
        elif kind == "exclude":
            parts.append(f"-« {value} »" if lang == "fr" else f"-“{value}”")
        elif kind == "alerts":
            parts.append(t(lang, "btn_alerts").lower())
        elif kind == "digest":
            parts.append(t(lang, "btn_weekly" if value == "weekly" else "btn_daily").lower())
        else:
            parts.append(value)
    return esc(", ".join(parts))


def subscribe(ctx: Ctx, arg: str) -> Reply:
    """/subscribe [names]: the keyboard, or shortcuts for regions, types, keywords, alerts, digest."""
    if not arg.strip():
        return subscribe_keyboard(ctx)
    found, unknown = _resolve_terms(ctx, arg)
    if unknown:
        suggestions = ctx.gazetteer.suggest_regions(" ".join(unknown))
        text = t(ctx.lang, "region_unknown", query=esc(" ".join(unknown)))
        if suggestions:
            text += "\n" + t(
                ctx.lang, "region_suggest", names=", ".join(esc(s) for s in suggestions)
            )
        return Reply((text,))
    chat = ctx.chats.get(ctx.chat_id)
    assert chat is not None
    for kind, value in found:
        if kind in {"region", "type", "keyword", "exclude"}:
            ctx.chats.set_subscription(ctx.chat_id, kind, value, True)
        elif kind == "alerts":
            ctx.chats.update(ctx.chat_id, alerts=True, alerts_since=ctx.now)
        elif kind == "digest":
            ctx.chats.update(ctx.chat_id, digest=value)
    lines = [t(ctx.lang, "subscribed", what=_describe(found, ctx.lang))]
    chat = ctx.chats.get(ctx.chat_id)
    assert chat is not None
    if not chat.subscribed:
        ctx.chats.update(ctx.chat_id, digest="weekly", digest_weekday=0, digest_hour=8)
        lines.append(t(ctx.lang, "default_digest"))
    _reschedule(ctx, ctx.chat_id)
    return Reply(("\n".join(lines),))


def unsubscribe(ctx: Ctx, arg: str) -> Reply:
    """/unsubscribe [names]: remove those subscriptions, or everything."""
    if not arg.strip():
        ctx.chats.clear_subscriptions(ctx.chat_id)
        return Reply((t(ctx.lang, "unsubscribed_all"),))
    found, unknown = _resolve_terms(ctx, arg)
    if unknown:
        return Reply((t(ctx.lang, "region_unknown", query=esc(" ".join(unknown))),))
    for kind, value in found:
        if kind in {"region", "type", "keyword", "exclude"}:
            ctx.chats.set_subscription(ctx.chat_id, kind, value, False)
        elif kind == "alerts":
            ctx.chats.update(ctx.chat_id, alerts=False)
        elif kind == "digest":
            ctx.chats.update(ctx.chat_id, digest="off", next_digest_at=None)
    return Reply((t(ctx.lang, "unsubscribed", what=_describe(found, ctx.lang)),))


def stop(ctx: Ctx) -> Reply:
    """/stop: delete everything about this chat."""
    ctx.chats.delete_chat(ctx.chat_id)
    return Reply((t(ctx.lang, "stopped"),))


def digest_preview(ctx: Ctx) -> Reply:
    """/digest: this chat's digest now, as a preview."""
    chat = ctx.chats.get(ctx.chat_id)
    filters = chat.filters if chat else Filters()
    frequency = chat.digest if chat and chat.digest != "off" else "weekly"
    start, end = digest_period(frequency, ctx.now, None)
    return Reply(
        tuple(
            render_digest(
                ctx.store,
                filters,
                start,
                end + timedelta(seconds=1),
                ctx.lang,
                title_key="digest_preview_title",
            )
        )
    )


def render_digest(
    store: Store,
    filters: Filters,
    start: datetime,
    end: datetime,
    lang: str,
    *,
    title_key: str = "digest_title",
) -> list[str]:
    """The digest messages of a period for some filters."""
    items = store.recent_items(
        since=start,
        until=end,
        limit=2000,
        regions=sorted(filters.regions - {"national"})
        if filters.regions and "national" not in filters.regions
        else (),
        types=sorted(filters.types),
    )
    also = store.duplicates_of([i.id for i in items])
    digest = build_digest(items, start=start, end=end, filters=filters, also_in=also)
    return digest_html(digest, lang, title_key=title_key)


def help_(ctx: Ctx) -> Reply:
    """/start, /help: what the bot does, with examples."""
    return Reply((t(ctx.lang, "help"),))
