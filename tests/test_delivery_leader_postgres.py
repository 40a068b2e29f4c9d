"""Several senders on one PostgreSQL share the bot's one rate budget: one leads and sends, the
others stand by and take over when it stops or dies. Counted: messages lost, duplicated, 429s."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bot.delivery import Sender
from bot.store.chats import ChatStore
from bot.store.leases import Leadership
from bot.store.repo import Store
from tests.conftest_bot import outbox_rows
from tests.support.botapi import BotAPIServer
from tests.support.postgres import PostgresServer
from tests.test_delivery import Rig
from tests.test_delivery_faults import Clock, bot_app

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning"),
]


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """A fresh database on the session's PostgreSQL server."""
    return postgres_server.new_database(f"leader_{os.getpid()}_{time.monotonic_ns()}")


@pytest.fixture
def two_stores(pg_url: str) -> Iterator[tuple[Store, Store]]:
    """Two stores on one database, as two processes would have (each its own engine)."""
    first, second = Store.open(pg_url), Store.open(pg_url)
    yield first, second
    first.close()
    second.close()


def test_one_leader_on_postgres_and_the_next_takes_over(two_stores: tuple[Store, Store]) -> None:
    a = Leadership(two_stores[0].engine, "sender")
    b = Leadership(two_stores[1].engine, "sender")
    assert a.hold() and not b.hold()
    assert a.hold(), "the leader keeps the lead"
    a.release()
    assert b.hold() and not a.hold(), "a clean stop hands the lead over at once"
    # The leader's session dies (a crash, a network cut): the lock goes with it.
    with two_stores[0].engine.begin() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND objid = :key"
            ),
            {"key": b.key & 0xFFFFFFFF},
        )
    assert a.hold(), "the lock went with the session: the next candidate takes it"
    assert not b.hold(), "a leader whose session died knows it no longer leads"
    a.release()


def test_sqlite_always_leads(tmp_path: os.PathLike[str]) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/veille.db")
    try:
        assert Leadership(store.engine, "sender").hold()
    finally:
        store.close()


async def test_two_senders_on_postgres_send_each_message_once_within_one_budget(
    two_stores: tuple[Store, Store],
) -> None:
    """Two senders drain one outbox at once: every message arrives once, no 429, and the
    messages all went through one of them (Telegram's limits are the bot's, not a process's)."""
    server = BotAPIServer()  # Telegram's limits enforced: 30/s, 1/s per chat
    await asyncio.to_thread(server.start)
    apps = [await bot_app(server), await bot_app(server)]
    try:
        rigs = [Rig(server, ChatStore(s), app.bot) for s, app in zip(two_stores, apps, strict=True)]
        texts = []
        for chat in range(100, 140):
            rigs[0].chat(chat)
            pair = [f"{chat}-a", f"{chat}-b"]
            rigs[0].queue(chat, *pair)
            texts += pair
        senders = [Sender(r.bot, r.chats, clock=Clock(), owner=f"s{n}") for n, r in enumerate(rigs)]

        async def drain(sender: Sender) -> int:
            sent = 0
            while any(r["status"] != "sent" for r in outbox_rows(rigs[0].chats)):
                sent += (await sender.drain()).sent
                await asyncio.sleep(0.2)
            return sent

        counts = await asyncio.wait_for(asyncio.gather(*(drain(s) for s in senders)), 120)
        with server.lock:
            got = Counter(m["text"] for m in server.sent)
            refused = server.received_429
        assert sorted(got) == sorted(texts), "nothing lost"
        assert max(got.values()) == 1, "nothing sent twice"
        assert refused == 0
        assert sorted(counts) == [0, len(texts)], counts
        for sender in senders:
            sender.leadership.release()
    finally:
        for app in apps:
            await app.shutdown()
        await asyncio.to_thread(server.stop)
