"""Alert profiles: a chat's named alerts, each a query with its own frequency and schedule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from bot.query.model import Query
from bot.store.repo import Store
from bot.store.schema import alerts, chats

FREQUENCIES = ("instant", "daily", "weekly")
MAX_ALERTS_PER_CHAT = 20
MAX_NAME_CHARS = 100
MAX_QUERY_CHARS = 400


@dataclass(frozen=True)
class AlertProfile:
    """One named alert of a chat."""

    id: int
    chat_id: int
    name: str
    text: str
    query: Query
    frequency: str
    hour: int
    weekday: int
    paused: bool
    next_digest_at: datetime | None
    last_digest_at: datetime | None
    alerts_since: datetime | None
    created_at: datetime
    language: str = "fr"  # the chat's
    timezone: str = "Europe/Paris"  # the chat's
    empty_digest: str = "skip"  # the chat's: an empty digest is skipped, or one line


class AlertStore:
    """Queries on alert profiles."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def create(
        self,
        chat_id: int,
        *,
        name: str,
        text: str,
        query: Query,
        frequency: str,
        now: datetime,
        hour: int = 8,
        weekday: int = 0,
        next_digest_at: datetime | None = None,
    ) -> int:
        """Add a profile to a chat; its id. Raises ValueError past MAX_ALERTS_PER_CHAT."""
        if frequency not in FREQUENCIES:
            raise ValueError(f"unknown frequency {frequency!r}")
        with self.engine.begin() as conn:
            count = conn.execute(
                select(func.count()).select_from(alerts).where(alerts.c.chat_id == chat_id)
            ).scalar_one()
            if count >= MAX_ALERTS_PER_CHAT:
                raise ValueError("too many alerts")
            result = conn.execute(
                alerts.insert().values(
                    chat_id=chat_id,
                    name=name[:MAX_NAME_CHARS],
                    query=text[:MAX_QUERY_CHARS],
                    spec=query.to_json(),
                    frequency=frequency,
                    hour=hour % 24,
                    weekday=weekday % 7,
                    paused=False,
                    next_digest_at=next_digest_at,
                    alerts_since=now if frequency == "instant" else None,
                    created_at=now,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def get(self, alert_id: int, chat_id: int) -> AlertProfile | None:
        """A chat's profile by id (None when it is another chat's or gone)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                _SELECT.where(alerts.c.id == alert_id, alerts.c.chat_id == chat_id)
            ).first()
        return _profile(row) if row else None

    def of_chat(self, chat_id: int) -> list[AlertProfile]:
        """A chat's profiles, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                _SELECT.where(alerts.c.chat_id == chat_id).order_by(alerts.c.id)
            ).all()
        return [_profile(r) for r in rows]

    def update(self, alert_id: int, chat_id: int, **values: Any) -> bool:
        """Set columns of a chat's profile (query given as a Query goes to spec); False if none."""
        if "query" in values and isinstance(values["query"], Query):
            values["spec"] = values.pop("query").to_json()
        if "text" in values:
            values["query"] = str(values.pop("text"))[:MAX_QUERY_CHARS]
        if "name" in values:
            values["name"] = str(values["name"])[:MAX_NAME_CHARS]
        if values.get("frequency", "instant") not in FREQUENCIES:
            raise ValueError(f"unknown frequency {values['frequency']!r}")
        with self.engine.begin() as conn:
            done = conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.chat_id == chat_id)
                .values(**values)
            )
        return bool(done.rowcount)

    def delete(self, alert_id: int, chat_id: int) -> bool:
        """Remove a chat's profile; False when there was none."""
        with self.engine.begin() as conn:
            done = conn.execute(
                delete(alerts).where(alerts.c.id == alert_id, alerts.c.chat_id == chat_id)
            )
        return bool(done.rowcount)

    def instant(self) -> list[AlertProfile]:
        """Running real-time profiles of active chats."""
        return self._many(
            and_(
                alerts.c.frequency == "instant",
                alerts.c.paused.is_(False),
                chats.c.active.is_(True),
            )
        )

    def due(self, now: datetime, limit: int = 500) -> list[AlertProfile]:
        """Running digest profiles of active chats whose time has come, by chat."""
        return self._many(
            and_(
                alerts.c.frequency != "instant",
                alerts.c.paused.is_(False),
                alerts.c.next_digest_at <= now,
                chats.c.active.is_(True),
            ),
            limit=limit,
        )

    def _many(self, where: Any, limit: int | None = None) -> list[AlertProfile]:
        q = _SELECT.where(where).order_by(alerts.c.chat_id, alerts.c.id)
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [_profile(r) for r in conn.execute(q)]


_SELECT = select(alerts, chats.c.language, chats.c.timezone, chats.c.empty_digest).join(
    chats, chats.c.id == alerts.c.chat_id
)


def _profile(row: Any) -> AlertProfile:
    m = row._mapping
    return AlertProfile(
        id=int(m["id"]),
        chat_id=int(m["chat_id"]),
        name=m["name"],
        text=m["query"],
        query=Query.from_json(dict(m["spec"] or {})),
        frequency=m["frequency"],
        hour=int(m["hour"]),
        weekday=int(m["weekday"]),
        paused=bool(m["paused"]),
        next_digest_at=m["next_digest_at"],
        last_digest_at=m["last_digest_at"],
        alerts_since=m["alerts_since"],
        created_at=m["created_at"],
        language=m["language"],
        timezone=m["timezone"],
        empty_digest=m["empty_digest"] or "skip",
    )


def profiles_by_chat(profiles: Sequence[AlertProfile]) -> dict[int, list[AlertProfile]]:
    """Profiles grouped by chat, in order."""
    out: dict[int, list[AlertProfile]] = {}
    for p in profiles:
        out.setdefault(p.chat_id, []).append(p)
    return out
