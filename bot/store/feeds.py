"""The feeds table family: configuration sync, fetch state, leases of due feeds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.config import FeedConfig
from bot.errors import StoreError
from bot.store import leases
from bot.store.db import one_at_a_time
from bot.store.rows import FeedState
from bot.store.schema import feeds


class FeedQueries:
    """Feed rows: what the poller and the admin commands read and write (part of Store)."""

    engine: Engine
    dialect: str

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
                        "full_text": cfg.full_text,
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

    def release_feed_leases(self, owner: str) -> int:
        """Give back every feed owner still holds (a stopping poller); how many."""
        try:
            with self.engine.begin() as conn:
                return int(
                    conn.execute(
                        update(feeds)
                        .where(feeds.c.lease_owner == owner)
                        .values(lease_owner=None, lease_until=None)
                    ).rowcount
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot release the leases of {owner}: {exc}") from exc

    def reclaim_feed_leases(self, role: str) -> int:
        """At start: take back the feeds this role's dead processes on this host had leased."""
        return leases.reclaim(self.engine, feeds, role, released={})

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
