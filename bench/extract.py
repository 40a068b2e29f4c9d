"""Main-text extraction quality: trafilatura (ours) against other extractors, on furnished pages.

Each labelled article (a JSONL file with "title" and "text", kept outside the repository) is
wrapped in the three page layouts of bench/live_pipeline.py (menu with city names, cookie
banner, share bar, related links, newsletter box, footer). Every extractor gets the same bytes;
its output is compared with the article's own words (bag-of-words precision, recall, F1) and
timed. The baseline is the selector heuristic `veille classify URL` uses (<article>, else
<main>, else <body>, as text). readability-lxml is measured when it is installed (it is not a
dependency). Prints one JSON object with F1 and time ratios against the baseline.

    .venv/bin/python bench/extract.py /work/realdev/realdev_text.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.live_pipeline import page
from bot.feeds.extract import extract_article
from classifiers.text import html_to_text, page_parts

WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> Counter[str]:
    """Lowercased word counts."""
    return Counter(w.lower() for w in WORD.findall(text))


def prf(got: str, want: str) -> tuple[float, float, float]:
    """Bag-of-words precision, recall and F1 of got against want."""
    g, w = words(got), words(want)
    common = sum((g & w).values())
    p = common / max(1, sum(g.values()))
    r = common / max(1, sum(w.values()))
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def selectors(body: bytes) -> str:
    """The baseline: <article>, else <main>, else <body>, as text (what `veille classify URL`
    reads of a page)."""
    _, html = page_parts(body.decode("utf-8", "replace"))
    return html_to_text(html)


def ours(body: bytes) -> str:
    """bot.feeds.extract (trafilatura, balanced settings)."""
    return extract_article(body, "text/html").text


def trafilatura_precision(body: bytes) -> str:
    """trafilatura with favor_precision."""
    import trafilatura

    return trafilatura.extract(body, favor_precision=True, include_comments=False) or ""


def justext_fr(body: bytes) -> str:
    """jusText with the French stoplist (a trafilatura dependency)."""
    import justext

    paragraphs = justext.justext(body, justext.get_stoplist("French"))
    return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)


def readability_lxml(body: bytes) -> str:
    """readability-lxml's summary, as text."""
    from readability import Document

    return html_to_text(Document(body.decode("utf-8")).summary())


def main(argv: list[str] | None = None) -> None:
    """Extract every page with every extractor; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("labelled", type=Path)
    args = parser.parse_args(argv)
    records = [json.loads(x) for x in args.labelled.read_text("utf-8").splitlines() if x.strip()]
    extractors: dict[str, Callable[[bytes], str]] = {
        "selectors_baseline": selectors,
        "trafilatura_ours": ours,
        "trafilatura_precision": trafilatura_precision,
        "justext": justext_fr,
    }
    try:
        import readability  # noqa: F401
    except ImportError:
        pass
    else:
        extractors["readability_lxml"] = readability_lxml
    pages = [
        (page(r, layout), r["title"] + "\n" + r["text"]) for r in records for layout in range(3)
    ]
    for fn in extractors.values():  # warm up imports and models outside the timing
        fn(pages[0][0])
    result: dict[str, Any] = {"pages": len(pages)}
    for name, fn in extractors.items():
        scores: list[tuple[float, float, float]] = []
        started = time.perf_counter()
        for body, want in pages:
            scores.append(prf(fn(body), want))
        seconds = time.perf_counter() - started
        result[name] = {
            "precision": round(sum(s[0] for s in scores) / len(scores), 3),
            "recall": round(sum(s[1] for s in scores) / len(scores), 3),
            "f1": round(sum(s[2] for s in scores) / len(scores), 3),
            "worst_f1": round(min(s[2] for s in scores), 3),
            "ms_per_page": round(1000 * seconds / len(pages), 2),
        }
    base = result["selectors_baseline"]
    for name in extractors:
        result[name]["f1_ratio_vs_baseline"] = round(result[name]["f1"] / base["f1"], 3)
        result[name]["time_ratio_vs_baseline"] = round(
            result[name]["ms_per_page"] / base["ms_per_page"], 2
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
