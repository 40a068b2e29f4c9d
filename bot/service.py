"""Wiring: builds the store, fetcher, poller and tagger from Settings (the I/O shell)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

from bot.config import FeedList, Settings, load_feeds
from bot.feeds.article import ArticleStage
from bot.feeds.fetcher import Fetcher
from bot.feeds.poller import Poller
from bot.feeds.workers import close_parse_pool, make_parse_pool, stored_model_version
from bot.store.articles import ArticleStore
from bot.store.leases import owner_name
from bot.store.repo import Store

if TYPE_CHECKING:
    from bot.tagging import TaggingService
    from classifiers.gazetteer import Gazetteer
    from classifiers.tagger import Tagger

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """The clock passed into the code (the only call to now() in the service)."""
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Everything a command needs, opened once."""

    settings: Settings
    store: Store
    clock: Callable[[], datetime]
    feeds: FeedList | None = None
    _tagger: Tagger | None = None
    _gazetteer: Gazetteer | None = None

    @classmethod
    def open(
        cls, settings: Settings, *, clock: Callable[[], datetime] = utcnow, with_feeds: bool = True
    ) -> Runtime:
        """Open the database (migrating it) and read the feeds file."""
        store = Store.open(settings.db_url)
        feeds = load_feeds(settings.feeds_file) if with_feeds else None
        if feeds is not None:
            store.sync_feeds(feeds.feeds, clock())
        return cls(settings=settings, store=store, clock=clock, feeds=feeds)

    @property
    def gazetteer(self) -> Gazetteer:
        """The place gazetteer (loaded on first use)."""
        if self._gazetteer is None:
            from classifiers.gazetteer import Gazetteer  # imported on first use: slow to load

            self._gazetteer = self._tagger.gazetteer if self._tagger else Gazetteer.load()
        return self._gazetteer

    def tagger(self) -> Tagger:
        """The tagger, trained first when no usable model is stored."""
        if self._tagger is None:
            from bot.store.corrections import correction_examples
            from classifiers.train import load_or_train  # scikit-learn takes seconds to import

            self._tagger = load_or_train(
                self.settings.models_dir, extra=correction_examples(self.store)
            )
        return self._tagger

    async def model_version(self, pool: Executor) -> str:
        """The stored model's version, trained first when there is none usable. A worker of the
        pool reads it: the model (and scikit-learn) live in the workers that tag, one copy each,
        not in this process, which only loads it to train a missing one."""
        if self._tagger is None:
            loop = asyncio.get_running_loop()
            try:
                return str(
                    await loop.run_in_executor(
                        pool, stored_model_version, str(self.settings.models_dir)
                    )
                )
            except Exception as exc:  # ModelMissing, ModelMismatch: train here, once
                log.info("no usable model yet: %s", exc)
        return self.tagger().version

    @asynccontextmanager
    async def poller(
        self,
        *,
        tag: bool | None = None,
        owner: str | None = None,
        alert_new: Callable[[Sequence[int]], Awaitable[int]] | None = None,
    ) -> AsyncIterator[Poller]:
        """A Poller with its fetcher, parse pool and (optionally; default VEILLE_TAGGING) tagging."""
        tag = self.settings.tagging if tag is None else tag
        pool = make_parse_pool(
            self.settings.parse_workers,
            idle_seconds=self.settings.worker_idle_seconds,
            models_dir=self.settings.models_dir if tag else None,
        )
        tagging: TaggingService | None = None
        if tag:
            from bot.tagging import TaggingService  # imported only when tagging

            version = await self.model_version(pool)
            tagging = TaggingService(
                self.store, self.settings.models_dir, pool, version, self.clock
            )
        poller: Poller | None = None
        try:
            async with Fetcher(self.settings) as fetcher:
                poller = Poller(
                    self.store,
                    fetcher,
                    self.settings,
                    clock=self.clock,
                    parse_pool=pool,
                    tag_new=tagging.tag_ids if tagging else None,
                    alert_new=alert_new,
                    owner=owner or owner_name("poller"),
                    models_dir=self.settings.models_dir if tagging else None,
                )
                poller.articles = ArticleStage(
                    ArticleStore(self.store),
                    fetcher,
                    self.settings,
                    clock=self.clock,
                    extract_pool=pool,
                    retag=partial(tagging.tag_ids, untagged_only=False) if tagging else None,
                )
                try:
                    yield poller
                finally:
                    await poller.articles.close()
                    await poller.close()
        finally:
            close_parse_pool(pool, wait=not (poller is not None and poller.stopping))

    def close(self) -> None:
        """Close the database."""
        self.store.close()
