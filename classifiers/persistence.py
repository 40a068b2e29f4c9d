"""Model files: skops (not pickle) plus a metadata JSON with versions, taxonomy hash and metrics.

A file written by another scikit-learn version or for another taxonomy is refused with a
clear message (ModelMismatch); the service then retrains.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sklearn
import skops
import skops.io as sio

from classifiers.model import TypeModel
from classifiers.taxonomy import taxonomy_hash

MODEL_FILE = "types.skops"
META_FILE = "metadata.json"
# Bump when TypeModel's fitted attributes change shape: older files are then refused and retrained.
MODEL_FORMAT = 4
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "classifiers.model.")


class ModelMismatch(Exception):
    """The stored model cannot be used by this installation."""


class ModelMissing(Exception):
    """No model has been trained yet."""


@dataclass(frozen=True)
class ModelInfo:
    """What was stored next to the model."""

    version: str
    sklearn_version: str
    taxonomy: str
    trained_at: str
    metrics: dict[str, Any]
    examples: int
    corpus: str


def save(
    model: TypeModel,
    folder: Path,
    *,
    metrics: dict[str, Any],
    examples: int,
    corpus: str,
    now: datetime | None = None,
) -> ModelInfo:
    """Write model and metadata into folder (atomically replacing an older model)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = now or datetime.now(UTC)
    info = ModelInfo(
        version=f"{now:%Y%m%d%H%M%S}-{corpus[:6]}",
        sklearn_version=sklearn.__version__,
        taxonomy=taxonomy_hash(),
        trained_at=now.isoformat(),
        metrics=metrics,
        examples=examples,
        corpus=corpus,
    )
    tmp = folder / (MODEL_FILE + ".tmp")
    sio.dump(model, tmp)
    tmp.replace(folder / MODEL_FILE)
    meta = {
        **info.__dict__,
        "skops_version": skops.__version__,
        "python": platform.python_version(),
        "model_format": MODEL_FORMAT,
    }
    (folder / META_FILE).write_text(
        json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return info


def read_info(folder: Path) -> ModelInfo:
    """The metadata of the stored model; ModelMissing or ModelMismatch when it cannot be used."""
    meta_path = folder / META_FILE
    if not meta_path.exists() or not (folder / MODEL_FILE).exists():
        raise ModelMissing(f"no trained model in {folder} (run `veille train`)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        info = ModelInfo(**{k: meta[k] for k in ModelInfo.__dataclass_fields__})
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelMismatch(f"{meta_path}: unreadable model metadata ({exc})") from exc
    if meta.get("model_format") != MODEL_FORMAT:
        raise ModelMismatch(
            f"model in {folder} has format {meta.get('model_format')}, this version reads "
            f"format {MODEL_FORMAT}: retrain with `veille train`"
        )
    if info.sklearn_version != sklearn.__version__:
        raise ModelMismatch(
            f"model in {folder} was trained with scikit-learn {info.sklearn_version}, "
            f"this installation has {sklearn.__version__}: retrain with `veille train`"
        )
    if info.taxonomy != taxonomy_hash():
        raise ModelMismatch(
            f"model in {folder} was trained for another label scheme "
            f"(taxonomy {info.taxonomy}, expected {taxonomy_hash()}): retrain"
        )
    return info


def load(folder: Path) -> tuple[TypeModel, ModelInfo]:
    """Load the model after checking versions and that the file holds only trusted types."""
    info = read_info(folder)
    path = folder / MODEL_FILE
    try:
        untrusted = sio.get_untrusted_types(file=path)
        unexpected = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if unexpected:
            raise ModelMismatch(f"{path} holds unexpected types {unexpected[:5]}: refusing to load")
        model = sio.load(path, trusted=untrusted)
    except ModelMismatch:
        raise
    except Exception as exc:  # skops raises many kinds on a corrupt or foreign file
        raise ModelMismatch(f"{path} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, TypeModel):
        raise ModelMismatch(f"{path} does not hold a TypeModel")
    return model, info
