"""`veille run`: one process, one event loop — scheduler, poller, tagger, and the Telegram bot."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.scheduler import build_scheduler
from bot.service import Runtime

log = logging.getLogger(__name__)


async def run_service(rt: Runtime, *, role: str = "all", telegram: bool = True,
                      stop: asyncio.Event | None = None) -> None:
    """Run until stop is set (or forever): the poll job, and the bot when a token is configured."""
    stop = stop or asyncio.Event()
    jobs: dict[str, tuple[Any, float]] = {}
    async with rt.poller() as poller:
        if role in {"all", "poller"}:
            jobs["poll"] = (poller.poll_due, rt.settings.poll_tick_seconds)
        bot_app = None
        if telegram and role in {"all", "bot", "sender"}:
            from bot.telegram_app import start_telegram  # noqa: PLC0415

            bot_app = await start_telegram(rt, jobs, role=role)
        scheduler = build_scheduler(jobs, rt.clock())
        scheduler.start()
        log.info("service started role=%s jobs=%s telegram=%s", role, ",".join(jobs),
                 "on" if bot_app else "off")
        try:
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            if bot_app is not None:
                await bot_app.stop_all()
