"""Poll speed: our poller, with tagging, against `feedparser.parse(url)` in a loop and against
the `reader` library, on one loopback server.

Prints one JSON object. The feed server runs in its own process (it competes for the two
cores like any server would, but never for the poller's event loop or GIL) and serves N
synthetic RSS 2.0 feeds of M items, each with about 1 KB of French HTML, with ETag and 304.

- first poll: in a process of its own, Store.open on a fresh SQLite file, sync_feeds, then
  Poller.poll_due() as `veille run` wires it (Runtime.poller: real Fetcher, parse/tag pool,
  tags and alerts queued per feed; `--no-tagging` for the poll alone). Baselines in the same
  run: sequential `feedparser.parse(url)` (urllib, default settings, sanitiser on) timed on a
  sample of the feeds and extrapolated, and reader (lemon24/reader: SQLite, `update_feeds` with
  16 workers), each in a process of its own.
- steady state: a second poll where every feed answers 304 (reader: `scheduled=False`).
- memory: the peak of the summed RSS of each system's process tree (ours: the poller, its
  parse/tag workers, the forkserver), sampled every 0.1 s: `tree_peak_rss_mb` counts a page
  shared by several processes in each of them; `tree_peak_pss_mb` (sum of Pss from
  /proc/PID/smaps_rollup) counts it once, split between them.

    .venv/bin/pip install -e '.[bench]'    # reader (make bench does it)
    .venv/bin/python bench/poll.py --feeds 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAGE = os.sysconf("SC_PAGE_SIZE")
WORDS = """
région Hauts-de-France intelligence artificielle numérique innovation startup agence
laboratoire recherche université Lille Lyon Bordeaux Toulouse Nantes Rennes Grenoble
Montpellier Strasbourg Marseille collectivité données santé industrie énergie transition
écologique mobilité formation compétences emploi entreprises financement appel projets
plateforme modèle algorithme calcul souveraineté cybersécurité robotique agriculture
territoire département métropole conseil régional État européen France 2030 lauréat
démonstrateur partenariat incubateur accélérateur pôle compétitivité école ingénieurs
""".split()  # noqa: SIM905 - prose reads better than 60 quoted words
TITLE_WORDS = (
    "lance",
    "annonce",
    "inaugure",
    "finance",
    "accueille",
    "présente",
    "déploie",
    "renforce",
    "ouvre",
    "signe",
    "soutient",
    "dévoile",
)


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize()


def _description(rng: random.Random, feed: int, item: int) -> str:
    """About 1 KB of HTML: paragraphs, a link, a few entities."""
    parts = [
        f"<p>{_sentence(rng, 14)}&nbsp;: l&#8217;{_sentence(rng, 10).lower()} "
        f"&laquo;&nbsp;{_sentence(rng, 6)}&nbsp;&raquo;.</p>",
        f'<p>{_sentence(rng, 18)}, <a href="https://example.org/dossier/{feed}-{item}">'
        f"voir le dossier</a> &amp; {_sentence(rng, 8).lower()}.</p>",
        f"<p><strong>{_sentence(rng, 5)}</strong> {_sentence(rng, 12).lower()}&hellip;</p>",
        f"<ul><li>{_sentence(rng, 6)}</li><li>{_sentence(rng, 7)}</li></ul>",
    ]
    return "".join(parts)


def make_feed(feed: int, items: int, now: datetime) -> bytes:
    """One RSS 2.0 document with unique guids, links and (mostly) titles."""
    rng = random.Random(feed)
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>Source {feed} — actualités</title><link>https://source{feed}.example.org/</link>",
        "<language>fr</language><description>Flux de démonstration</description>",
    ]
    for j in range(items):
        when = now - timedelta(minutes=17 * j + feed)
        verb = rng.choice(TITLE_WORDS)
        title = f"{_sentence(rng, 3)} {verb} {_sentence(rng, 5).lower()} n°{feed}-{j}"
        out.append(
            f"<item><title>{escape(title)}</title>"
            f"<link>https://source{feed}.example.org/articles/{j}?utm_source=rss&amp;id={j}</link>"
            f'<guid isPermaLink="false">source-{feed}-item-{j}</guid>'
            f"<pubDate>{format_datetime(when)}</pubDate>"
            f"<description>{escape(_description(rng, feed, j))}</description></item>"
        )
    out.append("</channel></rss>")
    return "\n".join(out).encode("utf-8")


def serve(feeds: int, items: int, now_ts: float, ready: Any) -> None:
    """The feed server process: /feed/N.xml with ETag and 304."""
    from aiohttp import web

    now = datetime.fromtimestamp(now_ts, UTC)
    bodies = {f"/feed/{i}.xml": make_feed(i, items, now) for i in range(feeds)}
    etags = {path: '"' + hashlib.md5(body).hexdigest() + '"' for path, body in bodies.items()}

    async def handle(request: web.Request) -> web.Response:
        body = bodies.get(request.path)
        if body is None:
            return web.Response(status=404, text="not found")
        tag = etags[request.path]
        if request.headers.get("If-None-Match") == tag:
            return web.Response(status=304, headers={"ETag": tag})
        return web.Response(
            body=body, headers={"Content-Type": "application/rss+xml; charset=utf-8", "ETag": tag}
        )

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{name}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.put((port, sum(len(b) for b in bodies.values())))
        await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def feed_server(feeds: int, items: int, *, timeout: float) -> Iterator[tuple[int, int]]:
    """serve() in a separate process; yields (port, corpus bytes) and stops it afterwards."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    server = ctx.Process(target=serve, args=(feeds, items, time.time(), ready), daemon=True)
    server.start()
    try:
        port, corpus_bytes = ready.get(timeout=timeout)
        yield port, corpus_bytes
    finally:
        server.terminate()
        server.join(10)


