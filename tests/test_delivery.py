"""The outbox Sender against the fake Bot API: 429, 403, group migration, 5xx, crash recovery
and pacing under Telegram's limits. The bot is the production one (build_application)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from bot.delivery import Sender, message_payload
from bot.query.model import Query
from bot.service import Runtime
from bot.store.alerts import AlertStore
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox
from bot.store.repo import Store
from bot.telegram_app import build_application
from tests.conftest_bot import drain_until_empty, gazetteer, outbox_rows, utcnow
from tests.support.botapi import BotAPIServer

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning"),
]


@dataclass
class Rig:
    """A fake Bot API, a store and the production bot object."""

    server: BotAPIServer
    chats: ChatStore
    bot: Any

    def sender(self, owner: str = "test-sender", clock: Callable[[], Any] = utcnow) -> Sender:
        """A Sender with the default limits."""
        return Sender(self.bot, self.chats, clock=clock, owner=owner)

    def chat(self, chat_id: int, type_: str = "private") -> None:
        """A known chat."""
        self.chats.ensure_chat(chat_id, type=type_, title=None, language="fr", now=utcnow())

    def queue(self, chat_id: int, *texts: str, when: Any = None) -> int:
        """Queue text messages to chat_id (due now, or at when)."""
        return Outbox(self.chats.store).enqueue(
            [
                {
                    "chat_id": chat_id,
                    "kind": "alert",
                    "dedup_key": f"t:{chat_id}:{t}",
                    "payload": message_payload(t),
                }
                for t in texts
            ],
            when or utcnow(),
        )

    def delivered(self, chat_id: int) -> list[str]:
        """Texts the server accepted for chat_id, in order."""
        return [m["text"] for m in self.server.sent_to(chat_id)]


async def _rig(tmp_path: Path, **server_options: Any) -> tuple[Rig, Any, Store]:
    server = BotAPIServer(**server_options)
    await asyncio.to_thread(server.start)
    settings = load_settings(
        {
            "VEILLE_STATE_DIR": str(tmp_path / "state"),
            "TELEGRAM_BOT_TOKEN": server.token,
            "TELEGRAM_API_URL": server.base_url,
        }
    )
    store = Store.open(settings.db_url)
    app = build_application(
        Runtime(settings=settings, store=store, clock=utcnow, _gazetteer=gazetteer())
    )
    await app.initialize()
    return Rig(server, ChatStore(store), app.bot), app, store


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """The default rig: limits enforced, strict HTML."""
    built, app, store = await _rig(tmp_path)
    try:
        yield built
    finally:
        await app.shutdown()
        store.close()
        await asyncio.to_thread(built.server.stop)


def statuses(chats: ChatStore) -> Counter[str]:
    """Outbox rows by status."""
    return Counter(r["status"] for r in outbox_rows(chats))


async def test_429_is_retried_after_the_pause_and_delivered_once(rig: Rig) -> None:
    rig.chat(11)
    rig.queue(11, "un", "deux", "trois")
    rig.server.fail_next(1, status=429, retry_after=1)
    report = await rig.sender().drain()
    assert report.received_429 == 1 and report.retried == 1
    await drain_until_empty(rig.sender(), rig.chats)
    assert rig.delivered(11) == ["un", "deux", "trois"], "order kept across the retry"
    assert statuses(rig.chats) == {"sent": 3}
    with rig.server.lock:
        assert rig.server.received_429 == 1


async def test_blocked_chat_is_deactivated_and_its_queue_dropped(rig: Rig) -> None:
    rig.chat(21)
    rig.chat(22)
    rig.queue(21, "bloqué")
    rig.queue(21, "plus tard", when=utcnow() + timedelta(minutes=5))
    rig.queue(22, "pour 22")
    rig.server.block_chat(21)
    report = await rig.sender().drain()
    assert report.deactivated == 1
    chat = rig.chats.get(21)
    assert chat is not None and not chat.active
    rows = {r["payload"]["text"]: r for r in outbox_rows(rig.chats)}
    assert rows["bloqué"]["status"] == "dead" and rows["plus tard"]["status"] == "dead"
    assert rows["pour 22"]["status"] == "sent"
    assert rig.delivered(21) == [] and rig.delivered(22) == ["pour 22"]


async def test_migrated_group_moves_its_data_and_gets_the_message(rig: Rig) -> None:
    old, new = -5001, -1005001
    rig.server.set_chat(old, "group", title="Club")
    rig.chat(old, "group")
    AlertStore(rig.chats.store).create(
        old,
        name="BZH",
        text="Bretagne",
        query=Query(regions=("Bretagne",)),
        frequency="instant",
        now=utcnow(),
    )
    rig.queue(old, "bienvenue au supergroupe")
    rig.server.migrate_chat(old, new)
    await drain_until_empty(rig.sender(), rig.chats)
    assert rig.chats.get(old) is None
    moved = rig.chats.get(new)
    assert moved is not None
    [alert] = AlertStore(rig.chats.store).of_chat(new)  # the group's alert follows it
    assert alert.query.regions == ("Bretagne",) and alert.frequency == "instant"
    assert moved.type == "supergroup"
    assert rig.delivered(new) == ["bienvenue au supergroupe"] and rig.delivered(old) == []
    assert {r["chat_id"] for r in outbox_rows(rig.chats)} == {new}


async def test_server_errors_are_retried_with_backoff(rig: Rig) -> None:
    rig.chat(31)
    rig.queue(31, "patience")
    rig.server.fail_next(2, status=502)
    first = await rig.sender().drain()
    assert first.retried == 1 and first.sent == 0
    (row,) = outbox_rows(rig.chats)
    assert row["status"] == "pending" and row["attempts"] == 1
    await drain_until_empty(rig.sender(), rig.chats, timeout=30)
    assert rig.delivered(31) == ["patience"]
    (row,) = outbox_rows(rig.chats)
    assert row["status"] == "sent" and row["attempts"] == 3
    with rig.server.lock:
        failures = [c["time"] for c in rig.server.calls if c["status"] == 502]
        success = [
            c["time"]
            for c in rig.server.calls
            if c["method"] == "sendMessage" and c["status"] == 200
        ]
    assert failures[1] - failures[0] >= 0.9 and success[0] - failures[1] >= 1.8, "1 s then 2 s"


async def test_expired_lease_after_a_crash_is_sent_once_by_another_sender(rig: Rig) -> None:
    rig.chat(41)
    rig.queue(41, "orphelin")
    crashed = Outbox(rig.chats.store).lease(utcnow(), "crashed-sender", lease=timedelta(seconds=1))
    assert len(crashed) == 1  # ...and that process died before sending
    survivor = rig.sender("survivor")
    assert (await survivor.drain()).sent == 0, "the lease still holds"
    await asyncio.sleep(1.2)
    assert (await survivor.drain()).sent == 1
    assert (await survivor.drain()).sent == 0
    assert rig.delivered(41) == ["orphelin"]
    (row,) = outbox_rows(rig.chats)
    assert row["status"] == "sent" and row["lease_owner"] is None


@pytest.mark.parametrize("limit_model", ["window", "bucket"])
async def test_pacing_respects_telegram_limits(tmp_path: Path, limit_model: str) -> None:
    built, app, store = await _rig(tmp_path, limit_model=limit_model, enforce_limits=True)
    try:
        chats = [100 + k for k in range(20)]
        for chat in chats:
            built.chat(chat)
            built.queue(chat, *(f"message {n} pour {chat}" for n in range(3)))
        report = await built.sender().drain()
        # The server enforces Telegram's limits (per chat and overall) and answers 429 to any
        # message sent too soon: pacing is checked by counting those refusals, not by timing.
        assert report.sent == 60 and report.received_429 == 0
        with built.server.lock:
            assert built.server.received_429 == 0
            sent = list(built.server.sent)
        assert len(sent) == 60 and len({m["text"] for m in sent}) == 60
        for chat in chats:
            assert [m["text"] for m in sent if m["chat_id"] == chat] == [
                f"message {n} pour {chat}" for n in range(3)
            ], "in order"
        assert statuses(built.chats) == {"sent": 60}
    finally:
        await app.shutdown()
        store.close()
        await asyncio.to_thread(built.server.stop)


async def test_a_shared_picture_is_uploaded_once_then_sent_by_file_id(rig: Rig) -> None:
    from bot.delivery import media_payload

    png = b"\x89PNG\r\n\x1a\n" + b"0" * 200
    rig.chats.put_media("chart-1", png, utcnow())
    for chat_id in (31, 32, 33):
        rig.chat(chat_id)
        Outbox(rig.chats.store).enqueue(
            [
                {
                    "chat_id": chat_id,
                    "kind": "chart",
                    "dedup_key": f"c:{chat_id}",
                    "payload": media_payload("chart-1", "La semaine"),
                }
            ],
            utcnow(),
        )
    await drain_until_empty(rig.sender(), rig.chats)
    with rig.server.lock:
        photos = [
            c for c in rig.server.calls if c["method"].lower() == "sendphoto" and c["status"] == 200
        ]
    assert len(photos) == 3
    uploads = [c for c in photos if isinstance(c["params"].get("photo"), dict)]
    assert len(uploads) == 1, "uploaded once, then Telegram's file_id"
    assert all(m["photo"] == png for m in rig.server.sent if m["method"].lower() == "sendphoto")
    assert rig.chats.get_media("chart-1")[1] is not None


async def test_story_edits_refused_by_telegram_end_there_and_hold_nothing_back(rig: Rig) -> None:
    """An edit that changes nothing, of a deleted message, or of an alert too old (not even
    asked): each is logged and ended at once, and the chat's next message goes out."""
    from sqlalchemy import update

    from bot.delivery import EDIT_MAX_AGE, edit_payload
    from bot.store.schema import outbox

    rig.chat(31)
    rig.queue(31, "alerte une", "alerte deux", "alerte trois")
    await drain_until_empty(rig.sender(), rig.chats)
    first, second, third = (r["id"] for r in outbox_rows(rig.chats))
    sent = rig.server.sent_to(31)
    await rig.bot.delete_message(31, sent[1]["message_id"])
    # The third alert was sent long ago, as far as the outbox knows.
    with rig.chats.engine.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == third)
            .values(sent_at=utcnow() - EDIT_MAX_AGE - timedelta(minutes=1))
        )
    Outbox(rig.chats.store).enqueue(
        [
            {"chat_id": 31, "kind": "edit", "dedup_key": f"e:{n}", "payload": payload}
            for n, payload in enumerate(
                (
                    edit_payload(first, "alerte une"),  # not modified
                    edit_payload(second, "alerte deux, aussi dans : B"),  # deleted
                    edit_payload(third, "alerte trois, aussi dans : B"),  # too old
                    edit_payload(first, "alerte une, aussi dans : B"),
                )
            )
        ],
        utcnow(),
    )
    rig.queue(31, "la suite")
    await drain_until_empty(rig.sender(), rig.chats)
    rows = outbox_rows(rig.chats)
    assert [r["status"] for r in rows[3:]] == ["dead", "dead", "dead", "sent", "sent"]
    assert "not modified" in rows[3]["last_error"]
    assert "message to edit not found" in rows[4]["last_error"].lower()
    assert rows[5]["last_error"] == "nothing to edit: the alert is too old"
    assert rig.delivered(31)[-1] == "la suite"
    with rig.server.lock:
        edits = list(rig.server.edits)
        asked = [c["method"] for c in rig.server.calls if c["method"] == "editMessageText"]
    assert [e["plain_text"] for e in edits] == ["alerte une, aussi dans : B"]
    assert len(asked) == 3, "the too-old edit never reached Telegram; none was retried"
