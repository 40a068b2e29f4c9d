"""The database schema (SQLAlchemy Core). Alembic migrations in bot/store/migrations create it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC: aware values are converted (SQLite would keep the wall time
    and drop the offset), naive ones are taken as UTC, and values come back aware, in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Integer ids that autoincrement on SQLite and are 64-bit on PostgreSQL.
Id = BigInteger().with_variant(Integer, "sqlite")

feeds = Table(
    "feeds",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("url", Text, nullable=False),
    Column("configured_url", Text, nullable=False),
    Column("language", String(16)),
    Column("region_hint", String(64)),
    Column("tags", JSON, nullable=False, default=list),
    Column("min_interval", Integer, nullable=False, default=15),
    Column("max_interval", Integer, nullable=False, default=1440),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("source", String(16), nullable=False, default="config"),
    Column("full_text", String(8), nullable=False, default="auto", server_default="auto"),
    Column("status", String(16), nullable=False, default="new"),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("next_check_at", UtcDateTime(), nullable=False),
    Column("last_checked_at", UtcDateTime()),
    Column("last_success_at", UtcDateTime()),
    Column("failing_since", UtcDateTime()),
    Column("consecutive_errors", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("last_status", Integer),
    Column("items_total", Integer, nullable=False, default=0),
    Column("lease_owner", String(64)),
    Column("lease_until", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_feeds_due", "enabled", "next_check_at"),
)

items = Table(
    "items",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("feed_id", String(64), ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("dedup_key", String(440), nullable=False),
    Column("guid", Text),
    Column("link", Text),
    Column("canonical_link", Text),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("content", Text, nullable=False, default=""),
    Column("author", String(200)),
    Column("language", String(16)),
    Column("published_at", UtcDateTime(), nullable=False),
    Column("date_is_fallback", Boolean, nullable=False, default=False),
    Column("fetched_at", UtcDateTime(), nullable=False),
    Column("title_key", String(20)),
    Column("enclosure_url", Text),
    Column("duplicate_of", Id, ForeignKey("items.id", ondelete="SET NULL")),
    Column("tagged_at", UtcDateTime()),
    # Full text (bot/feeds/article.py): where the tagged text came from (feed | article), and
    # what the article stage did (NULL: not looked at yet; ok, skipped, too_large, wall...).
    Column("text_source", String(8), nullable=False, default="feed", server_default="feed"),
    Column("article_status", String(16)),
    Column("article_key", String(40)),  # article_pages.key of the page whose text is used
    # Set in the transaction that queues the item's alerts: tagged but not yet set means a
    # poller died in between, and the catch-up job queues them.
    Column("alerts_queued_at", UtcDateTime()),
    Column("story_id", Id),  # stories.id; no foreign key (see migration 0009)
    UniqueConstraint("feed_id", "dedup_key", name="uq_items_feed_key"),
    Index("ix_items_published", "published_at"),
    Index("ix_items_canonical", "canonical_link"),
    Index("ix_items_title_key", "title_key"),
    Index("ix_items_untagged", "tagged_at"),
    # Partial: the article stage's queue is the few items it has not looked at yet.
    Index(
        "ix_items_article_queue",
        "id",
        sqlite_where=text("article_status IS NULL"),
        postgresql_where=text("article_status IS NULL"),
    ),
    Index(
        "ix_items_alerts_pending",
        "tagged_at",
        sqlite_where=text("alerts_queued_at IS NULL"),
        postgresql_where=text("alerts_queued_at IS NULL"),
    ),
    # Lists walk originals newest first on this alone (no read of the row until the page is
    # chosen: bot.store.items.recent_items).
    Index(
        "ix_items_live",
        "published_at",
        "duplicate_of",  # always NULL here: there so the index covers the check
        sqlite_where=text("duplicate_of IS NULL"),
        postgresql_where=text("duplicate_of IS NULL"),
    ),
    Index("ix_items_story", "story_id"),
    # Partial: most items are originals, and "duplicate_of IS NULL" must not pick this index.
    Index(
        "ix_items_duplicate_of",
        "duplicate_of",
        sqlite_where=text("duplicate_of IS NOT NULL"),
        postgresql_where=text("duplicate_of IS NOT NULL"),
    ),
)

# Article pages behind feed items, fetched once per canonical URL (the full-text cache).
article_pages = Table(
    "article_pages",
    metadata,
    Column("key", String(40), primary_key=True),  # sha1 of the canonical URL
    Column("url", Text, nullable=False),
    Column("final_url", Text),
    Column("status", String(16), nullable=False),
    Column("http_status", Integer),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("title", Text),
    Column("text", Text, nullable=False, default=""),
    Column("language", String(16)),
    Column("message", Text),
    Column("fetched_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

# The same news told by several feeds (bot/stories.py). first_seen is the earliest member's
# publication time: items join within a window around it, so a story cannot grow for weeks.
stories = Table(
    "stories",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("first_seen", UtcDateTime(), nullable=False),
    Column("last_seen", UtcDateTime(), nullable=False),
    Column("size", Integer, nullable=False, default=1),
    Column("representative_id", Id),  # the member shown for the story (no FK: items point here)
    Column("fingerprints", JSON, nullable=False),  # its first members' fingerprints, capped
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_stories_first_seen", "first_seen"),
)

# LSH band keys of the stories' kept fingerprints: the candidate lookup (key, then a time range).
# The story's first_seen as whole minutes since 1970: integers keep the many rows cheap to write.
story_keys = Table(
    "story_keys",
    metadata,
    Column("key", BigInteger, primary_key=True),
    Column("minute", BigInteger, primary_key=True),
    Column("story_id", Id, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
)

# One row per item once tagged; labels are in item_labels for indexed lookups.
item_tags = Table(
    "item_tags",
    metadata,
    Column("item_id", Id, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("national", Boolean, nullable=False, default=False),
    Column("primary_type", String(32)),
    Column("topic_ai", Boolean, nullable=False, default=False),
    Column("topic_score", Float, nullable=False, default=0.0),
    Column("result", JSON, nullable=False),
    Column("model_version", String(64)),
    Column("tagged_at", UtcDateTime(), nullable=False),
)

item_labels = Table(
    "item_labels",
    metadata,
    Column("item_id", Id, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(8), primary_key=True),  # region | country | type
    Column("value", String(64), primary_key=True),
    Column("score", Float, nullable=False, default=1.0),
    Index("ix_item_labels_lookup", "kind", "value", "item_id"),
)

corrections = Table(
    "corrections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("item_id", Id, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("chat_id", BigInteger),
    Column("field", String(16), nullable=False),  # regions | types | primary_type | topic_ai
    Column("value", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

chats = Table(
    "chats",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("type", String(16), nullable=False, default="private"),
    Column("title", String(300)),
    Column("language", String(8), nullable=False, default="fr"),
    Column("timezone", String(64), nullable=False, default="Europe/Paris"),
    Column("active", Boolean, nullable=False, default=True),
    Column("inactive_reason", Text),
    Column(
        "empty_digest", String(8), nullable=False, default="skip", server_default="skip"
    ),  # skip | line
    # Delivery before alert profiles (migration 0007 moved them into `alerts`); unused.
    Column("alerts", Boolean, nullable=False, default=False),
    Column("digest", String(8), nullable=False, default="off"),  # off | daily | weekly
    Column("digest_weekday", Integer, nullable=False, default=0),  # Monday
    Column("digest_hour", Integer, nullable=False, default=8),
    Column("next_digest_at", UtcDateTime()),
    Column("last_digest_at", UtcDateTime()),
    Column("alerts_since", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_chats_digest_due", "active", "next_digest_at"),
)

# Alert profiles: a chat holds several, each a query (bot.query) with its own frequency.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("chat_id", BigInteger, ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("query", Text, nullable=False),  # as the user wrote it (or rebuilt from a subscription)
    Column("spec", JSON, nullable=False),  # bot.query.model.Query.to_json()
    Column("frequency", String(8), nullable=False, default="daily"),  # instant | daily | weekly
    Column("hour", Integer, nullable=False, default=8),
    Column("weekday", Integer, nullable=False, default=0),  # Monday
    Column("paused", Boolean, nullable=False, default=False),
    Column("next_digest_at", UtcDateTime()),
    Column("last_digest_at", UtcDateTime()),
    Column("alerts_since", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_alerts_chat", "chat_id"),
    Index("ix_alerts_due", "paused", "next_digest_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # alert | digest | reply | chart
    Column("dedup_key", String(200), nullable=False, unique=True),
    Column("payload", JSON, nullable=False),
    Column("status", String(12), nullable=False, default="pending"),  # pending|sending|sent|dead
    Column("attempts", Integer, nullable=False, default=0),
    # A read timed out: Telegram may have delivered it; it is sent again at most once.
    Column("maybe_sent", Boolean, nullable=False, default=False),
    Column("not_before", UtcDateTime(), nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", UtcDateTime()),
    Column("last_error", Text),
    Column("telegram_message_id", BigInteger),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime()),
    # The story of an alert, or of an edit adding sources to it (bot/story_alerts.py).
    Column("story_id", Id),
    Index("ix_outbox_due", "status", "not_before"),
    Index("ix_outbox_story", "story_id"),
)

# Pictures sent to many chats (the weekly chart): stored once, then sent by Telegram file_id.
media = Table(
    "media",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("telegram_file_id", Text),
    Column("created_at", UtcDateTime(), nullable=False),
)
