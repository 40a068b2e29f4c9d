"""Route a command line ("/region Lille") to its plain function; used by `veille ask`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.commands import Ctx, Reply
from bot.store.chats import ChatStore

if TYPE_CHECKING:
    from bot.service import Runtime


def split_command(line: str) -> tuple[str, str]:
    """('region', 'Hauts-de-France') from '/region@bot Hauts-de-France'."""
    head, _, rest = line.strip().partition(" ")
    return head.lstrip("/").split("@", 1)[0].lower(), rest.strip()


def answer_text(rt: Runtime, line: str, *, lang: str = "fr", chat_id: int = 0) -> Reply:
    """The reply the bot would send to a command line, from the terminal (acting as admin)."""
    from bot import admin
    from bot.telegram_app import ROUTES

    chats = ChatStore(rt.store)
    if chats.get(chat_id) is None:
        chats.ensure_chat(chat_id, type="private", title="terminal", language=lang, now=rt.clock())
    ctx = Ctx(
        store=rt.store,
        chats=chats,
        gazetteer=rt.gazetteer,
        now=rt.clock(),
        chat_id=chat_id,
        lang=lang,
        is_admin=True,
    )
    name, arg = split_command(line)
    routes: dict[str, Callable[[Ctx, str], Any]] = {
        **ROUTES,
        "feeds": lambda c, a: admin.feeds(c),
        "stats": lambda c, a: admin.stats(c),
        "removefeed": admin.removefeed,
        "addfeed": lambda c, a: admin.addfeed(c, rt.settings, a),
    }
    func = routes.get(name)
    if func is None:
        return Reply(
            ("Commande inconnue : /" + name if lang == "fr" else "Unknown command: /" + name,)
        )
    result = func(ctx, arg)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    assert isinstance(result, Reply)
    return result
