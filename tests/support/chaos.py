"""The kill campaign: `veille run` as a real process against a loopback feed server and the
loopback Bot API, killed (-9) or stopped (SIGTERM) during polls and during delivery.

Counts what a user would notice: AI stories whose alert never arrived (lost), alerts or
messages that arrived twice (duplicated), processes left behind by a killed service
(orphans), and how long delivery stood still after a restart (stall seconds).
Used by bench/chaos.py (JSON) and tests/test_chaos.py (a short campaign in `make test`).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

from tests.support.botapi import BotAPIServer
from tests.support.feedserver import FeedServer, Route

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "424242:CHAOS-token"
FIRST_CHAT = 10_000  # feed n's alerts go to chat FIRST_CHAT + n (keyword chaosfeed<n>)
REGIONS = ("Bretagne", "Occitanie", "Normandie", "Grand Est", "Hauts-de-France")


def feed_body(feed: int, items: int) -> bytes:
    """An RSS feed of `items` AI articles (unique titles), published now."""
    now = format_datetime(datetime.now(UTC))
    entries = []
    for k in range(items):
        region = REGIONS[(feed + k) % len(REGIONS)]
        title = (
            f"Intelligence artificielle : la Région {region} finance le projet IA "
            f"Chaosfeed{feed} numéro {k}"
        )
        entries.append(
            f"<item><title>{escape(title)}</title>"
            f"<link>https://chaos.example/{feed}/{k}</link><guid>chaos-{feed}-{k}</guid>"
            f"<pubDate>{now}</pubDate><description>{escape(title)}. Un appel à projets en "
            "intelligence artificielle et données pour les start-up et laboratoires de la "
            "région, avec un financement de la Région.</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Chaos</title>'
        f"<link>https://chaos.example/</link>{''.join(entries)}</channel></rss>"
    ).encode()


def descendants(pid: int) -> set[int]:
    """Every live process under pid (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True for a running (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Counts:
    """What one phase of the campaign counted."""

    kills: int = 0
    sigterms: int = 0
    expected: int = 0
    lost: int = 0
    duplicated: int = 0
    queued_twice: int = 0  # a story's alert queued twice for one chat (never allowed)
    orphans: int = 0
    stall_seconds: float = 0.0
    stop_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0
    # Per kill, the most sends the killed process had under way (its log says so when more than
    # one): Telegram has no idempotency key, so these are what a kill may send twice.
    under_way_at_kills: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "kills": self.kills,
            "sigterms": self.sigterms,
            "expected": self.expected,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "orphans": self.orphans,
            "stall_seconds": round(self.stall_seconds, 2),
            "max_stop_seconds": round(max(self.stop_seconds, default=0.0), 2),
            "seconds": round(self.seconds, 1),
            "under_way_at_kills": self.under_way_at_kills,
        }


class Campaign:
    """One state folder, one feed server, one Bot API; runs and kills `veille run`."""

    def __init__(self, workdir: Path, models: Path, *, feeds: int, items: int = 3) -> None:
        self.workdir = workdir
        self.state = workdir / "state"
        self.state.mkdir(parents=True, exist_ok=True)
        if not (self.state / "models").exists():
            os.symlink(models, self.state / "models")
        self.db = self.state / "veille.db"
        self.feeds = feeds
        self.items = items
        self.api = BotAPIServer(token=TOKEN, enforce_limits=False)
        self.server = FeedServer()
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.leftovers: set[int] = set()

    def __enter__(self) -> Campaign:
        self.api.start()
        self.server.start()
        lines = ["feeds:"]
        for n in range(self.feeds):
            url = self.server.add(f"/f/{n}.xml", Route(body=feed_body(n, self.items)))
            lines.append(f"  - id: chaos-{n}\n    name: Chaos {n}\n    url: {url}")
        self.feeds_file = self.workdir / "feeds.yaml"
        self.feeds_file.write_text("\n".join(lines) + "\n" if self.feeds else "feeds: []\n")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_service(signal.SIGKILL)
        for pid in self.leftovers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.server.stop()
        self.api.stop()

    # ---- the service ----------------------------------------------------------------

    def start_service(self, **env: str) -> None:
        """Start `veille run --role all` (its log in workdir/run-N.log)."""
        self.runs += 1
        environ = {
            **os.environ,
            "VEILLE_STATE_DIR": str(self.state),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": self.api.base_url,
            "VEILLE_POLL_TICK_SECONDS": "1",
            "VEILLE_PARSE_WORKERS": "2",
            "VEILLE_CONCURRENCY": "4",
            "VEILLE_PER_HOST": "4",
            "VEILLE_LOG_LEVEL": "INFO",
            **env,
        }
        environ.pop("VEILLE_METRICS_PORT", None)
        self.log = self.workdir / f"run-{self.runs}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--feeds", str(self.feeds_file)],
                env=environ,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop_service(self, sig: int) -> float:
        """Send sig; seconds until the process ended (SIGKILL: immediate)."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        return time.monotonic() - started

    def kill9(self) -> int:
        """kill -9 the service; how many of its processes outlive it by 5 s (orphans)."""
        assert self.proc is not None
        family = descendants(self.proc.pid)
        self.stop_service(signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(p) for p in family):
            time.sleep(0.1)
        left = {p for p in family if alive(p)}
        self.leftovers |= left
        return len(left)

    def accepted_unrecorded(self) -> int:
        """Messages Telegram accepted whose outbox row still says not sent (read just after a
        kill -9): the process died between the answer and its record, so the next run sends
        them again. Telegram has no idempotency key; these are the only re-sends allowed."""
        sent = {(m["chat_id"], m["text"]) for m in self.sent() if m["text"]}
        rows = self.query(
            "SELECT chat_id, json_extract(payload, '$.text') FROM outbox "
            "WHERE status != 'sent' AND json_extract(payload, '$.method') = 'sendMessage'"
        )
        return sum(1 for chat, text in rows if (chat, text) in sent)

    def most_under_way(self) -> int:
        """The most sends the current run had under way at once (1 unless its log says more)."""
        found = re.findall(r"sends under way=(\d+)", self.log.read_text(errors="replace"))
        return max([1, *(int(n) for n in found)])

    def wait_log(self, text: str, timeout: float) -> float:
        """Wait until the current run's log contains text; the time it was seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return time.monotonic()
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"veille exited:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} within {timeout} s:\n{self.log.read_text()[-3000:]}")

    # ---- the database -----------------------------------------------------------------

    def query(self, sql: str, *params: Any) -> list[Any]:
        """Rows of a read-only query ([] while the database is not there)."""
        if not self.db.exists():
            return []
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as conn:
                return list(conn.execute(sql, params).fetchall())
        except sqlite3.Error:
            return []

    def count(self, sql: str) -> int:
        """The integer a count query answers (0 while unavailable)."""
        rows = self.query(sql)
        return int(rows[0][0]) if rows else 0

    def subscribe(self) -> None:
        """One alert chat per feed, by keyword: no chat gets more than a feed's few items at
        once, so the per-chat alert cap never decides what arrives."""
        from bot.query.parse import parse
        from bot.store.alerts import AlertStore
        from bot.store.chats import ChatStore
        from bot.store.repo import Store
        from classifiers.gazetteer import Gazetteer

        now = datetime.now(UTC)
        store = Store.open(f"sqlite:///{self.db}", migrate_schema=False)
        try:
            chats, profiles, places = ChatStore(store), AlertStore(store), Gazetteer.load()
            for n in range(self.feeds):
                chat, text = FIRST_CHAT + n, f"chaosfeed{n}"
                chats.ensure_chat(chat, type="private", title=None, language="fr", now=now)
                query = parse(text, places, now=now)
                profiles.create(
                    chat, name=text, text=text, query=query, frequency="instant", now=now
                )
        finally:
            store.close()

    def queue_messages(self, n: int, chats: int) -> None:
        """n outbox messages over `chats` chats, due now (the delivery phase's load)."""
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
        with sqlite3.connect(self.db, timeout=30) as conn:
            conn.executemany(
                "INSERT INTO outbox (chat_id, kind, dedup_key, payload, status, attempts, "
                "maybe_sent, not_before, created_at) VALUES (?, 'reply', ?, ?, 'pending', 0, 0, "
                "?, ?)",
                [
                    (
                        2000 + i % chats,
                        f"chaos:{i}",
                        json.dumps({"method": "sendMessage", "text": f"chaos-{i:05d}"}),
                        now,
                        now,
                    )
                    for i in range(n)
                ],
            )

    def ai_items(self) -> list[tuple[int, int, str]]:
        """(chat, story, title) of every stored item the tagger found about AI: each story must
        be alerted (once: items of one story share an alert). An item without a story is its
        own (a negative id)."""
        rows = self.query(
            "SELECT i.feed_id, coalesce(i.story_id, -i.id), i.title FROM items i "
            "JOIN item_tags t ON t.item_id = i.id WHERE t.topic_ai = 1"
        )
        return [
            (FIRST_CHAT + int(feed.removeprefix("chaos-")), story, title)
            for feed, story, title in rows
        ]

    def sent(self) -> list[dict[str, Any]]:
        """Messages the Bot API accepted."""
        with self.api.lock:
            return list(self.api.sent)


