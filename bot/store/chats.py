"""Chats, their subscriptions and settings (the outbox is bot.store.outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from bot.store.db import insert_for
from bot.store.repo import Store
from bot.store.rows import Filters
from bot.store.schema import chats, media, outbox, subscriptions


@dataclass(frozen=True)
class ChatSettings:
    """A chat's settings and subscriptions."""

    id: int
    type: str
    title: str | None
    language: str
    timezone: str
    active: bool
    alerts: bool
    digest: str
    digest_weekday: int
    digest_hour: int
    next_digest_at: datetime | None
    last_digest_at: datetime | None
    regions: frozenset[str]
    types: frozenset[str]
    keywords: tuple[str, ...]
    excludes: tuple[str, ...]

    @property
    def filters(self) -> Filters:
        """The chat's item filters."""
        return Filters(self.regions, self.types, self.keywords, self.excludes)

    @property
    def subscribed(self) -> bool:
        """True when the chat receives anything."""
        return self.alerts or self.digest != "off"


class ChatStore:
    """Queries on chats, subscriptions and the outbox."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # ---- chats ----------------------------------------------------------------------------

    def ensure_chat(
        self,
        chat_id: int,
        *,
        type: str,
        title: str | None,
        language: str,
        now: datetime,
        timezone: str = "Europe/Paris",
    ) -> None:
        """Create the chat when new; reactivate it when it comes back."""
        with self.engine.begin() as conn:
            row = conn.execute(select(chats.c.active).where(chats.c.id == chat_id)).first()
            if row is None:
                conn.execute(
                    chats.insert().values(
                        id=chat_id,
                        type=type,
                        title=title,
                        language=language,
                        timezone=timezone,
                        active=True,
                        alerts=False,
                        digest="off",
                        digest_weekday=0,
                        digest_hour=8,
                        created_at=now,
                    )
                )
            elif not row.active:
                conn.execute(
                    update(chats)
                    .where(chats.c.id == chat_id)
                    .values(active=True, inactive_reason=None)
                )

    def get(self, chat_id: int) -> ChatSettings | None:
        """A chat's settings, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(chats).where(chats.c.id == chat_id)).first()
            if row is None:
                return None
            subs = conn.execute(
                select(subscriptions.c.kind, subscriptions.c.value).where(
                    subscriptions.c.chat_id == chat_id
                )
            ).all()
        return _settings(row, subs)

    def update(self, chat_id: int, **values: Any) -> None:
        """Set chat columns (language, alerts, digest, digest_weekday, digest_hour, next_digest_at...)."""
        with self.engine.begin() as conn:
            conn.execute(update(chats).where(chats.c.id == chat_id).values(**values))

    def set_subscription(self, chat_id: int, kind: str, value: str, on: bool) -> None:
        """Add or remove one subscription."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(subscriptions).where(
                    subscriptions.c.chat_id == chat_id,
                    subscriptions.c.kind == kind,
                    subscriptions.c.value == value,
                )
            )
            if on:
                conn.execute(subscriptions.insert().values(chat_id=chat_id, kind=kind, value=value))

    def clear_subscriptions(self, chat_id: int) -> None:
        """Remove every subscription and turn alerts and digests off."""
        with self.engine.begin() as conn:
            conn.execute(delete(subscriptions).where(subscriptions.c.chat_id == chat_id))
            conn.execute(
                update(chats)
                .where(chats.c.id == chat_id)
                .values(alerts=False, digest="off", next_digest_at=None)
            )

    def delete_chat(self, chat_id: int) -> None:
        """/stop: forget the chat entirely (subscriptions, queued messages)."""
        with self.engine.begin() as conn:
            conn.execute(delete(subscriptions).where(subscriptions.c.chat_id == chat_id))
            conn.execute(
                delete(outbox).where(outbox.c.chat_id == chat_id, outbox.c.status == "pending")
            )
            conn.execute(delete(chats).where(chats.c.id == chat_id))

    def deactivate(self, chat_id: int, reason: str) -> None:
        """Blocked or kicked: stop sending to the chat, drop what is queued for it."""
        with self.engine.begin() as conn:
            conn.execute(
                update(chats)
                .where(chats.c.id == chat_id)
                .values(active=False, inactive_reason=reason[:500])
            )
            conn.execute(
                update(outbox)
                .where(outbox.c.chat_id == chat_id, outbox.c.status == "pending")
                .values(status="dead", last_error=f"chat inactive: {reason}"[:500])
            )

    def migrate(self, old_id: int, new_id: int) -> None:
        """A group became a supergroup: move the chat's data and queued messages to the new id."""
        with self.engine.begin() as conn:
            row = conn.execute(select(chats).where(chats.c.id == old_id)).first()
            exists = conn.execute(select(chats.c.id).where(chats.c.id == new_id)).first()
            if row is not None and exists is None:
                values = dict(row._mapping)
                values.update(id=new_id, type="supergroup")
                conn.execute(chats.insert().values(**values))
            subs = conn.execute(
                select(subscriptions.c.kind, subscriptions.c.value).where(
                    subscriptions.c.chat_id == old_id
                )
            ).all()
            if subs and exists is None:
                conn.execute(
                    subscriptions.insert(),
                    [{"chat_id": new_id, "kind": k, "value": v} for k, v in subs],
                )
            conn.execute(
                update(outbox)
                .where(outbox.c.chat_id == old_id, outbox.c.status.in_(("pending", "sending")))
                .values(chat_id=new_id, status="pending", lease_owner=None, lease_until=None)
            )
            conn.execute(delete(subscriptions).where(subscriptions.c.chat_id == old_id))
            conn.execute(delete(chats).where(chats.c.id == old_id))

    def alert_chats(self) -> list[ChatSettings]:
        """Active chats with real-time alerts on."""
        return self._many(and_(chats.c.active.is_(True), chats.c.alerts.is_(True)))

    def due_digests(self, now: datetime, limit: int = 500) -> list[ChatSettings]:
        """Active chats whose next digest time has come."""
        return self._many(
            and_(chats.c.active.is_(True), chats.c.digest != "off", chats.c.next_digest_at <= now),
            limit=limit,
        )

    def _many(self, where: Any, limit: int | None = None) -> list[ChatSettings]:
        with self.engine.connect() as conn:
            q = select(chats).where(where).order_by(chats.c.id)
            if limit:
                q = q.limit(limit)
            rows = conn.execute(q).all()
            subs: dict[int, list[Any]] = {r.id: [] for r in rows}
            ids = list(subs)
            for start in range(0, len(ids), 500):
                for s in conn.execute(
                    select(subscriptions).where(
                        subscriptions.c.chat_id.in_(ids[start : start + 500])
                    )
                ):
                    subs[s.chat_id].append((s.kind, s.value))
        return [_settings(r, subs[r.id]) for r in rows]

    def counts(self) -> dict[str, int]:
        """Chats by state, for /stats."""
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(chats)).scalar_one()
            active = conn.execute(
                select(func.count()).select_from(chats).where(chats.c.active.is_(True))
            ).scalar_one()
            pending = conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
            ).scalar_one()
            sent = conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == "sent")
            ).scalar_one()
            dead = conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == "dead")
            ).scalar_one()
        return {
            "chats": int(total),
            "active_chats": int(active),
            "outbox_pending": int(pending),
            "outbox_sent": int(sent),
            "outbox_dead": int(dead),
        }

    # ---- media (pictures sent to many chats) ------------------------------------------

    def put_media(self, key: str, data: bytes, now: datetime) -> None:
        """Store a picture once under key (no-op when it is already there)."""
        stmt = insert_for(self.store.dialect, media).on_conflict_do_nothing(index_elements=["key"])
        with self.engine.begin() as conn:
            conn.execute(stmt, [{"key": key, "data": data, "created_at": now}])

    def get_media(self, key: str) -> tuple[bytes, str | None]:
        """A stored picture and its Telegram file_id once uploaded."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(media.c.data, media.c.telegram_file_id).where(media.c.key == key)
            ).one()
        return bytes(row.data), row.telegram_file_id

    def set_media_file_id(self, key: str, file_id: str) -> None:
        """Remember Telegram's file_id for a picture, so later sends do not upload it again."""
        with self.engine.begin() as conn:
            conn.execute(update(media).where(media.c.key == key).values(telegram_file_id=file_id))


def _settings(row: Any, subs: Sequence[Any]) -> ChatSettings:
    by: dict[str, list[str]] = {}
    for kind, value in subs:
        by.setdefault(kind, []).append(value)
    m = row._mapping
    return ChatSettings(
        id=m["id"],
        type=m["type"],
        title=m["title"],
        language=m["language"],
        timezone=m["timezone"],
        active=m["active"],
        alerts=m["alerts"],
        digest=m["digest"],
        digest_weekday=m["digest_weekday"],
        digest_hour=m["digest_hour"],
        next_digest_at=m["next_digest_at"],
        last_digest_at=m["last_digest_at"],
        regions=frozenset(by.get("region", ())),
        types=frozenset(by.get("type", ())),
        keywords=tuple(sorted(by.get("keyword", ()))),
        excludes=tuple(sorted(by.get("exclude", ()))),
    )