def process_tree(root: int) -> set[int]:
    """The pids of a process and all its descendants (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return tree


def rss(pid: int) -> int:
    """Bytes resident in one process (0 when it is gone)."""
    with contextlib.suppress(OSError):
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return 0


def pss(pid: int) -> int:
    """Bytes of one process's proportional set size: its private pages plus its share of the
    pages it shares with others (0 when it is gone)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def tree_rss(root: int) -> int:
    """Bytes resident in a process and all its descendants (RSS summed, shared pages counted in
    each process: an upper bound)."""
    return sum(rss(pid) for pid in process_tree(root))


class PeakRss:
    """The peak summed RSS of a process tree, sampled by a thread between start() and stop(),
    and the peak summed PSS (`peak_pss`: each shared page counted once across the tree, so
    copy-on-write sharing between a parent and the workers it forked shows).

    On two cores the sampler competes with what it measures: RSS (a read of statm) is sampled
    every `every` seconds; the tree (a walk of /proc) and PSS (smaps_rollup, which makes the
    kernel walk each process's pages) every `slow` samples.
    """

    def __init__(self, pid: int, every: float = 0.1, slow: int = 5) -> None:
        self.pid, self.every, self.slow, self.peak, self.peak_pss = pid, every, slow, 0, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        tree: set[int] = set()
        n = 0
        while not self._done.is_set():
            with contextlib.suppress(Exception):
                if n % self.slow == 0:
                    tree = process_tree(self.pid)
                    self.peak_pss = max(self.peak_pss, sum(pss(pid) for pid in tree))
                self.peak = max(self.peak, sum(rss(pid) for pid in tree))
            n += 1
            time.sleep(self.every)

    def start(self) -> None:
        """Begin sampling."""
        self._thread.start()

    def stop(self) -> None:
        """End sampling; `peak` holds the largest sum seen."""
        self._done.set()
        self._thread.join()


def write_feeds(path: Path, port: int, count: int, prefix: str = "bench") -> None:
    """feeds.yaml for the bench server (full_text: never: the items link nowhere)."""
    path.write_text(
        "feeds:\n"
        + "".join(
            f"  - id: {prefix}-{n}\n    name: {prefix.title()} {n}\n"
            f"    url: http://127.0.0.1:{port}/feed/{n}.xml\n"
            "    full_text: never\n"
            for n in range(count)
        ),
        encoding="utf-8",
    )