def until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll condition until truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def poll_phase(camp: Campaign, *, kills: int, sigterms: int, seed: int = 1) -> Counts:
    """Kill -9 (then SIGTERM) the service at random moments while it polls; then let it
    finish and count the AI stories never alerted, and alerts received twice."""
    rng = random.Random(seed)
    counts = Counts()
    started = time.monotonic()
    total = camp.feeds * camp.items
    camp.start_service()
    until(lambda: camp.db.exists() and camp.count("SELECT count(*) FROM feeds"), 300, "the db")
    camp.subscribe()
    for n in range(kills + sigterms):
        stored = camp.count("SELECT count(*) FROM items")
        if stored >= total:
            break
        # Strike once this run has stored something more, at a random moment after.
        until(lambda s=stored: camp.count("SELECT count(*) FROM items") > s, 400, "new items")
        time.sleep(rng.uniform(0.0, 1.5))
        if n < kills:
            counts.orphans += camp.kill9()
            counts.kills += 1
            counts.under_way_at_kills.append(camp.accepted_unrecorded())
        else:
            counts.stop_seconds.append(camp.stop_service(signal.SIGTERM))
            counts.sigterms += 1
        camp.start_service()
    until(lambda: camp.count("SELECT count(*) FROM items") >= total, 300, "every item stored")
    until(
        lambda: camp.count("SELECT count(*) FROM items WHERE alerts_queued_at IS NULL") == 0,
        300,
        "every item tagged and its alerts queued",
    )
    titles: dict[tuple[int, int], list[str]] = {}
    for chat, story, title in camp.ai_items():
        titles.setdefault((chat, story), []).append(escape(title))
    expected = list(titles)

    def delivered() -> Counter[tuple[int, int]]:
        by_chat: dict[int, list[str]] = {}
        for m in camp.sent():
            by_chat.setdefault(m["chat_id"], []).append(m["text"] or "")
        return Counter(
            key
            for key, names in titles.items()
            for text in by_chat.get(key[0], [])
            if any(name in text for name in names)
        )

    until(lambda: len(delivered()) >= len(expected), 300, "every alert delivered")
    got = delivered()
    # The alerts the service queued for each story: one, or more when a late item merged
    # stories whose alerts had already gone out (each half's alert is kept: bot/story_alerts.py).
    # A story received more often than that arrived twice.
    queued: Counter[tuple[int, int]] = Counter()
    for chat, payload in camp.query("SELECT chat_id, payload FROM outbox WHERE kind = 'alert'"):
        text = json.loads(payload).get("text", "")
        for key, names in titles.items():
            if key[0] == chat and any(name in text for name in names):
                queued[key] += 1
    # Each queued alert names its story: one chat, one story, one alert (a merge repoints or
    # keeps the halves' alerts, each under its own story).
    counts.queued_twice = len(
        camp.query(
            "SELECT chat_id, story_id FROM outbox WHERE kind = 'alert' AND story_id IS NOT NULL"
            " GROUP BY chat_id, story_id HAVING count(*) > 1"
        )
    )
    counts.expected = len(expected)
    counts.lost = sum(1 for key in expected if got[key] == 0)
    counts.duplicated = sum(max(0, n - max(1, queued[key])) for key, n in got.items())
    counts.stop_seconds.append(camp.stop_service(signal.SIGTERM))
    counts.seconds = time.monotonic() - started
    return counts


