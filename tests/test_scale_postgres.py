"""Several `veille run` processes on one PostgreSQL: 3 pollers and 2 senders, one of each killed.

Real processes (`python -m bot run --role poller|sender`), a loopback feed server whose every
answer takes a moment (so the run lasts long enough to kill mid-run), and the loopback Bot API
server enforcing Telegram's limits. One poller is frozen (SIGSTOP) while it holds leased feeds,
its leases are read, then it is SIGKILLed; the leading sender is SIGKILLed while messages go
out. The survivors must take over: every feed polled, no item stored twice, no feed fetched
twice except the killed poller's, every message delivered once (at most one re-send for the
killed sender), no 429 (the senders share the bot's one rate budget).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import text

from bot.config import load_feeds
from bot.delivery import message_payload
from bot.store.chats import ChatStore
from bot.store.leases import owner_name
from bot.store.outbox import Outbox
from bot.store.repo import Store
from tests.support.botapi import BotAPIServer
from tests.support.postgres import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "424242:SCALE-token-must-never-be-logged"
FEEDS = 150
ITEMS = 5
CHATS = 100
MESSAGES = 300
FETCH_DELAY = 0.4  # seconds per feed request: a round lasts several seconds
LEASE_SECONDS = 5


class SlowFeeds:
    """Serves FEEDS small RSS feeds on 127.0.0.1, each answer after FETCH_DELAY; counts fetches,
    and fetches of a feed that start while another fetch of it is still being answered."""

    def __init__(self) -> None:
        now = datetime.now(UTC)
        self.bodies = {f"/feed/{n}.xml": _rss(n, now) for n in range(FEEDS)}
        self.hits: Counter[str] = Counter()
        self.overlaps: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        body = self.bodies.get(request.path)
        if body is None:
            return web.Response(status=404)
        self.hits[request.path] += 1
        if self._in_flight[request.path]:
            self.overlaps[request.path] += 1
        self._in_flight[request.path] += 1
        try:
            await asyncio.sleep(FETCH_DELAY)
        finally:
            self._in_flight[request.path] -= 1
        return web.Response(body=body, content_type="application/rss+xml", charset="utf-8")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/feed/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def __enter__(self) -> SlowFeeds:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        """Fetch counts and overlapping fetches, copied on the server's own loop."""
        return asyncio.run_coroutine_threadsafe(self._copy(), self._loop).result(10)

    async def _copy(self) -> tuple[dict[str, int], dict[str, int]]:
        return dict(self.hits), dict(self.overlaps)


def _rss(n: int, now: datetime) -> bytes:
    entries = "".join(
        f"<item><title>Source {n} : annonce numéro {j} sur l'intelligence artificielle</title>"
        f"<link>https://source{n}.example.org/articles/{j}</link><guid>s{n}-i{j}</guid>"
        f"<pubDate>{format_datetime(now - timedelta(hours=j))}</pubDate>"
        f"<description>La région finance un projet {n}-{j} de données et d'IA.</description></item>"
        for j in range(ITEMS)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Source {n}'
        f"</title><link>https://source{n}.example.org/</link>{entries}</channel></rss>"
    ).encode()


class Fleet:
    """The `veille run` processes of the test, each with its stderr in a file."""

    def __init__(self, tmp: Path, env: dict[str, str], feeds_file: Path) -> None:
        self.tmp, self.env, self.feeds_file = tmp, env, feeds_file
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, role: str) -> subprocess.Popen[bytes]:
        with (self.tmp / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bot",
                    "run",
                    "--role",
                    role,
                    "--feeds",
                    str(self.feeds_file),
                    "--log-level",
                    "INFO",
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs[name] = proc
        return proc

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.returncode is None and proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")

    def log(self, name: str) -> str:
        return self.full_log(name)[-4000:]

    def full_log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def kill_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Callable[[dict[str, str], Path], Fleet]]:
    made: list[Fleet] = []

    def build(env: dict[str, str], feeds_file: Path) -> Fleet:
        made.append(Fleet(tmp_path, env, feeds_file))
        return made[-1]

    yield build
    for f in made:
        f.kill_all()


