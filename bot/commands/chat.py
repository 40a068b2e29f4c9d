"""The chat's own settings: /lang, /stop, and what an empty digest does."""

from __future__ import annotations

from bot.commands.reply import Ctx, Reply
from bot.i18n import t
from bot.store.chats import EMPTY_DIGEST_CHOICES


def stop(ctx: Ctx) -> Reply:
    """/stop: delete everything about this chat."""
    ctx.chats.delete_chat(ctx.chat_id)
    return Reply((t(ctx.lang, "stopped"),))


def lang(ctx: Ctx, arg: str) -> Reply:
    """/lang fr|en: the language of this chat's replies, alerts and digests."""
    chosen = "en" if arg.strip().lower().startswith("en") else "fr"
    ctx.chats.update(ctx.chat_id, language=chosen)
    return Reply((t(chosen, "lang_set"),))


def set_empty_digest(ctx: Ctx, choice: str) -> None:
    """Record what the chat's empty digests do: 'skip' (nothing sent) or 'line' (one line)."""
    if choice in EMPTY_DIGEST_CHOICES:
        ctx.chats.update(ctx.chat_id, empty_digest=choice)