def delivery_phase(camp: Campaign, *, messages: int, chats: int, kills: int) -> Counts:
    """Queue messages, then kill -9 the service while it sends; count what never arrived,
    what arrived twice, and how long sending stood still after each restart."""
    counts = Counts()
    started = time.monotonic()
    until(lambda: camp.db.exists(), 60, "the db")
    camp.queue_messages(messages, chats)

    def arrived() -> int:
        return sum(1 for m in camp.sent() if (m["text"] or "").startswith("chaos-"))

    camp.start_service(VEILLE_TAGGING="off")  # nothing to tag: a faster start
    stalls = []
    for _ in range(kills):
        before = arrived()
        until(lambda b=before: arrived() >= b + max(5, messages // (3 * kills)), 400, "sending")
        counts.orphans += camp.kill9()
        counts.kills += 1
        counts.under_way_at_kills.append(camp.most_under_way())
        camp.start_service(VEILLE_TAGGING="off")
        ready = camp.wait_log("telegram started", 300)
        now_arrived = arrived()
        until(lambda b=now_arrived: arrived() > b, 120, "sending after the restart")
        stalls.append(time.monotonic() - ready)
    until(
        lambda: (
            len({m["text"] for m in camp.sent() if (m["text"] or "").startswith("chaos-")})
            >= messages
        ),
        300,
        "every message",
    )
    texts = Counter(m["text"] for m in camp.sent() if (m["text"] or "").startswith("chaos-"))
    counts.expected = messages
    counts.lost = messages - len(texts)
    counts.duplicated = sum(n - 1 for n in texts.values())
    counts.stall_seconds = max(stalls, default=0.0)
    counts.stop_seconds.append(camp.stop_service(signal.SIGTERM))
    counts.seconds = time.monotonic() - started
    return counts
