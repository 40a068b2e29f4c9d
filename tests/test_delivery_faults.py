"""The Sender under Telegram faults, against the loopback Bot API: an outage, a slow server,
a 429 from one group, a chat that no longer exists, a crashed sender's leases; and the window
of sends under way, which bounds what a crash sends twice."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import AIORateLimiter, ApplicationBuilder

from bot.delivery import Budget, InFlight, Sender
from bot.store.chats import ChatStore
from bot.store.leases import owner_name
from bot.store.outbox import Outbox
from bot.store.repo import Store
from tests.conftest_bot import drain_until_empty, outbox_rows
from tests.support.botapi import BotAPIServer
from tests.test_delivery import Rig

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning"),
]


class Clock:
    """The real time, plus whatever the test adds (to live hours of an outage in seconds)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def bot_app(server: BotAPIServer, read_timeout: float = 20.0) -> Any:
    """The production bot setup (rate limiter without retries), with a chosen read timeout."""
    app = (
        ApplicationBuilder()
        .token(server.token)
        .base_url(server.base_url)
        .rate_limiter(AIORateLimiter(overall_max_rate=30, group_max_rate=20, max_retries=0))
        .connect_timeout(5)
        .read_timeout(read_timeout)
        .build()
    )
    await app.initialize()
    return app


