"""THE route table: every command and every button, with who may use it. Adapters read only this.

Adding a command is one line in COMMANDS (plus its strings in bot.i18n); a button is one line in
BUTTONS, whose fields are checked by the callback codec (bot.commands.callbacks) before the
function runs. python-telegram-bot handlers (bot.telegram_app) and the terminal (`veille ask`)
are generated from these tables.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.commands import admin, alerts, ask, chat, lookups, why
from bot.commands import callbacks as cb
from bot.commands.reply import Ctx, Reply
from bot.config import Settings
from bot.i18n import t
from bot.store.chats import ChatStore
from bot.store.repo import Store
from classifiers.gazetteer import Gazetteer

MAX_ARGUMENT_CHARS = 4000  # Telegram sends at most 4,096; a longer argument is not a command


@dataclass(frozen=True)
class Command:
    """A /command: its plain function and who may use it (menu text: i18n key menu_<name>)."""

    name: str
    run: Callable[[Ctx, str], Reply | Awaitable[Reply]]
    menu: bool = True  # listed in Telegram's command menu
    admin: bool = False  # configured admin chats only
    settings_change: bool = False  # in groups, the group's administrators only


@dataclass(frozen=True)
class ButtonRoute:
    """A button: the checked fields of its callback data and the function they are passed to."""

    fields: Sequence[cb.Field]
    run: Callable[..., Reply]
    settings_change: bool = False


COMMANDS: tuple[Command, ...] = (
    Command("start", lambda c, a: lookups.help_(c)),
    Command("help", lambda c, a: lookups.help_(c)),
    Command("subscribe", alerts.subscribe, settings_change=True),
    Command("alerts", lambda c, a: alerts.alerts(c)),
    Command("unsubscribe", alerts.unsubscribe, settings_change=True),
    Command("settings", lambda c, a: alerts.settings(c)),
    Command("fuseau", alerts.fuseau, settings_change=True),
    Command("timezone", alerts.fuseau, menu=False, settings_change=True),
    Command("region", ask.region),
    Command("type", ask.type_),
    Command("search", ask.search),
    Command("latest", lambda c, a: lookups.latest(c)),
    Command("regions", lambda c, a: lookups.regions_count(c)),
    Command("digest", lambda c, a: alerts.digest_preview(c)),
    Command("why", why.why),
    Command("lang", chat.lang, settings_change=True),
    Command("stop", lambda c, a: chat.stop(c), settings_change=True),
    Command("feeds", lambda c, a: admin.feeds(c), menu=False, admin=True),
    Command("addfeed", admin.addfeed, menu=False, admin=True),
    Command("removefeed", admin.removefeed, menu=False, admin=True),
    Command("stats", lambda c, a: admin.stats(c), menu=False, admin=True),
)
BY_NAME = {c.name: c for c in COMMANDS}

LEGACY: tuple[tuple[str, tuple[cb.Field, ...]], ...] = (
    ("sp", (cb.page,)),
    ("sr", (cb.region, cb.page)),
    ("st", (cb.kind, cb.page)),
    ("sa", (cb.page,)),
    ("sd", (cb.digest, cb.page)),
    ("sw", (cb.page,)),
    ("sh", (cb.page,)),
    ("sx", ()),
)
BUTTONS: dict[str, ButtonRoute] = {
    # listings, paged
    "rg": ButtonRoute((cb.region, cb.page), ask.region),
    "ty": ButtonRoute((cb.kind, cb.page), ask.type_),
    "se": ButtonRoute((cb.page, cb.text), lambda c, page, query: ask.search(c, query, page)),
    "la": ButtonRoute((cb.page,), lookups.latest),
    # alert profiles
    "al": ButtonRoute((cb.item_id, cb.alert_action, cb.alert_value), alerts.alert_press, True),
    "tz": ButtonRoute((cb.zone,), alerts.fuseau, True),
    "ed": ButtonRoute((cb.empty,), alerts.empty_digest, True),
    # the first /subscribe keyboard (no longer drawn), on messages sent before alert
    # profiles: a press opens /alerts, where migration 0007 put what it had chosen
    **{
        route: ButtonRoute(fields, lambda c, *_: alerts.alerts(c), True) for route, fields in LEGACY
    },
    # /why corrections: in groups, the chat's administrators only
    "fx": ButtonRoute((cb.item_id, cb.fix), why.correction_keyboard, True),
    "fxr": ButtonRoute((cb.item_id, cb.region), why.correct_region, True),
    "fxp": ButtonRoute((cb.item_id, cb.place), why.correct_place, True),
    "fxt": ButtonRoute((cb.item_id, cb.kind), why.correct_type, True),
    "fxn": ButtonRoute((cb.item_id,), why.correct_off_topic, True),
    "fxc": ButtonRoute((cb.item_id,), why.cancel),
}
SCHEMAS = {name: route.fields for name, route in BUTTONS.items()}


def split_command(line: str) -> tuple[str, str]:
    """('region', 'Hauts-de-France') from '/region@bot Hauts-de-France'."""
    head, _, rest = line.strip().partition(" ")
    return head.lstrip("/").split("@", 1)[0].lower(), rest.strip()


def clean_argument(arg: str) -> str:
    """A command's argument as the functions receive it: no NUL, at most MAX_ARGUMENT_CHARS."""
    return arg.replace("\x00", "")[:MAX_ARGUMENT_CHARS].strip()


