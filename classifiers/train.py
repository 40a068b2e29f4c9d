"""Training: fit on the labelled examples, measure on the held-out split, save with skops."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifiers import persistence
from classifiers.corpus import Example, corpus_hash, load_examples, press_examples
from classifiers.evaluate import score
from classifiers.model import TypeModel
from classifiers.predictor import prepare
from classifiers.tagger import Tagger
from classifiers.taxonomy import TYPES
from classifiers.textclean import clean_text

log = logging.getLogger(__name__)


def fit(examples: Sequence[Example]) -> TypeModel:
    """A TypeModel fitted on examples."""
    return TypeModel().fit(
        [prepare(e.title, clean_text(e.text)) for e in examples],
        [e.types for e in examples],
        # Off-topic examples take no part in the type heads; their primary is a placeholder.
        [e.primary_type or (e.types[0] if e.types else TYPES[0]) for e in examples],
        [e.topic_ai for e in examples],
        calibrate=[e.style == "press" for e in examples],
    )


def gold(example: Example) -> dict[str, Any]:
    """The labels of an example as a tag dict."""
    return {
        "regions": list(example.regions),
        "countries": list(example.countries),
        "national": example.national,
        "types": list(example.types),
        "primary_type": example.primary_type,
        "topic_ai": example.topic_ai,
    }


def heldout_metrics(examples: Sequence[Example]) -> dict[str, Any]:
    """Fit on the training split and score the whole tagger on the held-out split."""
    return evaluation_report(examples, sets=("heldout",))["heldout"]


def evaluation_report(
    examples: Sequence[Example], sets: Sequence[str] = ("heldout", "seeds", "press")
) -> dict[str, dict[str, Any]]:
    """Score one model on data it never saw, set by set, side by side.

    The model is fitted on the training split without the seed articles; it is then scored on
    the held-out split of the corpus ("heldout"), on the five seeds ("seeds") and on the
    press-style set of data/press ("press"), which no training run ever reads.
    """
    from classifiers.gazetteer import Gazetteer

    train_split = [e for e in examples if not e.heldout and e.source != "seed"]
    model = fit(train_split)
    info = persistence.ModelInfo("heldout", "", "", "", {}, len(train_split), "")
    tagger = Tagger(Gazetteer.load(), model, info)
    chosen = {
        "heldout": [e for e in examples if e.heldout],
        "seeds": [e for e in examples if e.source == "seed"],
        "press": press_examples(),
    }
    report = {}
    for name in sets:
        test = chosen[name]
        if not test:
            continue
        predicted = [
            r.to_dict()
            for r in tagger.tag_batch([(e.title, e.text, None) for e in test], evidence=False)
        ]
        report[name] = score([gold(e) for e in test], predicted)
    return report


def train(
    models_dir: Path, *, extra: Sequence[Example] = (), measure: bool = True
) -> persistence.ModelInfo:
    """Fit on every example (seeds, corpus, corrections) and save; held-out metrics go in metadata."""
    started = time.perf_counter()
    examples = load_examples(extra)
    metrics: dict[str, Any] = {}
    if measure:
        full = heldout_metrics(examples)
        metrics = {k: v for k, v in full.items() if not isinstance(v, dict)}
    model = fit(examples)
    info = persistence.save(
        model, models_dir, metrics=metrics, examples=len(examples), corpus=corpus_hash(examples)
    )
    log.info(
        "trained model=%s examples=%d seconds=%.1f metrics=%s",
        info.version,
        len(examples),
        time.perf_counter() - started,
        metrics,
    )
    return info


def load_or_train(models_dir: Path, extra: Sequence[Example] = ()) -> Tagger:
    """The stored tagger, or a new one trained first when the model is missing or unusable."""
    try:
        return Tagger.load(models_dir)
    except (persistence.ModelMissing, persistence.ModelMismatch) as exc:
        log.warning("model unusable, training a new one: %s", exc)
    train(models_dir, extra=extra, measure=False)
    return Tagger.load(models_dir)
