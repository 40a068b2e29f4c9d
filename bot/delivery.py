"""Drain the outbox within Telegram's limits; translate Telegram errors into outbox outcomes.

Limits (Telegram's documented ones): about 30 messages/s overall, 1/s per private chat,
20/minute per group. Each chat's messages go out in order, one at a time, and what happens to
one chat (a 429, a retry, a slow answer) never holds the others.

Outcomes: 429 — that chat waits retry_after. 403, and 400 "chat not found" — the chat is
deactivated. Group migrated — its data moves and the message is sent to the new id. Network
errors and 5xx — Telegram is unreachable, not the message's fault: capped backoff for the whole
retry window (hours), one probe at a time. Read timeout — Telegram may have delivered: sent
again at most once. Only Telegram's permanent answers (4xx) end a message before its window.

Crashes: Telegram has no idempotency key, so a message whose request left but whose outcome
was not yet recorded is sent again after a crash. Only as many sends are under way as the rate
needs (InFlight): on a fast API one at a time, so a kill -9 re-sends at most one message. Of
several senders (processes) on one database, one leads and sends (bot.store.leases.Leadership):
Telegram's limits are the bot's, so one process paces them all.

Edits of sent alerts (a story's later sources, bot/story_alerts.py) go through the same queue;
one Telegram refuses or need not make (not modified, message gone, older than EDIT_MAX_AGE) is
ended at once, never retried.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.metrics import (
    MESSAGES_SENT,
    OUTBOX_DEAD,
    OUTBOX_RESENT,
    OUTBOX_RETRIES,
    TELEGRAM_429,
    TELEGRAM_UNREACHABLE,
)
from bot.store.chats import ChatStore
from bot.store.leases import Leadership
from bot.store.outbox import Outbox, OutMessage, retry_delay
from classifiers.text import visible_text

log = logging.getLogger(__name__)
DEFAULT_RETRY_WINDOW = timedelta(hours=24)
DEFAULT_LEASE = timedelta(seconds=30)
# Edits of alerts (a story's later sources) stop after this: an old alert is history, and
# Telegram may refuse to edit old messages anyway.
EDIT_MAX_AGE = timedelta(hours=48)
GONE_CHAT = ("chat not found", "bot was kicked", "user is deactivated", "group chat was deleted")


@dataclass
class Limits:
    """Sending rates."""

    global_per_second: float = 30.0  # the pace; Telegram allows 30 in any second (see Budget)
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
    resent: int = 0  # sent again after a timeout that may have delivered it
    unconfirmed: int = 0  # a second timeout: counted as sent rather than risk a third copy
    most_in_flight: int = 0  # the most sends under way at once (each one re-sent after a crash)
    errors: list[str] = field(default_factory=list)


class Budget:
    """Telegram's overall limit, kept whatever the network's jitter: at most `limit` messages
    in any second, as Telegram counts them.

    Telegram counts a request at some moment between when it left and when its answer came
    back, and the network moves that moment. A request may leave only while fewer than `limit`
    others are unanswered or were answered less than a second ago: then no second, wherever
    Telegram's moments fall in those spans, can hold more than `limit`. (Of any `limit` + 1
    requests Telegram counted in one second, the last to leave would have seen the other
    `limit` unanswered or answered within the second before it left.)
    """

    def __init__(self, limit: int = 30, period: float = 1.0) -> None:
        self.limit = limit
        self.period = period
        self._unanswered: set[int] = set()
        self._answered: collections.deque[float] = collections.deque()  # answer times, in order

    def wait(self, now: float) -> float | None:
        """Seconds before a request may leave: 0 now, None when it waits for an answer."""
        while self._answered and self._answered[0] <= now - self.period:
            self._answered.popleft()
        if len(self._unanswered) + len(self._answered) < self.limit:
            return 0.0
        if self._answered:
            return self._answered[0] + self.period - now
        return None

    def leave(self, key: int) -> None:
        """A request leaves now (after wait said 0, with no await in between)."""
        self._unanswered.add(key)

    def answer(self, key: int, now: float) -> None:
        """The request's answer (or failure) came back."""
        if key in self._unanswered:
            self._unanswered.discard(key)
            self._answered.append(now)


