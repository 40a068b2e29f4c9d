"""Alert profiles as commands: /subscribe <query> creates one, /alerts lists them with buttons.

Buttons (bot.commands.callbacks): al <id> <action> <value> — e edit, p pause/resume, d delete,
f frequency, h hour, w weekday, x back to the list (value '-' when none); tz <zone>. A press on
another chat's alert finds nothing.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.commands.ask import chat_zone
from bot.commands.callbacks import encode
from bot.commands.chat import set_empty_digest
from bot.commands.reply import Button, Ctx, Reply, excerpt
from bot.digest import next_digest_time
from bot.i18n import WEEKDAYS, t
from bot.query.parse import explain, parse
from bot.render import esc, split_chunks
from bot.store.alerts import MAX_ALERTS_PER_CHAT, MAX_QUERY_CHARS, AlertProfile, AlertStore
from bot.store.chats import EMPTY_DIGEST_CHOICES
from bot.weblinks import WebLinks

HOURS = (6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21, 22)
NAME_CHARS = 60
_FREQUENCY_WORDS = {
    "instant": "instant",
    "immediat": "instant",
    "immédiat": "instant",
    "alertes": "instant",
    "alerte": "instant",
    "alerts": "instant",
    "quotidien": "daily",
    "quotidienne": "daily",
    "daily": "daily",
    "hebdo": "weekly",
    "hebdomadaire": "weekly",
    "weekly": "weekly",
}
# The keyword syntax of the first /subscribe: `mot "x"`, `-mot "x"`.
_LEGACY_KEYWORD = re.compile(r'(^|\s)(-?)(?:mots?|mot-cl[ée]s?|keywords?|kw)\s+(?=")', re.I)


def number(text: str, limit: int) -> int | None:
    """A small ASCII number below limit from user text or callback data, else None."""
    return int(text) if re.fullmatch(r"[0-9]{1,15}", text) and int(text) < limit else None


def _cut(text: str, limit: int) -> str:
    """Plain text (an alert's name) cut to limit characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _frequency_label(p: AlertProfile, lang: str) -> str:
    if p.frequency == "instant":
        text = t(lang, "alert_instant")
    elif p.frequency == "daily":
        text = t(lang, "digest_daily", hour=p.hour)
    else:
        text = t(lang, "digest_weekly", day=WEEKDAYS[lang][p.weekday], hour=p.hour)
    return text + (" — " + t(lang, "alert_paused") if p.paused else "")


def next_line(lang: str, when: datetime | None, zone: str) -> str:
    """'Prochaine synthèse : lundi 08:00 (Europe/Paris)', or '' without one."""
    if when is None:
        return ""
    try:
        local = when.astimezone(ZoneInfo(zone))
    except (ValueError, KeyError, OSError):
        local = when
    day = WEEKDAYS["en" if lang == "en" else "fr"][local.weekday()]
    return t(lang, "next_digest", when=f"{day} {local:%d/%m %H:%M}", zone=esc(zone))


def _schedule(p: AlertProfile, now: datetime) -> datetime | None:
    return next_digest_time(p.frequency, p.weekday, p.hour, p.timezone, now)


def subscribe(ctx: Ctx, arg: str) -> Reply:
    """/subscribe <query> [instant|quotidien|hebdo]: a new alert; without a query, the list."""
    text = _LEGACY_KEYWORD.sub(lambda m: m[1] + m[2], arg or "").strip()
    if not text:
        return alerts(ctx, intro=t(ctx.lang, "alert_usage"))
    if len(text) > MAX_QUERY_CHARS:
        return Reply((t(ctx.lang, "alert_too_long", limit=MAX_QUERY_CHARS),))
    frequency = "daily"
    words = []
    for word in text.split():
        if word.lower() in _FREQUENCY_WORDS:
            frequency = _FREQUENCY_WORDS[word.lower()]
        else:
            words.append(word)
    text = " ".join(words)
    zone = chat_zone(ctx)
    query = parse(text, ctx.gazetteer, now=ctx.now, tz=zone)
    query = type(query)(
        regions=query.regions, types=query.types, terms=query.terms, excludes=query.excludes
    )  # an alert follows what comes next: the period is dropped
    if query.empty:
        return Reply((t(ctx.lang, "ask_empty"),))
    name = _cut(explain(query, ctx.lang, now=ctx.now, tz=zone), NAME_CHARS)
    store = AlertStore(ctx.store)
    try:
        alert_id = store.create(
            ctx.chat_id, name=name, text=text, query=query, frequency=frequency, now=ctx.now
        )
    except ValueError:
        return Reply((t(ctx.lang, "alert_too_many", limit=MAX_ALERTS_PER_CHAT),))
    created = store.get(alert_id, ctx.chat_id)
    assert created is not None
    when = _schedule(created, ctx.now)
    store.update(alert_id, ctx.chat_id, next_digest_at=when)
    lines = [
        t(ctx.lang, "alert_created", name=esc(name)),
        _frequency_label(created, ctx.lang),
        next_line(ctx.lang, when, created.timezone),
        t(ctx.lang, "alert_manage"),
    ]
    return Reply(("\n".join(filter(None, lines)),), _alert_buttons(created, ctx.lang))


def _alert_buttons(p: AlertProfile, lang: str) -> tuple[tuple[Button, ...], ...]:
    pause = t(lang, "btn_resume") if p.paused else t(lang, "btn_pause")
    return (
        (
            Button(f"✏️ {t(lang, 'btn_edit')}", encode("al", p.id, "e", "-")),
            Button(pause, encode("al", p.id, "p", "-")),
            Button(f"🗑 {t(lang, 'btn_delete')}", encode("al", p.id, "d", "-")),
        ),
    )


def alerts(ctx: Ctx, intro: str = "") -> Reply:
    """/alerts: the chat's alerts, each with edit, pause and delete buttons."""
    profiles = AlertStore(ctx.store).of_chat(ctx.chat_id)
    if not profiles:
        return Reply(("\n".join(filter(None, (intro, t(ctx.lang, "alerts_none")))),))
    blocks = [b for b in (intro, t(ctx.lang, "alerts_title")) if b]
    rows: list[tuple[Button, ...]] = []
    web = WebLinks.from_settings(ctx.settings)
    for n, p in enumerate(profiles, 1):
        block = f"{n}. <b>{esc(p.name)}</b> — {_frequency_label(p, ctx.lang)}"
        if p.frequency != "instant" and not p.paused:
            block += "\n   " + next_line(ctx.lang, p.next_digest_at, p.timezone)
        if web is not None:
            block += "\n   " + t(ctx.lang, "web_feed_line", url=esc(web.feed(p.text, ctx.lang)))
        blocks.append(block)
        pause = "▶" if p.paused else "⏸"
        rows.append(
            (
                Button(f"{n}. ✏️", encode("al", p.id, "e", "-")),
                Button(f"{n}. {pause}", encode("al", p.id, "p", "-")),
                Button(f"{n}. 🗑", encode("al", p.id, "d", "-")),
            )
        )
    if web is not None:
        opml = web.opml([p.text for p in profiles], ctx.lang)
        blocks.append(t(ctx.lang, "web_opml_line", url=esc(opml)))
    return Reply(tuple(split_chunks(blocks)), tuple(rows))


def edit_keyboard(ctx: Ctx, p: AlertProfile, note: str = "") -> Reply:
    """One alert's settings: frequency, an hour grid, the weekday; and the next delivery."""
    lang = ctx.lang

    def mark(on: bool) -> str:
        return "✓ " if on else ""

    rows: list[tuple[Button, ...]] = [
        (
            Button(
                mark(p.frequency == "instant") + t(lang, "alert_instant"),
                encode("al", p.id, "f", "instant"),
            ),
            Button(
                mark(p.frequency == "daily") + t(lang, "btn_daily"),
                encode("al", p.id, "f", "daily"),
            ),
            Button(
                mark(p.frequency == "weekly") + t(lang, "btn_weekly"),
                encode("al", p.id, "f", "weekly"),
            ),
        )
    ]
    if p.frequency != "instant":
        for k in range(0, len(HOURS), 8):
            rows.append(
                tuple(
                    Button(mark(h == p.hour) + f"{h}h", encode("al", p.id, "h", h))
                    for h in HOURS[k : k + 8]
                )
            )
    if p.frequency == "weekly":
        rows.append(
            tuple(
                Button(mark(d == p.weekday) + WEEKDAYS[lang][d][:3], encode("al", p.id, "w", d))
                for d in range(7)
            )
        )
    rows.append(
        (
            Button(
                t(lang, "btn_resume") if p.paused else t(lang, "btn_pause"),
                encode("al", p.id, "p", "-"),
            ),
            Button(f"🗑 {t(lang, 'btn_delete')}", encode("al", p.id, "d", "-")),
            Button(t(lang, "btn_back"), encode("al", p.id, "x", "-")),
        )
    )
    zone = chat_zone(ctx)
    lines = [
        note,
        f"<b>{esc(p.name)}</b>",
        "🔎 " + excerpt(explain(p.query, lang, now=ctx.now, tz=zone), 300),
        _frequency_label(p, lang),
        "" if p.paused else next_line(lang, p.next_digest_at, p.timezone),
    ]
    return Reply(("\n".join(filter(None, lines)),), tuple(rows))


def alert_press(ctx: Ctx, alert_id: int, action: str, value: str) -> Reply:
    """Apply a press on an alert's buttons (checked by the callback codec) and redraw."""
    store = AlertStore(ctx.store)
    p = store.get(alert_id, ctx.chat_id)
    if p is None:
        return alerts(ctx, intro=t(ctx.lang, "alert_gone"))
    if action == "d":
        store.delete(p.id, ctx.chat_id)
        return alerts(ctx, intro=t(ctx.lang, "alert_deleted", name=esc(p.name)))
    if action == "x":
        return alerts(ctx)
    changes: dict[str, object] = {}
    if action == "p":
        changes["paused"] = not p.paused
    elif action == "f" and value in ("instant", "daily", "weekly"):
        changes["frequency"] = value
        if value == "instant":
            changes["alerts_since"] = ctx.now
    elif action == "h" and number(value, 24) is not None:
        changes["hour"] = int(value)
    elif action == "w" and number(value, 7) is not None:
        changes["weekday"] = int(value)
    if changes:
        store.update(p.id, ctx.chat_id, **changes)
        updated = store.get(p.id, ctx.chat_id)
        assert updated is not None
        store.update(p.id, ctx.chat_id, next_digest_at=_schedule(updated, ctx.now))
    fresh = store.get(p.id, ctx.chat_id)
    assert fresh is not None
    return edit_keyboard(ctx, fresh, t(ctx.lang, "sub_done") if changes else "")


def unsubscribe(ctx: Ctx, arg: str) -> Reply:
    """/unsubscribe [n]: delete alert number n, or every alert of the chat."""
    store = AlertStore(ctx.store)
    profiles = store.of_chat(ctx.chat_id)
    arg = arg.strip()
    if (n := number(arg, len(profiles) + 1)) and n >= 1:
        p = profiles[n - 1]
        store.delete(p.id, ctx.chat_id)
        return alerts(ctx, intro=t(ctx.lang, "alert_deleted", name=esc(p.name)))
    if arg:
        return alerts(ctx, intro=t(ctx.lang, "unsubscribe_which"))
    for p in profiles:
        store.delete(p.id, ctx.chat_id)
    return Reply((t(ctx.lang, "unsubscribed_all"),))


ZONES = (
    "Europe/Paris",
    "America/Guadeloupe",
    "America/Martinique",
    "America/Cayenne",
    "Indian/Reunion",
    "Indian/Mayotte",
    "Pacific/Noumea",
    "Pacific/Tahiti",
    "Europe/London",
    "America/Montreal",
    "UTC",
)


def fuseau(ctx: Ctx, arg: str) -> Reply:
    """/fuseau [zone]: the chat's time zone (buttons for common ones); digests follow it."""
    arg = arg.strip()
    if not arg:
        chat = ctx.chats.get(ctx.chat_id)
        current = chat.timezone if chat else "Europe/Paris"
        rows = [
            tuple(
                Button(
                    ("✓ " if z == current else "") + z.split("/")[-1].replace("_", " "),
                    encode("tz", z),
                )
                for n, z in enumerate(ZONES[k : k + 3], k)
            )
            for k in range(0, len(ZONES), 3)
        ]
        return Reply((t(ctx.lang, "tz_current", zone=esc(current)),), tuple(rows))
    zone = next((z for z in ZONES if z.lower() == arg.lower()), arg[:64])
    try:
        ZoneInfo(zone)
    except (ValueError, KeyError, OSError):
        return Reply((t(ctx.lang, "tz_unknown", zone=excerpt(arg, 40)),))
    ctx.chats.update(ctx.chat_id, timezone=zone)
    store = AlertStore(ctx.store)
    for p in store.of_chat(ctx.chat_id):
        moved = replace(p, timezone=zone)
        store.update(p.id, ctx.chat_id, next_digest_at=_schedule(moved, ctx.now))
    return alerts(ctx, intro=t(ctx.lang, "tz_set", zone=esc(zone)))


def settings(ctx: Ctx, note: str = "") -> Reply:
    """/settings: the chat's time zone, its next digest, what an empty digest does, its alerts."""
    chat = ctx.chats.get(ctx.chat_id)
    zone = chat.timezone if chat else "Europe/Paris"
    empty = chat.empty_digest if chat else "skip"
    due = [
        p.next_digest_at
        for p in AlertStore(ctx.store).of_chat(ctx.chat_id)
        if p.next_digest_at and not p.paused and p.frequency != "instant"
    ]
    lines = [
        note,
        t(ctx.lang, "settings_title"),
        t(ctx.lang, "tz_current", zone=esc(zone)),
        next_line(ctx.lang, min(due), zone) if due else "",
        t(ctx.lang, "empty_digest_setting", choice=t(ctx.lang, f"empty_{empty}")),
    ]
    listing = alerts(ctx, intro="\n".join(filter(None, lines)))
    choice = tuple(
        Button(
            ("✓ " if value == empty else "") + t(ctx.lang, f"empty_{value}"), encode("ed", value)
        )
        for value in EMPTY_DIGEST_CHOICES
    )
    return Reply(listing.messages, (*listing.buttons, choice))


def empty_digest(ctx: Ctx, choice: str) -> Reply:
    """Settings button: an empty digest sends nothing, or one line."""
    set_empty_digest(ctx, choice)
    return settings(ctx, note=t(ctx.lang, "sub_done"))


def digest_preview(ctx: Ctx) -> Reply:
    """/digest: the digest the chat's alerts would send now, as sent (messages, map, chart)."""
    from bot.alerting import compose_digest  # matplotlib: imported when a digest is drawn

    running = [p for p in AlertStore(ctx.store).of_chat(ctx.chat_id) if not p.paused]
    # The digest alerts' (instant ones when there is none; everything without alerts).
    group = [p for p in running if p.frequency != "instant"] or running
    composed = compose_digest(
        ctx.store,
        ctx.chats,
        group,
        ctx.now,
        lang=ctx.lang,
        web=WebLinks.from_settings(ctx.settings),
    )
    if not composed.texts:
        return Reply((t(ctx.lang, "digest_empty"),))
    return Reply(composed.texts, pictures=composed.pictures)
