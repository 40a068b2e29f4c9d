"""The whole tagger: gazetteer for places and scope, the learned model for types and topic.

Output uses exactly the names of TAXONOMY.md, each label with a score and its evidence. A loaded
tagger runs on numpy alone (classifiers.predictor): scikit-learn is only imported to train.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classifiers import persistence
from classifiers.gazetteer import Gazetteer
from classifiers.predictor import Predicts, prepare
from classifiers.textclean import clean_text

log = logging.getLogger(__name__)


@dataclass
class TagResult:
    """Labels of one article with scores and evidence."""

    regions: list[str]
    countries: list[str]
    national: bool
    types: list[str]
    primary_type: str
    topic_ai: bool
    scores: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (TAXONOMY fields first).

        Built field by field: dataclasses.asdict deep-copies every nested dict and list, which
        cost as much as the gazetteer scan on the poll workers' hot path.
        """
        return {
            "regions": list(self.regions),
            "countries": list(self.countries),
            "national": self.national,
            "types": list(self.types),
            "primary_type": self.primary_type,
            "topic_ai": self.topic_ai,
            "scores": self.scores,
            "evidence": self.evidence,
        }


class Tagger:
    """Tags articles; load() it once per process."""

    def __init__(self, gazetteer: Gazetteer, model: Predicts, info: persistence.ModelInfo) -> None:
        self.gazetteer = gazetteer
        self.model = model
        self.info = info

    @property
    def version(self) -> str:
        """The model version stored with each tag."""
        return self.info.version

    @classmethod
    def load(cls, models_dir: Path, gazetteer: Gazetteer | None = None) -> Tagger:
        """Load the stored model; raises ModelMissing or ModelMismatch."""
        model, info = persistence.load_predictor(models_dir)
        return cls(gazetteer or Gazetteer.load(), model, info)

    def tag(self, title: str, text: str, region_hint: str | None = None) -> TagResult:
        """Tag one article."""
        return self.tag_batch([(title, text, region_hint)])[0]

    def tag_batch(
        self, items: Sequence[tuple[str, str, str | None]], *, evidence: bool = True
    ) -> list[TagResult]:
        """Tag many articles at once (vectorised)."""
        cleaned = [
            (clean_text(title)[:1000], clean_text(text), hint) for title, text, hint in items
        ]
        preds = self.model.predict([prepare(t, x) for t, x, _ in cleaned], evidence=evidence)
        out = []
        for (title, text, hint), pred in zip(cleaned, preds, strict=True):
            loc = self.gazetteer.locate(title, text, region_hint=hint)
            regions = list(loc.regions)
            scores = {
                "regions": {r: round(s, 3) for r, s in loc.region_scores.items() if s > 0},
                "countries": {c: round(s, 3) for c, s in loc.country_scores.items() if s > 0},
                "national": round(loc.national_score, 3),
                "types": {t: round(s, 3) for t, s in pred.type_scores.items()},
                "primary_type": round(pred.primary_scores.get(pred.primary_type, 0.0), 3),
                "topic_ai": round(pred.topic_score, 3),
            }
            ev: dict[str, Any] = {
                "regions": {r: loc.evidence.get(r, []) for r in regions},
                "countries": {c: loc.evidence.get(c, []) for c in loc.countries},
                "national": loc.evidence.get("national", []),
                "types": pred.type_evidence,
            }
            out.append(
                TagResult(
                    regions=regions,
                    countries=list(loc.countries),
                    national=loc.national,
                    types=pred.types,
                    primary_type=pred.primary_type,
                    topic_ai=pred.topic_ai,
                    scores=scores,
                    evidence=ev,
                )
            )
        return out
