"""The persistent outbox: every message to Telegram is a row, leased just before it is sent.

A chat's messages go out in the order they were queued: only the first unfinished message of a
chat (lowest id, pending or being sent) is ever leased, so a message waiting for a retry holds
back the rest of its own chat and nothing else. Leases are short and renewed by the sender's
heartbeat while it holds them; a crashed sender's leases expire (or are taken back at restart,
see bot.store.leases) and the message is sent again — at most once more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from bot.store import leases
from bot.store.db import insert_for
from bot.store.repo import Store
from bot.store.schema import chats, items, outbox

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: 1, 2, 4 … capped at a minute.

    The one backoff of the outbox (network errors, 5xx, timeouts, odd answers). The cap is
    short because an outage is not the message's fault: when Telegram comes back, queued
    messages should follow within a minute.
    """
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** max(0, attempts - 1))


@dataclass(frozen=True)
class OutMessage:
    """One leased outbox row."""

    id: int
    chat_id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime | None = None
    maybe_sent: bool = False


@dataclass(frozen=True)
class StoryMessage:
    """An alert of a story, or an edit adding sources to it."""

    id: int
    chat_id: int
    kind: str  # alert | edit
    story_id: int
    status: str
    payload: dict[str, Any]
    sent_at: datetime | None
    telegram_message_id: int | None


def _message(r: Any) -> OutMessage:
    return OutMessage(
        r.id,
        r.chat_id,
        r.kind,
        dict(r.payload),
        r.attempts,
        r.created_at,
        bool(r.maybe_sent),
    )