def _wait(what: str, condition: Callable[[], Any], fleet: Fleet, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        fleet.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def _scalar(store: Store, sql: str, **params: Any) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _rows(store: Store, sql: str, **params: Any) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def _freeze_and_kill_a_poller(
    store: Store, fleet: Fleet, names: list[str], timeout: float
) -> tuple[str, set[str]]:
    """SIGSTOP a poller holding leases, read them (frozen, it renews nothing; its leases have at
    least two thirds of a lease left), then SIGKILL it. Returns its name and its leased feeds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fleet.check_alive()
        if not _scalar(store, "SELECT count(*) FROM feeds WHERE last_success_at IS NULL"):
            raise AssertionError("the pollers were done before one could be killed mid-run")
        for name in names:
            proc = fleet.procs[name]
            owner = owner_name("poller", pid=proc.pid)
            if not _scalar(store, "SELECT count(*) FROM feeds WHERE lease_owner = :o", o=owner):
                continue
            os.kill(proc.pid, signal.SIGSTOP)
            held = {
                r[0]
                for r in _rows(
                    store,
                    "SELECT id FROM feeds WHERE lease_owner = :o AND lease_until > now()",
                    o=owner,
                )
            }
            if held:
                proc.kill()
                proc.wait(10)
                return name, held
            os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.1)
    raise AssertionError("no poller was seen holding leases")


@pytest.mark.timeout(300)
def test_pollers_and_senders_share_postgres_and_survive_kills(
    postgres_server: PostgresServer,
    trained_models: Path,
    tmp_path: Path,
    fleet: Callable[[dict[str, str], Path], Fleet],
) -> None:
    started = time.monotonic()
    db_url = postgres_server.new_database(f"scale_{os.getpid()}_{int(time.time())}")
    state = tmp_path / "state"
    shutil.copytree(trained_models, state / "models")
    api = BotAPIServer(token=TOKEN, enforce_limits=True, limit_model="bucket")
    with SlowFeeds() as server, api:
        feeds_file = tmp_path / "feeds.yaml"
        # full_text: never — the items link to hosts that do not exist; this is about polling.
        feeds_file.write_text(
            "feeds:\n"
            + "".join(
                f"  - id: source-{n}\n    name: Source {n}\n    url: http://127.0.0.1:{server.port}/feed/{n}.xml\n"
                "    full_text: never\n"
                for n in range(FEEDS)
            )
        )
        # The database is made ready before the processes start, the outbox filled.
        store = Store.open(db_url)
        now = datetime.now(UTC)
        store.sync_feeds(load_feeds(feeds_file).feeds, now)
        chats = ChatStore(store)
        for c in range(CHATS):
            chats.ensure_chat(1000 + c, type="private", title=None, language="fr", now=now)
        Outbox(store).enqueue(
            [
                {
                    "chat_id": 1000 + i % CHATS,
                    "kind": "reply",
                    "dedup_key": f"scale:{i}",
                    "payload": message_payload(f"msg-{i:04d}"),
                }
                for i in range(MESSAGES)
            ],
            now,
        )

        env = {
            **os.environ,
            "VEILLE_DATABASE_URL": db_url,
            "VEILLE_STATE_DIR": str(state),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": api.base_url,
            "VEILLE_LEASE_SECONDS": str(LEASE_SECONDS),
            "VEILLE_POLL_TICK_SECONDS": "1",
            "VEILLE_PARSE_WORKERS": "1",
            "VEILLE_POLL_BATCH": "12",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("VEILLE_METRICS_PORT", None)
        procs = fleet(env, feeds_file)
        senders = ["sender-0", "sender-1"]
        pollers = ["poller-0", "poller-1", "poller-2"]
        for name in senders:
            procs.start(name, "sender")
        for name in pollers:
            procs.start(name, "poller")

        # Kill the sending sender once messages flow, and a poller while it holds leases.
        _wait("the first messages", lambda: len(api.snapshot()) >= 20, procs, 90)
        leaders = [n for n in senders if "outbox sender leads" in procs.full_log(n)]
        assert len(leaders) == 1, "one sender leads, the other stands by"
        killed_sender = leaders[0]
        procs.procs[killed_sender].kill()
        procs.procs[killed_sender].wait(10)
        standby = next(n for n in senders if n != killed_sender)
        _wait(
            "the other sender to take the lead",
            lambda: "outbox sender leads" in procs.full_log(standby),
            procs,
            60,
        )
        _wait("the first items", lambda: _scalar(store, "SELECT count(*) FROM items"), procs, 120)
        killed_poller, held = _freeze_and_kill_a_poller(store, procs, pollers, 60)

        def done() -> bool:
            feeds_left = _scalar(
                store, "SELECT count(*) FROM feeds WHERE last_success_at IS NULL OR status <> 'ok'"
            )
            outbox_left = _scalar(store, "SELECT count(*) FROM outbox WHERE status <> 'sent'")
            return bool(feeds_left == 0 and outbox_left == 0) and untagged() <= held

        def untagged() -> set[str]:
            # Tagging follows each batch's save: only the killed poller's last batch stays untagged.
            return {
                r[0]
                for r in _rows(store, "SELECT DISTINCT feed_id FROM items WHERE tagged_at IS NULL")
            }

        _wait(
            "every feed polled, every message sent, the survivors' items tagged", done, procs, 120
        )

        # Items: all of them, none twice.
        assert _scalar(store, "SELECT count(*) FROM items") == FEEDS * ITEMS
        assert not _rows(
            store,
            "SELECT feed_id, dedup_key FROM items GROUP BY feed_id, dedup_key HAVING count(*) > 1",
        )
        left_untagged = untagged()
        # Fetches: each feed once, but the killed poller's leased feeds may be fetched once more.
        hits, overlaps = server.snapshot()
        assert set(hits) == set(server.bodies)
        extra = {path: n - 1 for path, n in hits.items() if n > 1}
        held_paths = {f"/feed/{fid.removeprefix('source-')}.xml" for fid in held}
        assert set(extra) <= held_paths, (extra, held_paths)
        assert all(n == 1 for n in extra.values()), extra
        assert set(overlaps) <= held_paths, overlaps
        # Messages: each delivered. One sender leads; killing it re-sends its sends under way,
        # which are only as many as the rate needs: one on a fast API, more when answers are
        # slow (its log says how many, as on a machine this loaded).
        sent = Counter(m["text"] for m in api.snapshot())
        assert set(sent) == {f"msg-{i:04d}" for i in range(MESSAGES)}
        resent = sum(n - 1 for n in sent.values())
        under_way = max(
            [1, *map(int, re.findall(r"sends under way=(\d+)", procs.full_log(killed_sender)))]
        )
        assert max(sent.values()) <= 2, sent.most_common(3)
        assert resent <= under_way, (resent, under_way, sent.most_common(3))
        assert api.received_429 == 0, "two senders, one rate budget"

        # The survivors stop cleanly on SIGTERM.
        killed = {killed_sender, killed_poller}
        survivors = {n: p for n, p in procs.procs.items() if n not in killed}
        for proc in survivors.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in survivors.items():
            try:
                code = proc.wait(30)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} did not stop within 30 s of SIGTERM:\n{procs.log(name)}")
            assert code == 0, f"{name} exited {code}:\n{procs.log(name)}"
        store.close()
    polled: dict[str, int] = {}
    for name in procs.procs:
        log = (tmp_path / f"{name}.log").read_text(errors="replace")
        assert TOKEN not in log and TOKEN.split(":")[1] not in log, name
        if name not in killed:
            for failure in ("job failed", "drain failed", "poll crashed", "feed failed"):
                assert failure not in log, procs.log(name)
        if name.startswith("poller") and name != killed_poller:
            polled[name] = sum(int(n) for n in re.findall(r"poll done feeds=(\d+)", log))
    assert all(polled.values()), f"every surviving poller takes a share: {polled}"
    report = (
        f"scale: {time.monotonic() - started:.0f} s, killed {killed_poller} holding "
        f"{len(held)} feeds ({sum(extra.values())} fetched again), polled by the survivors "
        f"{polled}, {len(left_untagged)} feeds left untagged, "
        f"{resent} message(s) re-sent after killing {killed_sender} (up to {under_way} under way), "
        f"429s {api.received_429}"
    )
    print(report)
