"""Route a command line ("/region Lille") to its plain function; used by `veille ask`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import commands
from bot.commands import Reply

if TYPE_CHECKING:
    from bot.service import Runtime


def split_command(line: str) -> tuple[str, str]:
    """('/region', 'Hauts-de-France') from '/region@bot Hauts-de-France'."""
    line = line.strip()
    head, _, rest = line.partition(" ")
    name = head.split("@", 1)[0].lower()
    return name, rest.strip()


def answer_text(rt: Runtime, line: str, *, lang: str = "fr", chat_id: int = 0) -> Reply:
    """The reply to a command line, as the bot would send it."""
    name, arg = split_command(line)
    now = rt.clock()
    if name == "/region":
        return commands.region(arg, rt.store, rt.gazetteer, now=now, lang=lang)
    return Reply((f"Commande inconnue : {name}" if lang == "fr" else f"Unknown command: {name}",))
