"""Drain the outbox within Telegram's limits; translate Telegram errors into outbox outcomes.

Limits (Telegram's documented ones): about 30 messages/s overall, 1/s per private chat,
20/minute per group. 429: wait retry_after then retry. 403: deactivate the chat. Group
migrated: move the chat's data and resend. 5xx and timeouts: retry with backoff. A message is
marked sent right after Telegram accepts it, so a crash re-sends at most the one in flight.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.metrics import MESSAGES_SENT, TELEGRAM_429
from bot.store.chats import ChatStore, OutMessage
from classifiers.text import visible_text

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


@dataclass
class Limits:
    """Sending rates."""

    global_per_second: float = 29.0  # Telegram allows about 30; a margin for clock jitter
    private_interval: float = 1.05
    group_interval: float = 3.05  # 20 per minute


@dataclass
class DrainReport:
    """What one drain did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    received_429: int = 0
    migrated: int = 0
    deactivated: int = 0
    errors: list[str] = field(default_factory=list)


def keyboard(rows: list[list[dict[str, str]]] | None) -> InlineKeyboardMarkup | None:
    """Inline keyboard from the payload's button rows."""
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b["text"], callback_data=b["data"]) for b in row] for row in rows]
    )


def _retry_seconds(value: Any) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Sender:
    """Sends leased outbox messages, paced per chat and globally."""

    def __init__(
        self,
        bot: Bot,
        chats: ChatStore,
        *,
        clock: Callable[[], datetime],
        owner: str,
        limits: Limits | None = None,
        concurrency: int = 8,
        lease: timedelta = timedelta(minutes=10),
    ) -> None:
        self.bot = bot
        self.chats = chats
        self.clock = clock
        self.owner = owner
        self.limits = limits or Limits()
        self.concurrency = concurrency
        self.wake = asyncio.Event()
        self._chat_ready: dict[int, float] = {}
        self._global_next = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.lease = lease
        self._file_ids: dict[str, str] = {}
        self._uploads: dict[str, asyncio.Lock] = {}
        self.stopping = False  # set on shutdown: drain ends after the messages in flight

    def _interval(self, chat_id: int) -> float:
        return self.limits.private_interval if chat_id > 0 else self.limits.group_interval

    async def drain(self, *, batch: int = 200) -> DrainReport:
        """Send everything due now; returns when the outbox has nothing due.

        Messages are leased in batches while earlier ones are still going out, so the pace never
        drops between batches; each chat's messages go in order, one per chat interval.
        """
        report = DrainReport()
        async with self._lock:
            queues: dict[int, deque[OutMessage]] = {}
            heap: list[tuple[float, int]] = []
            in_heap: set[int] = set()
            in_flight: set[asyncio.Task[datetime | None]] = set()
            last: dict[int, asyncio.Task[datetime | None]] = {}
            sem = asyncio.Semaphore(self.concurrency)
            queued = 0
            exhausted = False
            while True:
                if self.stopping:
                    # Hand the leased but unsent messages back now, not when their leases expire.
                    left = [m.id for q in queues.values() for m in q]
                    if left:
                        await asyncio.to_thread(self.chats.release, left, self.owner)
                    break
                if not exhausted and queued <= batch // 2:
                    leased = await asyncio.to_thread(
                        self.chats.lease, self.clock(), self.owner, limit=batch, lease=self.lease
                    )
                    exhausted = len(leased) < batch
                    for msg in leased:
                        queues.setdefault(msg.chat_id, deque()).append(msg)
                        queued += 1
                        if msg.chat_id not in in_heap:
                            in_heap.add(msg.chat_id)
                            heapq.heappush(
                                heap, (self._chat_ready.get(msg.chat_id, 0.0), msg.chat_id)
                            )
                if not heap:
                    break
                ready_at, chat_id = heapq.heappop(heap)
                in_heap.discard(chat_id)
                now = time.monotonic()
                start = max(ready_at, self._global_next, self._paused_until, now)
                if start > now:
                    await asyncio.sleep(start - now)
                previous = last.pop(chat_id, None)
                if previous is not None:
                    # Keep a chat's messages in order: when the previous one must be retried,
                    # the rest of the chat's queue waits behind it.
                    retry_at = await previous
                    if retry_at is not None:
                        held = [m.id for m in queues.pop(chat_id)]
                        queued -= len(held)
                        await asyncio.to_thread(self._hold, held, retry_at)
                        continue
                # Space sends from their planned times, so sleep overshoot does not add up;
                # after a real stall (more than one interval late) start again from now.
                interval = 1.0 / self.limits.global_per_second
                actual = time.monotonic()
                base = self._global_next if actual - self._global_next < interval else actual
                self._global_next = base + interval
                msg = queues[chat_id].popleft()
                queued -= 1
                self._chat_ready[chat_id] = time.monotonic() + self._interval(chat_id)
                await sem.acquire()
                task = asyncio.create_task(self._send_one(msg, report))
                task.add_done_callback(lambda _t: sem.release())
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                if queues[chat_id]:
                    last[chat_id] = task
                    in_heap.add(chat_id)
                    heapq.heappush(heap, (self._chat_ready[chat_id], chat_id))
                else:
                    del queues[chat_id]
            if in_flight:
                await asyncio.gather(*in_flight)
        return report

    def _hold(self, message_ids: list[int], not_before: datetime) -> None:
        for message_id in message_ids:
            self.chats.mark_retry(
                message_id, not_before, "held behind a retried message", count=False
            )

    async def _send_one(self, msg: OutMessage, report: DrainReport) -> datetime | None:
        """Send one message and record the outcome; the retry time when it must be retried."""
        p = msg.payload
        # A batch is leased ahead of sending: by the time a message's turn comes its lease may
        # have run out and another sender may have taken it. Check, and hold it for one lease.
        if not await asyncio.to_thread(
            self.chats.claim, msg.id, self.owner, self.clock() + self.lease
        ):
            log.info("message taken over by another sender message=%s chat=%s", msg.id, msg.chat_id)
            return None
        try:
            sent = await self._call(msg.chat_id, p)
        except RetryAfter as exc:
            with warnings.catch_warnings():  # PTB 22 deprecates the int form
                warnings.simplefilter("ignore")
                wait = _retry_seconds(exc.retry_after)
            report.received_429 += 1
            TELEGRAM_429.inc()
            log.warning("telegram rate limit chat=%s retry_after=%.0fs", msg.chat_id, wait)
            self._paused_until = max(self._paused_until, time.monotonic() + wait)
            retry_at = self.clock() + timedelta(seconds=wait)
            await asyncio.to_thread(
                self.chats.mark_retry, msg.id, retry_at, f"429 retry after {wait:.0f}s", count=False
            )
            report.retried += 1
            return retry_at
        except ChatMigrated as exc:
            log.info("chat migrated chat=%s new=%s", msg.chat_id, exc.new_chat_id)
            await asyncio.to_thread(self.chats.migrate, msg.chat_id, exc.new_chat_id)
            report.migrated += 1
            return None
        except Forbidden as exc:
            log.info("chat blocked the bot chat=%s error=%s", msg.chat_id, exc.message)
            await asyncio.to_thread(self.chats.deactivate, msg.chat_id, exc.message)
            await asyncio.to_thread(self.chats.mark_dead, msg.id, f"403 {exc.message}")
            report.deactivated += 1
            report.dead += 1
            return None
        except BadRequest as exc:
            if "parse entities" in exc.message.lower() and p.get("parse_mode") == "HTML":
                # Our escaping should make this impossible; send the plain text rather than lose it.
                plain = {**p, "text": visible_text(p.get("text", "")), "parse_mode": None}
                await asyncio.to_thread(self._replace_payload_and_retry, msg, plain)
                report.retried += 1
                return None
            log.warning("message refused chat=%s error=%s", msg.chat_id, exc.message)
            await asyncio.to_thread(self.chats.mark_dead, msg.id, f"400 {exc.message}")
            report.dead += 1
            report.errors.append(exc.message)
            return None
        except (TimedOut, NetworkError) as exc:
            attempts = msg.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                await asyncio.to_thread(self.chats.mark_dead, msg.id, f"gave up: {exc}")
                report.dead += 1
                return None
            delay = min(600.0, 2.0**attempts)
            retry_at = self.clock() + timedelta(seconds=delay)
            await asyncio.to_thread(
                self.chats.mark_retry, msg.id, retry_at, f"{type(exc).__name__}: {exc}"
            )
            report.retried += 1
            return retry_at
        except Exception as exc:  # an odd answer must not stall the outbox: retry later
            log.warning(
                "unexpected send failure chat=%s error=%s: %s", msg.chat_id, type(exc).__name__, exc
            )
            attempts = msg.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                await asyncio.to_thread(
                    self.chats.mark_dead, msg.id, f"gave up: {type(exc).__name__}"
                )
                report.dead += 1
                return None
            retry_at = self.clock() + timedelta(seconds=min(600.0, 2.0**attempts))
            await asyncio.to_thread(
                self.chats.mark_retry, msg.id, retry_at, f"{type(exc).__name__}: {exc}"
            )
            report.retried += 1
            return retry_at
        await asyncio.to_thread(
            self.chats.mark_sent, msg.id, self.clock(), getattr(sent, "message_id", None)
        )
        report.sent += 1
        MESSAGES_SENT.inc()
        return None

    def _replace_payload_and_retry(self, msg: OutMessage, payload: dict[str, Any]) -> None:
        self.chats.replace_payload(msg.id, payload)

    async def _call(self, chat_id: int, p: dict[str, Any]) -> Any:
        if p.get("method") == "sendPhoto":
            return await self._send_photo(chat_id, p)
        return await self.bot.send_message(
            chat_id,
            p["text"],
            parse_mode=p.get("parse_mode"),
            reply_markup=keyboard(p.get("buttons")),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )

    async def _send_photo(self, chat_id: int, p: dict[str, Any]) -> Any:
        """A picture stored once in the media table; after the first upload, Telegram's file_id."""
        key = p["media"]
        file_id = self._file_ids.get(key)
        if file_id is None:
            # Chats are sent to concurrently: the first send of a picture uploads it, the
            # others wait for its file_id instead of uploading it again.
            async with self._uploads.setdefault(key, asyncio.Lock()):
                file_id = self._file_ids.get(key)
                if file_id is None:
                    data, file_id = await asyncio.to_thread(self.chats.get_media, key)
                    if file_id is None:
                        sent = await self.bot.send_photo(
                            chat_id,
                            photo=data,
                            caption=p.get("caption"),
                            parse_mode=p.get("parse_mode"),
                        )
                        if sent.photo:
                            self._file_ids[key] = sent.photo[-1].file_id
                            await asyncio.to_thread(
                                self.chats.set_media_file_id, key, sent.photo[-1].file_id
                            )
                        return sent
                    self._file_ids[key] = file_id
        return await self.bot.send_photo(
            chat_id, photo=file_id, caption=p.get("caption"), parse_mode=p.get("parse_mode")
        )


def message_payload(text: str, buttons: Any = None) -> dict[str, Any]:
    """Payload of an HTML text message with optional button rows [(Button...)...]."""
    rows = [[{"text": b.text, "data": b.data} for b in row] for row in (buttons or ())]
    return {"method": "sendMessage", "text": text, "parse_mode": "HTML", "buttons": rows or None}


def media_payload(key: str, caption: str) -> dict[str, Any]:
    """Payload of a picture stored once in the media table (the weekly chart, sent to every chat)."""
    return {"method": "sendPhoto", "media": key, "caption": caption, "parse_mode": "HTML"}
