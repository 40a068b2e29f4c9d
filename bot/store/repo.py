"""Queries over the schema: feeds and their fetch state, items, tags. One Store per process."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, exists, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from bot.config import FeedConfig
from bot.errors import StoreError
from bot.store.db import make_engine, migrate, one_at_a_time
from bot.store.rows import FeedState, ParsedItem, StoredItem
from bot.store.schema import feeds, item_labels, item_tags, items

DUPLICATE_WINDOW = timedelta(days=3)
# Created on PostgreSQL by migration 0003 (items.search_tsv, text search config veille_fr).
PG_SEARCH_COLUMN = "items.search_tsv"
PG_SEARCH_CONFIG = "veille_fr"


class Store:
    """The database behind Veille."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True) -> Store:
        """Open (and migrate) the database at url."""
        engine = make_engine(url)
        if migrate_schema:
            migrate(engine)
        return cls(engine)

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()

    def _insert(self, table: Any) -> Any:
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    # ---- feeds -------------------------------------------------------------------------

    def sync_feeds(
        self, configs: Iterable[FeedConfig], now: datetime, *, source: str = "config"
    ) -> None:
        """Make the feeds of one source follow its configuration; feeds gone from it are disabled."""
        configs = list(configs)
        try:
            with self.engine.begin() as conn:
                one_at_a_time(conn)
                stored = {r.id: r for r in conn.execute(select(feeds))}
                for cfg in configs:
                    values: dict[str, Any] = {
                        "name": cfg.name,
                        "language": cfg.language,
                        "region_hint": cfg.region,
                        "tags": list(cfg.tags),
                        "min_interval": cfg.min_interval_minutes,
                        "max_interval": cfg.max_interval_minutes,
                        "enabled": cfg.enabled,
                    }
                    row = stored.get(cfg.id)
                    if row is None:
                        conn.execute(
                            feeds.insert().values(
                                id=cfg.id,
                                url=cfg.url,
                                configured_url=cfg.url,
                                source=source,
                                status="new" if cfg.enabled else "disabled",
                                next_check_at=now,
                                consecutive_errors=0,
                                items_total=0,
                                created_at=now,
                                **values,
                            )
                        )
                        continue
                    if row.configured_url != cfg.url:  # the operator changed it: start afresh
                        values.update(
                            url=cfg.url,
                            configured_url=cfg.url,
                            etag=None,
                            last_modified=None,
                            body_hash=None,
                            next_check_at=now,
                        )
                    if not cfg.enabled:
                        values["status"] = "disabled"
                    elif (
                        row.status == "disabled" and not row.enabled
                    ):  # not "dead": auto-disabled stays off
                        values.update(status="new", next_check_at=now, consecutive_errors=0)
                    conn.execute(update(feeds).where(feeds.c.id == cfg.id).values(**values))
                wanted = {c.id for c in configs}
                gone = [
                    fid for fid, r in stored.items() if fid not in wanted and r.source == source
                ]
                if gone:
                    conn.execute(
                        update(feeds)
                        .where(feeds.c.id.in_(gone))
                        .values(enabled=False, status="disabled")
                    )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot sync feeds: {exc}") from exc

    def add_feed(
        self, feed_id: str, name: str, url: str, now: datetime, *, language: str = "fr"
    ) -> None:
        """Add a feed from the bot (source 'bot'; survives config syncs)."""
        with self.engine.begin() as conn:
            conn.execute(
                feeds.insert().values(
                    id=feed_id,
                    name=name,
                    url=url,
                    configured_url=url,
                    source="bot",
                    language=language,
                    tags=[],
                    min_interval=30,
                    max_interval=1440,
                    enabled=True,
                    status="new",
                    next_check_at=now,
                    consecutive_errors=0,
                    items_total=0,
                    created_at=now,
                )
            )

    def remove_feed(self, feed_id: str) -> bool:
        """Disable a feed (its items stay); True when it existed."""
        with self.engine.begin() as conn:
            res = conn.execute(
                update(feeds).where(feeds.c.id == feed_id).values(enabled=False, status="disabled")
            )
            return bool(res.rowcount)

    def feed_states(self, *, include_disabled: bool = True) -> list[FeedState]:
        """All feeds, by id."""
        q = select(feeds).order_by(feeds.c.id)
        if not include_disabled:
            q = q.where(feeds.c.enabled.is_(True))
        with self.engine.connect() as conn:
            return [FeedState.from_row(r) for r in conn.execute(q)]

    def feed_state(self, feed_id: str) -> FeedState | None:
        """One feed, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(feeds).where(feeds.c.id == feed_id)).first()
        return FeedState.from_row(row) if row else None

    def due_feeds(
        self,
        now: datetime,
        limit: int = 10_000,
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=10),
    ) -> list[FeedState]:
        """Enabled feeds whose next check is due; with owner, lease them (others skip them)."""
        due = and_(feeds.c.enabled.is_(True), feeds.c.next_check_at <= now)
        free = or_(feeds.c.lease_until.is_(None), feeds.c.lease_until < now)
        q = select(feeds).where(due, free).order_by(feeds.c.next_check_at).limit(limit)
        with self.engine.begin() as conn:
            if owner is not None and self.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = conn.execute(q).all()
            if owner is not None and rows:
                # The UPDATE checks the lease again: SQLite's SELECT locks nothing, so two
                # pollers can pick the same feeds, and only the first UPDATE may win them.
                won = set(
                    conn.execute(
                        update(feeds)
                        .where(feeds.c.id.in_([r.id for r in rows]), due, free)
                        .values(lease_owner=owner, lease_until=now + lease)
                        .returning(feeds.c.id)
                    ).scalars()
                )
                rows = [r for r in rows if r.id in won]
        return [FeedState.from_row(r) for r in rows]

    def renew_feed_leases(self, owner: str, until: datetime) -> int:
        """Extend the leases owner still holds (a live poller's never expire); how many."""
        try:
            with self.engine.begin() as conn:
                return int(
                    conn.execute(
                        update(feeds)
                        .where(feeds.c.lease_owner == owner, feeds.c.lease_until.is_not(None))
                        .values(lease_until=until)
                    ).rowcount
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot renew the leases of {owner}: {exc}") from exc

    def save_feed_states(self, changes: Sequence[dict[str, Any]]) -> None:
        """Write fetch outcomes: each dict has 'id' and the columns to set; leases are released."""
        if not changes:
            return
        # Outcomes with the same columns share one executemany (1,000 304s: one statement).
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for change in changes:
            values = {k: v for k, v in change.items() if k != "id"}
            values.update(lease_owner=None, lease_until=None)
            params = {"col_" + k: v for k, v in values.items()}
            params["feed_id"] = change["id"]
            groups.setdefault(tuple(sorted(values)), []).append(params)
        with self.engine.begin() as conn:
            for columns, rows in groups.items():
                stmt = (
                    update(feeds)
                    .where(feeds.c.id == bindparam("feed_id"))
                    .values({c: bindparam("col_" + c) for c in columns})
                )
                conn.execute(stmt, rows)

    def force_due(self, now: datetime) -> None:
        """Make every enabled feed due now (`veille poll --once`)."""
        with self.engine.begin() as conn:
            conn.execute(update(feeds).where(feeds.c.enabled.is_(True)).values(next_check_at=now))

    # ---- items -------------------------------------------------------------------------

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
        self, batch: Sequence[tuple[str, Sequence[ParsedItem], datetime]]
    ) -> list[list[int] | StoreError]:
        """insert_items for several feeds in one transaction (one commit instead of one per feed).

        Returns, per feed, its new ids or the StoreError it met: when the shared transaction
        fails, each feed is retried alone so one bad feed does not fail the others.
        """
        if not batch:
            return []
        try:
            with self.engine.begin() as conn:
                done: list[list[int] | StoreError] = [
                    self._insert_items(conn, fid, items_, now) if items_ else []
                    for fid, items_, now in batch
                ]
                return done
        except SQLAlchemyError:
            if len(batch) == 1:
                fid, items_, now = batch[0]
                return [self._insert_one(fid, items_, now)]
        return [self._insert_one(fid, items_, now) for fid, items_, now in batch]

    def _insert_one(
        self, feed_id: str, parsed: Sequence[ParsedItem], now: datetime
    ) -> list[int] | StoreError:
        try:
            return self.insert_items(feed_id, parsed, now)
        except StoreError as exc:
            return exc

    def _insert_items(
        self, conn: Any, feed_id: str, parsed: Sequence[ParsedItem], now: datetime
    ) -> list[int]:
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
        fresh = [p for p in parsed if p.dedup_key not in existing]
        if not fresh:
            return []
        originals = self._find_originals(conn, feed_id, fresh)
        rows = [
            {
                "feed_id": feed_id,
                "dedup_key": p.dedup_key,
                "guid": p.guid,
                "link": p.link,
                "canonical_link": p.canonical_link,
                "title": p.title,
                "summary": p.summary,
                "content": p.content,
                "author": p.author,
                "language": p.language,
                "published_at": p.published_at,
                "date_is_fallback": p.date_is_fallback,
                "fetched_at": now,
                "title_key": p.title_key,
                "enclosure_url": p.enclosure_url,
                "duplicate_of": originals.get(p.dedup_key),
            }
            for p in fresh
        ]
        stmt = (
            self._insert(items)
            .on_conflict_do_nothing(index_elements=["feed_id", "dedup_key"])
            .returning(items.c.id)
        )
        new_ids = [r[0] for r in conn.execute(stmt, rows)] if len(rows) else []
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

    def untagged_ids(self, fetched_before: datetime, limit: int = 2000) -> list[int]:
        """Items still untagged that were stored before a time (a poller died before tagging them)."""
        q = (
            select(items.c.id)
            .where(items.c.tagged_at.is_(None), items.c.fetched_at < fetched_before)
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
        """Items (with their feed's region hint) to give to the tagger."""
        q = (
            select(
                items.c.id,
                items.c.title,
                items.c.summary,
                items.c.content,
                feeds.c.region_hint,
                items.c.language,
            )
            .join(feeds, feeds.c.id == items.c.feed_id)
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
        """Store tagger results: each (item_id, result dict with the TAXONOMY fields)."""
        if not tagged:
            return
        ids = [i for i, _ in tagged]
        labels: list[dict[str, Any]] = []
        tag_rows: list[dict[str, Any]] = []
        for item_id, res in tagged:
            scores = res.get("scores", {})
            for kind, key in (("region", "regions"), ("country", "countries"), ("type", "types")):
                for value in res.get(key, []):
                    score = float(scores.get(key, {}).get(value, 1.0))
                    labels.append(
                        {"item_id": item_id, "kind": kind, "value": value, "score": score}
                    )
            tag_rows.append(
                {
                    "item_id": item_id,
                    "national": bool(res.get("national")),
                    "primary_type": res.get("primary_type"),
                    "topic_ai": bool(res.get("topic_ai")),
                    "topic_score": float(scores.get("topic_ai", 0.0)),
                    "result": res,
                    "model_version": model_version,
                    "tagged_at": now,
                }
            )
        try:
            with self.engine.begin() as conn:
                for chunk in _chunks(ids, 500):
                    conn.execute(item_labels.delete().where(item_labels.c.item_id.in_(chunk)))
                    conn.execute(item_tags.delete().where(item_tags.c.item_id.in_(chunk)))
                if labels:
                    conn.execute(item_labels.insert(), labels)
                conn.execute(item_tags.insert(), tag_rows)
                for chunk in _chunks(ids, 500):
                    conn.execute(update(items).where(items.c.id.in_(chunk)).values(tagged_at=now))
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot store tags: {exc}") from exc

    def recent_items(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        regions: Sequence[str] = (),
        types: Sequence[str] = (),
        topic_only: bool = True,
        include_duplicates: bool = False,
        limit: int = 50,
        offset: int = 0,
        ids: Sequence[int] | None = None,
        search: str | None = None,
    ) -> list[StoredItem]:
        """Items newest first, filtered by period, regions, types, full text; with their tags."""
        q = (
            select(
                items.c.id,
                items.c.feed_id,
                feeds.c.name.label("feed_name"),
                items.c.title,
                func.coalesce(items.c.canonical_link, items.c.link).label("link"),
                items.c.summary,
                items.c.published_at,
                items.c.duplicate_of,
                item_tags.c.primary_type,
                item_tags.c.national,
                item_tags.c.topic_ai,
            )
            .join(feeds, feeds.c.id == items.c.feed_id)
            .outerjoin(item_tags, item_tags.c.item_id == items.c.id)
        )
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
                # EXISTS (not IN): the planner walks ix_items_published newest first and stops
                # at the limit, instead of sorting every item of the label.
                q = q.where(
                    exists().where(
                        item_labels.c.item_id == items.c.id,
                        item_labels.c.kind == kind,
                        item_labels.c.value.in_(list(values)),
                    )
                )
        if ids is not None:
            q = q.where(items.c.id.in_(list(ids)))
        if search:
            q = q.where(items.c.id.in_(self._fts_ids(search)))
        q = q.order_by(items.c.published_at.desc(), items.c.id.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
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
            )
            for r in rows
        ]

    def _fts_ids(self, query: str) -> Any:
        words = [w for w in "".join(c if c.isalnum() else " " for c in query).split() if w]
        if not words:
            return select(items.c.id).where(text("0 = 1"))
        if self.dialect == "sqlite":
            match = " ".join(f'"{w}"*' for w in words)
            return (
                select(text("rowid"))
                .select_from(text("items_fts"))
                .where(text("items_fts MATCH :m").bindparams(m=match))
            )
        if self.dialect == "postgresql":
            # Migration 0003's tsvector column and text search configuration (French stems,
            # accents folded). Words are letters and digits only, so they cannot carry tsquery
            # operators; the last one is a prefix, as in the SQLite search.
            terms = " & ".join([*words[:-1], words[-1] + ":*"])
            return select(items.c.id).where(
                text(f"{PG_SEARCH_COLUMN} @@ to_tsquery('{PG_SEARCH_CONFIG}', :q)").bindparams(
                    q=terms
                )
            )
        like = [or_(items.c.title.ilike(f"%{w}%"), items.c.summary.ilike(f"%{w}%")) for w in words]
        return select(items.c.id).where(and_(*like))

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
        """For each original item id, the names of the other feeds that carried the story."""
        out: dict[int, list[str]] = {}
        if not ids:
            return out
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

    def label_counts(self, kind: str, since: datetime) -> dict[str, int]:
        """Items per label value (region, type, country) published since a time."""
        q = (
            select(item_labels.c.value, func.count())
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

    def item_result(self, item_id: int) -> dict[str, Any] | None:
        """The stored tagger result of an item (with evidence), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(item_tags.c.result).where(item_tags.c.item_id == item_id)
            ).first()
        return dict(row.result) if row else None


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
