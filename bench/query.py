"""Query speed: parse + search for ten realistic queries on a store of 100,000 tagged items.

Each query is parsed (bot.query.parse, with the gazetteer) and run through the store's one
search function (Store.recent_items(query=...), first page of 9 as the bot asks), on SQLite
by default; `with_total` adds what a list reply also asks, its total (Store.count_listed,
counted up to the bot's cap). The baseline, timed in the same run, is the plain indexed lookup that /region did
before the query language (recent_items(regions=[...]) without parsing): the ratio says what
parsing and full text cost on top of it on this machine.

    .venv/bin/python bench/query.py --items 100000 [--repeats 60] [--url sqlite:///kept.db]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.commands.lookups import COUNT_CAP
from bot.query.parse import parse
from bot.store.repo import Store
from classifiers.taxonomy import REGIONS, TYPES
from tests.conftest_bot import Spec, add_items, gazetteer

QUERIES = (
    "financement Bretagne ce mois-ci",
    "bonjour, je cherche les financements IA en Bretagne",
    "jumeau numérique",
    '"jumeaux numériques" Hauts-de-France',
    "Lille recherche cette semaine",
    "appel à projets santé -crypto",
    "/region Bretagne financement",
    "formation cybersécurité depuis le 1er octobre",
    "national stratégie 30j",
    "robotique OU drones Occitanie entre le 1er et le 15 octobre",
)
TOPICS = (
    "intelligence artificielle",
    "jumeaux numériques",
    "jumeau numérique",
    "données de santé",
    "robotique",
    "cybersécurité",
    "calcul haute performance",
    "startups",
    "laboratoire",
    "drones",
    "crypto-actifs",
    "usine du futur",
    "agriculture connectée",
    "appel à projets",
    "cloud souverain",
    "éducation",
)
FILLER = [
    "la",
    "région",
    "annonce",
    "un",
    "nouveau",
    "programme",
    "pour",
    "les",
    "entreprises",
    "du",
    "territoire",
    "avec",
    "les",
    "collectivités",
    "les",
    "universités",
    "et",
    "les",
    "pôles",
    "de",
    "compétitivité",
    "qui",
    "accompagnent",
    "les",
    "projets",
    "innovants",
    "dans",
    "le",
    "cadre",
    "du",
    "plan",
    "de",
    "relance",
    "et",
    "des",
    "investissements",
    "d'avenir",
]


def _specs(rng: random.Random, start: int, n: int, now: datetime) -> list[Spec]:
    out = []
    for k in range(start, start + n):
        regions = tuple(rng.sample(REGIONS, rng.choice((0, 1, 1, 1, 2))))
        types = tuple(rng.sample(TYPES, rng.choice((1, 1, 2))))
        topic = rng.choice(TOPICS)
        words = " ".join(rng.choice(FILLER) for _ in range(40))
        out.append(
            Spec(
                f"{topic.capitalize()} : initiative {k} {regions[0] if regions else 'en France'}",
                now - timedelta(days=rng.random() * 365),
                regions,
                types,
                link=f"https://news{k % 40}.example.org/{k}",
                summary=f"{words} autour de {topic} et {rng.choice(TOPICS)}.",
                topic_ai=rng.random() < 0.9,
                national=not regions and rng.random() < 0.5,
            )
        )
    return out


CPU: list[float] = []  # process time of every timed call, beside its wall time


def _time(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm caches
    times = []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t) * 1000)
        CPU.append((time.process_time() - c) * 1000)
    return sorted(times)


def _p95(times: list[float]) -> float:
    return round(times[max(0, int(0.95 * len(times)) - 1)], 2)


def bench(url: str, n_items: int, repeats: int) -> dict[str, Any]:
    """Fill the store, then time each query and the baseline."""
    rng = random.Random(7)
    store = Store.open(url)
    gaz = gazetteer()
    now = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
    try:
        t0 = time.perf_counter()
        batch = 10_000
        have = store.count_items()  # a --url database filled by an earlier run is reused
        for start in range(have, n_items, batch):
            specs = _specs(rng, start, min(batch, n_items - start), now)
            add_items(store, specs, now, feed_id=f"feed-{start // batch}", feed_name="Source")
        fill = time.perf_counter() - t0
        per_query: dict[str, Any] = {}
        everything: list[float] = []
        replies: list[float] = []  # parse + page + the list's total ("37 articles · page 1/5")
        cpu_search: list[float] = []
        cpu_total: list[float] = []
        for text in QUERIES:
            arg = text.split(" ", 1)[1] if text.startswith("/") else text

            def run(arg: str = arg) -> list[Any]:
                query = parse(arg, gaz, now=now, tz="Europe/Paris")
                return store.recent_items(query=query, limit=9)

            def listed(arg: str = arg) -> tuple[int, bool]:
                query = parse(arg, gaz, now=now, tz="Europe/Paris")
                store.recent_items(query=query, limit=9)
                return store.count_listed(query=query, cap=COUNT_CAP)

            found = len(run())
            CPU.clear()
            times = _time(run, repeats)
            cpu_search.extend(CPU)
            everything.extend(times)
            CPU.clear()
            with_total = _time(listed, repeats)
            cpu_total.extend(CPU)
            replies.extend(with_total)
            per_query[text] = {
                "found_first_page": found,
                "total": listed(),
                "p50_ms": round(statistics.median(times), 2),
                "p95_ms": _p95(times),
                "with_total_p95_ms": _p95(with_total),
            }
        baseline = _time(lambda: store.recent_items(regions=["Bretagne"], limit=9), repeats)
        everything.sort()
        replies.sort()
        return {
            "backend": store.dialect,
            "items": store.count_items(),
            "fill_seconds": round(fill, 1),
            "repeats_per_query": repeats,
            "queries": per_query,
            "query_p50_ms": round(statistics.median(everything), 2),
            "query_p95_ms": _p95(everything),
            "target_p95_ms": 50,
            "with_total_p95_ms": _p95(replies),
            # CPU time: what the queries cost this process, less sensitive to a loaded machine
            "query_cpu_p95_ms": _p95(sorted(cpu_search)),
            "with_total_cpu_p95_ms": _p95(sorted(cpu_total)),
            "baseline_region_lookup_p95_ms": _p95(baseline),
            "ratio_p95_vs_baseline": round(_p95(everything) / max(_p95(baseline), 1e-6), 2),
        }
    finally:
        store.close()


def main() -> None:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="veille-bench-") as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'veille.db'}"
        print(json.dumps(bench(url, args.items, args.repeats), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
