"""Measure the gazetteer on labelled articles: region/country micro-F1, national, speed.

Usage: ``python -m classifiers.gazetteer_eval [--seeds DIR] [--corpus DIR] [-v]``.
Prints one JSON line with the figures; ``-v`` also lists the articles it gets wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from classifiers.gazetteer import Gazetteer

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE / "data" / "corpus"
DEFAULT_SEEDS = HERE.parent.parent / "shared" / "seeds"


def load_items(seeds: Path | None, corpus: Path | None) -> list[dict[str, Any]]:
    """Labelled items from the seed folder (txt + labels.jsonl) and corpus *.jsonl files."""
    items: list[dict[str, Any]] = []
    if seeds and (seeds / "labels.jsonl").exists():
        for line in (seeds / "labels.jsonl").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            lab = json.loads(line)
            raw = (seeds / lab["seed"]).read_text(encoding="utf-8")
            title, _, text = raw.partition("\n")
            items.append({**lab, "id": lab["seed"], "title": title.strip(), "text": text})
    if corpus and corpus.is_dir():
        for path in sorted(corpus.glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    items.append(json.loads(line))
    return items


def _f1(pairs: Iterable[tuple[set[str], set[str]]]) -> dict[str, float]:
    tp = fp = fn = 0
    for gold, pred in pairs:
        tp += len(gold & pred)
        fp += len(pred - gold)
        fn += len(gold - pred)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def evaluate(gaz: Gazetteer, items: list[dict[str, Any]], verbose: bool = False) -> dict[str, Any]:
    """Compare ``locate`` with the labels of every item."""
    rpairs, cpairs = [], []
    nat_ok = 0
    chars = 0
    t0 = time.perf_counter()
    results = []
    for it in items:
        loc = gaz.locate(it.get("title", ""), it.get("text", ""))
        chars += len(it.get("title", "")) + min(len(it.get("text", "")), 20_000)
        results.append(loc)
    elapsed = time.perf_counter() - t0
    for it, loc in zip(items, results, strict=True):
        gr, pr = set(it.get("regions", [])), set(loc.regions)
        gc, pc = set(it.get("countries", [])), set(loc.countries)
        rpairs.append((gr, pr))
        cpairs.append((gc, pc))
        nat_ok += bool(it.get("national")) == loc.national
        if verbose and (gr != pr or gc != pc or bool(it.get("national")) != loc.national):
            print(
                f"{it.get('id')}: {it.get('title', '')[:70]!r}\n"
                f"   gold R={sorted(gr)} C={sorted(gc)} N={it.get('national')}\n"
                f"   pred R={sorted(pr)} C={sorted(pc)} N={loc.national} "
                f"ns={loc.national_score}\n   scores={loc.region_scores} {loc.country_scores}"
                f"\n   ev={loc.evidence}",
                file=sys.stderr,
            )
    return {
        "items": len(items),
        "region": _f1(rpairs),
        "country": _f1(cpairs),
        "national_accuracy": round(nat_ok / max(1, len(items)), 4),
        "ms_per_kb": round(1000 * elapsed / max(1.0, chars / 1024), 4),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    gaz = Gazetteer.load()
    load_s = time.perf_counter() - t0
    report = evaluate(gaz, load_items(args.seeds, args.corpus), args.verbose)
    report["load_s"] = round(load_s, 3)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
