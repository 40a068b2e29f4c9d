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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError, StoreError
from bot.scheduler import add_jobs, build_scheduler
from bot.service import Runtime
from bot.store.leases import owner_name

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.feeds.poller import Poller
    from bot.telegram_app import BotRuntime

log = logging.getLogger(__name__)
ROLES = ("all", "poller", "sender", "bot")
# At shutdown, how long a job in progress may take before it is cancelled. Short: everything
# a poll round does is durable per item (stored, tagged, alerts queued), so cancelling one
# loses nothing; Docker kills after stop_grace_period (docker-compose.yml).
STOP_GRACE_SECONDS = 2.0
CATCH_UP_SECONDS = 60.0
TELEGRAM_RETRY_CAP_SECONDS = 60.0


@asynccontextmanager
async def _metrics(rt: Runtime) -> AsyncIterator[None]:
    if rt.settings.metrics_port is None:
        yield
        return
    from bot.metrics import MetricsServer

    server = MetricsServer(rt.store, rt.settings.metrics_port, rt.settings.metrics_host)
    await server.start()
    try:
        yield
    finally:
        await server.stop()


class _Telegram:
    """The Telegram side, once it has started (it may start late: see _start_telegram)."""

    def __init__(self) -> None:
        self.app: BotRuntime | None = None

    def wake_sender(self) -> None:
        """Tell the sender new messages are queued."""
        if self.app is not None:
            self.app.sender.wake.set()


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
    tg = _Telegram()
    running: set[asyncio.Task[Any]] = set()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(_metrics(rt))
        if role in {"all", "bot"}:
            from bot.web import serve as serve_web

            await stack.enter_async_context(serve_web(rt))
        poller: Poller | None = None
        if role in {"all", "poller"}:
            reclaimed = await asyncio.to_thread(rt.store.reclaim_feed_leases, "poller")
            if reclaimed:
                log.info("took back feeds leased by a previous process feeds=%d", reclaimed)
            poller = await stack.enter_async_context(
                rt.poller(tag=tag, alert_new=_alert_new(rt, tg), owner=owner_name("poller"))
            )
            jobs["poll"] = (_poll(poller), rt.settings.poll_tick_seconds)
            jobs["catch-up"] = (_catch_up(rt, poller, tg), CATCH_UP_SECONDS)
            if poller.articles is not None:
                jobs["articles"] = (_articles_and_alert(rt, poller, tg), 30.0)
        scheduler = build_scheduler(
            {name: (_tracked(func, running), seconds) for name, (func, seconds) in jobs.items()},
            rt.clock(),
        )
        scheduler.start()
        stack.push_async_callback(_wind_down, scheduler, running, poller)
        starter: asyncio.Task[None] | None = None
        if telegram and role in {"all", "sender", "bot"}:
            starter = asyncio.create_task(_start_telegram(rt, role, tg, scheduler, running, stop))
            stack.push_async_callback(_stop_telegram, tg, starter)
        log.info("service started role=%s jobs=%s", role, ",".join(sorted(jobs)))
        await stop.wait()
        log.info("service stopping role=%s", role)


