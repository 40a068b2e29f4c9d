"""Map and web window speed. Prints one JSON object.

- map: the weekly map for N chats, first with every chat's counts different (one render each),
  then with the same counts for all (one render, then the cache): seconds and the ratio of the
  two, which is what the per-content cache buys a digest round.
- web: R requests to the query page through a real loopback socket with the window's bounded
  concurrency, against R requests to /static/style.css (no database, no thread): pages per second
  and the ratio page/static.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def bench_map(chats: int) -> dict[str, float]:
    from bot import francemap
    from classifiers.taxonomy import REGIONS

    francemap.load_shapes()
    francemap.render_map({}, lang="fr", title="warm-up")
    started = time.perf_counter()
    for n in range(chats):
        counts = {REGIONS[n % len(REGIONS)]: n + 1, "Corse": n % 3}
        francemap.render_map(counts, lang="fr", title="Vos articles par région")
    distinct = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(chats):
        francemap.render_map({"Bretagne": 4}, lang="fr", title="Vos articles par région")
    same = time.perf_counter() - started
    return {
        "chats": chats,
        "distinct_counts_seconds": round(distinct, 3),
        "same_counts_seconds": round(same, 3),
        "ratio_distinct_to_same": round(distinct / same, 1) if same else 0.0,
    }


async def bench_web(requests: int) -> dict[str, float]:
    import httpx

    from bot.store.repo import Store
    from bot.web.app import WebConfig, WebWindow
    from classifiers.gazetteer import Gazetteer
    from tests.conftest_bot import Spec, add_items

    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/veille.db")
        regions = ("Bretagne", "Hauts-de-France", "Occitanie", "Grand Est")
        add_items(
            store,
            [
                Spec(f"Article {n}", now - timedelta(hours=n), (regions[n % 4],), ("funding",))
                for n in range(300)
            ],
            now,
        )
        gazetteer = Gazetteer.load()
        window = WebWindow(store, lambda: gazetteer, WebConfig(port=0), lambda: now)
        await window.start()
        base = f"http://127.0.0.1:{window.port}"
        timings = {}
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=20)) as c:
            for name, path in (("static", "/static/style.css"), ("page", "/?q=Bretagne")):
                await c.get(base + path)
                started = time.perf_counter()
                replies = await asyncio.gather(*(c.get(base + path) for _ in range(requests)))
                timings[name] = time.perf_counter() - started
                timings[name + "_ok"] = sum(r.status_code == 200 for r in replies)
        await window.stop()
        store.close()
    return {
        "requests": requests,
        "pages_per_second": round(requests / timings["page"], 1),
        "static_per_second": round(requests / timings["static"], 1),
        "ratio_page_to_static": round(timings["static"] / timings["page"], 3),
        "pages_ok": timings["page_ok"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    result = {"map": bench_map(args.chats), "web": asyncio.run(bench_web(args.requests))}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
