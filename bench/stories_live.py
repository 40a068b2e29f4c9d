"""Story clustering through the real poll: one loopback feed per outlet -> poll -> export -> scores.

Each item of a labelled JSONL file (id, story, source, published, title, lead; the stories
clustering format of classifiers/data/stories/, a real set kept outside the repository) is
served on 127.0.0.1 as an RSS item of its outlet's feed (one feed per "source", the lead as
description, the publication date as pubDate). Then, in a fresh database:

    veille poll --once --feeds FILE
    veille items --format jsonl --all --since 3650d

and the exported `story_id` of each item is scored against the labelled stories: pairwise
precision/recall of same-story decisions (bot.stories.pairwise_scores, as `veille evaluate
--stories` does on the in-memory clusterer). Prints one JSON object.

    .venv/bin/python bench/stories_live.py /work/realdev/stories/real2.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.live_pipeline import child_env, read_jsonl, veille
from bot.stories import pairwise_scores
from classifiers.text import slugify
from tests.support.feedserver import FeedServer, Route

TARGETS = {"precision": 0.90, "recall": 0.75}


def outlet_feed(name: str, records: list[dict[str, Any]], base: str) -> bytes:
    """An RSS feed of one outlet's items: title, lead as description, real publication date."""
    entries = []
    for rec in records:
        link = f"{base}/articles/{rec['id']}.html"
        when = format_datetime(datetime.fromisoformat(rec["published"]), usegmt=True)
        entries.append(
            f"<item><title>{escape(rec['title'])}</title><link>{link}</link>"
            f"<guid>{link}</guid><pubDate>{when}</pubDate>"
            f"<description>{escape(rec['lead'])}</description></item>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(name)}</title><link>{base}/</link><language>fr</language>"
        f"{''.join(entries)}</channel></rss>"
    ).encode()


def run(records: list[dict[str, Any]], env: dict[str, str], work: Path) -> dict[str, Any]:
    """Serve one feed per outlet, poll them once into a fresh database, score the story ids."""
    by_outlet: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        by_outlet[rec["source"]].append(rec)
    with FeedServer() as server:
        lines = ["feeds:"]
        taken: set[str] = set()
        for outlet, mine in sorted(by_outlet.items()):
            slug = slugify(outlet, taken=taken)
            taken.add(slug)
            server.add(f"/feeds/{slug}.xml", Route(body=outlet_feed(outlet, mine, server.base)))
            lines += [
                f"  - id: {slug}",
                f"    name: {json.dumps(outlet)}",
                f"    url: {server.base}/feeds/{slug}.xml",
                "    language: fr",
                "    full_text: never",
            ]
        feeds = work / "feeds.yaml"
        feeds.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = {**env, "VEILLE_DATABASE_URL": f"sqlite:///{work / 'stories.db'}"}
        started = time.perf_counter()
        veille(["poll", "--once", "--feeds", str(feeds)], env)
        seconds = time.perf_counter() - started
        out = veille(
            ["items", "--format", "jsonl", "--all", "--since", "3650d", "--feeds", str(feeds)], env
        )
    exported = [json.loads(line) for line in out.splitlines() if line.strip()]
    story_of = {Path(r["link"]).stem: r.get("story_id") for r in exported}
    missing = sorted(r["id"] for r in records if story_of.get(r["id"]) is None)
    # An item missing or without a story is its own story (it was grouped with nothing).
    predicted = {r["id"]: story_of.get(r["id"]) or f"alone:{r['id']}" for r in records}
    truth = {r["id"]: r["story"] for r in records}
    return {
        "items": len(records),
        "outlets": len(by_outlet),
        "stories": len(set(truth.values())),
        "predicted_stories": len(set(predicted.values())),
        **pairwise_scores(predicted, truth),
        "targets": TARGETS,
        "items_exported": len(exported),
        "without_story": missing,
        "poll_seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> None:
    """Serve, poll, score, print JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("labelled", type=Path, help="JSONL: id, story, source, published, ...")
    parser.add_argument("--state-dir", default="state", help="where the trained model lives")
    args = parser.parse_args(argv)
    records = read_jsonl(args.labelled)
    env = child_env(args.state_dir)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(records, env, Path(tmp))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
