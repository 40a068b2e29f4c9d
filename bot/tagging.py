"""Tagging stored items, in the parse worker processes so that both cores are used."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.feeds.workers import tag_rows
from bot.store.repo import Store

log = logging.getLogger(__name__)
BATCH = 200


class TaggingService:
    """Tags new items after each poll, and every item on `veille retag`."""

    def __init__(
        self, store: Store, models_dir: Path, pool: Executor, version: str, clock: Any
    ) -> None:
        self.store = store
        self.models_dir = str(models_dir)
        self.pool = pool
        self.version = version
        self.clock = clock

    async def tag_ids(self, ids: Sequence[int] | None, *, untagged_only: bool = True) -> int:
        """Tag the given items (or all untagged/all items); returns how many were tagged."""
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(
            None, lambda: self.store.items_for_tagging(ids, untagged_only=untagged_only)
        )
        batches = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
        results = await asyncio.gather(
            *(loop.run_in_executor(self.pool, tag_rows, self.models_dir, b) for b in batches)
        )
        now: datetime = self.clock()
        done = 0
        for tagged in results:
            await loop.run_in_executor(None, self.store.save_tags, tagged, now, self.version)
            done += len(tagged)
        return done
