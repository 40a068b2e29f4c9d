"""/subscribe (keyboard and shortcuts), /unsubscribe, /settings, /stop, /lang and /digest."""

from __future__ import annotations

import shlex
from datetime import timedelta

from bot.commands.callbacks import encode
from bot.commands.reply import Button, Ctx, Reply, excerpt
from bot.digest import digest_period, next_digest_time, select_digest
from bot.i18n import WEEKDAYS, t, type_label
from bot.query.parse import resolve_type
from bot.render import digest_html, esc
from bot.store.chats import ChatSettings
from bot.store.rows import Filters
from bot.weblinks import WebLinks, filters_query, week_line
from classifiers.taxonomy import REGIONS, TYPES

REGIONS_PER_PAGE = 6
PAGES = (len(REGIONS) + REGIONS_PER_PAGE - 1) // REGIONS_PER_PAGE
MAX_KEYWORD_CHARS = 100  # the subscriptions.value column holds 200
MAX_KEYWORDS = 30  # keywords and exclusions of one chat together
MAX_TERMS = 40  # names in one /subscribe message
KEYWORD_WORDS = {"mot", "mots", "keyword", "keywords", "mot-clé", "mot-cle", "kw"}


# ---- the chat's settings ------------------------------------------------------------------


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
    text = describe_settings(ctx, chat)
    web = WebLinks.from_settings(ctx.settings)
    if web is not None:
        query = filters_query(chat.filters)
        text += "\n\n" + t(ctx.lang, "web_feed_line", url=esc(web.feed(query, ctx.lang)))
        text += "\n" + t(ctx.lang, "web_opml_line", url=esc(web.opml([query], ctx.lang)))
    return Reply((text,))


def stop(ctx: Ctx) -> Reply:
    """/stop: delete everything about this chat."""
    ctx.chats.delete_chat(ctx.chat_id)
    return Reply((t(ctx.lang, "stopped"),))


def lang(ctx: Ctx, arg: str) -> Reply:
    """/lang fr|en: the language of this chat's replies, alerts and digests."""
    chosen = "en" if arg.strip().lower().startswith("en") else "fr"
    ctx.chats.update(ctx.chat_id, language=chosen)
    return Reply((t(chosen, "lang_set"),))


def digest_preview(ctx: Ctx) -> Reply:
    """/digest: this chat's digest now, as a preview, with the map of its week."""
    chat = ctx.chats.get(ctx.chat_id)
    filters = chat.filters if chat else Filters()
    frequency = chat.digest if chat and chat.digest != "off" else "weekly"
    start, end = digest_period(frequency, ctx.now, None)
    digest = select_digest(ctx.store, filters, start, end + timedelta(seconds=1))
    messages = digest_html(digest, ctx.lang, title_key="digest_preview_title")
    web = WebLinks.from_settings(ctx.settings)
    if web is not None:
        messages.append(week_line(web, filters_query(filters), start, end, ctx.lang))
    if not digest.total:
        return Reply(tuple(messages))
    from bot.notify import map_key  # matplotlib: imported when a map is drawn

    return Reply(tuple(messages), picture=map_key(ctx.chats, digest, ctx.lang, ctx.now))


# ---- the keyboard -------------------------------------------------------------------------


def subscribe_keyboard(ctx: Ctx, page: int = 0) -> Reply:
    """The /subscribe keyboard: regions (paged, ✓ ticked), types, alerts, digest, day and hour."""
    chat = ctx.chats.get(ctx.chat_id)
    if chat is None:
        return Reply((t(ctx.lang, "help"),))
    lang = ctx.lang
    page %= PAGES
    rows: list[tuple[Button, ...]] = []
    shown = REGIONS[page * REGIONS_PER_PAGE : (page + 1) * REGIONS_PER_PAGE]
    for k in range(0, len(shown), 2):
        rows.append(
            tuple(
                Button(_tick(r in chat.regions) + r, encode("sr", r, page))
                for r in shown[k : k + 2]
            )
        )
    rows.append(
        (
            Button("◀", encode("sp", (page - 1) % PAGES)),
            Button(f"{page + 1}/{PAGES}", encode("sp", page)),
            Button("▶", encode("sp", (page + 1) % PAGES)),
        )
    )
    for k in range(0, len(TYPES), 3):
        rows.append(
            tuple(
                Button(_tick(x in chat.types) + type_label(x, lang), encode("st", x, page))
                for x in TYPES[k : k + 3]
            )
        )
    rows.append(
        (
            Button(_tick(chat.alerts) + t(lang, "btn_alerts"), encode("sa", page)),
            *(
                Button(_tick(chat.digest == value) + t(lang, label), encode("sd", value, page))
                for value, label in (
                    ("daily", "btn_daily"),
                    ("weekly", "btn_weekly"),
                    ("off", "btn_off"),
                )
            ),
        )
    )
    rows.append(
        (
            Button(t(lang, "btn_day", day=WEEKDAYS[lang][chat.digest_weekday]), encode("sw", page)),
            Button(t(lang, "btn_hour", hour=chat.digest_hour), encode("sh", page)),
            Button(t(lang, "btn_done"), encode("sx")),
        )
    )
    text = t(lang, "sub_keyboard") + "\n\n" + describe_settings(ctx, chat)
    return Reply((text,), tuple(rows))


