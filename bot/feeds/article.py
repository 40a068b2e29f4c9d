"""The article stage: after items are stored, read the page behind the short ones.

For each item it has not looked at yet: a Google News link is resolved to the publisher's URL
(gnews.py); the feed's `full_text` mode decides whether the page is wanted (auto: when the
item's own text is short); the page is fetched once per canonical URL under the fetcher's rules
(limits, timeouts, body cap, conditional GET from the cache), its main text extracted
(extract.py); the item gets a status and, when the page gave an article in the feed's language,
is re-tagged on title + article text. A page that fails leaves the item with its feed text and
a status; no exception leaves the stage.

Feeds added from Telegram (/addfeed) get the private-address refusal at every fetch: the page
goes through the fetcher's public client, which checks each redirect hop and pins the address
it connects to.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.errors import (
    BodyTooLarge,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    StoreError,
    UnsafeURL,
)
from bot.feeds import extract, gnews
from bot.feeds.extract import Extracted
from bot.feeds.fetcher import Fetcher, FetchResult
from bot.feeds.normalize import canonical_url
from bot.feeds.safety import check_public_url, must_be_public
from bot.store.articles import ArticleStore, CachedPage, ItemOutcome, PendingItem

log = logging.getLogger(__name__)

SHORT_TEXT_CHARS = 1000  # full_text: auto fetches the page of items with less text than this
BATCH = 100
PAGE_TTL = timedelta(days=7)  # a page is read once; after this a new item re-checks it (304)
RETRY_AFTER_FAILURE = timedelta(hours=1)
HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
WALL_STATUSES = {401, 402}

# Statuses an item gets besides the page's own (extract.OK, TOO_LARGE, NOT_HTML, ...).
SKIPPED = "skipped"  # the feed's text is enough, or full_text: never
OTHER_LANGUAGE = "other_language"
UNSAFE = "unsafe"  # a Telegram-added feed's link (or a redirect hop) is a private address
UNRESOLVED = "unresolved"  # a Google News link whose publisher URL could not be found
SHORTER = "shorter"  # the page's text is no longer than the feed's

# The poller's own aliases (bot.feeds.poller): not imported, the poller imports this module.
TagFn = Callable[[Sequence[int]], Awaitable[int]]
Clock = Callable[[], datetime]


@dataclass
class ArticleReport:
    """What one run of the stage did."""

    items: int = 0
    fetched: int = 0
    from_cache: int = 0
    articles: int = 0
    retagged: int = 0
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    retagged_ids: list[int] = field(default_factory=list)


def wants_article(mode: str, text: str) -> bool:
    """Whether an item's page should be read, by its feed's full_text mode."""
    if mode == "never":
        return False
    return mode == "always" or len(text) < SHORT_TEXT_CHARS


def page_key(url: str) -> str:
    """The cache key of a canonical URL."""
    return hashlib.sha1(url.encode("utf-8", "replace")).hexdigest()


def same_language(page: str | None, feed: str | None) -> bool:
    """False only when both are known and differ (fr-FR and fr agree)."""
    if not page or not feed:
        return True
    return page.split("-")[0].lower() == feed.split("-")[0].lower()


class ArticleStage:
    """Reads the article pages behind stored items (see the module docstring)."""

    def __init__(
        self,
        articles: ArticleStore,
        fetcher: Fetcher,
        settings: Settings,
        *,
        clock: Clock,
        extract_pool: Executor | None = None,
        retag: TagFn | None = None,
    ) -> None:
        self.articles = articles
        self.fetcher = fetcher
        self.settings = settings
        self.clock = clock
        self.extract_pool = extract_pool
        self.retag = retag
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="veille-articles")
        self._lock = asyncio.Lock()
        self._pages: dict[str, asyncio.Future[CachedPage]] = {}  # one fetch per URL in flight

    async def close(self) -> None:
        """Stop the DB thread."""
        self._db.shutdown(wait=True)

    async def _in_db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    async def run_pending(self) -> ArticleReport:
        """Look at every item not looked at yet (batch by batch), then re-tag the ones that got
        an article. Runs never overlap within a process; a database error ends the run (its
        claimed items come back after a lease) but never leaves it."""
        report = ArticleReport()
        if self._lock.locked():
            return report
        async with self._lock:
            started = time.perf_counter()
            try:
                stale = self.clock() - timedelta(seconds=2 * self.settings.lease_seconds)
                await self._in_db(self.articles.release_stale, stale)
                while await self._batch(report):
                    pass
            except StoreError as exc:
                log.warning("article stage stopped error=%s", exc)
            report.seconds = time.perf_counter() - started
            if report.items:
                log.info(
                    "articles done items=%d fetched=%d cached=%d articles=%d statuses=%s "
                    "seconds=%.2f",
                    report.items,
                    report.fetched,
                    report.from_cache,
                    report.articles,
                    ",".join(f"{k}:{v}" for k, v in sorted(report.statuses.items())),
                    report.seconds,
                )
            return report

    async def _batch(self, report: ArticleReport) -> bool:
        """One batch of claimed items; False when the queue is empty."""
        pending: list[PendingItem] = await self._in_db(self.articles.claim_pending, BATCH)
        if not pending:
            return False
        outcomes = await asyncio.gather(*(self._one_safely(p, report) for p in pending))
        await self._in_db(self.articles.finish, outcomes)
        report.items += len(outcomes)
        for o in outcomes:
            report.statuses[o.status] = report.statuses.get(o.status, 0) + 1
        got = [o.item_id for o in outcomes if o.text_source == "article"]
        report.articles += len(got)
        if got and self.retag is not None:
            try:
                report.retagged += await self.retag(got)
                report.retagged_ids.extend(got)
            except StoreError as exc:  # they keep their feed-text tags until `veille retag`
                log.warning("re-tagging failed items=%d error=%s", len(got), exc)
        return len(pending) == BATCH

    async def _one_safely(self, item: PendingItem, report: ArticleReport) -> ItemOutcome:
        try:
            return await self._one(item, report)
        except Exception:  # a bug on one page must not stop the others, nor the poller
            log.exception("article stage crashed item=%d link=%s", item.id, item.link)
            return ItemOutcome(item.id, extract.FAILED)

    async def _one(self, item: PendingItem, report: ArticleReport) -> ItemOutcome:
        link = item.link
        origin = self.settings.google_news_url
        if not link or not gnews.article_id(link, origin):
            return await self._read(item, link, report)
        try:
            publisher = await gnews.resolve(self.fetcher, link, origin, now=self.clock())
        except (gnews.GoogleNewsError, FetchError) as exc:
            log.info("google news link unresolved item=%d error=%s", item.id, exc)
            return ItemOutcome(item.id, UNRESOLVED)
        outcome = await self._read(item, publisher, report)
        return replace(outcome, link=publisher, canonical_link=canonical_url(publisher))

    async def _read(
        self, item: PendingItem, link: str | None, report: ArticleReport
    ) -> ItemOutcome:
        """The outcome of reading an item's page at link (when its feed wants it)."""
        if not link or not wants_article(item.full_text, item.text):
            return ItemOutcome(item.id, SKIPPED)
        url = canonical_url(link) or link
        public_only = must_be_public(item.feed_source, self.settings.allow_private_feeds)
        if public_only:
            try:
                await check_public_url(url)
            except UnsafeURL as exc:
                log.info("article refused item=%d error=%s", item.id, exc)
                return ItemOutcome(item.id, UNSAFE)
        page = await self._page(url, public_only, report)
        if page.status == UNSAFE:
            return ItemOutcome(item.id, UNSAFE)
        if page.status != extract.OK:
            return ItemOutcome(item.id, page.status, page_key=page.key)
        if not same_language(page.language, item.language):
            return ItemOutcome(item.id, OTHER_LANGUAGE, page_key=page.key)
        if len(page.text) <= len(item.text):
            return ItemOutcome(item.id, SHORTER, page_key=page.key)
        return ItemOutcome(item.id, extract.OK, text_source="article", page_key=page.key)

    async def _page(self, url: str, public_only: bool, report: ArticleReport) -> CachedPage:
        """The page of a canonical URL: from the cache while fresh, else fetched (one fetch per
        URL even when several items of this run link to it)."""
        key = page_key(url)
        cached: CachedPage | None = await self._in_db(self.articles.page, key)
        if cached is not None and cached.expires_at > self.clock():
            report.from_cache += 1
            return cached
        # A refusal is the asking feed's: Telegram feeds and operator feeds never share a fetch.
        flight = f"{key}:{public_only}"
        inflight = self._pages.get(flight)
        if inflight is not None:
            report.from_cache += 1
            return await asyncio.shield(inflight)
        future: asyncio.Future[CachedPage] = asyncio.get_running_loop().create_future()
        self._pages[flight] = future
        try:
            page = await self._fetch_page(key, url, cached, public_only)
            report.fetched += 1
            if page.status != UNSAFE:  # a refusal belongs to the feed that asked, not the page
                await self._in_db(self.articles.save_page, page)
            future.set_result(page)
            return page
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # read: a failure nobody else awaited must not warn
            raise
        finally:
            self._pages.pop(flight, None)

    async def _fetch_page(
        self, key: str, url: str, cached: CachedPage | None, public_only: bool
    ) -> CachedPage:
        now = self.clock()
        failed = now + RETRY_AFTER_FAILURE

        def outcome(status: str, message: str, http_status: int | None = None) -> CachedPage:
            return CachedPage(
                key, url, None, status, http_status, None, None, "", None, message, now, failed
            )

        try:
            result = await self._get(url, cached, public_only)
        except UnsafeURL as exc:
            return outcome(UNSAFE, str(exc))
        except BodyTooLarge as exc:
            return outcome(extract.TOO_LARGE, str(exc))
        except FetchTimeout as exc:
            return outcome(extract.TIMEOUT, str(exc))
        except HTTPStatusError as exc:
            status = extract.WALL if exc.status in WALL_STATUSES else extract.FAILED
            return outcome(status, str(exc), exc.status)
        except FetchError as exc:
            return outcome(extract.FAILED, str(exc))
        expires = now + PAGE_TTL
        if result.not_modified and cached is not None:
            return replace(cached, fetched_at=now, expires_at=expires)
        loop = asyncio.get_running_loop()
        got: Extracted = await loop.run_in_executor(
            self.extract_pool,
            extract.extract_article,
            result.body or b"",
            result.content_type,
            result.final_url,
        )
        return CachedPage(
            key=key,
            url=url,
            final_url=result.final_url,
            status=got.status,
            http_status=result.status,
            etag=result.etag,
            last_modified=result.last_modified,
            text=got.text,
            language=got.language,
            message=got.message,
            fetched_at=now,
            expires_at=expires if got.status == extract.OK else failed,
        )

    async def _get(self, url: str, cached: CachedPage | None, public_only: bool) -> FetchResult:
        """GET the page conditionally; for a Telegram-added feed through the fetcher's public
        client (every redirect hop checked, the address connected to pinned)."""
        return await self.fetcher.fetch(
            url,
            etag=cached.etag if cached else None,
            last_modified=cached.last_modified if cached else None,
            now=self.clock(),
            accept=HTML_ACCEPT,
            public_only=public_only,
        )