class InFlight:
    """How many sends may be under way at once: as many as the rate needs, no more.

    A send is under way from its request until its outcome is recorded; a crash in between
    sends it again. Little's law: `rate` messages/s taking `latency` s each need
    ceil(rate x latency) under way, which is 1 on a fast API. The latency is the median of the
    last sends (one slow chat does not widen the window for long). A send unanswered for
    `stuck` seconds (4 latencies, at least half a second) steps aside: it no longer counts, so
    a slow answer holds the other chats back half a second at most.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        samples: int = 16,
        min_stuck: float = 0.5,
    ) -> None:
        self.rate = rate
        self.clock = clock
        self.min_stuck = min_stuck
        self.admitted = 0
        self._recent: collections.deque[float] = collections.deque(maxlen=samples)
        self._started: dict[int, float] = {}  # message id -> when its request left
        self._changed = asyncio.Event()

    @property
    def latency(self) -> float:
        """The median time from request to recorded outcome of the last sends (0: none yet)."""
        return statistics.median(self._recent) if self._recent else 0.0

    def size(self) -> int:
        """The window now: ceil(rate x latency), at least 1."""
        return max(1, math.ceil(self.rate * self.latency - 1e-9))

    def counted(self) -> int:
        """Sends under way that hold a place in the window (the stuck ones stepped aside)."""
        stuck = self.clock() - max(self.min_stuck, 4 * self.latency)
        return self.admitted - sum(1 for t in self._started.values() if t < stuck)

    def full(self) -> bool:
        """True when one more send would exceed the window."""
        return self.counted() >= self.size()

    async def enter(self) -> None:
        """Wait for room in the window (re-checked as sends end or get stuck), then take it."""
        while self.full():
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=1.0 / self.rate)
        self.admitted += 1

    def request(self, message_id: int) -> None:
        """The request of an admitted send leaves now."""
        self._started[message_id] = self.clock()

    def leave(self, message_id: int) -> None:
        """An admitted send is over (its outcome recorded, or it never left)."""
        self.admitted -= 1
        started = self._started.pop(message_id, None)
        if started is not None:
            self._recent.append(self.clock() - started)
        self._changed.set()


def keyboard(rows: list[list[dict[str, str]]] | None) -> InlineKeyboardMarkup | None:
    """Inline keyboard from the payload's button rows."""
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b["text"], callback_data=b["data"]) for b in row] for row in rows]
    )


def _retry_seconds(value: Any) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _maybe_delivered(exc: TimedOut) -> bool:
    """A timeout after the request left (read/write): Telegram may have acted on it. A connect
    or pool timeout means it never left."""
    return not isinstance(exc.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout) and (
        "Pool timeout" not in (exc.message or "")
    )


