"""The service under faults: parse workers after a kill -9, Telegram unreachable at start,
alerts a dead poller never queued, reused update ids, listening addresses."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.config import Settings
from bot.metrics import MetricsServer
from bot.query.parse import parse
from bot.runner import _alert_new, _catch_up, _Telegram, run_service
from bot.service import Runtime
from bot.store.alerts import AlertStore
from bot.store.chats import ChatStore
from bot.store.repo import Store
from bot.store.stories import StoryStore
from bot.telegram_app.handlers import Handlers
from classifiers.gazetteer import Gazetteer
from tests.conftest import feed_config, rss
from tests.conftest_bot import Spec, add_items, gazetteer, outbox_rows
from tests.support.botapi import BotAPIServer
from tests.support.feedserver import FeedServer, Route

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[1]

POOL_SCRIPT = """
import json, multiprocessing.forkserver as fs, multiprocessing.resource_tracker as rt, sys, time
from bot.feeds.workers import make_parse_pool

pool = make_parse_pool(2)
list(pool.map(time.sleep, [0.5, 0.5]))  # both workers up
pids = pool.processes + [fs._forkserver._forkserver_pid, rt._resource_tracker._pid]
print(json.dumps(pids), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_parse_workers_exit_when_the_service_is_killed() -> None:
    """kill -9 the process that owns the pool: its workers, the forkserver and the resource
    tracker are gone within seconds (they used to live on, 80-240 MB each)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", POOL_SCRIPT], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    pids: list[int] = []
    try:
        pids = [p for p in json.loads(proc.stdout.readline()) if p]
        assert len(pids) == 4 and all(_alive(p) for p in pids), pids
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if _alive(p)]
    for pid in left:  # do not leak them into the rest of the run
        subprocess.run(["kill", "-9", str(pid)], check=False)
    assert left == [], "orphans"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_telegram_unreachable_at_start_polls_meanwhile_then_connects(
    tmp_path: Path, make_settings: Callable[..., Settings], feed_server: FeedServer
) -> None:
    port = _closed_port()
    token = "555:UNREACHABLE-token"
    url = feed_server.add("/a.xml", Route(body=rss(("IA en Bretagne", "https://x.example/1"))))
    settings = make_settings(
        TELEGRAM_BOT_TOKEN=token,
        TELEGRAM_API_URL=f"http://127.0.0.1:{port}/bot",
        VEILLE_POLL_TICK_SECONDS="1",
    )
    rt = Runtime.open(settings, with_feeds=False)
    rt.store.sync_feeds([feed_config("a", url)], rt.clock())
    stop = asyncio.Event()
    service = asyncio.create_task(run_service(rt, stop=stop, tag=False))
    api = BotAPIServer(token=token, port=port)
    try:
        for _ in range(200):
            await asyncio.sleep(0.1)
            assert not service.done(), service.exception()
            if rt.store.count_items():
                break
        assert rt.store.count_items() == 1, "polling goes on while Telegram is unreachable"
        await asyncio.to_thread(api.start)
        await api.await_until(lambda: api.calls_to("getMe"), timeout=30)
        await api.await_until(lambda: api.calls_to("getUpdates"), timeout=30)
        assert not service.done()
    finally:
        stop.set()
        await asyncio.wait_for(service, 30)
        await asyncio.to_thread(api.stop)
        rt.close()


async def test_the_catch_up_queues_alerts_a_dead_poller_never_queued(
    make_settings: Callable[..., Settings],
) -> None:
    """Items stored and tagged, then the poller died before queueing their alerts."""
    now = datetime.now(UTC)
    rt = Runtime.open(make_settings(), with_feeds=False, clock=lambda: now)
    try:
        ids = add_items(
            rt.store,
            [Spec("Un fonds IA pour la Bretagne", now, regions=("Bretagne",))],
            now,
        )
        chats = ChatStore(rt.store)
        chats.ensure_chat(42, type="private", title=None, language="fr", now=now)
        AlertStore(rt.store).create(
            42,
            name="Bretagne",
            text="Bretagne",
            query=parse("Bretagne", Gazetteer.load(), now=now),
            frequency="instant",
            now=now,
        )
        tg = _Telegram()
        async with rt.poller(tag=False, alert_new=_alert_new(rt, tg)) as poller:
            await _catch_up(rt, poller, tg)()
            await _catch_up(rt, poller, tg)()  # once only
        rows = outbox_rows(chats)
        # The catch-up puts the item into a story first: its alert is the story's.
        story = StoryStore(rt.store).story_of(ids)[ids[0]]
        assert [r["dedup_key"] for r in rows] == [f"alert:42:s{story}"]
    finally:
        rt.close()


def _update(bot: Any, update_id: int, message_id: int, when: datetime) -> Update:
    return Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": message_id,
                "date": int(when.timestamp()),
                "chat": {"id": 77, "type": "private"},
                "from": {"id": 77, "is_bot": False, "first_name": "A"},
                "text": "/help",
            },
        },
        bot,
    )


async def test_a_reused_update_id_does_not_swallow_a_reply(
    make_settings: Callable[..., Settings],
) -> None:
    """Telegram restarts update ids after a week without updates: a reply to a new message
    with an old update id is still sent (and the same update handled twice, once)."""
    from bot.commands.reply import Reply

    rt = Runtime.open(make_settings(), with_feeds=False)
    rt._gazetteer = gazetteer()
    try:
        chats = ChatStore(rt.store)
        handlers = Handlers(rt, chats, None)
        last_week = datetime.now(UTC) - timedelta(days=8)
        first = _update(None, 1000, 1, last_week)
        await handlers._send(first, Reply(("première",)))
        await handlers._send(first, Reply(("première",)))  # the same update again
        await handlers._send(_update(None, 1000, 2, datetime.now(UTC)), Reply(("seconde",)))
        assert [r["payload"]["text"] for r in outbox_rows(chats)] == ["première", "seconde"]
    finally:
        rt.close()


async def test_metrics_listen_on_loopback_unless_told(
    store: Store, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    assert (settings.metrics_host, settings.webhook_listen) == ("127.0.0.1", "127.0.0.1")
    port = _closed_port()
    server = MetricsServer(store, port, settings.metrics_host)
    await server.start()
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.2", port)  # another address of this host
    finally:
        await server.stop()
    open_settings = make_settings(VEILLE_METRICS_HOST="0.0.0.0", VEILLE_WEBHOOK_LISTEN="::")
    assert (open_settings.metrics_host, open_settings.webhook_listen) == ("0.0.0.0", "::")