async def _start_telegram(
    rt: Runtime,
    role: str,
    tg: _Telegram,
    scheduler: AsyncIOScheduler,
    running: set[asyncio.Task[Any]],
    stop: asyncio.Event,
) -> None:
    """Start the Telegram side, retrying with backoff while Telegram is unreachable (the
    poller goes on meanwhile); then add its jobs to the running scheduler."""
    from telegram.error import InvalidToken, NetworkError

    from bot.telegram_app import start_telegram

    failures = 0
    while not stop.is_set():
        jobs: dict[str, tuple[Callable[[], Awaitable[Any]], float]] = {}
        try:
            tg.app = await start_telegram(rt, jobs, role=role)
        except InvalidToken:
            log.error("telegram refused the bot token: Telegram stays off (polling goes on)")
            return
        except NetworkError as exc:  # TimedOut included
            failures += 1
            delay = min(TELEGRAM_RETRY_CAP_SECONDS, 2.0 ** (failures - 1))
            log.warning(
                "telegram unreachable at start, retrying failures=%d next_in=%.0fs error=%s",
                failures,
                delay,
                exc,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            continue
        if tg.app is None:
            log.warning(
                "Telegram is off: TELEGRAM_BOT_TOKEN is not set (polling and tagging go on)"
            )
        add_jobs(
            scheduler,
            {name: (_tracked(func, running), seconds) for name, (func, seconds) in jobs.items()},
            rt.clock(),
        )
        log.info("telegram started role=%s jobs=%s", role, ",".join(sorted(jobs)))
        return


async def _stop_telegram(tg: _Telegram, starter: asyncio.Task[None]) -> None:
    starter.cancel()
    await asyncio.gather(starter, return_exceptions=True)
    if tg.app is not None:
        await tg.app.stop_all()


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
        except asyncio.CancelledError:  # stopping: the work is durable, the catch-up resumes it
            log.info("job cancelled at stop")
        finally:
            running.discard(task)

    return run


async def _wind_down(
    scheduler: AsyncIOScheduler, running: set[asyncio.Task[Any]], poller: Poller | None
) -> None:
    """No new job runs; the runs in progress get STOP_GRACE_SECONDS to end (a poll round after
    the feeds in flight), then are cancelled — safe, as their work is durable item by item."""
    scheduler.pause()
    if poller is not None:
        poller.stopping = True
    if running:
        _, late = await asyncio.wait(set(running), timeout=STOP_GRACE_SECONDS)
        if late:
            log.info("jobs still running at stop, cancelled jobs=%d", len(late))
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
    scheduler.shutdown(wait=False)


def _alert_new(rt: Runtime, tg: _Telegram) -> Callable[[Sequence[int]], Awaitable[int]]:
    """Queue the alerts of newly tagged items (marked done in the same transaction)."""
    from bot.alerting import enqueue_profile_alerts
    from bot.store.chats import ChatStore

    chats = ChatStore(rt.store)

    async def alert(ids: Sequence[int]) -> int:
        queued = await asyncio.to_thread(enqueue_profile_alerts, rt.store, chats, ids, rt.clock())
        if queued:
            tg.wake_sender()
        return queued

    return alert


def _articles_and_alert(
    rt: Runtime, poller: Poller, tg: _Telegram
) -> Callable[[], Awaitable[None]]:
    """Read the article pages of new items (a job of its own: it never delays a feed poll),
    then alert on the items whose tags the article text changed (an alert is never sent twice)."""
    from bot.alerting import enqueue_profile_alerts
    from bot.store.chats import ChatStore

    chats = ChatStore(rt.store)

    async def job() -> None:
        assert poller.articles is not None
        report = await poller.articles.run_pending()
        if report.retagged_ids:
            queued = await asyncio.to_thread(
                partial(enqueue_profile_alerts, retagged=True),
                rt.store,
                chats,
                report.retagged_ids,
                rt.clock(),
            )
            if queued:
                tg.wake_sender()

    return job


def _catch_up(rt: Runtime, poller: Poller, tg: _Telegram) -> Callable[[], Awaitable[None]]:
    """Finish what a killed or stopped poller left: tag stored items no live poller holds, put
    items without a story into stories, and queue the alerts of tagged items whose alerts were
    never queued."""
    from bot.store.outbox import Outbox

    outbox = Outbox(rt.store)

    async def job() -> None:
        if poller.tag_new is not None:
            ids = await asyncio.to_thread(rt.store.untagged_ids, rt.clock())
            if ids:
                try:
                    done = await poller.tag_new(ids)
                except StoreError as exc:  # another poller tagged the same items at the same time
                    log.info("leftover tagging skipped: %s", exc)
                else:
                    log.info("tagged leftovers items=%d", done)
        if poller.stories is not None:
            grouped = await poller.stories.catch_up()
            if grouped:
                log.info("stories for leftovers items=%d", grouped)
        pending = await asyncio.to_thread(outbox.awaiting_alerts)
        if pending and poller.alert_new is not None:
            queued = await poller.alert_new(pending)
            log.info("queued leftover alerts items=%d alerts=%d", len(pending), queued)

    return job


def _poll(poller: Poller) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        await poller.poll_due()

    return job
