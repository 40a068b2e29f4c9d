"""The items table family: insertion with cross-feed dedup, tags, listings and label counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import StoreError
from bot.query.model import Query
from bot.query.stems import CONTENT_CHARS, index_text
from bot.store import search as search_
from bot.store.db import RawWriter
from bot.store.fixes import apply_fixes
from bot.store.rows import ParsedItem, StoredItem, one_per_story
from bot.store.schema import article_pages, corrections, feeds, item_labels, item_tags, items
from bot.store.search import matching_ids

DUPLICATE_WINDOW = timedelta(days=3)
TEXT_CHARS = 20_000  # of an item's text read back for /why (the tagger reads less)
PARSED_FIELDS = fields(ParsedItem)


class ItemQueries:
    """Item rows and their tags (part of Store)."""

    engine: Engine
    dialect: str

    def insert_items(self, feed_id: str, parsed: Sequence[ParsedItem], now: datetime) -> list[int]:
        """Store the items not seen before in this feed; return the new ids.

        Items already stored from another feed (same canonical link, or the same title within
        a few days) are kept but marked duplicate_of the first one, so alerts name both sources.
        """
        if not parsed:
            return []
        try:
            with self.engine.begin() as conn:
                return self._insert_items(conn, feed_id, parsed, now)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot store items of feed {feed_id}: {exc}") from exc

    def insert_items_batch(
        self,
        batch: Sequence[tuple[str, Sequence[ParsedItem], datetime]],
        tags: Sequence[Mapping[str, Mapping[str, Any]]] | None = None,
        index: Sequence[Mapping[str, str]] | None = None,
    ) -> list[list[int] | StoreError]:
        """insert_items for several feeds in one transaction (one commit instead of one per feed).

        tags: per feed, tagger results by dedup key (bot.feeds.workers.parse_and_tag); the new
        items they cover are stored tagged, in the same transaction. index: per feed, SQLite's
        full-text stems by dedup key, computed by the parse workers (bot.query.stems.index_text;
        an item without them is stemmed here). Returns, per feed, its new ids or the StoreError
        it met: when the shared transaction fails, each feed is retried alone so one bad feed
        does not fail the others.
        """
        if not batch:
            return []
        per_feed = list(tags) if tags is not None else [{}] * len(batch)
        stems = list(index) if index is not None else [{}] * len(batch)
        extra = list(zip(per_feed, stems, strict=True))
        try:
            with self.engine.begin() as conn:
                fulltext: list[tuple[int, datetime, str]] = []
                done: list[list[int] | StoreError] = [
                    self._insert_items(conn, fid, items_, now, *more, fulltext) if items_ else []
                    for (fid, items_, now), more in zip(batch, extra, strict=True)
                ]
                search_.index_items(conn, fulltext)
                return done
        except (SQLAlchemyError, StoreError):
            if len(batch) == 1:
                fid, items_, now = batch[0]
                return [self._insert_one(fid, items_, now, *extra[0])]
        return [
            self._insert_one(fid, items_, now, *more)
            for (fid, items_, now), more in zip(batch, extra, strict=True)
        ]

    def _insert_one(
        self,
        feed_id: str,
        parsed: Sequence[ParsedItem],
        now: datetime,
        tags: Mapping[str, Mapping[str, Any]],
        index: Mapping[str, str],
    ) -> list[int] | StoreError:
        try:
            with self.engine.begin() as conn:
                return self._insert_items(conn, feed_id, parsed, now, tags, index)
        except SQLAlchemyError as exc:
            return StoreError(f"cannot store items of feed {feed_id}: {exc}")
        except StoreError as exc:
            return exc

    def _insert_items(
        self,
        conn: Connection,
        feed_id: str,
        parsed: Sequence[ParsedItem],
        now: datetime,
        tags: Mapping[str, Mapping[str, Any]] | None = None,
        index: Mapping[str, str] | None = None,
        fulltext: list[tuple[int, datetime, str]] | None = None,
    ) -> list[int]:
        """Insert one feed's new items (see insert_items); SQLite's full-text rows of its new
        items are written now, or appended to `fulltext` for the caller to write (sorted
        together: see search.index_items)."""
        keys = [p.dedup_key for p in parsed]
        existing: set[str] = set()
        for chunk in _chunks(keys, 500):
            existing.update(
                conn.execute(
                    select(items.c.dedup_key).where(
                        items.c.feed_id == feed_id, items.c.dedup_key.in_(chunk)
                    )
                ).scalars()
            )
        first: dict[str, ParsedItem] = {}
        for p in parsed:
            if p.dedup_key not in existing:
                first.setdefault(p.dedup_key, p)
        fresh = list(first.values())
        if not fresh:
            return []
        tags = tags or {}
        originals = self._find_originals(conn, feed_id, fresh)
        # Raw DBAPI executemany (the ORM-free Core path costs more than SQLite's own work):
        # one statement for the batch, ids read back in one query, tags in the same transaction.
        # Every field of ParsedItem is a column of items: a new feed field needs no code here.
        rows = [
            (
                *(getattr(p, f.name) for f in PARSED_FIELDS),
                feed_id,
                now,
                originals.get(p.dedup_key),
                now if p.dedup_key in tags else None,
            )
            for p in fresh
        ]
        raw = RawWriter(conn)
        raw.insert(items, ITEM_COLUMNS, rows, conflict=("feed_id", "dedup_key"))
        ids: dict[str, int] = {}
        for chunk in _chunks([p.dedup_key for p in fresh], 500):
            ids.update(
                (key, id_)
                for id_, key in conn.execute(
                    select(items.c.id, items.c.dedup_key).where(
                        items.c.feed_id == feed_id, items.c.dedup_key.in_(chunk)
                    )
                )
            )
        if self.dialect == "sqlite":  # its full-text rows (PostgreSQL's column is generated)
            given = index or {}
            new_text = [
                (
                    ids[p.dedup_key],
                    p.published_at,
                    given.get(p.dedup_key) or index_text(p.title, p.summary, p.content),
                )
                for p in fresh
                if p.dedup_key in ids
            ]
            if fulltext is None:
                search_.index_items(conn, new_text)
            else:
                fulltext.extend(new_text)
        new_ids = [ids[p.dedup_key] for p in fresh if p.dedup_key in ids]
        tagged = [(ids[key], res) for key, res in tags.items() if key in ids]
        if tagged:
            label_rows, tag_rows = _tag_rows(tagged, now, None)
            raw.insert(item_labels, LABEL_COLUMNS, label_rows)
            raw.insert(item_tags, TAG_COLUMNS, tag_rows)
        conn.execute(
            update(feeds)
            .where(feeds.c.id == feed_id)
            .values(items_total=feeds.c.items_total + len(new_ids))
        )
        return new_ids

    def _find_originals(
        self, conn: Any, feed_id: str, fresh: Sequence[ParsedItem]
    ) -> dict[str, int]:
        links = {p.canonical_link for p in fresh if p.canonical_link}
        tkeys = {p.title_key for p in fresh if p.title_key}
        by_link: dict[str, int] = {}
        by_title: dict[str, list[tuple[int, datetime | None]]] = {}
        cols = (
            items.c.id,
            items.c.duplicate_of,
            items.c.canonical_link,
            items.c.title_key,
            items.c.published_at,
        )
        other = items.c.feed_id != feed_id
        for chunk in _chunks(sorted(links), 500):
            for r in conn.execute(select(*cols).where(other, items.c.canonical_link.in_(chunk))):
                by_link.setdefault(r.canonical_link, r.duplicate_of or r.id)
        for chunk in _chunks(sorted(tkeys), 500):
            for r in conn.execute(select(*cols).where(other, items.c.title_key.in_(chunk))):
                by_title.setdefault(r.title_key, []).append(
                    (r.duplicate_of or r.id, r.published_at)
                )
        found: dict[str, int] = {}
        for p in fresh:
            if p.canonical_link and p.canonical_link in by_link:
                found[p.dedup_key] = by_link[p.canonical_link]
                continue
            for original, when in by_title.get(p.title_key or "", []):
                if when is not None and abs(when - p.published_at) <= DUPLICATE_WINDOW:
                    found[p.dedup_key] = original
                    break
        return found

    def count_items(self) -> int:
        """How many items are stored."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(items)).scalar_one())

    def untagged_ids(self, now: datetime, limit: int = 2000) -> list[int]:
        """Items still untagged whose feed no live poller holds (its poller died or stopped
        between storing and tagging them): a poller tags a feed's items before its lease ends."""
        free = or_(feeds.c.lease_owner.is_(None), feeds.c.lease_until < now)
        q = (
            select(items.c.id)
            .join(feeds, feeds.c.id == items.c.feed_id)
            .where(items.c.tagged_at.is_(None), free)
            .order_by(items.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [int(i) for i in conn.execute(q).scalars()]

    def items_for_tagging(
        self,
        ids: Sequence[int] | None = None,
        *,
        untagged_only: bool = True,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Items (with their feed's region hint, and their article's text when they have one)
        to give to the tagger."""
        use_article = and_(
            items.c.text_source == "article", article_pages.c.key == items.c.article_key
        )
        q = (
            select(
                items.c.id,
                items.c.title,
                items.c.summary,
                items.c.content,
                feeds.c.region_hint,
                items.c.language,
                article_pages.c.text.label("article_text"),
            )
            .join(feeds, feeds.c.id == items.c.feed_id)
            .outerjoin(article_pages, use_article)
            .order_by(items.c.id)
        )
        if ids is not None:
            q = q.where(items.c.id.in_(list(ids)))
        if untagged_only:
            q = q.where(items.c.tagged_at.is_(None))
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def save_tags(
        self, tagged: Sequence[tuple[int, dict[str, Any]]], now: datetime, model_version: str
    ) -> None:
        """Store tagger results: each (item_id, result dict with the TAXONOMY fields).

        Users' corrections of an item are laid over its result (bot.store.fixes), so a re-tag
        keeps them."""
        if not tagged:
            return
        ids = [i for i, _ in tagged]
        try:
            with self.engine.begin() as conn:
                fixes = _fixes_of(conn, ids)
                self._write_tags(
                    conn,
                    [(i, apply_fixes(res, fixes[i]) if i in fixes else res) for i, res in tagged],
                    now,
                    model_version,
                )
                for chunk in _chunks(ids, 500):
                    conn.execute(update(items).where(items.c.id.in_(chunk)).values(tagged_at=now))
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot store tags: {exc}") from exc

    def refresh_corrections(self, item_id: int) -> bool:
        """Lay an item's corrections over its stored tags now; False when it is not tagged."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(item_tags.c.result, item_tags.c.model_version, item_tags.c.tagged_at).where(
                    item_tags.c.item_id == item_id
                )
            ).first()
            if row is None:
                return False
            fixed = apply_fixes(dict(row.result or {}), _fixes_of(conn, [item_id]).get(item_id, []))
            self._write_tags(conn, [(item_id, fixed)], row.tagged_at, row.model_version or "")
        return True

    def _write_tags(
        self,
        conn: Any,
        tagged: Sequence[tuple[int, dict[str, Any]]],
        now: datetime,
        model_version: str,
    ) -> None:
        ids = [i for i, _ in tagged]
        label_rows, tag_rows = _tag_rows(tagged, now, model_version)
        for chunk in _chunks(ids, 500):
            conn.execute(item_labels.delete().where(item_labels.c.item_id.in_(chunk)))
            conn.execute(item_tags.delete().where(item_tags.c.item_id.in_(chunk)))
        if label_rows:
            conn.execute(
                item_labels.insert(),
                [dict(zip(LABEL_COLUMNS, r, strict=True)) for r in label_rows],
            )
        conn.execute(item_tags.insert(), [dict(zip(TAG_COLUMNS, r, strict=True)) for r in tag_rows])

    def recent_items(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        regions: Sequence[str] = (),
        types: Sequence[str] = (),
        topic_only: bool = True,
        include_duplicates: bool = False,
        limit: int | None = 50,
        offset: int = 0,
        ids: Sequence[int] | None = None,
        search: str | None = None,
        query: Query | None = None,
        per_story: bool | None = None,
    ) -> list[StoredItem]:
        """Items newest first, filtered by period, regions, types, full text; with their tags.

        `query` (bot.query) adds its regions (``national`` for France-wide items), types,
        period, words and phrases (on stems, accents ignored) and exclusions; `search` is a
        plain list of words that must all appear. `per_story` (default: unless duplicates are
        included) lists a story once, as its newest matching member.
        """
        args: dict[str, Any] = {
            "since": since,
            "until": until,
            "regions": regions,
            "types": types,
            "topic_only": topic_only,
            "include_duplicates": include_duplicates,
            "ids": ids,
            "search": search,
            "query": query,
        }
        if not (not include_duplicates if per_story is None else per_story):
            return self._recent_items(limit=limit, offset=offset, **args)
        if limit is None:
            return one_per_story(self._recent_items(limit=None, offset=0, **args))[offset:]
        # Members of one story take several rows: read more until the page is full.
        wanted, fetch = limit + offset, limit + offset
        while True:
            rows = self._recent_items(limit=fetch, offset=0, **args)
            kept = one_per_story(rows)
            if len(kept) >= wanted or len(rows) < fetch:
                return kept[offset:wanted]
            fetch *= 4

    def _recent_items(
        self,
        *,
        since: datetime | None,
        until: datetime | None,
        regions: Sequence[str],
        types: Sequence[str],
        topic_only: bool,
        include_duplicates: bool,
        limit: int | None,
        offset: int,
        ids: Sequence[int] | None,
        search: str | None,
        query: Query | None,
    ) -> list[StoredItem]:
        # Limit before join: the page's ids are chosen on narrow rows (ix_items_live covers the
        # time order and the originals check), then only they are read whole.
        base = self._filtered(
            select(items.c.id).outerjoin(item_tags, item_tags.c.item_id == items.c.id),
            since=since,
            until=until,
            regions=regions,
            types=types,
            topic_only=topic_only,
            include_duplicates=include_duplicates,
            ids=ids,
            search=search,
        )
        whole = (
            select(
                items.c.id,
                items.c.feed_id,
                feeds.c.name.label("feed_name"),
                items.c.title,
                func.coalesce(items.c.canonical_link, items.c.link).label("link"),
                items.c.summary,
                items.c.published_at,
                items.c.duplicate_of,
                items.c.story_id,
                item_tags.c.primary_type,
                item_tags.c.national,
                item_tags.c.topic_ai,
            )
            .join(feeds, feeds.c.id == items.c.feed_id)
            .outerjoin(item_tags, item_tags.c.item_id == items.c.id)
            .order_by(items.c.published_at.desc(), items.c.id.desc())
        )
        # Words on SQLite: the candidates are the `window` newest matches, widened until the
        # page is full or every match is in (bot.store.search.newest_matches).
        sqlite_words = query is not None and bool(query.terms) and self.dialect == "sqlite"
        window: int | None = (
            max(search_.WINDOW, search_.WINDOW_PER_ROW * (limit + offset))
            if sqlite_words and limit is not None
            else None
        )
        with self.engine.connect() as conn:
            while True:
                candidates, complete = None, True
                if window is not None and query is not None:
                    candidates = search_.newest_matches(conn, query, window)
                    complete = len(candidates) < window
                q = base
                if query is not None:
                    q = search_.apply_query(self.dialect, base, query, candidates)
                q = q.order_by(items.c.published_at.desc(), items.c.id.desc())
                page = q.limit(limit).offset(offset).subquery()
                rows = conn.execute(whole.where(items.c.id.in_(select(page.c.id)))).all()
                if complete or limit is None or len(rows) >= limit:
                    break
                assert window is not None
                window = window * 8 if window * 8 <= search_.MAX_WINDOW else None
            labels = self._labels(conn, [r.id for r in rows])
        return [
            StoredItem(
                id=r.id,
                feed_id=r.feed_id,
                feed_name=r.feed_name,
                title=r.title,
                link=r.link,
                summary=r.summary,
                published_at=r.published_at,
                duplicate_of=r.duplicate_of,
                regions=tuple(labels[r.id].get("region", ())),
                countries=tuple(labels[r.id].get("country", ())),
                types=tuple(labels[r.id].get("type", ())),
                primary_type=r.primary_type,
                national=bool(r.national),
                topic_ai=r.topic_ai,
                story_id=r.story_id,
            )
            for r in rows
        ]

    def count_listed(
        self,
        *,
        query: Query | None = None,
        since: datetime | None = None,
        cap: int = 1000,
        topic_only: bool = True,
    ) -> tuple[int, bool]:
        """How many entries recent_items would list: (n, exact), a story once however many of its
        items match (an item without a story is its own). Counting stops at `cap` (n = cap,
        exact False). Words on SQLite are counted among their COUNT_WINDOW newest matches; when
        there are more, n is a lower bound (exact False)."""
        # Without a period a count starts from the labels' items; with one, from the time index.
        drive = since is None and (query is None or query.period is None)
        q = self._filtered(
            select(items.c.id).outerjoin(item_tags, item_tags.c.item_id == items.c.id),
            since=since,
            topic_only=topic_only,
            drive=drive,
        )
        with self.engine.connect() as conn:
            complete = True
            if query is not None:
                candidates = None
                if query.terms and self.dialect == "sqlite":
                    candidates = search_.newest_select(conn, query, search_.COUNT_WINDOW)
                    if candidates is not None:
                        inside = select(func.count()).select_from(candidates.subquery())
                        complete = conn.execute(inside).scalar_one() < search_.COUNT_WINDOW
                q = search_.apply_query(self.dialect, q, query, candidates, drive=drive)
            # One key per listed entry: the story, or the item itself (negated: ids never clash).
            entry = func.coalesce(items.c.story_id, -items.c.id).label("entry")
            entries = q.with_only_columns(entry).distinct().limit(cap).subquery()
            found = conn.execute(select(func.count()).select_from(entries))
            n = int(found.scalar_one())
        return n, complete and n < cap

    def _filtered(
        self,
        q: Any,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        regions: Sequence[str] = (),
        types: Sequence[str] = (),
        topic_only: bool = True,
        include_duplicates: bool = False,
        ids: Sequence[int] | None = None,
        search: str | None = None,
        drive: bool = False,
    ) -> Any:
        """A SELECT over items (joined to item_tags) narrowed by recent_items' filters (drive:
        labels as in bot.store.search.labelled)."""
        if since is not None:
            q = q.where(items.c.published_at >= since)
        if until is not None:
            q = q.where(items.c.published_at < until)
        if not include_duplicates:
            q = q.where(items.c.duplicate_of.is_(None))
        if topic_only:
            q = q.where(or_(item_tags.c.topic_ai.is_(True), item_tags.c.item_id.is_(None)))
        for kind, values in (("region", regions), ("type", types)):
            if values:
                q = q.where(search_.labelled(kind, values, drive=drive))
        if ids is not None:
            q = q.where(items.c.id.in_(list(ids)))
        if search:
            q = q.where(items.c.id.in_(matching_ids(self.dialect, search)))
        return q

    def stems_of(self, ids: Sequence[int]) -> dict[int, str]:
        """The stems of items' text (bot.query.stems.index_text), for matching alerts in Python."""
        out: dict[int, str] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids), 500):
                q = select(
                    items.c.id,
                    items.c.title,
                    items.c.summary,
                    func.substr(items.c.content, 1, CONTENT_CHARS).label("content"),
                ).where(items.c.id.in_(chunk))
                for r in conn.execute(q):
                    out[r.id] = index_text(r.title, r.summary, r.content)
        return out

    def _labels(self, conn: Any, ids: Sequence[int]) -> dict[int, dict[str, list[str]]]:
        out: dict[int, dict[str, list[str]]] = {i: {} for i in ids}
        for chunk in _chunks(list(ids), 500):
            q = (
                select(item_labels.c.item_id, item_labels.c.kind, item_labels.c.value)
                .where(item_labels.c.item_id.in_(chunk))
                .order_by(item_labels.c.item_id, item_labels.c.score.desc())
            )
            for r in conn.execute(q):
                out[r.item_id].setdefault(r.kind, []).append(r.value)
        return out

    def duplicates_of(self, ids: Sequence[int]) -> dict[int, list[str]]:
        """For each item id, the names of the other feeds that carried the story: its exact
        duplicates (same link or title) and the other members of its story, earliest first."""
        out: dict[int, list[str]] = {}
        if not ids:
            return out
        self._story_sources(ids, out)
        q = (
            select(items.c.duplicate_of, feeds.c.name)
            .join(feeds, feeds.c.id == items.c.feed_id)
            .where(items.c.duplicate_of.in_(list(ids)))
            .order_by(items.c.id)
        )
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                names = out.setdefault(r.duplicate_of, [])
                if r.name not in names:
                    names.append(r.name)
        return out

    def _story_sources(self, ids: Sequence[int], out: dict[int, list[str]]) -> None:
        """Add to out the feed names of the other members of each item's story."""
        own: dict[int, tuple[int, str]] = {}  # item -> (story, feed)
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids), 500):
                q = select(items.c.id, items.c.story_id, items.c.feed_id).where(
                    items.c.id.in_(chunk), items.c.story_id.is_not(None)
                )
                own.update({r.id: (r.story_id, r.feed_id) for r in conn.execute(q)})
            members: dict[int, list[tuple[str, str]]] = {}  # story -> [(feed id, feed name)]
            for chunk in _chunks(sorted({s for s, _ in own.values()}), 500):
                q = (
                    select(items.c.story_id, items.c.feed_id, feeds.c.name)
                    .join(feeds, feeds.c.id == items.c.feed_id)
                    .where(items.c.story_id.in_(chunk))
                    .order_by(items.c.published_at, items.c.id)
                )
                for r in conn.execute(q):
                    members.setdefault(r.story_id, []).append((r.feed_id, r.name))
        for item_id, (story_id, feed_id) in own.items():
            names = out.setdefault(item_id, [])
            for other_feed, name in members.get(story_id, ()):
                if other_feed != feed_id and name not in names:
                    names.append(name)
            if not names:
                del out[item_id]

    def label_counts(self, kind: str, since: datetime) -> dict[str, int]:
        """Stories per label value (region, type, country) published since a time (an item
        without a story counts as one)."""
        stories_count = func.count(func.distinct(items.c.story_id)) + func.sum(
            case((items.c.story_id.is_(None), 1), else_=0)
        )
        q = (
            select(item_labels.c.value, stories_count)
            .join(items, items.c.id == item_labels.c.item_id)
            .join(item_tags, item_tags.c.item_id == items.c.id)
            .where(
                item_labels.c.kind == kind,
                items.c.published_at >= since,
                items.c.duplicate_of.is_(None),
                item_tags.c.topic_ai.is_(True),
            )
            .group_by(item_labels.c.value)
        )
        with self.engine.connect() as conn:
            return {v: int(n) for v, n in conn.execute(q)}

    def item_details(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """For each item: text_source, article_status and the stored tagger result (or None)."""
        out: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(list(ids), 500):
            q = (
                select(items.c.id, items.c.text_source, items.c.article_status, item_tags.c.result)
                .outerjoin(item_tags, item_tags.c.item_id == items.c.id)
                .where(items.c.id.in_(chunk))
            )
            with self.engine.connect() as conn:
                for r in conn.execute(q):
                    out[r.id] = {
                        "text_source": r.text_source,
                        "article_status": r.article_status,
                        "result": r.result,
                    }
        return out

    def item_text(self, item_id: int) -> str:
        """An item's title and text as the tagger read them ('' when there is no such item)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    items.c.title,
                    items.c.summary,
                    func.substr(items.c.content, 1, TEXT_CHARS).label("content"),
                ).where(items.c.id == item_id)
            ).first()
        return f"{row.title}\n{row.content or row.summary or ''}" if row else ""

    def item_result(self, item_id: int) -> dict[str, Any] | None:
        """The stored tagger result of an item (with evidence), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(item_tags.c.result).where(item_tags.c.item_id == item_id)
            ).first()
        return dict(row.result) if row else None