class Sender:
    """Sends outbox messages as they fall due, paced per chat and globally."""

    def __init__(
        self,
        bot: Bot,
        chats: ChatStore,
        *,
        clock: Callable[[], datetime],
        owner: str,
        limits: Limits | None = None,
        lease: timedelta = DEFAULT_LEASE,
        retry_window: timedelta = DEFAULT_RETRY_WINDOW,
        send_timeout: float | None = None,
    ) -> None:
        self.bot = bot
        self.chats = chats
        self.outbox = Outbox(chats.store)
        self.clock = clock
        self.owner = owner
        self.limits = limits or Limits()
        self.lease = lease
        self.retry_window = retry_window
        self.send_timeout = send_timeout  # the read timeout of one send (None: the bot's)
        self.wake = asyncio.Event()
        self.in_flight = InFlight(self.limits.global_per_second)
        self._under_way_said = (1, 0.0)  # the most sends under way logged, and since when
        self.budget = Budget(math.floor(self.limits.global_per_second))
        self.leadership = Leadership(chats.store.engine, "sender")
        self._lead_checked = -math.inf  # monotonic time of the last leadership check
        self._leads = False
        self._chat_ready: dict[int, float] = {}
        self._global_next = 0.0
        self._outage_failures = 0
        self._outage_until: datetime | None = None  # on the clock: no send before then
        self._held: set[int] = set()  # ids this sender leased and has not settled
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._file_ids: dict[str, str] = {}
        self._uploads: dict[str, asyncio.Lock] = {}

    @property
    def stopping(self) -> bool:
        """True once stop() was called: no new message is taken."""
        return self._stop.is_set()

    @stopping.setter
    def stopping(self, value: bool) -> None:
        if value:
            self.stop()
        else:
            self._stop.clear()

    def stop(self) -> None:
        """Take no new message; messages waiting for their turn go back to the outbox now, the
        ones in flight end (and are recorded) as they are."""
        self._stop.set()
        self.wake.set()

    def _interval(self, chat_id: int) -> float:
        return self.limits.private_interval if chat_id > 0 else self.limits.group_interval

    async def _pause(self, seconds: float) -> bool:
        """Sleep, or return early (False) when stopping."""
        if seconds <= 0:
            return not self.stopping
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return not self.stopping

    def _outage_left(self) -> float:
        """Seconds before the next probe while Telegram is unreachable (0 when it is not)."""
        if self._outage_until is None:
            return 0.0
        return max(0.0, (self._outage_until - self.clock()).total_seconds())

    async def drain(self) -> DrainReport:
        """Send everything due now; returns when nothing is due or in flight.

        Only what is about to be sent is leased (about a second's worth, one message per chat),
        under a short lease that a heartbeat renews while the sender holds it.
        """
        report = DrainReport()
        window = max(1, math.ceil(self.limits.global_per_second))
        async with self._lock:
            tasks: set[asyncio.Task[None]] = set()
            heartbeat = asyncio.create_task(self._heartbeat())
            try:
                while not self.stopping:
                    if not await self._lead():
                        break  # another process sends; the messages under way end here
                    outage = self._outage_left()
                    if outage > 0 and not tasks:
                        break  # Telegram is unreachable: nothing is leased until the next probe
                    free = window - len(tasks)
                    leased: list[OutMessage] = []
                    probing = self._outage_failures > 0  # one message at a time until one passes
                    if outage <= 0 and (not tasks or (not probing and free >= max(1, window // 4))):
                        # Chats that must wait their turn first are skipped while others can go
                        # now; when none can, their messages are taken and wait for their turn.
                        waiting = self._waiting_chats() if tasks else []
                        leased = await asyncio.to_thread(
                            self.outbox.lease,
                            self.clock(),
                            self.owner,
                            limit=1 if probing else free,
                            lease=self.lease,
                            skip_chats=waiting,
                        )
                    for msg in leased:
                        self._held.add(msg.id)
                        task = asyncio.create_task(self._deliver(msg, report))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    if not tasks:
                        break
                    self.wake.clear()
                    waker = asyncio.create_task(self.wake.wait())
                    await asyncio.wait(
                        {*tasks, waker}, timeout=0.25, return_when=asyncio.FIRST_COMPLETED
                    )
                    waker.cancel()
                if tasks:
                    await asyncio.gather(*tasks)
            finally:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
        return report

    def _say_under_way(self) -> None:
        """Log a new high of sends under way (each is sent again if the process dies now);
        the high is forgotten after a minute, so a slow spell is told once a minute at most."""
        under_way, now = self.in_flight.admitted, time.monotonic()
        said, since = self._under_way_said
        if now - since > 60:
            said = 1
        if under_way > said:
            log.info(
                "sends under way=%d window=%d latency_ms=%.0f",
                under_way,
                self.in_flight.size(),
                self.in_flight.latency * 1000,
            )
            self._under_way_said = (under_way, now if said == 1 else since)

    def _waiting_chats(self) -> list[int]:
        """Chats whose next turn is more than a lease round away: their messages are not leased
        yet, so that the messages taken are ones that can go out now."""
        now = time.monotonic()
        for chat in [c for c, ready in self._chat_ready.items() if ready <= now]:
            del self._chat_ready[chat]  # past turns: forget them, the table stays small
        return [c for c, ready in self._chat_ready.items() if ready > now + 0.25]

    async def _budget_turn(self) -> bool:
        """Wait until Telegram's overall limit allows one more request (False: stopping)."""
        while (wait := self.budget.wait(time.monotonic())) != 0:
            if not await self._pause(0.005 if wait is None else wait):
                return False
        return True

    async def _lead(self) -> bool:
        """True while this sender leads (checked at most once a second)."""
        if time.monotonic() - self._lead_checked >= 1.0:
            leads = await asyncio.to_thread(self.leadership.hold)
            if leads != self._leads:
                log.info("outbox sender %s owner=%s", "leads" if leads else "stands by", self.owner)
            self._leads = leads
            self._lead_checked = time.monotonic()
        return self._leads

    async def _heartbeat(self) -> None:
        """Renew the leases of the messages this sender holds, every third of a lease."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            held = list(self._held)
            try:
                await asyncio.to_thread(
                    self.outbox.renew, self.owner, held, self.clock() + self.lease
                )
            except Exception as exc:  # the database is down: the next beat tries again
                log.warning("outbox lease renewal failed owner=%s error=%s", self.owner, exc)

    async def _deliver(self, msg: OutMessage, report: DrainReport) -> None:
        """Wait for the chat's turn, claim, wait for the global turn, send; or hand it back."""
        try:
            chat_wait = self._chat_ready.get(msg.chat_id, 0.0) - time.monotonic()
            if not await self._pause(chat_wait):
                await asyncio.to_thread(self.outbox.release, [msg.id], self.owner)
                return
            # The lease may have run out while the message waited (a stalled loop) and another
            # sender may have taken it: check, and renew it for the send.
            if not await asyncio.to_thread(
                self.outbox.claim, msg.id, self.owner, self.clock() + self.lease
            ):
                log.info(
                    "message taken over by another sender message=%s chat=%s", msg.id, msg.chat_id
                )
                return
            await self.in_flight.enter()
            self._say_under_way()
            try:
                # The global slot is taken only now, right before the request: a slot reserved
                # ahead for a chat that is not ready would push every other chat back.
                interval = 1.0 / self.limits.global_per_second
                now = time.monotonic()
                slot = max(now, self._global_next, now + self._outage_left())
                self._global_next = slot + interval
                if not await self._pause(slot - now) or not await self._budget_turn():
                    await asyncio.to_thread(self.outbox.release, [msg.id], self.owner)
                    return
                self.budget.leave(msg.id)
                self.in_flight.request(msg.id)
                report.most_in_flight = max(report.most_in_flight, self.in_flight.admitted)
                await self._send_one(msg, report)
            finally:
                self.budget.answer(msg.id, time.monotonic())  # when cancelled before the call
                self.in_flight.leave(msg.id)
                # Counted from the answer, not the request: Telegram counts from when the
                # request reached it, which may be anywhere in between.
                self._chat_ready[msg.chat_id] = max(
                    self._chat_ready.get(msg.chat_id, 0.0),
                    time.monotonic() + self._interval(msg.chat_id),
                )
        finally:
            self._held.discard(msg.id)

    async def _send_one(self, msg: OutMessage, report: DrainReport) -> None:
        """Send one claimed message and record the outcome."""
        p = msg.payload
        if p.get("method") == "editMessageText":
            target = await asyncio.to_thread(self.outbox.delivered, int(p["edit_of"]))
            if target is None or self.clock() - target[1] > EDIT_MAX_AGE:
                reason = "not sent" if target is None else "too old"
                await self._edit_dropped(msg, f"nothing to edit: the alert is {reason}", report)
                return
            p = {**p, "message_id": target[0]}
        if msg.maybe_sent:
            report.resent += 1
            OUTBOX_RESENT.inc()
        try:
            try:
                sent = await self._call(msg.chat_id, p)
            finally:
                self.budget.answer(msg.id, time.monotonic())
        except RetryAfter as exc:
            with warnings.catch_warnings():  # PTB 22 deprecates the int form
                warnings.simplefilter("ignore")
                wait = _retry_seconds(exc.retry_after)
            report.received_429 += 1
            TELEGRAM_429.inc()
            OUTBOX_RETRIES.labels("429").inc()
            log.warning("telegram rate limit chat=%s retry_after=%.0fs", msg.chat_id, wait)
            # Only this chat waits: Telegram's flood limits are per chat.
            self._chat_ready[msg.chat_id] = time.monotonic() + wait
            await asyncio.to_thread(
                self.outbox.mark_retry,
                msg.id,
                self.clock() + timedelta(seconds=wait),
                f"429 retry after {wait:.0f}s",
                count=False,
            )
            report.retried += 1
            return
        except ChatMigrated as exc:
            log.info("chat migrated chat=%s new=%s", msg.chat_id, exc.new_chat_id)
            await asyncio.to_thread(self.chats.migrate, msg.chat_id, exc.new_chat_id)
            report.migrated += 1
            return
        except Forbidden as exc:
            await self._chat_gone(msg, f"403 {exc.message}", report)
            return
        except BadRequest as exc:
            text = exc.message.lower()
            if "message is not modified" in text:  # an edit with nothing new: done
                await self._edit_dropped(msg, f"400 {exc.message}", report)
                return
            if any(reason in text for reason in GONE_CHAT):
                await self._chat_gone(msg, f"400 {exc.message}", report)
                return
            if "parse entities" in text and p.get("parse_mode") == "HTML":
                # Our escaping should make this impossible; send the plain text rather than lose it.
                plain = {**p, "text": visible_text(p.get("text", "")), "parse_mode": None}
                await asyncio.to_thread(self.outbox.replace_payload, msg.id, plain)
                report.retried += 1
                return
            log.warning("message refused chat=%s error=%s", msg.chat_id, exc.message)
            OUTBOX_DEAD.labels("refused").inc()
            await asyncio.to_thread(self.outbox.mark_dead, msg.id, f"400 {exc.message}")
            report.dead += 1
            report.errors.append(exc.message)
            return
        except Exception as exc:  # network, 5xx, timeouts, odd answers: not the message's fault
            await self._retry_later(msg, exc, report)
            return
        if self._outage_failures:
            log.warning("telegram reachable again after failures=%d", self._outage_failures)
            self._outage_failures = 0
            TELEGRAM_UNREACHABLE.set(0)
        await asyncio.to_thread(
            self.outbox.mark_sent, msg.id, self.clock(), getattr(sent, "message_id", None)
        )
        report.sent += 1
        MESSAGES_SENT.inc()

    async def _edit_dropped(self, msg: OutMessage, reason: str, report: DrainReport) -> None:
        """An edit Telegram will not (or need not) make: logged and ended, never retried."""
        log.info("edit dropped chat=%s message=%s reason=%s", msg.chat_id, msg.id, reason)
        OUTBOX_DEAD.labels("edit_dropped").inc()
        await asyncio.to_thread(self.outbox.mark_dead, msg.id, reason)
        report.dead += 1

    async def _chat_gone(self, msg: OutMessage, reason: str, report: DrainReport) -> None:
        """The chat blocked the bot, kicked it or no longer exists: stop sending to it."""
        log.info("chat gone, deactivated chat=%s error=%s", msg.chat_id, reason)
        await asyncio.to_thread(self.chats.deactivate, msg.chat_id, reason)
        await asyncio.to_thread(self.outbox.mark_dead, msg.id, reason)
        OUTBOX_DEAD.labels("chat_gone").inc()
        report.deactivated += 1
        report.dead += 1

    async def _retry_later(self, msg: OutMessage, exc: Exception, report: DrainReport) -> None:
        """Back off and retry within the retry window; a possibly delivered message once only."""
        error = f"{type(exc).__name__}: {exc}"
        now = self.clock()
        if isinstance(exc, TimedOut) and _maybe_delivered(exc):
            if msg.maybe_sent:
                # Sent twice, both unanswered: a third copy is worse than an unconfirmed one.
                log.warning(
                    "delivery unconfirmed after a re-send chat=%s message=%s", msg.chat_id, msg.id
                )
                await asyncio.to_thread(
                    self.outbox.mark_sent, msg.id, now, None, note=f"unconfirmed: {error}"
                )
                report.unconfirmed += 1
                return
            OUTBOX_RETRIES.labels("timeout").inc()
            await asyncio.to_thread(
                self.outbox.mark_retry,
                msg.id,
                now + timedelta(seconds=retry_delay(msg.attempts + 1)),
                f"maybe sent, read timed out: {error}",
                maybe_sent=True,
            )
            report.retried += 1
            return
        created = msg.created_at or now
        if now - created > self.retry_window:
            log.warning(
                "message given up after the retry window chat=%s message=%s window=%s error=%s",
                msg.chat_id,
                msg.id,
                self.retry_window,
                error,
            )
            OUTBOX_DEAD.labels("retry_window").inc()
            await asyncio.to_thread(self.outbox.mark_dead, msg.id, f"gave up: {error}")
            report.dead += 1
            return
        if isinstance(exc, NetworkError):  # TimedOut (connect) and 5xx are NetworkErrors too
            # Telegram unreachable: every chat would fail alike, so probe one message at a time.
            self._outage_failures += 1
            pause = retry_delay(self._outage_failures)
            self._outage_until = now + timedelta(seconds=pause)
            TELEGRAM_UNREACHABLE.set(1)
            OUTBOX_RETRIES.labels("unreachable").inc()
            log.warning(
                "telegram unreachable, retrying chat=%s failures=%d next_in=%.0fs error=%s",
                msg.chat_id,
                self._outage_failures,
                pause,
                error,
            )
        else:
            OUTBOX_RETRIES.labels("error").inc()
            log.warning("unexpected send failure chat=%s error=%s", msg.chat_id, error)
        await asyncio.to_thread(
            self.outbox.mark_retry,
            msg.id,
            now + timedelta(seconds=retry_delay(msg.attempts + 1)),
            error,
        )
        report.retried += 1

    async def _call(self, chat_id: int, p: dict[str, Any]) -> Any:
        if p.get("method") == "sendPhoto":
            return await self._send_photo(chat_id, p)
        if p.get("method") == "editMessageText":
            return await self.bot.edit_message_text(
                p["text"],
                chat_id=chat_id,
                message_id=p["message_id"],
                parse_mode=p.get("parse_mode"),
                reply_markup=keyboard(p.get("buttons")),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                **self._timeouts(),
            )
        return await self.bot.send_message(
            chat_id,
            p["text"],
            parse_mode=p.get("parse_mode"),
            reply_markup=keyboard(p.get("buttons")),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            **self._timeouts(),
        )

    def _timeouts(self) -> dict[str, Any]:
        # Passing read_timeout=None to PTB would mean "no timeout": only pass a real value.
        return {} if self.send_timeout is None else {"read_timeout": self.send_timeout}

    async def _send_photo(self, chat_id: int, p: dict[str, Any]) -> Any:
        """A picture stored once in the media table; after the first upload, Telegram's file_id."""
        key = p["media"]
        # One upload per picture: chats sent concurrently wait for the first one's file_id.
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


def edit_payload(message_id: int, text: str, buttons: Any = None) -> dict[str, Any]:
    """Payload of an edit: the outbox message `message_id`, once sent, gets this HTML text."""
    return {
        "method": "editMessageText",
        "edit_of": message_id,
        "text": text,
        "parse_mode": "HTML",
        "buttons": buttons,
    }


def media_payload(key: str, caption: str) -> dict[str, Any]:
    """Payload of a picture stored once in the media table (the weekly chart, sent to every chat)."""
    return {"method": "sendPhoto", "media": key, "caption": caption, "parse_mode": "HTML"}
