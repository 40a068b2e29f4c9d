"""Training: fit on the labelled examples, measure on the held-out split, save with skops."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifiers import persistence
from classifiers.corpus import Example, corpus_hash, load_examples
from classifiers.evaluate import score
from classifiers.model import TypeModel, prepare
from classifiers.tagger import Tagger
from classifiers.textclean import clean_text

log = logging.getLogger(__name__)


def fit(examples: Sequence[Example]) -> TypeModel:
    """A TypeModel fitted on examples."""
    return TypeModel().fit(
        [prepare(e.title, clean_text(e.text)) for e in examples],
        [e.types for e in examples],
        [e.primary_type or e.types[0] for e in examples],
        [e.topic_ai for e in examples],
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
    from classifiers.gazetteer import Gazetteer

    train_split = [e for e in examples if not e.heldout]
    test_split = [e for e in examples if e.heldout]
    model = fit(train_split)
    info = persistence.ModelInfo("heldout", "", "", "", {}, len(train_split), "")
    tagger = Tagger(Gazetteer.load(), model, info)
    predicted = [
        r.to_dict()
        for r in tagger.tag_batch([(e.title, e.text, None) for e in test_split], evidence=False)
    ]
    return score([gold(e) for e in test_split], predicted)


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
