"""`veille run --role all|poller|sender|bot`: one event loop per process.

- poller: polls due feeds (feeds leased in batches, so several pollers share them), tags new
  items, and queues real-time alerts;
- sender: queues due digests and drains the outbox within Telegram's limits (several senders
  share the outbox through leases);
- bot: takes Telegram updates (long polling, or a webhook) and queues the replies;
- all: everything in one process (the default, and what a small deployment runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError, StoreError
from bot.scheduler import build_scheduler
from bot.service import Runtime

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.feeds.poller import Poller

log = logging.getLogger(__name__)
ROLES = ("all", "poller", "sender", "bot")
STOP_GRACE_SECONDS = 30.0  # at shutdown, how long a job in progress may take to end


@asynccontextmanager
async def _metrics(rt: Runtime) -> AsyncIterator[None]:
    if rt.settings.metrics_port is None:
        yield
        return
    from bot.metrics import MetricsServer

    server = MetricsServer(rt.store, rt.settings.metrics_port)
    await server.start()
    try:
        yield
    finally:
        await server.stop()


async def run_service(
    rt: Runtime,
    *,
    role: str = "all",
    telegram: bool = True,
    stop: asyncio.Event | None = None,
    tag: bool | None = None,
) -> None:
    """Run the role's jobs until stop is set (SIGTERM/SIGINT set it when running as a command)."""
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role in {"sender", "bot"} and not rt.settings.token_value():
        raise ConfigError(f"role {role} needs TELEGRAM_BOT_TOKEN")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main thread
            loop.add_signal_handler(sig, stop.set)
    jobs: dict[str, tuple[Callable[[], Awaitable[Any]], float]] = {}
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(_metrics(rt))
        if role in {"all", "bot"}:
            from bot.web import serve as serve_web

            await stack.enter_async_context(serve_web(rt))
        bot_app = None
        if telegram and role in {"all", "sender", "bot"}:
            from bot.telegram_app import start_telegram

            bot_app = await start_telegram(rt, jobs, role=role)
            if bot_app is not None:
                stack.push_async_callback(bot_app.stop_all)
        poller: Poller | None = None
        if role in {"all", "poller"}:
            poller = await stack.enter_async_context(rt.poller(tag=tag))
            jobs["poll"] = (_poll_and_alert(rt, poller, bot_app), rt.settings.poll_tick_seconds)
            if poller.tag_new is not None:
                jobs["tag-leftovers"] = (_tag_leftovers(rt, poller), 300.0)
            if poller.articles is not None:
                jobs["articles"] = (_articles_and_alert(rt, poller, bot_app), 30.0)
        running: set[asyncio.Task[Any]] = set()
        scheduler = build_scheduler(
            {name: (_tracked(func, running), seconds) for name, (func, seconds) in jobs.items()},
            rt.clock(),
        )
        scheduler.start()
        stack.push_async_callback(_wind_down, scheduler, running, poller)
        log.info(
            "service started role=%s jobs=%s telegram=%s",
            role,
            ",".join(sorted(jobs)),
            "on" if bot_app else "off",
        )
        await stop.wait()
        log.info("service stopping role=%s", role)


def _tracked(
    func: Callable[[], Awaitable[Any]], running: set[asyncio.Task[Any]]
) -> Callable[[], Awaitable[None]]:
    """func, with its run listed in running while it lasts (so that stopping can wait for it)."""

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        running.add(task)
        try:
            await func()
        finally:
            running.discard(task)

    return run


async def _wind_down(
    scheduler: AsyncIOScheduler, running: set[asyncio.Task[Any]], poller: Poller | None
) -> None:
    """No new job runs; the runs in progress end (a poll round after its batch in flight) within
    STOP_GRACE_SECONDS, rather than being cancelled halfway; then the scheduler stops."""
    scheduler.pause()
    if poller is not None:
        poller.stopping = True
    if running:
        _, late = await asyncio.wait(set(running), timeout=STOP_GRACE_SECONDS)
        if late:
            log.warning("jobs still running at stop, cancelled jobs=%d", len(late))
    scheduler.shutdown(wait=False)


def _tag_leftovers(rt: Runtime, poller: Any) -> Callable[[], Awaitable[None]]:
    """Tag items a killed poller stored but never tagged (older than a lease, so not in progress)."""

    async def job() -> None:
        before = rt.clock() - timedelta(seconds=2 * rt.settings.lease_seconds)
        ids = await asyncio.to_thread(rt.store.untagged_ids, before)
        if ids:
            try:
                done = await poller.tag_new(ids)
            except StoreError as exc:  # another poller tagged the same items at the same time
                log.info("leftover tagging skipped: %s", exc)
                return
            log.info("tagged leftovers items=%d", done)

    return job


def _articles_and_alert(rt: Runtime, poller: Any, bot_app: Any) -> Callable[[], Awaitable[None]]:
    """Read the article pages of new items (a job of its own: it never delays a feed poll),
    then alert on the items whose tags the article text changed (an alert is never sent twice)."""
    from bot.notify import enqueue_alerts
    from bot.store.chats import ChatStore

    chats = ChatStore(rt.store)

    async def job() -> None:
        report = await poller.articles.run_pending()
        if report.retagged_ids:
            queued = await asyncio.to_thread(
                enqueue_alerts, rt.store, chats, report.retagged_ids, rt.clock()
            )
            if queued and bot_app is not None:
                bot_app.sender.wake.set()

    return job


def _poll_and_alert(rt: Runtime, poller: Any, bot_app: Any) -> Callable[[], Awaitable[None]]:
    from bot.alerting import enqueue_profile_alerts
    from bot.store.chats import ChatStore

    chats = ChatStore(rt.store)

    async def job() -> None:
        report = await poller.poll_due()
        if report.new_item_ids:
            queued = await asyncio.to_thread(
                enqueue_profile_alerts, rt.store, chats, report.new_item_ids, rt.clock()
            )
            if queued and bot_app is not None:
                bot_app.sender.wake.set()

    return job