def permitted(command: Command, ctx: Ctx) -> bool:
    """False for an admin command asked by a chat that is not a configured admin."""
    return ctx.is_admin or not command.admin


async def run(command: Command, ctx: Ctx, arg: str) -> Reply:
    """The reply of a command (the caller has checked settings_change where it applies).

    Plain functions run in a worker thread: a database query never holds up the event loop.
    """
    if not permitted(command, ctx):
        return Reply((t(ctx.lang, "admin_only"),))
    if inspect.iscoroutinefunction(command.run):
        reply: Reply = await command.run(ctx, clean_argument(arg))
        return reply
    # Plain commands query the database: off the event loop, so updates and sends go on.
    result: Any = await asyncio.to_thread(command.run, ctx, clean_argument(arg))
    return await result if inspect.isawaitable(result) else result  # type: ignore[no-any-return]


def decode_button(data: str) -> tuple[ButtonRoute, tuple[object, ...]] | None:
    """The route and checked values of a button's callback data, None for forged or stale data."""
    decoded = cb.decode(data, SCHEMAS)
    if decoded is None:
        return None
    return BUTTONS[decoded.route], decoded.values


def press(ctx: Ctx, route: ButtonRoute, values: tuple[object, ...]) -> Reply:
    """The reply (edited in place of the keyboard's message) to a decoded button press."""
    return route.run(ctx, *values)


async def answer_line(ctx: Ctx, line: str) -> Reply:
    """The reply to a command line such as '/region Lille' (the terminal; no group checks)."""
    name, arg = split_command(line)
    if not line.strip().startswith("/"):  # plain text is a question, as in a private chat
        return await asyncio.to_thread(ask.search, ctx, clean_argument(line))
    command = BY_NAME.get(name)
    if command is None:
        return ask.unknown_command(ctx, name, known_names(ctx))
    return await run(command, ctx, arg)


def known_names(ctx: Ctx) -> list[str]:
    """The commands this chat may use (for 'did you mean')."""
    return sorted(c.name for c in COMMANDS if permitted(c, ctx))


def terminal_answer(
    settings: Settings,
    store: Store,
    gazetteer: Gazetteer,
    now: datetime,
    line: str,
    *,
    lang: str = "fr",
    chat_id: int = 0,
) -> Reply:
    """The reply the bot would send to a command line, for `veille ask` (acting as admin)."""
    chats = ChatStore(store)
    if chats.get(chat_id) is None:
        chats.ensure_chat(chat_id, type="private", title="terminal", language=lang, now=now)
    ctx = Ctx(settings, store, chats, gazetteer, now, chat_id, lang=lang, is_admin=True)
    return asyncio.run(answer_line(ctx, line))