def _tick(on: bool) -> str:
    return "✓ " if on else ""


def _reschedule(ctx: Ctx) -> None:
    chat = ctx.chats.get(ctx.chat_id)
    if chat is None:
        return
    when = next_digest_time(
        chat.digest, chat.digest_weekday, chat.digest_hour, chat.timezone, ctx.now
    )
    ctx.chats.update(ctx.chat_id, next_digest_at=when)


def toggle_region(ctx: Ctx, region: str, page: int) -> Reply:
    """Keyboard press: tick or untick a region."""
    chat = ctx.chats.get(ctx.chat_id)
    if chat is not None:
        ctx.chats.set_subscription(ctx.chat_id, "region", region, region not in chat.regions)
    return subscribe_keyboard(ctx, page)


def toggle_type(ctx: Ctx, kind: str, page: int) -> Reply:
    """Keyboard press: tick or untick an initiative type."""
    chat = ctx.chats.get(ctx.chat_id)
    if chat is not None:
        ctx.chats.set_subscription(ctx.chat_id, "type", kind, kind not in chat.types)
    return subscribe_keyboard(ctx, page)


def toggle_alerts(ctx: Ctx, page: int) -> Reply:
    """Keyboard press: instant alerts on or off."""
    chat = ctx.chats.get(ctx.chat_id)
    if chat is not None:
        ctx.chats.update(ctx.chat_id, alerts=not chat.alerts, alerts_since=ctx.now)
    return subscribe_keyboard(ctx, page)


def set_digest(ctx: Ctx, frequency: str, page: int) -> Reply:
    """Keyboard press: daily, weekly or no digest."""
    if ctx.chats.get(ctx.chat_id) is not None:
        ctx.chats.update(ctx.chat_id, digest=frequency)
        _reschedule(ctx)
    return subscribe_keyboard(ctx, page)


def next_weekday(ctx: Ctx, page: int) -> Reply:
    """Keyboard press: the weekly digest one day later."""
    chat = ctx.chats.get(ctx.chat_id)
    if chat is not None:
        ctx.chats.update(ctx.chat_id, digest_weekday=(chat.digest_weekday + 1) % 7)
        _reschedule(ctx)
    return subscribe_keyboard(ctx, page)


def next_hour(ctx: Ctx, page: int) -> Reply:
    """Keyboard press: the digest one hour later."""
    chat = ctx.chats.get(ctx.chat_id)
    if chat is not None:
        ctx.chats.update(ctx.chat_id, digest_hour=(chat.digest_hour + 1) % 24)
        _reschedule(ctx)
    return subscribe_keyboard(ctx, page)


def keyboard_done(ctx: Ctx) -> Reply:
    """Keyboard press: done; the settings as they now are."""
    chat = ctx.chats.get(ctx.chat_id)
    if chat is None:
        return Reply((t(ctx.lang, "help"),))
    return Reply((t(ctx.lang, "sub_done") + "\n\n" + describe_settings(ctx, chat),))


# ---- shortcuts: /subscribe Bretagne mot "jumeau numérique" --------------------------------


def parse_terms(arg: str) -> list[tuple[str, str]]:
    """('keyword'|'exclude'|'alerts'|'digest'|'region'|'term', value) from a /subscribe argument."""
    quoted = arg.replace("«", '"').replace("»", '"').replace("“", '"').replace("”", '"')
    try:
        tokens = shlex.split(quoted)
    except ValueError:
        tokens = arg.split()
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        low = tok.lower()
        if low.lstrip("-") in KEYWORD_WORDS and i + 1 < len(tokens):
            out.append(("exclude" if low.startswith("-") else "keyword", tokens[i + 1].strip()))
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