def start_veille(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m bot run ARGS` from the project root, its output into log."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "run", *args],
            env=env,
            cwd=Path(__file__).resolve().parents[1],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def in_process(fn: Callable[..., dict[str, Any]], *args: Any, timeout: float) -> dict[str, Any]:
    """Run fn(*args) in a fresh process; its result with `tree_peak_rss_mb`, the peak summed RSS
    of that process and its children."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, fn, args))
    proc.start()
    sampler = PeakRss(proc.pid or 0)
    sampler.start()
    try:
        ok, result = queue.get(timeout=timeout)
    finally:
        sampler.stop()
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    if not ok:
        raise SystemExit(result)
    return {
        **result,
        "tree_peak_rss_mb": round(sampler.peak / 2**20, 1),
        "tree_peak_pss_mb": round(sampler.peak_pss / 2**20, 1),
    }


def _child(queue: Any, fn: Callable[..., dict[str, Any]], args: tuple[Any, ...]) -> None:
    try:
        queue.put((True, fn(*args)))
    except BaseException as exc:
        queue.put((False, f"{fn.__name__} failed: {type(exc).__name__}: {exc}"))


def baseline(urls: list[str]) -> float:
    """Seconds for the naive loop: feedparser fetches and parses each URL, one after another."""
    import feedparser

    started = time.perf_counter()
    for url in urls:
        # feedparser's defaults, spelled out: importing bot.feeds.parser turns them off globally.
        doc = feedparser.parse(url, sanitize_html=True, resolve_relative_uris=True)
        if not doc.entries:
            raise SystemExit(f"baseline got no entries from {url}: {doc.get('bozo_exception')}")
    return time.perf_counter() - started


def with_reader(urls: list[str], workers: int) -> dict[str, Any]:
    """reader's first update of every feed, then a second one (every feed answers 304)."""
    from reader import make_reader

    with tempfile.TemporaryDirectory(prefix="veille-bench-reader-") as tmp:
        reader = make_reader(f"{tmp}/reader.sqlite")
        for url in urls:
            reader.add_feed(url)
        started = time.perf_counter()
        reader.update_feeds(workers=workers)
        first = time.perf_counter() - started
        entries = reader.get_entry_counts().total
        started = time.perf_counter()
        reader.update_feeds(workers=workers, scheduled=False)  # else nothing is due yet
        steady = time.perf_counter() - started
        reader.close()
    return {"first_poll_seconds": first, "steady_state_seconds": steady, "entries": entries}


def ours(urls: list[str], tmp: str, settings: Any) -> dict[str, Any]:
    """First poll and steady-state poll through the path `veille run` takes."""
    return asyncio.run(_ours(urls, tmp, settings))


async def _ours(urls: list[str], tmp: str, settings: Any) -> dict[str, Any]:
    from bot.alerting import enqueue_profile_alerts
    from bot.config import FeedConfig
    from bot.service import Runtime
    from bot.store.chats import ChatStore

    settings = settings.model_copy(update={"database_url": f"sqlite:///{tmp}/bench.db"})
    now = datetime.now(UTC)
    rt = Runtime.open(settings, clock=lambda: now, with_feeds=False)  # time frozen: both polls
    rt.store.sync_feeds(
        [FeedConfig(id=f"bench-{i}", name=f"Bench {i}", url=url) for i, url in enumerate(urls)], now
    )
    chats = ChatStore(rt.store)

    async def alert(ids: Any) -> int:
        return await asyncio.to_thread(enqueue_profile_alerts, rt.store, chats, ids, now)

    try:
        async with rt.poller(alert_new=alert if settings.tagging else None) as poller:
            first = await poller.poll_due()
            stored = rt.store.count_items()
            untagged = len(rt.store.untagged_ids(now + timedelta(days=1), limit=10**9))
            rt.store.force_due(now)
            steady = await poller.poll_due()
    finally:
        rt.close()
    if first.failed or steady.failed:
        errors = dict(list((first.errors | steady.errors).items())[:3])
        raise SystemExit(f"bench feeds failed: {errors}")
    return {
        "first_poll_seconds": first.seconds,
        "steady_state_seconds": steady.seconds,
        "steady_state_not_modified": steady.not_modified,
        "items_stored": stored,
        "items_untagged": untagged,
        "first_poll_new_items": first.new_items,
        # The poller process alone (its workers are children): what it imported shows here.
        "poller_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "poller_imported_scipy": "scipy" in sys.modules,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the bench and print JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=50, help="items per feed")
    ap.add_argument(
        "--baseline-sample",
        type=int,
        default=100,
        help="feeds timed for the sequential baseline (extrapolated per feed)",
    )
    ap.add_argument("--concurrency", type=int, default=64, help="Settings.global_concurrency")
    ap.add_argument("--per-host", type=int, default=16, help="Settings.per_host_concurrency")
    ap.add_argument(
        "--parse-workers",
        type=int,
        default=0,
        help="Settings.parse_workers (0: the service's own sizing, bot.feeds.workers.pool_size)",
    )
    ap.add_argument("--reader-workers", type=int, default=16, help="reader's update_feeds workers")
    ap.add_argument("--no-reader", action="store_true", help="leave reader out")
    ap.add_argument(
        "--no-tagging", action="store_true", help="poll without tagging (and without alerts)"
    )
    ap.add_argument(
        "--stories",
        choices=("on", "off", "both"),
        default="on",
        help="group new items into stories; both: first polls off, on, off, on (the ratio of "
        "on to off in the same run)",
    )
    args = ap.parse_args(argv)

    from bot.config import Settings
    from bot.feeds.workers import pool_size

    settings = Settings(
        global_concurrency=args.concurrency,
        per_host_concurrency=args.per_host,
        tagging=not args.no_tagging,
        parse_workers=args.parse_workers,
    )
    if settings.tagging:  # trained beforehand: a first start's training is not polling
        from classifiers.train import load_or_train

        load_or_train(settings.models_dir)
    timeout = 600 + args.feeds * 1.0
    with feed_server(args.feeds, args.items, timeout=120) as (port, corpus_bytes):
        urls = [f"http://127.0.0.1:{port}/feed/{i}.xml" for i in range(args.feeds)]
        sample = urls[:: max(1, args.feeds // max(1, args.baseline_sample))][: args.baseline_sample]
        # Half the baseline before the polls and half after, so a load change on this shared
        # machine weighs on both sides of the ratio.
        half = len(sample) // 2
        base_seconds = baseline(sample[:half])
        modes = ["off", "on", "off", "on"] if args.stories == "both" else [args.stories]
        runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
        for mode in modes:
            with tempfile.TemporaryDirectory(prefix="veille-bench-") as tmp:
                run = in_process(
                    ours,
                    urls,
                    tmp,
                    settings.model_copy(update={"stories": mode == "on"}),
                    timeout=timeout,
                )
                runs[mode].append(run)
        result = min(runs[modes[-1]], key=lambda r: r["first_poll_seconds"])
        rdr = (
            None
            if args.no_reader
            else in_process(with_reader, urls, args.reader_workers, timeout=timeout)
        )
        base_seconds += baseline(sample[half:])
        per_feed = base_seconds / len(sample)

    baseline_total = per_feed * args.feeds
    first, steady = result["first_poll_seconds"], result["steady_state_seconds"]
    out: dict[str, Any] = {
        "feeds": args.feeds,
        "items_per_feed": args.items,
        "corpus_mb": round(corpus_bytes / 1e6, 1),
        "tagging": settings.tagging,
        "first_poll_speedup_vs_sequential": round(baseline_total / first, 2),
        "first_poll_speedup_vs_reader": round(rdr["first_poll_seconds"] / first, 2)
        if rdr
        else None,
        "first_poll_seconds": round(first, 3),
        "items_per_second": round(result["first_poll_new_items"] / first, 1),
        "steady_state_seconds": round(steady, 3),
        "steady_state_speedup_vs_reader": round(rdr["steady_state_seconds"] / steady, 2)
        if rdr
        else None,
        "steady_state_not_modified": result["steady_state_not_modified"],
        "tree_peak_rss_mb": result["tree_peak_rss_mb"],
        "tree_peak_pss_mb": result["tree_peak_pss_mb"],
        "items_stored": result["items_stored"],
        "items_untagged": result["items_untagged"],
        "baseline_seconds_per_feed": round(per_feed, 4),
        "baseline_seconds_extrapolated": round(baseline_total, 2),
        "baseline_sample_feeds": len(sample),
        "reader": None
        if rdr is None
        else {
            "version": _reader_version(),
            "workers": args.reader_workers,
            "first_poll_seconds": round(rdr["first_poll_seconds"], 3),
            "steady_state_seconds": round(rdr["steady_state_seconds"], 3),
            "entries": rdr["entries"],
            "tree_peak_rss_mb": rdr["tree_peak_rss_mb"],
            "tree_peak_pss_mb": rdr["tree_peak_pss_mb"],
        },
        "global_concurrency": settings.global_concurrency,
        "per_host_concurrency": settings.per_host_concurrency,
        "stories": args.stories,
        "parse_workers": pool_size(settings.parse_workers, tagging=settings.tagging),
        "cpu_count": multiprocessing.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if args.stories == "both":
        best = {m: min(r["first_poll_seconds"] for r in runs[m]) for m in ("off", "on")}
        out["first_poll_seconds_stories_off"] = best["off"]
        out["first_poll_seconds_stories_on"] = best["on"]
        out["first_poll_stories_cost"] = round(best["on"] / best["off"] - 1, 3)
        out["first_poll_runs"] = {m: [r["first_poll_seconds"] for r in runs[m]] for m in runs}
        out["tree_peak_rss_mb_runs"] = {m: [r["tree_peak_rss_mb"] for r in runs[m]] for m in runs}
        out["poller_peak_rss_mb_runs"] = {
            m: [r["poller_peak_rss_mb"] for r in runs[m]] for m in runs
        }
    out["poller_peak_rss_mb"] = result["poller_peak_rss_mb"]
    out["poller_imported_scipy"] = result["poller_imported_scipy"]
    print(json.dumps(out, indent=2))


def _reader_version() -> str:
    from importlib.metadata import version

    return version("reader")


if __name__ == "__main__":
    main()
