"""The Store: one per process, the queries of every table family over one engine.

feeds.py (fetch state, leases), items.py (dedup, tags, listings), search.py (full text),
chats.py (chats, subscriptions, outbox, media), corrections.py; rows.py holds the row types.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from bot.store.db import make_engine, migrate
from bot.store.feeds import FeedQueries
from bot.store.items import ItemQueries
from bot.store.schema import feeds, items, outbox


class Store(FeedQueries, ItemQueries):
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

    def health_counts(self) -> tuple[dict[str, int], dict[str, int], int]:
        """Feeds by status, outbox messages by status, and items stored (for the metrics)."""
        with self.engine.connect() as conn:
            by_feed: dict[str, int] = dict(
                conn.execute(select(feeds.c.status, func.count()).group_by(feeds.c.status)).all()
            )
            by_outbox: dict[str, int] = dict(
                conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()
            )
            stored = conn.execute(select(func.count()).select_from(items)).scalar_one()
        return by_feed, by_outbox, stored