def _resolve_terms(
    ctx: Ctx, parsed: list[tuple[str, str]]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Subscriptions named in the argument, and the parts that were not understood."""
    found: list[tuple[str, str]] = []
    unknown: list[str] = []
    pending: list[str] = []

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
        elif kind in {"keyword", "exclude"}:
            quoted = t(lang, "quoted", v=value)
            parts.append("-" + quoted if kind == "exclude" else quoted)
        elif kind == "alerts":
            parts.append(t(lang, "btn_alerts").lower())
        elif kind == "digest":
            parts.append(t(lang, "btn_weekly" if value == "weekly" else "btn_daily").lower())
        else:
            parts.append(value)
    return esc(", ".join(parts))


def _refused(ctx: Ctx, parsed: list[tuple[str, str]]) -> Reply | None:
    """A reply refusing the argument when it is too long or adds too many keywords, else None."""
    if len(parsed) > MAX_TERMS:
        return Reply((t(ctx.lang, "too_many_terms", n=MAX_TERMS),))
    words = [v for k, v in parsed if k in {"keyword", "exclude"}]
    for word in words:
        if not word or len(word) > MAX_KEYWORD_CHARS:
            return Reply((t(ctx.lang, "keyword_too_long", max=MAX_KEYWORD_CHARS, v=excerpt(word)),))
    chat = ctx.chats.get(ctx.chat_id)
    have = set(chat.keywords) | set(chat.excludes) if chat else set()
    if len(have | set(words)) > MAX_KEYWORDS:
        return Reply((t(ctx.lang, "too_many_keywords", max=MAX_KEYWORDS),))
    return None


def subscribe(ctx: Ctx, arg: str) -> Reply:
    """/subscribe [names]: the keyboard, or shortcuts for regions, types, keywords, alerts, digest."""
    if not arg.strip():
        return subscribe_keyboard(ctx)
    parsed = parse_terms(arg)
    refused = _refused(ctx, parsed)
    if refused is not None:
        return refused
    found, unknown = _resolve_terms(ctx, parsed)
    if unknown:
        wanted = " ".join(unknown)
        suggestions = ctx.gazetteer.suggest_regions(wanted[:200])
        text = t(ctx.lang, "region_unknown", query=excerpt(wanted))
        if suggestions:
            text += "\n" + t(
                ctx.lang, "region_suggest", names=", ".join(esc(s) for s in suggestions)
            )
        return Reply((text,))
    for kind, value in found:
        if kind in {"region", "type", "keyword", "exclude"}:
            ctx.chats.set_subscription(ctx.chat_id, kind, value, True)
        elif kind == "alerts":
            ctx.chats.update(ctx.chat_id, alerts=True, alerts_since=ctx.now)
        elif kind == "digest":
            ctx.chats.update(ctx.chat_id, digest=value)
    lines = [t(ctx.lang, "subscribed", what=_describe(found, ctx.lang))]
    chat = ctx.chats.get(ctx.chat_id)
    if chat is not None and not chat.subscribed:
        ctx.chats.update(ctx.chat_id, digest="weekly", digest_weekday=0, digest_hour=8)
        lines.append(t(ctx.lang, "default_digest"))
    _reschedule(ctx)
    web = WebLinks.from_settings(ctx.settings)
    if web is not None and chat is not None:
        lines.append(
            t(ctx.lang, "web_feed_line", url=esc(web.feed(filters_query(chat.filters), ctx.lang)))
        )
    return Reply(("\n".join(lines),))


def unsubscribe(ctx: Ctx, arg: str) -> Reply:
    """/unsubscribe [names]: remove those subscriptions, or everything."""
    if not arg.strip():
        ctx.chats.clear_subscriptions(ctx.chat_id)
        return Reply((t(ctx.lang, "unsubscribed_all"),))
    parsed = parse_terms(arg)
    if len(parsed) > MAX_TERMS:
        return Reply((t(ctx.lang, "too_many_terms", n=MAX_TERMS),))
    found, unknown = _resolve_terms(ctx, parsed)
    if unknown:
        return Reply((t(ctx.lang, "region_unknown", query=excerpt(" ".join(unknown))),))
    for kind, value in found:
        if kind in {"region", "type", "keyword", "exclude"}:
            if len(value) <= MAX_KEYWORD_CHARS:  # a longer one cannot have been stored
                ctx.chats.set_subscription(ctx.chat_id, kind, value, False)
        elif kind == "alerts":
            ctx.chats.update(ctx.chat_id, alerts=False)
        elif kind == "digest":
            ctx.chats.update(ctx.chat_id, digest="off", next_digest_at=None)
    return Reply((t(ctx.lang, "unsubscribed", what=_describe(found, ctx.lang)),))
