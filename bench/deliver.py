"""Delivery and lookup speed. Prints one JSON object.

- delivery: a weekly digest to N subscribed private chats through the real path: alert
  profiles due now, stored tagged items, enqueue_due_profile_digests (digest + map and chart photos per chat), then
  Sender.drain with the production bot (build_application) against the fake Bot API server
  with Telegram's limits enforced (30/s overall, 1/s per private chat). Reports the sustained
  rate (first to last accepted message), 429s received, messages lost (queued but never
  accepted) and duplicated (accepted twice), comparing server.sent with the outbox.
  The ceiling is Telegram's limit, so the rate is also given as a ratio of 30/s.
- two senders (--two-senders): two `veille run --role sender` processes on one PostgreSQL
  (started on loopback, tests/support/postgres.py) drain one outbox of plain messages to
  private chats; Telegram's limits are the bot's, so together they must stay under them.
  Reports the combined rate, 429s, lost and duplicated, and how many of them led.
- region lookup: ask.region(ctx, "Hauts-de-France") (the query language) timed on a store of 100,000 tagged
  items spread over regions, types and a year of dates.

    .venv/bin/python bench/deliver.py --chats 2000 --items 100000 [--two-senders]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.poll import start_veille
from bot.alerting import enqueue_due_profile_digests
from bot.commands.ask import region
from bot.commands.reply import Ctx
from bot.config import Settings, load_settings
from bot.delivery import Sender, message_payload
from bot.query.model import Query
from bot.service import Runtime
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox
from bot.store.repo import Store
from bot.store.schema import alerts as alerts_table
from bot.store.schema import chats as chats_table
from bot.telegram_app import build_application
from classifiers.taxonomy import REGIONS, TYPES
from tests.conftest_bot import Spec, add_items, gazetteer, outbox_rows
from tests.support.botapi import BotAPIServer
from tests.support.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
TELEGRAM_GLOBAL_RATE = 30.0
WORDS = (
    "intelligence artificielle",
    "numérique",
    "jumeau numérique",
    "données",
    "robotique",
    "cybersécurité",
    "calcul",
    "startup",
    "laboratoire",
    "formation",
    "appel à projets",
)


def _specs(rng: random.Random, n: int, now: datetime, days: float, start: int = 0) -> list[Spec]:
    out = []
    for k in range(start, start + n):
        regions = tuple(rng.sample(REGIONS, rng.choice((1, 1, 1, 2))))
        types = tuple(rng.sample(TYPES, rng.choice((1, 1, 2))))
        title = f"{rng.choice(WORDS).capitalize()} : initiative {k} en {regions[0]} & <co>"
        out.append(
            Spec(
                title,
                now - timedelta(days=rng.random() * days),
                regions,
                types,
                link=f"https://news{k % 40}.example.org/{k}",
                summary=f"Article {k} sur {rng.choice(WORDS)} et {rng.choice(WORDS)}.",
                topic_ai=rng.random() < 0.9,
            )
        )
    return out


def _add_chats(store: Store, n: int, due: datetime, rng: random.Random) -> None:
    rows = [
        {
            "id": 10_000 + k,
            "type": "private",
            "title": None,
            "language": "fr" if k % 5 else "en",
            "timezone": "Europe/Paris",
            "active": True,
            "alerts": False,
            "digest": "off",
            "digest_weekday": 0,
            "digest_hour": 8,
            "created_at": due,
        }
        for k in range(n)
    ]
    profiles = [
        {
            "chat_id": r["id"],
            "name": "alerte",
            "query": " ".join(regions),
            "spec": Query(regions=tuple(regions)).to_json(),
            "frequency": "weekly",
            "hour": 8,
            "weekday": 0,
            "paused": False,
            "next_digest_at": due,
            "created_at": due,
        }
        for r in rows
        for regions in [rng.sample(REGIONS, rng.choice((0, 1, 2, 3)))]
    ]
    with store.engine.begin() as conn:
        conn.execute(chats_table.insert(), rows)
        conn.execute(alerts_table.insert(), profiles)


async def bench_delivery(n_chats: int, workdir: Path) -> dict[str, Any]:
    """A weekly digest to n_chats private chats, drained under enforced limits."""
    rng = random.Random(7)
    server = BotAPIServer(enforce_limits=True)
    await asyncio.to_thread(server.start)
    settings = load_settings(
        {
            "VEILLE_STATE_DIR": str(workdir / "deliver"),
            "TELEGRAM_BOT_TOKEN": server.token,
            "TELEGRAM_API_URL": server.base_url,
        }
    )
    store = Store.open(settings.db_url)
    try:
        now = datetime.now(UTC)
        add_items(store, _specs(rng, 40, now, 10), now)  # a week: about 28 items
        _add_chats(store, n_chats, now - timedelta(minutes=1), rng)
        chats = ChatStore(store)
        t0 = time.perf_counter()
        queued = 0
        while True:  # one call per scheduler tick; each takes at most 500 due chats
            n = await asyncio.to_thread(enqueue_due_profile_digests, store, chats, now)
            if not n:
                break
            queued += n
        enqueue_seconds = time.perf_counter() - t0

        app = build_application(
            Runtime(
                settings=settings,
                store=store,
                clock=lambda: datetime.now(UTC),
                _gazetteer=gazetteer(),
            )
        )
        await app.initialize()
        sender = Sender(app.bot, chats, clock=lambda: datetime.now(UTC), owner="bench")
        received_429 = 0
        t0 = time.perf_counter()
        try:
            while True:
                report = await sender.drain()
                received_429 += report.received_429
                rows = await asyncio.to_thread(outbox_rows, chats)
                if not any(r["status"] in {"pending", "sending"} for r in rows):
                    break
                await asyncio.sleep(0.2)
        finally:
            await app.shutdown()
        drain_seconds = time.perf_counter() - t0

        with server.lock:
            sent = list(server.sent)
            server_429 = server.received_429
        expected = Counter(
            (
                r["chat_id"],
                r["payload"]["method"],
                r["payload"].get("text") or r["payload"].get("caption"),
            )
            for r in rows
        )
        got = Counter((m["chat_id"], m["method"], m["text"] or m["caption"]) for m in sent)
        lost = sum(max(0, n - got[k]) for k, n in expected.items())
        duplicated = sum(max(0, n - expected[k]) for k, n in got.items())
        seconds, rate = _sustained(sent)
        return {
            "chats": n_chats,
            "messages": len(rows),
            "photos": sum(r["kind"] in {"chart", "map"} for r in rows),
            "queued": queued,
            "enqueue_seconds": round(enqueue_seconds, 2),
            "seconds": round(seconds, 2),
            "drain_seconds": round(drain_seconds, 2),
            "messages_per_second": round(rate, 2),
            "ratio_to_telegram_limit": round(rate / TELEGRAM_GLOBAL_RATE, 3),
            "received_429": max(received_429, server_429),
            "lost": lost,
            "duplicated": duplicated,
            "outbox_not_sent": sum(r["status"] != "sent" for r in rows),
        }
    finally:
        store.close()
        await asyncio.to_thread(server.stop)


def _sustained(sent: list[dict[str, Any]]) -> tuple[float, float]:
    """Seconds from the first to the last accepted message, and the rate in between."""
    dates = sorted(m["date"] for m in sent)
    seconds = dates[-1] - dates[0] if len(dates) > 1 else 0.0
    return seconds, (len(sent) - 1) / seconds if seconds else 0.0


def bench_two_senders(n_messages: int, n_chats: int, workdir: Path) -> dict[str, Any]:
    """Two sender processes on one PostgreSQL drain n_messages under the bot's one budget."""
    token = "424242:BENCH-two-senders"
    with PostgresServer() as pg, BotAPIServer(token=token, enforce_limits=True) as api:
        db_url = pg.new_database("deliver_two")
        store = Store.open(db_url)
        now = datetime.now(UTC)
        chats = ChatStore(store)
        for c in range(n_chats):
            chats.ensure_chat(20_000 + c, type="private", title=None, language="fr", now=now)
        Outbox(store).enqueue(
            [
                {
                    "chat_id": 20_000 + i % n_chats,
                    "kind": "reply",
                    "dedup_key": f"bench:{i}",
                    "payload": message_payload(f"bench-{i:05d}"),
                }
                for i in range(n_messages)
            ],
            now,
        )
        env = {
            **os.environ,
            "VEILLE_DATABASE_URL": db_url,
            "VEILLE_STATE_DIR": str(workdir / "two-senders"),
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_URL": api.base_url,
            "VEILLE_TAGGING": "off",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("VEILLE_METRICS_PORT", None)
        logs = [workdir / f"sender-{n}.log" for n in range(2)]
        procs = []
        for log_path in logs:
            procs.append(start_veille(["--role", "sender", "--log-level", "INFO"], env, log_path))
        t0 = time.perf_counter()
        try:
            deadline = time.monotonic() + 60 + 3 * n_messages / TELEGRAM_GLOBAL_RATE
            while time.monotonic() < deadline:
                with store.engine.connect() as conn:
                    left = conn.exec_driver_sql(
                        "SELECT count(*) FROM outbox WHERE status <> 'sent'"
                    ).scalar()
                if not left:
                    break
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"a sender exited: {[p.returncode for p in procs]}")
                time.sleep(0.5)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)
            store.close()
        drain_seconds = time.perf_counter() - t0
        sent = api.snapshot()
        with api.lock:
            received_429 = api.received_429
    got = Counter(m["text"] for m in sent)
    expected = {f"bench-{i:05d}" for i in range(n_messages)}
    seconds, rate = _sustained(sent)
    led = [n for n, path in enumerate(logs) if "outbox sender leads" in path.read_text()]
    return {
        "two_senders_messages": n_messages,
        "two_senders_chats": n_chats,
        "two_senders_seconds": round(seconds, 2),
        "two_senders_drain_seconds": round(drain_seconds, 2),
        "two_senders_messages_per_second": round(rate, 2),
        "two_senders_ratio_to_telegram_limit": round(rate / TELEGRAM_GLOBAL_RATE, 3),
        "two_senders_received_429": received_429,
        "two_senders_lost": len(expected - set(got)),
        "two_senders_duplicated": sum(n - 1 for n in got.values()),
        "two_senders_that_led": len(led),
    }


