"""The article stage's state: items it has to look at, the page cache, and what it decided."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import StoreError
from bot.store.db import insert_for
from bot.store.repo import Store
from bot.store.schema import article_pages, feeds, items

WORKING = "working"  # claimed by an article stage that is fetching its page


@dataclass(frozen=True)
class PendingItem:
    """An item the article stage has not looked at yet, with what its feed says."""

    id: int
    feed_id: str
    link: str | None
    title: str
    text: str
    language: str | None
    full_text: str  # the feed's mode: auto | always | never
    feed_source: str  # config (feeds.yaml) | bot (/addfeed)


@dataclass(frozen=True)
class CachedPage:
    """An article page as fetched once (by canonical URL)."""

    key: str
    url: str
    final_url: str | None
    status: str
    http_status: int | None
    etag: str | None
    last_modified: str | None
    text: str
    language: str | None
    message: str | None
    fetched_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class ItemOutcome:
    """What the article stage decided for one item."""

    item_id: int
    status: str
    text_source: str = "feed"
    page_key: str | None = None
    link: str | None = None  # the publisher's URL, when a Google News link was resolved
    canonical_link: str | None = None


class ArticleStore:
    """Queries of the article stage over a Store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    def claim_pending(self, limit: int) -> list[PendingItem]:
        """Items never looked at (oldest first), claimed so that no other stage takes them."""
        q = (
            select(
                items.c.id,
                items.c.feed_id,
                items.c.link,
                items.c.title,
                items.c.summary,
                items.c.content,
                items.c.language,
                feeds.c.full_text,
                feeds.c.source,
            )
            .join(feeds, feeds.c.id == items.c.feed_id)
            .where(items.c.article_status.is_(None))
            .order_by(items.c.id)
            .limit(limit)
        )
        try:
            with self.engine.begin() as conn:
                rows = conn.execute(q).all()
                if not rows:
                    return []
                # The UPDATE checks the status again: only the first of two stages wins an item.
                won = set(
                    conn.execute(
                        update(items)
                        .where(
                            items.c.id.in_([r.id for r in rows]), items.c.article_status.is_(None)
                        )
                        .values(article_status=WORKING)
                        .returning(items.c.id)
                    ).scalars()
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot claim items for the article stage: {exc}") from exc
        return [
            PendingItem(
                id=r.id,
                feed_id=r.feed_id,
                link=r.link,
                title=r.title,
                text=r.content or r.summary or "",
                language=r.language,
                full_text=r.full_text,
                feed_source=r.source,
            )
            for r in rows
            if r.id in won
        ]

    def release_stale(self, fetched_before: datetime) -> int:
        """Give back items a dead stage claimed (stored before a time, still 'working').

        Rows another transaction holds are skipped, not waited for (they are in use, and the
        next pass sees them): two pollers releasing and claiming at once on PostgreSQL locked
        rows in opposite orders and deadlocked."""
        stale = (
            select(items.c.id)
            .where(items.c.article_status == WORKING, items.c.fetched_at < fetched_before)
            .order_by(items.c.id)
            .with_for_update(skip_locked=True)
        )
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    update(items)
                    .where(items.c.id.in_(stale))
                    .values(article_status=None)
                ).rowcount
            )

    def page(self, key: str) -> CachedPage | None:
        """The cached page of a canonical-URL key, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(article_pages).where(article_pages.c.key == key)).first()
        if row is None:
            return None
        m: Any = row._mapping
        return CachedPage(
            key=m["key"],
            url=m["url"],
            final_url=m["final_url"],
            status=m["status"],
            http_status=m["http_status"],
            etag=m["etag"],
            last_modified=m["last_modified"],
            text=m["text"],
            language=m["language"],
            message=m["message"],
            fetched_at=m["fetched_at"],
            expires_at=m["expires_at"],
        )

    def save_page(self, page: CachedPage) -> None:
        """Insert or replace a cached page."""
        values = {
            "url": page.url,
            "final_url": page.final_url,
            "status": page.status,
            "http_status": page.http_status,
            "etag": page.etag,
            "last_modified": page.last_modified,
            "text": page.text,
            "language": page.language,
            "message": page.message,
            "fetched_at": page.fetched_at,
            "expires_at": page.expires_at,
        }
        stmt = (
            insert_for(self.store.dialect, article_pages)
            .values(key=page.key, **values)
            .on_conflict_do_update(index_elements=["key"], set_=values)
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(stmt)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot cache the page {page.url}: {exc}") from exc

    def finish(self, outcomes: Sequence[ItemOutcome]) -> None:
        """Write the stage's decisions; a resolved link also joins its story (duplicate_of)."""
        if not outcomes:
            return
        rows = [
            {
                "item_id": o.item_id,
                "s_status": o.status,
                "s_source": o.text_source,
                "s_key": o.page_key,
            }
            for o in outcomes
        ]
        stmt = (
            update(items)
            .where(items.c.id == bindparam("item_id"))
            .values(
                article_status=bindparam("s_status"),
                text_source=bindparam("s_source"),
                article_key=bindparam("s_key"),
            )
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(stmt, rows)
                for o in outcomes:
                    if o.link:
                        self._relink(conn, o.item_id, o.link, o.canonical_link)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot store article outcomes: {exc}") from exc

    def _relink(self, conn: Any, item_id: int, link: str, canonical: str | None) -> None:
        """Point an item at its publisher's URL; an earlier item of another feed with that URL
        makes it a duplicate (as insert_items does with links known at parse time)."""
        feed_id = conn.execute(select(items.c.feed_id).where(items.c.id == item_id)).scalar()
        original = None
        if canonical:
            found = conn.execute(
                select(items.c.id, items.c.duplicate_of)
                .where(
                    and_(
                        items.c.canonical_link == canonical,
                        items.c.feed_id != feed_id,
                        items.c.id < item_id,
                    )
                )
                .order_by(items.c.id)
                .limit(1)
            ).first()
            if found is not None:
                original = found.duplicate_of or found.id
        values: dict[str, Any] = {"link": link, "canonical_link": canonical}
        if original is not None:
            values["duplicate_of"] = original
        conn.execute(update(items).where(items.c.id == item_id).values(**values))