class Outbox:
    """Queue, lease and settle outbox messages."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    def enqueue(
        self,
        messages: Sequence[dict[str, Any]],
        now: datetime,
        *,
        chat_update: tuple[int, dict[str, Any]] | None = None,
        items_alerted: Sequence[int] = (),
    ) -> int:
        """Queue messages ({chat_id, kind, dedup_key, payload[, story_id]}); a dedup_key already
        queued is skipped.

        Written in the same transaction: chat_update (a digest and its new next_digest_at, so a
        restart neither skips nor repeats it) and items_alerted (the items whose alerts these
        are, marked done so that a crash between the two can neither lose nor repeat them).
        """
        rows = [
            {"story_id": None, **m, "status": "pending", "attempts": 0, "not_before": now}
            | {"created_at": now}
            for m in messages
        ]
        with self.engine.begin() as conn:
            added = 0
            if rows:
                # Count RETURNING rows: an executemany's rowcount is -1 on psycopg.
                stmt = (
                    insert_for(self.store.dialect, outbox)
                    .on_conflict_do_nothing(index_elements=["dedup_key"])
                    .returning(outbox.c.id)
                )
                added = len(conn.execute(stmt, rows).all())
            if chat_update is not None:
                conn.execute(
                    update(chats).where(chats.c.id == chat_update[0]).values(**chat_update[1])
                )
            ids = list(items_alerted)
            for start in range(0, len(ids), 500):
                conn.execute(
                    update(items)
                    .where(items.c.id.in_(ids[start : start + 500]))
                    .values(alerts_queued_at=now)
                )
        return added

    def lease(
        self,
        now: datetime,
        owner: str,
        *,
        limit: int = 30,
        lease: timedelta = timedelta(seconds=30),
        skip_chats: Sequence[int] = (),
    ) -> list[OutMessage]:
        """Take up to limit due messages, at most one per chat: each chat's first unfinished one,
        when it is due (pending and due, or 'sending' under a lease that expired after a crash).

        Chats with the most unfinished messages go first: each chat waits its pace between two
        messages, so a chat left with three messages at the end of a digest round would hold the
        round open for two more seconds while the overall rate sits idle. Serving the longest
        queues first spreads each chat's messages over the round (breadth first) and ends it at
        the overall rate. Ties go to the earliest due, then the oldest.

        skip_chats: chats the caller cannot send to yet (their pace), left for a later lease.
        """
        heads = (
            select(func.min(outbox.c.id).label("id"), func.count().label("queued"))
            .where(outbox.c.status.in_(("pending", "sending")))
            .group_by(outbox.c.chat_id)
            .subquery()
        )
        ready = or_(
            and_(outbox.c.status == "pending", outbox.c.not_before <= now),
            and_(outbox.c.status == "sending", outbox.c.lease_until < now),
        )
        q = (
            select(outbox)
            .join(heads, heads.c.id == outbox.c.id)
            .where(ready)
            .order_by(heads.c.queued.desc(), outbox.c.not_before, outbox.c.id)
            .limit(limit)
        )
        if skip_chats:
            q = q.where(outbox.c.chat_id.not_in(list(skip_chats)))
        with self.engine.begin() as conn:
            rows = conn.execute(q).all()
            if rows:
                # Checked again in the UPDATE: two senders can pick the same rows, and only the
                # first UPDATE may win them (PostgreSQL re-checks the WHERE after the row lock).
                won = set(
                    conn.execute(
                        update(outbox)
                        .where(outbox.c.id.in_([r.id for r in rows]), ready)
                        .values(status="sending", lease_owner=owner, lease_until=now + lease)
                        .returning(outbox.c.id)
                    ).scalars()
                )
                rows = [r for r in rows if r.id in won]
        return [_message(r) for r in rows]

    def renew(self, owner: str, message_ids: Sequence[int], until: datetime) -> int:
        """Extend owner's leases on messages it still holds (the sender's heartbeat)."""
        if not message_ids:
            return 0
        with self.engine.begin() as conn:
            done = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id.in_(list(message_ids)),
                    outbox.c.status == "sending",
                    outbox.c.lease_owner == owner,
                )
                .values(lease_until=until)
            )
        return int(done.rowcount or 0)

    def claim(self, message_id: int, owner: str, until: datetime) -> bool:
        """Renew owner's lease on a message just before sending it; False when another sender
        took it over meanwhile (its lease had expired), so it must not be sent here too."""
        with self.engine.begin() as conn:
            won = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id == message_id,
                    outbox.c.status == "sending",
                    outbox.c.lease_owner == owner,
                )
                .values(lease_until=until)
                .returning(outbox.c.id)
            ).first()
        return won is not None

    def release(self, message_ids: Sequence[int], owner: str) -> None:
        """Give back messages owner leased but will not send (it is stopping)."""
        with self.engine.begin() as conn:
            for start in range(0, len(message_ids), 500):
                conn.execute(
                    update(outbox)
                    .where(
                        outbox.c.id.in_(list(message_ids[start : start + 500])),
                        outbox.c.status == "sending",
                        outbox.c.lease_owner == owner,
                    )
                    .values(status="pending", lease_owner=None, lease_until=None)
                )

    def reclaim(self, role: str) -> int:
        """At start: take back the messages this role's dead processes on this host had leased."""
        return leases.reclaim(self.engine, outbox, role, released={"status": "pending"})

    def mark_sent(
        self, message_id: int, now: datetime, telegram_id: int | None, *, note: str | None = None
    ) -> None:
        """The message reached Telegram (note: why that is not certain, when it is not)."""
        values: dict[str, Any] = {
            "status": "sent",
            "sent_at": now,
            "telegram_message_id": telegram_id,
            "lease_owner": None,
            "lease_until": None,
            "attempts": outbox.c.attempts + 1,
        }
        if note is not None:
            values["last_error"] = note[:500]
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == message_id).values(**values))

    def mark_retry(
        self,
        message_id: int,
        not_before: datetime,
        error: str,
        *,
        count: bool = True,
        maybe_sent: bool | None = None,
    ) -> None:
        """Try again later (429, 5xx, network, timeout); maybe_sent: Telegram may already have it."""
        values: dict[str, Any] = {
            "status": "pending",
            "not_before": not_before,
            "last_error": error[:500],
            "lease_owner": None,
            "lease_until": None,
        }
        if count:
            values["attempts"] = outbox.c.attempts + 1
        if maybe_sent is not None:
            values["maybe_sent"] = maybe_sent
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == message_id).values(**values))

    def mark_dead(self, message_id: int, error: str) -> None:
        """Give up on a message (Telegram refused it for good, or the retry window ran out)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == message_id)
                .values(status="dead", last_error=error[:500], lease_owner=None, lease_until=None)
            )

    def replace_payload(self, message_id: int, payload: dict[str, Any]) -> None:
        """Send this payload instead (plain text when Telegram refused our HTML), as a new try."""
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == message_id)
                .values(payload=payload, status="pending", lease_owner=None, lease_until=None)
            )

    def story_messages(self, story_ids: Sequence[int]) -> list[StoryMessage]:
        """The alerts and edits queued for these stories (every chat), oldest first."""
        out: list[StoryMessage] = []
        ids = sorted(set(story_ids))
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                q = (
                    select(outbox)
                    .where(outbox.c.story_id.in_(ids[start : start + 500]))
                    .order_by(outbox.c.id)
                )
                out.extend(
                    StoryMessage(
                        r.id,
                        r.chat_id,
                        r.kind,
                        r.story_id,
                        r.status,
                        dict(r.payload),
                        r.sent_at,
                        r.telegram_message_id,
                    )
                    for r in conn.execute(q)
                )
        return out

    def revise(self, message_id: int, payload: dict[str, Any]) -> bool:
        """Replace the payload of a message not taken for sending yet; False when it was."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(outbox)
                .where(outbox.c.id == message_id, outbox.c.status == "pending")
                .values(payload=payload)
                .returning(outbox.c.id)
            ).first()
        return done is not None

    def delivered(self, message_id: int) -> tuple[int, datetime] | None:
        """Telegram's id of a sent message and when it was sent; None unless known."""
        q = select(outbox.c.telegram_message_id, outbox.c.sent_at).where(
            outbox.c.id == message_id, outbox.c.status == "sent"
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None or row.telegram_message_id is None or row.sent_at is None:
            return None
        return int(row.telegram_message_id), row.sent_at

    def awaiting_alerts(self, ids: Sequence[int] | None = None, *, limit: int = 2000) -> list[int]:
        """Tagged items whose alerts are not queued yet (among ids, or any: the catch-up job)."""
        q = (
            select(items.c.id)
            .where(items.c.tagged_at.is_not(None), items.c.alerts_queued_at.is_(None))
            .order_by(items.c.id)
            .limit(limit)
        )
        if ids is not None:
            q = q.where(items.c.id.in_(list(ids)))
        with self.engine.connect() as conn:
            return [int(i) for i in conn.execute(q).scalars()]
