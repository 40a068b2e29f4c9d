"""Tagger speed on 1 KB items, one core: items_per_second (wall and CPU), model_load_seconds,
tagger_rss_mb.

Prints one JSON object. The model is trained first (into a temporary folder, in a child process
so that scikit-learn's imports do not count in this one) when none is stored in state/models;
training time is not part of the figures. The figures are those of a tagging worker: numpy,
the gazetteer and the stored predictor.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def rss_mb() -> float:
    """Peak resident memory of this process in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sample_items(n: int) -> list[tuple[str, str, str | None]]:
    """n items of about 1 KB made from the corpus texts (cut or repeated to ~1,000 chars)."""
    from classifiers.corpus import load_examples

    examples = load_examples()
    out = []
    for i in range(n):
        ex = examples[i % len(examples)]
        text = (ex.text + " ") * (1 + 1000 // max(1, len(ex.text)))
        out.append((ex.title, text[:1000], None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--models", default="state/models")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    from classifiers import persistence
    from classifiers.gazetteer import Gazetteer
    from classifiers.tagger import Tagger

    models = Path(args.models)
    try:
        persistence.read_info(models)
    except (persistence.ModelMissing, persistence.ModelMismatch):
        models = Path(tempfile.mkdtemp(prefix="veille-bench-")) / "models"
        code = "import sys; from pathlib import Path; from classifiers.train import train; "
        code += "train(Path(sys.argv[1]), measure=False)"
        subprocess.run([sys.executable, "-c", code, str(models)], check=True, cwd=ROOT)
    base_rss = rss_mb()
    started = time.perf_counter()
    tagger = Tagger.load(models, Gazetteer.load())
    load_seconds = time.perf_counter() - started
    items = sample_items(args.items)
    tagger.tag_batch(items[:50])  # warm-up
    started, cpu_started = time.perf_counter(), time.process_time()
    for start in range(0, len(items), 200):
        tagger.tag_batch(items[start : start + 200])
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    started = time.perf_counter()
    for title, text, hint in items[:300]:
        tagger.tag(title, text, hint)
    single = (time.perf_counter() - started) / 300
    print(
        json.dumps(
            {
                "items": len(items),
                "item_chars": 1000,
                "items_per_second": round(len(items) / elapsed, 1),
                # CPU time of this process only: on a shared machine, wall time also counts
                # the time other processes held the core.
                "items_per_cpu_second": round(len(items) / cpu, 1),
                "single_item_ms": round(single * 1000, 2),
                "model_load_seconds": round(load_seconds, 3),
                "tagger_rss_mb": round(rss_mb(), 1),
                "rss_before_load_mb": round(base_rss, 1),
                "cores": 1,
            }
        )
    )


if __name__ == "__main__":
    main()