ITEM_COLUMNS = (
    *(f.name for f in PARSED_FIELDS),
    "feed_id",
    "fetched_at",
    "duplicate_of",
    "tagged_at",
)
LABEL_COLUMNS = ("item_id", "kind", "value", "score")
TAG_COLUMNS = (
    "item_id",
    "national",
    "primary_type",
    "topic_ai",
    "topic_score",
    "result",
    "model_version",
    "tagged_at",
)


def _tag_rows(
    tagged: Iterable[tuple[int, Mapping[str, Any]]], now: datetime, model_version: str | None
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Tagger results as item_labels and item_tags rows (LABEL_COLUMNS, TAG_COLUMNS); the model
    version is the given one, else the result's own."""
    labels: list[tuple[Any, ...]] = []
    tags: list[tuple[Any, ...]] = []
    for item_id, res in tagged:
        scores = res.get("scores", {})
        for kind, key in (("region", "regions"), ("country", "countries"), ("type", "types")):
            for value in res.get(key) or []:
                labels.append((item_id, kind, value, float(scores.get(key, {}).get(value, 1.0))))
        tags.append(
            (
                item_id,
                bool(res.get("national")),
                res.get("primary_type"),
                bool(res.get("topic_ai")),
                float(scores.get("topic_ai", 0.0)),
                dict(res),
                model_version or res.get("model_version"),
                now,
            )
        )
    return labels, tags


def _fixes_of(conn: Any, ids: Sequence[int]) -> dict[int, list[tuple[str, Any]]]:
    """Users' corrections of these items, oldest first."""
    out: dict[int, list[tuple[str, Any]]] = {}
    for chunk in _chunks(list(ids), 500):
        q = (
            select(corrections.c.item_id, corrections.c.field, corrections.c.value)
            .where(corrections.c.item_id.in_(chunk))
            .order_by(corrections.c.id)
        )
        for r in conn.execute(q):
            out.setdefault(r.item_id, []).append((r.field, r.value))
    return out


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