@contextlib.asynccontextmanager
async def running(store: Store, *, read_timeout: float = 20.0) -> AsyncIterator[Rig]:
    """A started loopback Bot API, the bot talking to it and the store's chats; torn down after."""
    server = BotAPIServer()
    await asyncio.to_thread(server.start)
    try:
        app = await bot_app(server, read_timeout)
        try:
            yield Rig(server, ChatStore(store), app.bot)
        finally:
            await app.shutdown()
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh SQLite store."""
    opened = Store.open(f"sqlite:///{tmp_path / 'veille.db'}")
    yield opened
    opened.close()


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    """The Bot API, the bot and the chats, with the production read timeout."""
    async with running(store) as started:
        yield started


def sender(rig: Rig, **options: Any) -> Sender:
    """A Sender on the rig (owner "s", the real clock unless one is given)."""
    options.setdefault("clock", Clock())
    options.setdefault("owner", "s")
    return Sender(rig.bot, rig.chats, **options)


def _sent(server: BotAPIServer) -> list[dict[str, Any]]:
    with server.lock:
        return list(server.sent)


async def test_an_outage_longer_than_the_old_attempt_budget_loses_nothing(rig: Rig) -> None:
    """Telegram unreachable for ten simulated minutes: every message waits, none is dead, all
    go out once it is back."""
    clock = Clock()
    for chat in range(1, 7):
        rig.chat(chat)
        rig.queue(chat, f"pour {chat}")
    port = rig.server.port
    await asyncio.to_thread(rig.server.stop)  # the network is cut: connections are refused
    out = sender(rig, clock=clock)
    for _ in range(20):
        await out.drain()
        clock.offset += timedelta(seconds=30)
    rows = outbox_rows(rig.chats)
    assert Counter(r["status"] for r in rows) == {"pending": 6}, "an outage kills nothing"
    # Ten minutes: the old budget (8 attempts, about 254 s of backoff) killed them all.
    # Probing one message at a time, the sender tried on and on without flooding.
    assert sum(r["attempts"] for r in rows) >= 8
    back = BotAPIServer(port=port)
    await asyncio.to_thread(back.start)
    try:
        clock.offset += timedelta(minutes=2)
        await drain_until_empty(out, rig.chats, timeout=60)
        assert sorted(m["text"] for m in _sent(back)) == sorted(f"pour {c}" for c in range(1, 7))
    finally:
        await asyncio.to_thread(back.stop)


async def test_a_message_is_given_up_only_after_the_retry_window(rig: Rig) -> None:
    clock = Clock()
    rig.chat(1)
    rig.queue(1, "trop tard")
    await asyncio.to_thread(rig.server.stop)
    out = sender(rig, clock=clock, retry_window=timedelta(hours=2))
    await out.drain()
    clock.offset += timedelta(hours=1)
    await out.drain()
    assert outbox_rows(rig.chats)[0]["status"] == "pending"
    clock.offset += timedelta(hours=2)
    await out.drain()
    (row,) = outbox_rows(rig.chats)
    assert row["status"] == "dead" and row["last_error"].startswith("gave up")


async def test_a_read_timeout_is_resent_at_most_once(store: Store) -> None:
    """Telegram delivers but answers after the read timeout, every time: two copies (one
    re-send, counted), then the message counts as sent rather than going out again and again."""
    async with running(store, read_timeout=1.0) as rig:
        rig.chat(7)
        rig.queue(7, "lent")
        rig.server.delay_next(10, 2.0, deliver=True, chats=[7])
        out = sender(rig)
        reports = []
        deadline = asyncio.get_running_loop().time() + 40
        while asyncio.get_running_loop().time() < deadline:
            reports.append(await out.drain())
            if outbox_rows(rig.chats)[0]["status"] not in {"pending", "sending"}:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.5)  # the last slow request completes on the server
        copies = [m["text"] for m in _sent(rig.server)]
        assert copies == ["lent", "lent"], copies
        assert sum(r.resent for r in reports) == 1 and sum(r.unconfirmed for r in reports) == 1
        (row,) = outbox_rows(rig.chats)
        assert row["status"] == "sent" and row["last_error"].startswith("unconfirmed")


async def test_a_slow_chat_holds_no_other_chat(rig: Rig) -> None:
    """Chat 1's answers take 3 s: chat 2's three messages go out at their own pace meanwhile
    (the slow send widens the window of sends under way)."""
    rig.chat(1)
    rig.chat(2)
    rig.queue(1, "a1", "a2")
    rig.queue(2, "b1", "b2", "b3")
    rig.server.delay_next(2, 3.0, deliver=True, chats=[1])
    await drain_until_empty(sender(rig), rig.chats)
    sent = _sent(rig.server)
    when = {m["text"]: m["date"] for m in sent}
    assert [m["text"] for m in sent if m["chat_id"] == 2] == ["b1", "b2", "b3"]
    assert [m["text"] for m in sent if m["chat_id"] == 1] == ["a1", "a2"]
    assert when["b3"] < when["a1"], "chat 2 never waited for chat 1's slow answer"


async def test_a_429_from_a_group_does_not_pause_private_chats(rig: Rig) -> None:
    rig.server.set_chat(-300, "group", title="Club")
    rig.chat(-300, "group")
    rig.chat(5)
    rig.queue(-300, "pour le groupe")
    rig.queue(5, "p1", "p2", "p3")
    rig.server.fail_next(1, status=429, retry_after=5, methods=["sendMessage"], chats=[-300])
    await drain_until_empty(sender(rig), rig.chats)
    sent = _sent(rig.server)
    when = {m["text"]: m["date"] for m in sent}
    assert [m["text"] for m in sent if m["chat_id"] == 5] == ["p1", "p2", "p3"]
    assert when["p3"] < when["pour le groupe"], "the private chat went on during the pause"
    with rig.server.lock:
        refused = [c for c in rig.server.calls if c["status"] == 429]
    assert len(refused) == 1 and when["pour le groupe"] - refused[0]["time"] >= 4.9


async def test_chat_not_found_deactivates_the_chat_like_a_block(rig: Rig) -> None:
    rig.chat(8)
    rig.queue(8, "parti", "aussi")
    rig.server.fail_next(1, status=400, description="Bad Request: chat not found")
    report = await sender(rig).drain()
    assert report.deactivated == 1
    chat = rig.chats.get(8)
    assert chat is not None and not chat.active
    assert {r["status"] for r in outbox_rows(rig.chats)} == {"dead"}
    assert _sent(rig.server) == []


async def test_a_restarted_sender_takes_back_its_dead_predecessors_leases(
    rig: Rig, store: Store
) -> None:
    """A sender killed with messages leased: its successor on the same host sends them at
    once instead of waiting for the leases to run out."""
    for chat in range(10, 20):
        rig.chat(chat)
        rig.queue(chat, f"pour {chat}")
    dead = owner_name("sender", pid=2**22 + 4321)  # above pid_max: never a live process
    leased = Outbox(store).lease(datetime.now(UTC), dead, limit=50, lease=timedelta(hours=1))
    assert len(leased) == 10
    assert Outbox(store).reclaim("sender") == 10
    report = await sender(rig, owner=owner_name("sender")).drain()
    assert report.sent == 10


async def test_only_what_is_about_to_be_sent_is_leased(rig: Rig) -> None:
    """200 messages for one chat: the sender holds one lease at a time, not a batch."""
    rig.chat(3)
    rig.queue(3, *(f"m{n}" for n in range(200)))
    out = sender(rig)
    task = asyncio.create_task(out.drain())
    seen = 0
    for _ in range(20):
        await asyncio.sleep(0.1)
        leased = [r for r in outbox_rows(rig.chats) if r["status"] == "sending"]
        assert len(leased) <= 1
        seen = max(seen, len(leased))
    out.stop()
    await task
    assert seen == 1
    rows = outbox_rows(rig.chats)
    assert not [r for r in rows if r["status"] == "sending"], "stopping hands them back"


class Ticks:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_window_of_sends_under_way_is_one_on_a_fast_api() -> None:
    """At 30 msg/s, answers in 20 ms: one send at a time reaches the rate, so a crash can
    re-send one message only."""
    ticks = Ticks()
    window = InFlight(30.0, clock=ticks)
    for n in range(50):
        assert window.size() == 1 and not window.full()
        window.admitted += 1
        window.request(n)
        ticks.now += 0.020
        window.leave(n)
    assert window.size() == 1


def test_the_window_widens_to_what_a_slow_api_needs_and_narrows_back() -> None:
    ticks = Ticks()
    window = InFlight(30.0, clock=ticks)
    for n in range(50):  # answers in 100 ms: 30 x 0.1, three under way
        window.admitted += 1
        window.request(n)
        ticks.now += 0.100
        window.leave(n)
    assert window.size() == 3
    for n in range(50, 100):
        window.admitted += 1
        window.request(n)
        ticks.now += 0.010
        window.leave(n)
    assert window.size() == 1


def test_one_slow_answer_does_not_widen_the_window() -> None:
    ticks = Ticks()
    window = InFlight(30.0, clock=ticks)
    for n in range(20):
        window.admitted += 1
        window.request(n)
        ticks.now += 3.0 if n == 10 else 0.010
        window.leave(n)
    assert window.size() == 1, "the median, not the mean"


def test_a_send_that_hangs_steps_aside_for_the_others() -> None:
    """One request unanswered: it holds its place half a second, then no longer counts, so
    the other chats go on (a crash now could re-send it and the one under way)."""
    ticks = Ticks()
    window = InFlight(30.0, clock=ticks)
    window.admitted += 1
    window.request(1)
    assert window.full()
    ticks.now += 0.4
    assert window.full(), "a slowish answer is no reason to send a second message meanwhile"
    ticks.now += 0.2
    assert window.counted() == 0 and not window.full()
    window.admitted += 1
    window.request(2)
    assert window.full(), "the next one holds the place"


async def test_enter_waits_for_room_and_leave_makes_it() -> None:
    window = InFlight(30.0)
    await window.enter()
    window.request(1)
    second = asyncio.create_task(window.enter())
    await asyncio.sleep(0)
    assert not second.done()
    window.leave(1)
    await asyncio.wait_for(second, 1)
    assert window.admitted == 1


def test_the_budget_keeps_telegrams_second_whatever_the_jitter() -> None:
    """Requests with random latencies leave whenever the budget allows; wherever Telegram
    counts each one between its departure and its answer, no second holds more than 30."""
    rng = random.Random(5)
    for trial in range(20):
        budget = Budget(30)
        now = 0.0
        spans: list[tuple[float, float]] = []  # (left, answered)
        flying: list[tuple[float, int, float]] = []  # (answer time, key, left)
        for key in range(400):
            flying.sort()
            while (wait := budget.wait(now)) != 0 or (flying and flying[0][0] <= now):
                if wait is None or (flying and flying[0][0] <= now + (wait or 0.0)):
                    answer, done, left = flying.pop(0)
                    now = max(now, answer)
                    budget.answer(done, now)
                    spans.append((left, now))
                else:
                    now += wait
            budget.leave(key)
            flying.append((now + rng.choice((0.001, 0.01, 0.05, 0.3)) * rng.random(), key, now))
            now += rng.random() * 0.01
        counted = sorted(left + rng.random() * (answer - left) for left, answer in spans)
        worst = max(bisect.bisect_left(counted, t + 1.0) - i for i, t in enumerate(counted))
        assert worst <= 30, (trial, worst)
        assert len(counted) / (counted[-1] - counted[0]) > 20, "and it still sends"


def test_the_budget_lets_the_31st_leave_a_second_after_the_first_answer() -> None:
    budget = Budget(30)
    for key in range(30):
        assert budget.wait(10.0) == 0
        budget.leave(key)
    assert budget.wait(10.0) is None, "all 30 unanswered: wait for an answer"
    budget.answer(0, 10.02)
    for key in range(1, 30):
        budget.answer(key, 10.05)
    assert budget.wait(10.5) == pytest.approx(0.52)
    assert budget.wait(11.02) == 0
