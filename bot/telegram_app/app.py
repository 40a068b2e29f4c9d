"""The python-telegram-bot Application and its lifecycle: build, register the routes, start, stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from telegram import BotCommand, BotCommandScopeDefault, Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.alerting import enqueue_due_profile_digests
from bot.commands import routes
from bot.delivery import Sender
from bot.i18n import t
from bot.store.chats import ChatStore
from bot.store.leases import owner_name
from bot.telegram_app.handlers import Handlers
from bot.telegram_app.sender import sender_loop
from bot.weblinks import WebLinks

if TYPE_CHECKING:
    from bot.service import Runtime

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 5.0  # at shutdown, how long messages in flight may take


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
            self.sender.stop()
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


def register(app: Application[Any, Any, Any, Any, Any, Any], handlers: Handlers) -> None:
    """One handler per route of bot.commands.routes, then channel posts, /why_123, buttons, errors."""
    for command in routes.COMMANDS:
        app.add_handler(CommandHandler(command.name, handlers.command(command)))
    app.add_handler(
        MessageHandler(filters.UpdateType.CHANNEL_POSTS & filters.TEXT, handlers.channel_post)
    )
    app.add_handler(MessageHandler(filters.Regex(r"^/why_\d+"), handlers.why_shortcut))
    app.add_handler(CallbackQueryHandler(handlers.button))
    # After every command handler: what is left is a question or an unknown command.
    app.add_handler(
        MessageHandler(
            filters.TEXT & ~filters.UpdateType.CHANNEL_POSTS & ~filters.UpdateType.EDITED,
            handlers.text,
        )
    )
    app.add_error_handler(handlers.error)


def menu(lang: str) -> list[BotCommand]:
    """The command menu Telegram shows, in a language (admin commands are not listed)."""
    return [BotCommand(c.name, t(lang, f"menu_{c.name}")) for c in routes.COMMANDS if c.menu]


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
        owner=owner_name("sender"),
        retry_window=timedelta(hours=rt.settings.outbox_retry_hours),
    )
    handlers = Handlers(rt, chats, sender if role == "all" else None)
    register(app, handlers)
    try:
        await app.initialize()
    except Exception:  # Telegram unreachable: the caller retries with a fresh application
        with contextlib.suppress(Exception):
            await app.shutdown()
        raise
    if role in {"all", "bot"}:
        try:
            await app.bot.set_my_commands(menu("fr"), scope=BotCommandScopeDefault())
            await app.bot.set_my_commands(menu("en"), language_code="en")
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
            n = await asyncio.to_thread(
                partial(enqueue_due_profile_digests, web=WebLinks.from_settings(rt.settings)),
                rt.store,
                chats,
                rt.clock(),
            )
            if n:
                sender.wake.set()

        jobs["digests"] = (digests, 30.0)
        reclaimed = await asyncio.to_thread(sender.outbox.reclaim, "sender")
        if reclaimed:
            log.info("took back messages leased by a previous process messages=%d", reclaimed)
        task = asyncio.create_task(sender_loop(sender))
    return BotRuntime(app, sender, task)
