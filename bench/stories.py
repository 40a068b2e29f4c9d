"""Story clustering as the store grows: ms per new item with 10,000 and 100,000 items stored.

Prints one JSON object. Synthetic items (a vocabulary of made-up words, Zipf-distributed, each
story retold 1-4 times with different words kept) are stored and clustered at about 300 a day;
then a batch of new items (the newest day) is timed through StoryStore.assign. The ratio of the
per-item times at the two sizes is the point: a candidate lookup (band key, then time range)
keeps it flat, where a scan would grow tenfold.

    .venv/bin/python bench/stories.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PER_DAY = 300
BATCH = 2000
FEEDS = 20


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    syllables = ["ba", "ce", "di", "fo", "gu", "la", "me", "ni", "po", "ru", "sa", "te", "vi", "zo"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def parsed_item(key: str, title: str, lead: str, when: datetime) -> Any:
    """A parsed item as the parser gives it."""
    from bot.feeds.normalize import title_key
    from bot.feeds.parser import ParsedItem

    link = f"https://news.invalid/{key}"
    return ParsedItem(
        dedup_key=f"guid:{key}",
        guid=key,
        link=link,
        canonical_link=link,
        title=title,
        summary=lead,
        content="",
        author=None,
        published_at=when,
        date_is_fallback=False,
        language="fr",
        title_key=title_key(title),
    )


class Corpus:
    """Stories retold by several feeds, in publication order."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.words = _vocabulary(self.rng, 8000)
        self.names = [w.capitalize() for w in _vocabulary(self.rng, 1500)]
        # Zipf-like over the words left once function words are dropped: the commonest is in
        # about one item in ten, most are rare.
        weights = [1 / (rank + 50) for rank in range(len(self.words))]
        total = 0.0
        self.cumulative = []
        for w in weights:
            total += w
            self.cumulative.append(total)

    def _word(self) -> str:
        return self.rng.choices(self.words, cum_weights=self.cumulative)[0]

    def items(self, count: int, start: datetime) -> list[tuple[str, Any, datetime]]:
        """(feed id, parsed item, published) tuples, about PER_DAY a day from start."""
        out: list[tuple[str, Any, datetime]] = []
        n = 0
        while len(out) < count:
            when = start + timedelta(days=n / PER_DAY * 1.6)
            base = [self._word() for _ in range(14)]
            names = self.rng.sample(self.names, 2)
            amount = str(self.rng.randint(2, 500))
            for telling in range(self.rng.choice((1, 1, 2, 3, 4))):
                kept = [w for w in base if self.rng.random() < 0.7]
                words = kept + [self._word() for _ in range(6)]
                self.rng.shuffle(words)
                title = f"{names[0]} {' '.join(words[:6])} {amount}"
                lead = f"{' '.join(words[6:])} {names[1]} {amount} millions"
                feed = f"f{(n + telling) % FEEDS}"
                out.append((feed, parsed_item(f"{n}-{telling}", title, lead, when), when))
                when += timedelta(hours=self.rng.randint(1, 20))
            n += 1
        return out[:count]


def build(url: str, total: int, corpus: Corpus, start: datetime) -> tuple[Any, Any, datetime]:
    """A store holding `total` clustered items; returns it, its StoryStore, the newest time."""
    from bot.config import FeedConfig
    from bot.store.repo import Store
    from bot.store.stories import StoryStore

    store = Store.open(url)
    store.sync_feeds(
        [
            FeedConfig(id=f"f{i}", name=f"Feed {i}", url=f"http://f{i}.invalid/")
            for i in range(FEEDS)
        ],
        start,
    )
    stories = StoryStore(store)
    made = corpus.items(total, start)
    for i in range(0, len(made), BATCH):
        chunk = made[i : i + BATCH]
        by_feed: dict[str, list[Any]] = {}
        for feed, item, _ in chunk:
            by_feed.setdefault(feed, []).append(item)
        results = store.insert_items_batch([(f, its, start) for f, its in by_feed.items()])
        ids = [i for r in results if isinstance(r, list) for i in r]
        stories.assign(ids, start)
    return store, stories, max(w for _, _, w in made)


def timed_batch(store: Any, stories: Any, corpus: Corpus, after: datetime, size: int) -> float:
    """ms per item to assign a batch of new items published after `after`."""
    made = corpus.items(size, after)
    by_feed: dict[str, list[Any]] = {}
    for feed, item, _ in made:
        by_feed.setdefault(feed, []).append(item)
    results = store.insert_items_batch([(f, its, after) for f, its in by_feed.items()])
    ids = [i for r in results if isinstance(r, list) for i in r]
    started = time.perf_counter()
    stories.assign(ids, after)
    return (time.perf_counter() - started) * 1000 / len(ids)


def main(argv: list[str] | None = None) -> None:
    """Run the bench and print JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--batch", type=int, default=500, help="new items timed at each size")
    ap.add_argument("--repeat", type=int, default=3, help="timed batches per size (best kept)")
    ap.add_argument("--url", help="database URL (default: a fresh SQLite file per size)")
    args = ap.parse_args(argv)

    start = datetime(2026, 1, 1, tzinfo=UTC)
    out: dict[str, Any] = {"batch": args.batch, "repeat": args.repeat, "per_size": {}}
    with tempfile.TemporaryDirectory(prefix="veille-stories-") as tmp:
        for size in args.sizes:
            corpus = Corpus(seed=size)
            url = args.url or f"sqlite:///{tmp}/stories-{size}.db"
            began = time.perf_counter()
            store, stories, newest = build(url, size, corpus, start)
            build_s = time.perf_counter() - began
            times = []
            for _ in range(args.repeat):
                newest += timedelta(hours=6)
                times.append(timed_batch(store, stories, corpus, newest, args.batch))
            with store.engine.connect() as conn:
                from sqlalchemy import text

                count = conn.execute(text("SELECT count(*) FROM stories")).scalar_one()
            store.close()
            out["per_size"][str(size)] = {
                "ms_per_item": round(min(times), 3),
                "ms_per_item_all": [round(t, 3) for t in times],
                "stories": count,
                "build_seconds": round(build_s, 1),
                "build_ms_per_item": round(build_s * 1000 / size, 3),
            }
    sizes = [str(s) for s in args.sizes]
    if len(sizes) >= 2:
        first, last = out["per_size"][sizes[0]], out["per_size"][sizes[-1]]
        out["ratio_largest_vs_smallest"] = round(last["ms_per_item"] / first["ms_per_item"], 2)
        out["size_ratio"] = round(int(sizes[-1]) / int(sizes[0]), 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
