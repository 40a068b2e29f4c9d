"""Scores of tags against labels: per-label precision/recall/F1 and a primary-type confusion table.

The headline figures: region and country micro-F1, type macro-F1 and primary-type accuracy on
on-topic articles, topic macro-F1 over both classes, and F1 of the France-wide flag.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from classifiers.taxonomy import TYPES


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3), "support": tp + fn}


def _multilabel(truth: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    per: dict[str, Counter[str]] = {}
    for gold, got in zip(truth, pred, strict=True):
        g, p = set(gold), set(got)
        for label in g | p:
            c = per.setdefault(label, Counter())
            c["tp"] += label in g and label in p
            c["fp"] += label in p and label not in g
            c["fn"] += label in g and label not in p
    total: Counter[str] = Counter()
    for c in per.values():
        total.update(c)
    return {
        "micro": _prf(total["tp"], total["fp"], total["fn"]),
        "labels": {k: _prf(v["tp"], v["fp"], v["fn"]) for k, v in sorted(per.items())},
    }


def score(
    gold: Sequence[Mapping[str, Any]], predicted: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Compare predicted tag dicts with gold label dicts (TAXONOMY fields)."""
    regions = _multilabel(
        [g.get("regions", []) for g in gold], [p.get("regions", []) for p in predicted]
    )
    countries = _multilabel(
        [g.get("countries", []) for g in gold], [p.get("countries", []) for p in predicted]
    )
    on = [i for i, g in enumerate(gold) if g.get("topic_ai", True)]
    types = _multilabel(
        [gold[i].get("types", []) for i in on], [predicted[i].get("types", []) for i in on]
    )
    type_f1 = [
        types["labels"].get(t, {}).get("f1", 0.0)
        for t in TYPES
        if types["labels"].get(t, {}).get("support", 0) > 0
    ]
    confusion: dict[str, Counter[str]] = {t: Counter() for t in TYPES}
    correct = 0
    for i in on:
        g, p = gold[i].get("primary_type"), predicted[i].get("primary_type")
        if g in confusion and p:
            confusion[g][p] += 1
        correct += g == p
    topic = _multilabel(
        [["ai"] if g.get("topic_ai") else ["off"] for g in gold],
        [["ai"] if p.get("topic_ai") else ["off"] for p in predicted],
    )
    national = sum(
        bool(g.get("national")) == bool(p.get("national"))
        for g, p in zip(gold, predicted, strict=True)
    )
    scope = _multilabel(
        [["national"] if g.get("national") else [] for g in gold],
        [["national"] if p.get("national") else [] for p in predicted],
    )
    return {
        "n": len(gold),
        "region_micro_f1": regions["micro"]["f1"],
        "country_micro_f1": countries["micro"]["f1"],
        "type_macro_f1": round(sum(type_f1) / len(type_f1), 3) if type_f1 else 0.0,
        "primary_type_accuracy": round(correct / len(on), 3) if on else 0.0,
        "topic_macro_f1": round(
            sum(v["f1"] for v in topic["labels"].values()) / max(1, len(topic["labels"])), 3
        ),
        "national_accuracy": round(national / len(gold), 3) if gold else 0.0,
        "national_f1": scope["micro"]["f1"],
        "regions": regions,
        "countries": countries,
        "types": types,
        "primary_confusion": {g: dict(c) for g, c in confusion.items()},
    }
