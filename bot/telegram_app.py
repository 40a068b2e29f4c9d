"""python-telegram-bot adapters: thin handlers around bot.commands, registered in one place.

Every outgoing message goes through the outbox (bot.delivery drains it); button presses edit
the message they belong to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from telegram import BotCommand, BotCommandScopeDefault, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import admin, commands
from bot.commands import Ctx, Reply
from bot.delivery import Sender, keyboard, message_payload, photo_payload
from bot.i18n import lang_of, t
from bot.notify import enqueue_due_digests
from bot.store.chats import ChatStore

if TYPE_CHECKING:
    from bot.service import Runtime

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 30.0  # at shutdown, how long messages in flight may take

COMMANDS_FR = [
    ("start", "Présentation"),
    ("help", "Aide et exemples"),
    ("subscribe", "S'abonner (régions, types, mots-clés)"),
    ("unsubscribe", "Se désabonner"),
    ("settings", "Mes réglages"),
    ("region", "Articles d'une région"),
    ("type", "Articles d'un type d'initiative"),
    ("search", "Recherche plein texte"),
    ("latest", "Derniers articles"),
    ("regions", "Articles par région (7 jours)"),
    ("digest", "Aperçu de ma synthèse"),
    ("why", "Pourquoi ces étiquettes ?"),
    ("lang", "Langue (fr/en)"),
    ("stop", "Effacer mes données"),
]
COMMANDS_EN = [
    ("start", "About"),
    ("help", "Help and examples"),
    ("subscribe", "Subscribe (regions, types, keywords)"),
    ("unsubscribe", "Unsubscribe"),
    ("settings", "My settings"),
    ("region", "Articles of a region"),
    ("type", "Articles of an initiative type"),
    ("search", "Full-text search"),
    ("latest", "Latest articles"),
    ("regions", "Articles per region (7 days)"),
    ("digest", "Preview my digest"),
    ("why", "Why these tags?"),
    ("lang", "Language (fr/en)"),
    ("stop", "Delete my data"),
]


@dataclass
class BotRuntime:
    """The running Telegram side: application, sender and its task."""

    app: Application[Any, Any, Any, Any, Any, Any]
    sender: Sender
    task: asyncio.Task[None] | None

    async def stop_all(self) -> None:
        """Stop polling updates, the sender loop and the application."""
        if self.task is not None:
            # Let the messages in flight finish and be marked sent: cancelling a send that
            # Telegram already accepted would have it sent again by the next sender.
            self.sender.stopping = True
            self.sender.wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout=STOP_GRACE_SECONDS)
            except TimeoutError:
                self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()


class Handlers:
    """Adapters from Telegram updates to command functions."""

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
        lang = stored.language if stored else "fr"
        admins = self.rt.settings.admin_chat_ids
        is_admin = chat.id in admins or (user is not None and user.id in admins)
        return Ctx(
            store=self.rt.store,
            chats=self.chats,
            gazetteer=self.rt.gazetteer,
            now=self.rt.clock(),
            chat_id=chat.id,
            lang=lang,
            is_admin=is_admin,
            chat_type=chat.type,
        )

    async def _send(self, update: Update, reply: Reply) -> None:
        chat = update.effective_chat
        assert chat is not None
        messages = []
        for n, text in enumerate(reply.messages):
            last = n == len(reply.messages) - 1
            messages.append(
                {
                    "chat_id": chat.id,
                    "kind": "reply",
                    "dedup_key": f"reply:{chat.id}:{update.update_id}:{n}",
                    "payload": message_payload(text, reply.buttons if last else None),
                }
            )
        if reply.photo:
            messages.append(
                {
                    "chat_id": chat.id,
                    "kind": "reply",
                    "dedup_key": f"reply:{chat.id}:{update.update_id}:photo",
                    "payload": photo_payload(reply.photo, ""),
                }
            )
        await asyncio.to_thread(self.chats.enqueue, messages, self.rt.clock())
        if self.sender is not None:
            self.sender.wake.set()

    def command(
        self,
        func: Callable[[Ctx, str], Reply | Awaitable[Reply]],
        *,
        admin_only: bool = False,
        settings_change: bool = False,
    ) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
        """A PTB callback running func(ctx, argument) and queueing its reply."""

        async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            """Thin adapter: build the context, call the command, queue the reply."""
            ctx = await asyncio.to_thread(self._ctx, update)
            message = update.effective_message
            arg = (
                " ".join(context.args)
                if context.args is not None
                else (message.text or "")
                if message
                else ""
            )
            if (admin_only and not ctx.is_admin) or (
                settings_change and not await self._may_change(update, ctx)
            ):
                reply = Reply((t(ctx.lang, "admin_only"),))
            else:
                result = func(ctx, arg)
                reply = await result if asyncio.iscoroutine(result) else result  # type: ignore[assignment]
            await self._send(update, reply)

        return handler

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
        name, _, arg = post.text.partition(" ")
        name = name[1:].split("@", 1)[0].lower()
        func = ROUTES.get(name)
        if func is None:
            return
        ctx = await asyncio.to_thread(self._ctx, update)
        if name in ADMIN_ROUTES and not ctx.is_admin:  # channel admins are not bot admins
            await self._send(update, Reply((t(ctx.lang, "admin_only"),)))
            return
        result = func(ctx, arg.strip())
        reply = await result if asyncio.iscoroutine(result) else result
        await self._send(update, reply)

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Button presses: subscription keyboard, paging, corrections."""
        query = update.callback_query
        if query is None or query.data is None:
            return
        ctx = await asyncio.to_thread(self._ctx, update)
        data = query.data
        reply: Reply | None
        if data.startswith("s:") and not await self._may_change(update, ctx):
            await query.answer(t(ctx.lang, "admin_only"), show_alert=True)
            return
        reply = await asyncio.to_thread(route_button, ctx, data)
        await query.answer()
        if reply is None:
            return
        try:
            await query.edit_message_text(
                reply.messages[0],
                parse_mode="HTML",
                reply_markup=keyboard(_rows(reply)),
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
                await self._send(
                    update, Reply(("⚠️ Erreur interne, réessayez plus tard. / Internal error.",))
                )
            except Exception:
                log.exception("could not report the error")


def _rows(reply: Reply) -> list[list[dict[str, str]]]:
    return [[{"text": b.text, "data": b.data} for b in row] for row in reply.buttons]


def route_button(ctx: Ctx, data: str) -> Reply | None:
    """The reply (to edit in place) for a button's callback data."""
    head, _, rest = data.partition(":")
    if head == "s":
        if data.startswith("s:p:"):
            return commands.subscribe_keyboard(ctx, int(data.split(":")[2]))
        return commands.subscribe_press(ctx, data)
    if head in {"rg", "ty", "se", "la"}:
        key, _, page_s = rest.rpartition(":") if head != "la" else ("", "", rest)
        page = int(page_s) if page_s.isdigit() else 0
        if head == "rg":
            from classifiers.taxonomy import REGIONS

            return commands.region(ctx, REGIONS[int(key)] if key.isdigit() else key, page)
        if head == "ty":
            return commands.type_(ctx, key, page)
        if head == "se":
            return commands.search(ctx, key, page)
        return commands.latest(ctx, page)
    if head == "fx":
        parts = rest.split(":")
        item_id = int(parts[0])
        if parts[1] in {"R", "T"}:
            return commands.correction_keyboard(ctx, item_id, parts[1])
        index = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
        return commands.save_correction(ctx, item_id, parts[1], index)
    return None


def _lang(ctx: Ctx, arg: str) -> Reply:
    lang = "en" if arg.strip().lower().startswith("en") else "fr"
    ctx.chats.update(ctx.chat_id, language=lang)
    return Reply((t(lang, "lang_set"),))


ROUTES: dict[str, Callable[[Ctx, str], Any]] = {
    "start": lambda c, a: commands.help_(c),
    "help": lambda c, a: commands.help_(c),
    "subscribe": commands.subscribe,
    "unsubscribe": commands.unsubscribe,
    "settings": lambda c, a: commands.settings(c),
    "stop": lambda c, a: commands.stop(c),
    "region": lambda c, a: commands.region(c, a),
    "type": lambda c, a: commands.type_(c, a),
    "search": lambda c, a: commands.search(c, a),
    "latest": lambda c, a: commands.latest(c),
    "regions": lambda c, a: commands.regions_count(c),
    "why": commands.why,
    "digest": lambda c, a: commands.digest_preview(c),
    "lang": _lang,
}
ADMIN_ROUTES = {"feeds", "addfeed", "removefeed", "stats"}
SETTINGS_ROUTES = {"subscribe", "unsubscribe", "stop", "lang"}


def build_application(rt: Runtime) -> Application[Any, Any, Any, Any, Any, Any]:
    """The PTB Application pointed at TELEGRAM_API_URL (the token never leaves this function)."""
    token = rt.settings.token_value()
    assert token
    api = rt.settings.telegram_api_url.rstrip("/")
    base_file = api[: -len("/bot")] + "/file/bot" if api.endswith("/bot") else api + "/file/bot"
    return (
        ApplicationBuilder()
        .token(token)
        .base_url(api)
        .base_file_url(base_file)
        .rate_limiter(AIORateLimiter(overall_max_rate=30, group_max_rate=20, max_retries=0))
        .connect_timeout(10)
        .read_timeout(20)
        .write_timeout(20)
        .build()
    )


def register(
    app: Application[Any, Any, Any, Any, Any, Any], rt: Runtime, handlers: Handlers
) -> None:
    """Every handler, in one place."""
    admin_funcs: dict[str, Callable[[Ctx, str], Any]] = {
        "feeds": lambda c, a: admin.feeds(c),
        "addfeed": lambda c, a: admin.addfeed(c, rt.settings, a),
        "removefeed": admin.removefeed,
        "stats": lambda c, a: admin.stats(c),
    }
    ROUTES.update(admin_funcs)
    for name, func in ROUTES.items():
        app.add_handler(
            CommandHandler(
                name,
                handlers.command(
                    func, admin_only=name in ADMIN_ROUTES, settings_change=name in SETTINGS_ROUTES
                ),
            )
        )
    app.add_handler(
        MessageHandler(filters.UpdateType.CHANNEL_POSTS & filters.TEXT, handlers.channel_post)
    )
    app.add_handler(
        MessageHandler(
            filters.Regex(r"^/why_\d+"), handlers.command(lambda c, a: commands.why(c, a))
        )
    )
    app.add_handler(CallbackQueryHandler(handlers.button))
    app.add_error_handler(handlers.error)


async def start_telegram(
    rt: Runtime, jobs: dict[str, tuple[Any, float]], *, role: str
) -> BotRuntime | None:
    """Start the Telegram side of a role: updates (bot), outbox and digests (sender), or both (all)."""
    if not rt.settings.token_value():
        log.warning("Telegram is off: TELEGRAM_BOT_TOKEN is not set (polling and tagging go on)")
        return None
    app = build_application(rt)
    chats = ChatStore(rt.store)
    sender = Sender(
        app.bot,
        chats,
        clock=rt.clock,
        owner=f"sender-{os.getpid()}",
        lease=timedelta(seconds=rt.settings.lease_seconds),
    )
    handlers = Handlers(rt, chats, sender if role == "all" else None)
    register(app, rt, handlers)
    await app.initialize()
    if role in {"all", "bot"}:
        try:
            await app.bot.set_my_commands(
                [BotCommand(c, d) for c, d in COMMANDS_FR], scope=BotCommandScopeDefault()
            )
            await app.bot.set_my_commands(
                [BotCommand(c, d) for c, d in COMMANDS_EN], language_code="en"
            )
        except TelegramError as exc:  # a menu we could not publish must not stop the bot
            log.warning("setMyCommands failed: %s", exc)
        await app.start()
        assert app.updater is not None
        settings = rt.settings
        if settings.webhook_url:
            # Behind a reverse proxy; PTB checks Telegram's X-Telegram-Bot-Api-Secret-Token header.
            await app.updater.start_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
                webhook_url=settings.webhook_url,
                secret_token=settings.webhook_secret.get_secret_value()
                if settings.webhook_secret
                else None,
                allowed_updates=Update.ALL_TYPES,
            )
            log.info("telegram webhook started port=%d", settings.webhook_port)
        else:
            await app.updater.start_polling(
                allowed_updates=Update.ALL_TYPES, drop_pending_updates=False
            )
            log.info("telegram long polling started username=%s", app.bot.username)

    task = None
    if role in {"all", "sender"}:

        async def digests() -> None:
            n = await asyncio.to_thread(enqueue_due_digests, rt.store, chats, rt.clock())
            if n:
                sender.wake.set()

        jobs["digests"] = (digests, 30.0)
        task = asyncio.create_task(_sender_loop(sender))
    return BotRuntime(app, sender, task)


async def _sender_loop(sender: Sender) -> None:
    """Drain the outbox whenever woken, and at least every second."""
    while not sender.stopping:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sender.wake.wait(), timeout=1.0)
        sender.wake.clear()
        try:
            await sender.drain()
        except Exception:  # keep the loop alive; the outbox keeps the messages
            log.exception("outbox drain failed")
