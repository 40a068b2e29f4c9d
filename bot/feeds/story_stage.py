"""The poll's story stage: stored items into stories, before their alerts are queued.

Fingerprints are computed on the parse workers (CPU), the assignment is one transaction on the
poller's database thread (bot/store/stories.py). A failure is logged and never fails a feed: the
items stay without a story until the catch-up job groups them (bot.runner), and their alerts go
out as single items meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

from bot.errors import StoreError
from bot.store.repo import Store
from bot.store.stories import AssignReport, StoryStore, texts
from bot.stories import prepare_batch

log = logging.getLogger(__name__)

CHUNK = 2000  # items fingerprinted per worker call
CATCH_UP_BATCH = 5000  # items the catch-up job groups per run
RunDb = Callable[..., Awaitable[Any]]


class StoryStage:
    """Assigns stored items to stories (see the module docstring)."""

    def __init__(
        self, store: Store, pool: Executor, clock: Callable[[], datetime], run_db: RunDb
    ) -> None:
        self.stories = StoryStore(store)
        self.pool = pool
        self.clock = clock
        self.run_db = run_db  # the poller's database thread (SQLite has one writer)

    async def assign(self, item_ids: Sequence[int]) -> AssignReport | None:
        """Put these stored items (those without a story) into stories; None when it failed."""
        if not item_ids:
            return None
        try:
            rows = await self.run_db(self.stories.load, item_ids)
            loop = asyncio.get_running_loop()
            parts = await asyncio.gather(
                *(
                    loop.run_in_executor(
                        self.pool,
                        prepare_batch,
                        texts(rows[i : i + CHUNK]),
                    )
                    for i in range(0, len(rows), CHUNK)
                )
            )
            done: AssignReport = await self.run_db(
                self.stories.assign_prepared,
                rows,
                [p for part in parts for p in part],
                self.clock(),
            )
        except StoreError as exc:
            log.warning(
                "stories deferred to the catch-up job items=%d error=%s", len(item_ids), exc
            )
            return None
        return done

    async def catch_up(self) -> int:
        """Group items stored without a story (a poller died, clustering failed or was off)."""
        ids = await asyncio.to_thread(self.stories.unassigned_ids, CATCH_UP_BATCH)
        done = await self.assign(ids) if ids else None
        return len(done.assigned) if done else 0
