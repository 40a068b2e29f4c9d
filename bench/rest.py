"""Memory of `veille run` at rest: every process of the service, after an hour-equivalent of polls.

Prints one JSON object. A loopback server (a process of its own) serves F feeds of 20 items with
ETag and 304; before each round it publishes one new item in every `--changing`-th feed, then
every feed is made due (Store.force_due) and the round ends when every feed has been checked
again. `veille run` (role all, Telegram off, tagging on, SQLite) runs in its own process tree;
the summed RSS of that tree (the service, its parse/tag workers, the forkserver and resource
tracker) is sampled every 0.2 s. Default: 100 feeds, 60 rounds (one a minute for an hour,
played back to back), a quarter of the feeds changing each round.

Figures: `rss_mb_after_polls` (the last round just done, workers still up),
`rss_mb_at_rest` (after the pool's idle time, VEILLE_WORKER_IDLE_SECONDS, here 10 s: its
workers gone), `peak_rss_mb`, and per process at both moments.

    .venv/bin/python bench/rest.py
    .venv/bin/python bench/rest.py --feeds 100 --rounds 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.poll import (  # noqa: E402 - after the path is set
    PeakRss,
    _description,
    _sentence,
    process_tree,
    rss,
    start_veille,
    write_feeds,
)

ITEMS = 20
IDLE_SECONDS = 10


def make_feed(feed: int, newest: int, now: datetime) -> bytes:
    """Feed `feed` when its newest item is number `newest` (the ITEMS latest items)."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>Source {feed}</title><link>https://source{feed}.example.org/</link>",
        "<language>fr</language>",
    ]
    for j in range(newest, max(-1, newest - ITEMS), -1):
        rng = random.Random(feed * 100_000 + j)
        title = f"{_sentence(rng, 4)} {_sentence(rng, 6).lower()} n°{feed}-{j}"
        out.append(
            f"<item><title>{escape(title)}</title>"
            f"<link>https://source{feed}.example.org/articles/{j}</link>"
            f'<guid isPermaLink="false">source-{feed}-item-{j}</guid>'
            f"<pubDate>{format_datetime(now - timedelta(minutes=newest - j))}</pubDate>"
            f"<description>{escape(_description(rng, feed, j))}</description></item>"
        )
    out.append("</channel></rss>")
    return "\n".join(out).encode("utf-8")


def serve(feeds: int, ready: Any) -> None:
    """The feed server process: /feed/N.xml with ETag and 304; POST /advance?every=K publishes
    one item in every K-th feed."""
    from aiohttp import web

    newest = dict.fromkeys(range(feeds), ITEMS - 1)
    cache: dict[int, tuple[bytes, str]] = {}

    def doc(n: int) -> tuple[bytes, str]:
        if n not in cache:
            cache[n] = (make_feed(n, newest[n], datetime.now(UTC)), f'"{n}-{newest[n]}"')
        return cache[n]

    async def feed(request: web.Request) -> web.Response:
        try:
            n = int(request.match_info["name"].removesuffix(".xml"))
            body, tag = doc(n)
        except (ValueError, KeyError):
            return web.Response(status=404)
        if request.headers.get("If-None-Match") == tag:
            return web.Response(status=304, headers={"ETag": tag})
        return web.Response(body=body, headers={"Content-Type": "application/rss+xml", "ETag": tag})

    async def advance(request: web.Request) -> web.Response:
        every = int(request.query.get("every", "4"))
        start = int(request.query.get("round", "0")) % every
        for n in range(start, feeds, every):
            newest[n] += 1
            cache.pop(n, None)
        return web.Response(text="ok")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{name}", feed)
        app.router.add_post("/advance", advance)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ready.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def feed_server(feeds: int) -> Iterator[int]:
    """serve() in a process of its own; yields its port."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    proc = ctx.Process(target=serve, args=(feeds, ready), daemon=True)
    proc.start()
    try:
        yield ready.get(timeout=120)
    finally:
        proc.terminate()
        proc.join(10)


def tree(root: int) -> dict[int, tuple[str, int]]:
    """Each process of root's tree: (command, resident bytes)."""
    out: dict[int, tuple[str, int]] = {}
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            out[pid] = (cmd[:80].strip(), rss(pid))
    return out


