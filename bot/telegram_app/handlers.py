"""Thin python-telegram-bot handlers, one per route of bot.commands.routes, plus buttons and errors.

Every outgoing message goes through the outbox (bot.delivery drains it); button presses edit
the message they belong to.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.commands import ask, routes
from bot.commands.reply import Ctx, Reply
from bot.delivery import Sender, keyboard, media_payload, message_payload
from bot.i18n import lang_of, t
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox

if TYPE_CHECKING:
    from bot.service import Runtime

log = logging.getLogger(__name__)


class Handlers:
    """Adapters from Telegram updates to the route table."""

    def __init__(self, rt: Runtime, chats: ChatStore, sender: Sender | None) -> None:
        self.rt = rt
        self.chats = chats
        self.sender = sender

    def _ctx(self, update: Update) -> Ctx:
        chat = update.effective_chat
        assert chat is not None
        user = update.effective_user
        stored = self.chats.get(chat.id)
        if stored is None:
            self.chats.ensure_chat(
                chat.id,
                type=chat.type,
                title=chat.title or chat.full_name,
                language=lang_of(user.language_code if user else None),
                now=self.rt.clock(),
                timezone=self.rt.settings.timezone,
            )
            stored = self.chats.get(chat.id)
        elif not stored.active:
            self.chats.ensure_chat(
                chat.id,
                type=chat.type,
                title=chat.title,
                language=stored.language,
                now=self.rt.clock(),
            )
        admins = self.rt.settings.admin_chat_ids
        return Ctx(
            settings=self.rt.settings,
            store=self.rt.store,
            chats=self.chats,
            gazetteer=self.rt.gazetteer,
            now=self.rt.clock(),
            chat_id=chat.id,
            lang=stored.language if stored else "fr",
            is_admin=chat.id in admins or (user is not None and user.id in admins),
        )

    async def _send(self, update: Update, reply: Reply) -> None:
        chat = update.effective_chat
        assert chat is not None
        messages = [
            {
                "chat_id": chat.id,
                "kind": "reply",
                "dedup_key": reply_key(update, chat.id, n),
                "payload": message_payload(
                    text, reply.buttons if n == len(reply.messages) - 1 else None
                ),
            }
            for n, text in enumerate(reply.messages)
        ]
        messages.extend(
            {
                "chat_id": chat.id,
                "kind": "reply",
                "dedup_key": reply_key(update, chat.id, f"picture{n}"),
                "payload": media_payload(key, caption),
            }
            for n, (key, caption) in enumerate(reply.pictures)
        )
        await asyncio.to_thread(Outbox(self.rt.store).enqueue, messages, self.rt.clock())
        if self.sender is not None:
            self.sender.wake.set()

    async def _answer(self, update: Update, command: routes.Command, arg: str) -> None:
        ctx = await asyncio.to_thread(self._ctx, update)
        if command.settings_change and not await self._may_change(update, ctx):
            reply = Reply((t(ctx.lang, "admin_only"),))
        else:
            reply = await routes.run(command, ctx, arg)
        await self._send(update, reply)

    def command(self, command: routes.Command) -> Any:
        """The PTB callback of one route: build the context, run the command, queue the reply."""

        async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            """Thin adapter around routes.run."""
            message = update.effective_message
            if context.args is not None:
                arg = " ".join(context.args)
            else:
                arg = (message.text or "") if message else ""
            await self._answer(update, command, arg)

        return handler

    async def why_shortcut(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/why_123, the link under every item."""
        message = update.effective_message
        await self._answer(update, routes.BY_NAME["why"], (message.text or "") if message else "")

    async def _may_change(self, update: Update, ctx: Ctx) -> bool:
        """In groups, only the group's administrators change its subscriptions."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None or chat.type in {ChatType.PRIVATE, ChatType.CHANNEL} or ctx.is_admin:
            return True
        if user is None:
            return False
        try:
            member = await chat.get_member(user.id)
        except TelegramError:
            return False
        return member.status in {"administrator", "creator"}

    async def channel_post(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Commands posted in a channel the bot administers (only admins can post there)."""
        post = update.channel_post
        if post is None or not post.text or not post.text.startswith("/"):
            return
        name, arg = routes.split_command(post.text)
        command = routes.BY_NAME.get(name)
        if command is not None:  # channel admins are not bot admins: routes.run checks admin
            await self._answer(update, command, arg)

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Plain text is a question (in groups only when addressed); unknown commands get help."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or not message.text:
            return
        me = context.bot.username or ""
        words = message.text.strip()
        private = chat.type == ChatType.PRIVATE
        if words.startswith("/"):
            head = words.split(maxsplit=1)[0]
            name, _, target = head[1:].partition("@")
            if (target and target.lower() != me.lower()) or (not private and not target):
                return  # another bot's command; or a group's, not addressed to us
            ctx = await asyncio.to_thread(self._ctx, update)
            await self._send(update, ask.unknown_command(ctx, name, routes.known_names(ctx)))
            return
        replied = message.reply_to_message is not None and (
            message.reply_to_message.from_user is not None
            and message.reply_to_message.from_user.id == context.bot.id
        )
        addressed = bool(me) and f"@{me.lower()}" in words.lower()
        if not (private or addressed or replied):
            return  # groups: quiet unless addressed
        if me:
            words = re.sub(re.escape("@" + me), " ", words, flags=re.IGNORECASE)
        ctx = await asyncio.to_thread(self._ctx, update)
        reply = await asyncio.to_thread(ask.search, ctx, routes.clean_argument(words))
        await self._send(update, reply)

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Button presses: subscription keyboard, paging, corrections."""
        query = update.callback_query
        if query is None or query.data is None:
            return
        ctx = await asyncio.to_thread(self._ctx, update)
        decoded = routes.decode_button(query.data)
        if decoded is None:  # forged, or a button of an older layout
            await query.answer(t(ctx.lang, "button_expired"), show_alert=True)
            return
        route, values = decoded
        if route.settings_change and not await self._may_change(update, ctx):
            await query.answer(t(ctx.lang, "admin_only"), show_alert=True)
            return
        reply = await asyncio.to_thread(routes.press, ctx, route, values)
        await query.answer()
        try:
            await query.edit_message_text(
                reply.messages[0],
                parse_mode="HTML",
                reply_markup=keyboard(
                    [[{"text": b.text, "data": b.data} for b in row] for row in reply.buttons]
                ),
                disable_web_page_preview=True,
            )
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                raise

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The one global error handler: log without the token, tell the user something went wrong."""
        log.error("handler error: %s: %s", type(context.error).__name__, context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            try:
                await self._send(update, Reply((t("fr", "internal_error"),)))
            except Exception:
                log.exception("could not report the error")


def reply_key(update: Update, chat_id: int, part: int | str) -> str:
    """The outbox key of a reply: the same update handled twice is answered once. Telegram
    reuses update ids (after a week without updates they restart at random), so the key also
    carries the message's own id and date."""
    message = update.effective_message
    stamp = ""
    if message is not None:
        when = message.edit_date or message.date
        stamp = f"{message.message_id}:{int(when.timestamp()) if when else 0}"
    return f"reply:{chat_id}:{update.update_id}:{stamp}:{part}"
