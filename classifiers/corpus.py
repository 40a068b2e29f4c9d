"""Labelled examples: the seed articles, the project's corpus files, and stored corrections."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classifiers.taxonomy import REGIONS, TYPES

DATA = Path(__file__).parent / "data"
SEEDS = DATA / "seeds"
CORPUS = DATA / "corpus"
# Press-style articles written for measurement only: never part of any training set.
PRESS = DATA / "press"
HELDOUT_SHARE = 0.2


@dataclass(frozen=True)
class Example:
    """One labelled article; style "press" marks text written the way the press writes (page
    furniture, quotes, partner lists), used to calibrate decision thresholds."""

    id: str
    title: str
    text: str
    regions: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    national: bool = False
    types: tuple[str, ...] = ()
    primary_type: str | None = None
    topic_ai: bool = True
    source: str = "corpus"
    style: str = "release"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def heldout(self) -> bool:
        """A stable 20% of the examples, never used to fit the evaluated model."""
        if self.source != "corpus":
            return False
        digest = hashlib.sha1(self.id.encode()).digest()
        return digest[0] / 256 < HELDOUT_SHARE


def validate(raw: dict[str, Any], where: str) -> Example:
    """An Example from a JSON object, with its labels checked against the taxonomy."""
    types = tuple(raw.get("types") or ())
    bad = [t for t in types if t not in TYPES] + [
        r for r in raw.get("regions") or () if r not in REGIONS
    ]
    if bad:
        raise ValueError(f"{where}: unknown labels {bad}")
    primary = raw.get("primary_type") or (types[0] if types else None)
    if primary and primary not in types:
        types = (*types, primary)
    return Example(
        id=str(raw.get("id") or raw.get("seed") or where),
        title=str(raw.get("title") or ""),
        text=str(raw.get("text") or ""),
        regions=tuple(raw.get("regions") or ()),
        countries=tuple(c.upper() for c in raw.get("countries") or ()),
        national=bool(raw.get("national")),
        types=types,
        primary_type=primary,
        topic_ai=bool(raw.get("topic_ai", True)),
        source=str(raw.get("source", "corpus")),
        style=str(raw.get("style", "release")),
    )


def read_jsonl(path: Path, *, source: str = "corpus") -> Iterator[Example]:
    """Examples of a JSONL file (one object per line)."""
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                raw = json.loads(line)
                raw.setdefault("source", source)
                yield validate(raw, f"{path}:{number}")


def seed_examples() -> list[Example]:
    """The five seed articles with their labels (title = first line that reads as a headline)."""
    out = []
    for line in (SEEDS / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        body = (SEEDS / raw["seed"]).read_text(encoding="utf-8")
        lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
        title = next((ln for ln in lines if len(ln.split()) >= 4), lines[0] if lines else "")
        raw.update(id=raw["seed"], title=title, text=body, source="seed")
        out.append(validate(raw, str(SEEDS / raw["seed"])))
    return out


def load_examples(extra: Iterable[Example] = ()) -> list[Example]:
    """Seeds, every corpus file, and extra examples (corrections)."""
    examples = seed_examples()
    for path in sorted(CORPUS.glob("*.jsonl")):
        examples.extend(read_jsonl(path))
    examples.extend(extra)
    return examples


def corpus_hash(examples: Iterable[Example]) -> str:
    """A short hash of the training data, stored with the model."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps([ex.id, ex.title, ex.types, ex.primary_type, ex.topic_ai]).encode())
    return h.hexdigest()[:16]


def press_examples() -> list[Example]:
    """The press-style evaluation set (written in the voice of the press, never trained on)."""
    out: list[Example] = []
    for path in sorted(PRESS.glob("*.jsonl")):
        out.extend(read_jsonl(path, source="press"))
    return out