def snapshot(root: int) -> dict[str, Any]:
    """Summed RSS of the tree and each process's, in MB."""
    procs = tree(root)
    return {
        "rss_mb": round(sum(r for _, r in procs.values()) / 2**20, 1),
        "processes": sorted(
            ({"command": c, "rss_mb": round(r / 2**20, 1)} for c, r in procs.values()),
            key=lambda p: -p["rss_mb"],
        ),
    }


def checked_since(db: Path, mark: datetime) -> int:
    """Feeds whose last check is at or after mark (stored as naive UTC text on SQLite)."""
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM feeds WHERE last_checked_at >= ?",
            (mark.strftime("%Y-%m-%d %H:%M:%S.%f"),),
        ).fetchone()
    return int(row[0])


def main(argv: list[str] | None = None) -> None:
    """Run the bench and print JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--changing", type=int, default=4, help="one feed in N gains an item per round")
    ap.add_argument("--timeout", type=float, default=300, help="seconds allowed per round")
    args = ap.parse_args(argv)

    import httpx

    from bot.store.repo import Store
    from classifiers.train import load_or_train

    models = ROOT / "state" / "models"
    load_or_train(models)  # trained beforehand: training is not resting
    with feed_server(args.feeds) as port, tempfile.TemporaryDirectory(prefix="veille-rest-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        (state / "models").symlink_to(models)
        feeds_file = Path(tmp) / "feeds.yaml"
        write_feeds(feeds_file, port, args.feeds, prefix="rest")
        env = {
            **os.environ,
            "VEILLE_STATE_DIR": str(state),
            "VEILLE_TAGGING": "on",
            "VEILLE_POLL_TICK_SECONDS": "1",
            "VEILLE_WORKER_IDLE_SECONDS": str(IDLE_SECONDS),
        }
        for name in ("TELEGRAM_BOT_TOKEN", "VEILLE_METRICS_PORT", "VEILLE_DATABASE_URL"):
            env.pop(name, None)
        env.pop("VEILLE_WEB_PORT", None)
        log = Path(tmp) / "veille.log"
        proc = start_veille(["--feeds", str(feeds_file), "--log-level", "INFO"], env, log)
        sampler = PeakRss(proc.pid, every=0.2)
        sampler.start()
        db = state / "veille.db"
        try:
            deadline = time.monotonic() + 300
            while "service started" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("veille run did not start:\n" + log.read_text()[-3000:])
                time.sleep(0.2)
            store = Store.open(f"sqlite:///{db}")
            started = time.perf_counter()
            for n in range(args.rounds):
                httpx.post(
                    f"http://127.0.0.1:{port}/advance",
                    params={"every": args.changing, "round": n},
                )
                mark = datetime.now(UTC)
                store.force_due(mark)
                deadline = time.monotonic() + args.timeout
                while checked_since(db, mark) < args.feeds:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"round {n} did not end:\n" + log.read_text()[-3000:])
                    time.sleep(0.2)
            polling = time.perf_counter() - started
            after = snapshot(proc.pid)
            time.sleep(IDLE_SECONDS + 5)
            rest = snapshot(proc.pid)
            with contextlib.closing(sqlite3.connect(db)) as conn:
                items, untagged = conn.execute(
                    "SELECT count(*), count(*) - count(tagged_at) FROM items"
                ).fetchone()
            store.close()
        finally:
            sampler.stop()
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait(10)
    print(
        json.dumps(
            {
                "feeds": args.feeds,
                "rounds": args.rounds,
                "polling_seconds": round(polling, 1),
                "items_stored": items,
                "items_untagged": untagged,
                "rss_mb_after_polls": after["rss_mb"],
                "rss_mb_at_rest": rest["rss_mb"],
                "peak_rss_mb": round(sampler.peak / 2**20, 1),
                "processes_after_polls": after["processes"],
                "processes_at_rest": rest["processes"],
                "worker_idle_seconds": IDLE_SECONDS,
                "exit_code": code,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