def bench_region(n_items: int, workdir: Path, repeats: int = 200) -> dict[str, Any]:
    """p50/p95 of /region Hauts-de-France on a store of n_items tagged items."""
    rng = random.Random(11)
    store = Store.open(f"sqlite:///{workdir / 'region' / 'veille.db'}")
    try:
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        batch = 10_000
        for start in range(0, n_items, batch):
            specs = _specs(rng, min(batch, n_items - start), now, 365, start)
            feed = f"feed-{start // batch}"
            add_items(store, specs, now, feed_id=feed, feed_name=f"Source {start // batch}")
        fill_seconds = time.perf_counter() - t0
        ctx = Ctx(
            settings=Settings(),
            store=store,
            chats=ChatStore(store),
            gazetteer=gazetteer(),
            now=now,
            chat_id=1,
        )
        reply = region(ctx, "Hauts-de-France")
        assert "Hauts-de-France" in reply.messages[0] and reply.buttons, reply.text[:200]
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            region(ctx, "Hauts-de-France")
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        return {
            "items": store.count_items(),
            "fill_seconds": round(fill_seconds, 1),
            "region_reply_p50_ms": round(statistics.median(times), 2),
            "region_reply_p95_ms": round(times[int(0.95 * len(times)) - 1], 2),
        }
    finally:
        store.close()


def main() -> None:
    """Run both benchmarks and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--skip-delivery", action="store_true")
    parser.add_argument("--skip-region", action="store_true")
    parser.add_argument(
        "--two-senders", action="store_true", help="also two sender processes on PostgreSQL"
    )
    parser.add_argument("--two-senders-messages", type=int, default=1500)
    args = parser.parse_args()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="veille-bench-") as tmp:
        if not args.skip_region:
            result.update(bench_region(args.items, Path(tmp)))
        if not args.skip_delivery:
            result.update(asyncio.run(bench_delivery(args.chats, Path(tmp))))
        if args.two_senders:
            result.update(bench_two_senders(args.two_senders_messages, 300, Path(tmp)))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
