"""One poll round: pick the due feeds, fetch them concurrently, parse and tag on all cores, store.

A feed that fails never stops the others: each outcome becomes a health record on its feed.
Each fetched feed goes to a worker process that parses it and tags its items not seen before
(bot.feeds.workers), as fetches complete; its new items are stored with their tags in one
transaction (feeds that arrive together share it), then the per-feed tag-and-alert step tags
whatever is still untagged and queues the alerts, while the feed is still leased: a poller
killed at any point leaves stored items that the catch-up job finishes (see bot.runner).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.errors import FetchError, ParseError, StoreError
from bot.feeds import schedule
from bot.feeds.fetcher import Fetcher, FetchResult
from bot.feeds.parser import ParsedFeed
from bot.feeds.safety import must_be_public
from bot.feeds.story_stage import StoryStage
from bot.feeds.workers import TagResult, parse_and_tag
from bot.metrics import FEEDS_POLLED, ITEMS_NEW, POLL_SECONDS
from bot.store.repo import Store
from bot.store.rows import FeedState

if TYPE_CHECKING:
    from bot.feeds.article import ArticleStage

log = logging.getLogger(__name__)

MAX_BATCH_FEEDS = 50  # feeds per write transaction
TagFn = Callable[[Sequence[int]], Awaitable[int]]
Clock = Callable[[], datetime]


@dataclass
class PollReport:
    """What one poll round did."""

    feeds: int = 0
    ok: int = 0
    not_modified: int = 0
    unchanged: int = 0
    failed: int = 0
    new_items: int = 0
    tagged: int = 0
    alerts: int = 0
    stories: int = 0  # stories this round started
    seconds: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)
    new_item_ids: list[int] = field(default_factory=list)


class Poller:
    """Polls due feeds into the store."""

    def __init__(
        self,
        store: Store,
        fetcher: Fetcher,
        settings: Settings,
        *,
        clock: Clock,
        parse_pool: Executor,
        tag_new: TagFn | None = None,
        alert_new: TagFn | None = None,
        owner: str | None = None,
        models_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.settings = settings
        self.clock = clock
        self.parse_pool = parse_pool
        self.tag_new = tag_new
        self.alert_new = alert_new  # queue the alerts of tagged items; returns how many
        self.owner = owner
        # With a models_dir, the parse workers tag new items on the text they parsed.
        self.models_dir = str(models_dir) if models_dir is not None else None
        # Dedup keys each feed had at its last parse: its workers tag only the others (none
        # known after a restart: every item of a changed feed is tagged once, then skipped).
        self._known: dict[str, frozenset[str]] = {}
        # SQLite has one writer: a single DB thread keeps writes serial and the loop free.
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="veille-db")
        self._lock = asyncio.Lock()
        # Group commit: items parsed while the DB thread is busy are written in one transaction.
        self._to_store: list[
            tuple[
                str,
                Sequence[Any],
                datetime,
                Mapping[str, TagResult],
                Mapping[str, str],
                asyncio.Future[list[int]],
            ]
        ] = []
        self._writer: asyncio.Task[None] | None = None
        # Group tagging, likewise: feeds stored while the tagger is busy are tagged together.
        self._to_tag: list[tuple[Sequence[int], asyncio.Future[tuple[int, int, int]]]] = []
        self._tagger_task: asyncio.Task[None] | None = None
        self.stories = (
            StoryStage(store, parse_pool, clock, self._in_db) if settings.stories else None
        )
        self.stopping = False  # set on shutdown: the round ends after the batch in flight
        # The full-text stage over the same fetcher (set by the Runtime); it runs as its own
        # job after rounds, so that article pages never slow the feed poll.
        self.articles: ArticleStage | None = None

    async def close(self) -> None:
        """Stop the DB thread; give back the feeds still leased (a cancelled round's)."""
        self._db.shutdown(wait=True)
        if self.owner is not None:
            try:
                await asyncio.to_thread(self.store.release_feed_leases, self.owner)
            except StoreError as exc:  # they expire anyway
                log.warning("cannot release feed leases owner=%s error=%s", self.owner, exc)

    async def _in_db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    async def poll_due(
        self, *, progress: Callable[[str, str], None] | None = None, batch: int | None = None
    ) -> PollReport:
        """Poll every due feed once, leasing them in batches (other pollers take other batches).

        Rounds never overlap within a process; each feed's new items are tagged and alerted as
        they are stored. Leases are renewed while a batch is in flight, so only a dead poller's
        ever expire (or are taken back when it restarts).
        """
        batch = batch or self.settings.poll_batch
        if self._lock.locked():
            log.info("poll skipped: previous round still running")
            return PollReport()
        async with self._lock:
            started = time.perf_counter()
            report = PollReport()
            lease = timedelta(seconds=self.settings.lease_seconds)
            keeper = asyncio.create_task(self._keep_leases(lease)) if self.owner else None
            try:
                while not self.stopping:
                    # A fresh now per batch: a lease counted from the round's start would already
                    # have run out for the later batches of a long round.
                    now = self.clock()
                    due: list[FeedState] = await self._in_db(
                        lambda at=now: self.store.due_feeds(
                            at, limit=batch, owner=self.owner, lease=lease
                        )
                    )
                    if not due:
                        break
                    report.feeds += len(due)
                    changes: list[dict[str, Any]] = []
                    await asyncio.gather(
                        *(self._poll_one(f, report, changes, progress) for f in due)
                    )
                    await self._in_db(self.store.save_feed_states, changes)
                    if len(due) < batch:
                        break
            finally:
                if keeper is not None:
                    keeper.cancel()
                    await asyncio.gather(keeper, return_exceptions=True)
            report.seconds = time.perf_counter() - started
            POLL_SECONDS.observe(report.seconds)
            ITEMS_NEW.inc(report.new_items)
            log.info(
                "poll done feeds=%d ok=%d not_modified=%d unchanged=%d failed=%d new_items=%d "
                "seconds=%.2f",
                report.feeds,
                report.ok,
                report.not_modified,
                report.unchanged,
                report.failed,
                report.new_items,
                report.seconds,
            )
            return report

    async def _keep_leases(self, lease: timedelta) -> None:
        """Extend this poller's leases every third of a lease (a thread of its own, not the DB one,
        so a long write queue cannot delay it)."""
        assert self.owner is not None
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            try:
                await asyncio.to_thread(
                    self.store.renew_feed_leases, self.owner, self.clock() + lease
                )
            except StoreError as exc:
                log.warning("lease renewal failed owner=%s error=%s", self.owner, exc)

    async def _poll_one(
        self,
        feed: FeedState,
        report: PollReport,
        changes: list[dict[str, Any]],
        progress: Callable[[str, str], None] | None,
    ) -> None:
        outcome = "failed"
        try:
            outcome = await self._check(feed, report, changes)
        except Exception as exc:  # a bug on one feed must not stop the round
            log.exception("poll crashed feed=%s", feed.id)
            changes.append(
                schedule.error_changes(
                    feed,
                    self.clock(),
                    message=f"internal error: {type(exc).__name__}: {exc}",
                    status=None,
                    retry_after=None,
                    disable_after_days=self.settings.disable_after_days,
                )
            )
            report.failed += 1
            report.errors[feed.id] = str(exc)
        FEEDS_POLLED.labels(outcome).inc()
        if progress:
            progress(feed.id, outcome)

    async def _check(
        self, feed: FeedState, report: PollReport, changes: list[dict[str, Any]]
    ) -> str:
        now = self.clock()
        try:
            result = await self.fetcher.fetch(
                feed.url,
                etag=feed.etag,
                last_modified=feed.last_modified,
                now=now,
                public_only=must_be_public(feed.source, self.settings.allow_private_feeds),
            )
            if result.not_modified or (result.body_hash and result.body_hash == feed.body_hash):
                changes.append(self._success(feed, result, now))
                if result.not_modified:
                    report.not_modified += 1
                    return "not_modified"
                report.unchanged += 1
                return "unchanged"
            parsed: ParsedFeed
            tags: dict[str, TagResult]
            parsed, tags, stems = await asyncio.get_running_loop().run_in_executor(
                self.parse_pool,
                parse_and_tag,
                result.body or b"",
                now,
                result.content_type,
                feed.language,
                feed.region_hint,
                self.models_dir,
                self._known.get(feed.id, frozenset()),
                self.store.dialect == "sqlite",  # the workers stem for SQLite's full-text index
            )
            new_ids = await self._store_items(feed.id, parsed.items, now, tags, stems)
            self._known[feed.id] = frozenset(p.dedup_key for p in parsed.items)
            if tags:  # new items are among the unknown ones its worker tagged
                report.tagged += len(new_ids)
            if new_ids:
                await self._tag_and_alert(feed.id, new_ids, report)
        except (FetchError, ParseError, StoreError) as exc:
            status = getattr(exc, "status", None)
            log.warning("feed failed feed=%s error=%s", feed.id, exc)
            changes.append(
                schedule.error_changes(
                    feed,
                    now,
                    message=str(exc) or type(exc).__name__,
                    status=status,
                    retry_after=getattr(exc, "retry_after", None),
                    disable_after_days=self.settings.disable_after_days,
                )
            )
            report.failed += 1
            report.errors[feed.id] = str(exc)
            return "failed"
        changes.append(self._success(feed, result, now))
        report.ok += 1
        report.new_items += len(new_ids)
        report.new_item_ids.extend(new_ids)
        return "ok"

    async def _store_items(
        self,
        feed_id: str,
        items: Sequence[Any],
        now: datetime,
        tags: Mapping[str, TagResult],
        stems: Mapping[str, str],
    ) -> list[int]:
        """Queue one feed's items (and their tags and full-text stems by dedup key) for the next
        batch write; its new ids, or its StoreError."""
        done: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._to_store.append((feed_id, items, now, tags, stems, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        return await done

    async def _tag_and_alert(self, feed_id: str, ids: Sequence[int], report: PollReport) -> None:
        """The per-feed durable step after storing: tag the feed's new items that are still
        untagged (those its worker tagged were stored tagged) and queue their alerts, grouped
        with other feeds' items.

        A failure here does not fail the feed: its items are stored, and the catch-up job
        tags and alerts them later.
        """
        if self.tag_new is None and self.alert_new is None and self.stories is None:
            return
        done: asyncio.Future[tuple[int, int, int]] = asyncio.get_running_loop().create_future()
        self._to_tag.append((ids, done))
        if self._tagger_task is None or self._tagger_task.done():
            self._tagger_task = asyncio.create_task(self._tag_batches())
        try:
            tagged, alerts, started = await done
        except Exception as exc:
            log.warning("tagging deferred to the catch-up job feed=%s error=%s", feed_id, exc)
            return
        report.tagged += tagged
        report.alerts += alerts
        report.stories += started

    async def _tag_batches(self) -> None:
        while self._to_tag:
            batch, self._to_tag = self._to_tag[:MAX_BATCH_FEEDS], self._to_tag[MAX_BATCH_FEEDS:]
            ids = [i for feed_ids, _ in batch for i in feed_ids]
            try:
                tagged = await self.tag_new(ids) if self.tag_new else 0
                # Before the alerts: a story gets one alert, edited as later items join it.
                grouped = await self.stories.assign(ids) if self.stories else None
                alerts = await self.alert_new(ids) if self.alert_new else 0
            except Exception as exc:  # every waiting feed gets it, none hangs
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for n, (_, done) in enumerate(batch):
                if not done.done():
                    # Counts are the batch's, reported once (on its first feed).
                    done.set_result(
                        (tagged, alerts, len(grouped.created) if grouped else 0)
                        if n == 0
                        else (0, 0, 0)
                    )

    async def _write_batches(self) -> None:
        while self._to_store:
            batch, self._to_store = (
                self._to_store[:MAX_BATCH_FEEDS],
                self._to_store[MAX_BATCH_FEEDS:],
            )
            try:
                results = await self._in_db(
                    self.store.insert_items_batch,
                    [(fid, items, now) for fid, items, now, _, _, _ in batch],
                    [tags for _, _, _, tags, _, _ in batch],
                    [stems for _, _, _, _, stems, _ in batch],
                )
            except Exception as exc:  # a bug: every waiting feed gets it, none hangs
                results = [exc] * len(batch)
            for (*_, done), result in zip(batch, results, strict=True):
                if done.done():
                    continue
                if isinstance(result, BaseException):
                    done.set_exception(result)
                else:
                    done.set_result(result)

    def _success(self, feed: FeedState, result: FetchResult, now: datetime) -> dict[str, Any]:
        return schedule.success_changes(
            feed,
            now,
            status=result.status,
            etag=result.etag,
            last_modified=result.last_modified,
            body_hash=result.body_hash,
            new_url=result.final_url if result.permanent_redirect else None,
            max_age=result.max_age,
            retry_after=result.retry_after,
        )
