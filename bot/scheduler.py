"""APScheduler jobs over stored state: each tick picks what is due; jobs never overlap."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)


def build_scheduler(
    jobs: dict[str, tuple[Callable[[], Awaitable[Any]], float]], first_run: datetime
) -> AsyncIOScheduler:
    """One interval job per name (coroutine, seconds): max one instance, missed runs coalesced."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    add_jobs(scheduler, jobs, first_run)
    return scheduler


def add_jobs(
    scheduler: AsyncIOScheduler,
    jobs: dict[str, tuple[Callable[[], Awaitable[Any]], float]],
    first_run: datetime,
) -> None:
    """Add interval jobs (to a scheduler that may already run: the Telegram side starts late)."""
    for name, (func, seconds) in jobs.items():
        scheduler.add_job(
            _guarded(name, func),
            "interval",
            seconds=seconds,
            id=name,
            max_instances=1,
            coalesce=True,
            next_run_time=first_run,
            misfire_grace_time=max(1, int(seconds)),
        )


def _guarded(name: str, func: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await func()
        except Exception:  # a failing job logs and runs again at the next tick
            log.exception("job failed job=%s", name)

    run.__name__ = f"job_{name}"
    return run
