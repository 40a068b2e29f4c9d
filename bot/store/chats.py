"""Chats and their settings, and stored media (alert profiles are bot.store.alerts, the outbox
bot.store.outbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from bot.store.db import insert_for
from bot.store.repo import Store
from bot.store.schema import alerts, chats, media, outbox

EMPTY_DIGEST_CHOICES = ("skip", "line")  # an empty digest: not sent, or one line


@dataclass(frozen=True)
class ChatSettings:
    """A chat's settings (what it follows is its alert profiles)."""

    id: int
    type: str
    title: str | None
    language: str
    timezone: str
    active: bool
    empty_digest: str = "skip"


class ChatStore:
    """Queries on chats (and the media their digests share)."""

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
                        alerts=False,  # the columns below are unused since alert profiles
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
        return _settings(row) if row is not None else None

    def update(self, chat_id: int, **values: Any) -> None:
        """Set chat columns (language, timezone, empty_digest...)."""
        with self.engine.begin() as conn:
            conn.execute(update(chats).where(chats.c.id == chat_id).values(**values))

    def delete_chat(self, chat_id: int) -> None:
        """/stop: forget the chat entirely (alerts, queued messages)."""
        with self.engine.begin() as conn:
            conn.execute(delete(alerts).where(alerts.c.chat_id == chat_id))
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
            if exists is None:  # the alerts follow (else the new chat keeps its own)
                conn.execute(
                    update(alerts).where(alerts.c.chat_id == old_id).values(chat_id=new_id)
                )
            conn.execute(
                update(outbox)
                .where(outbox.c.chat_id == old_id, outbox.c.status.in_(("pending", "sending")))
                .values(chat_id=new_id, status="pending", lease_owner=None, lease_until=None)
            )
            conn.execute(delete(alerts).where(alerts.c.chat_id == old_id))
            conn.execute(delete(chats).where(chats.c.id == old_id))

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


def _settings(row: Any) -> ChatSettings:
    m = row._mapping
    return ChatSettings(
        id=m["id"],
        type=m["type"],
        title=m["title"],
        language=m["language"],
        timezone=m["timezone"],
        active=m["active"],
        empty_digest=m["empty_digest"] or "skip",
    )
