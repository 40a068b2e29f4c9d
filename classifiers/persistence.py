"""Model files: skops (not pickle) plus a metadata JSON with versions, taxonomy hash and metrics.

Next to the skops file, the fitted parameters are stored as plain numpy arrays (predictor.npz):
the tagger loads those (`load_predictor`), so a tagging process never imports scikit-learn,
SciPy or skops. The skops file stays the model's home for training and evaluation (`load`).
A file written by another scikit-learn version or for another taxonomy is refused with a
clear message (ModelMismatch); the service then retrains.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifiers.predictor import Predictor
from classifiers.taxonomy import taxonomy_hash

if TYPE_CHECKING:
    from classifiers.model import TypeModel

MODEL_FILE = "types.skops"
PREDICTOR_FILE = "predictor.npz"
META_FILE = "metadata.json"
# Bump when TypeModel's fitted attributes change shape, or when the features mean something else
# (a cue word added): older files are then refused and retrained.
MODEL_FORMAT = 7
TRUSTED_PREFIXES = (
    "sklearn.",
    "numpy.",
    "scipy.",
    "builtins.",
    "classifiers.model.",
    "classifiers.predictor.",
)


class ModelMismatch(Exception):
    """The stored model cannot be used by this installation."""


class ModelMissing(Exception):
    """No model has been trained yet."""


@cache
def sklearn_version() -> str:
    """The installed scikit-learn's version, read without importing it (seconds, 100 MB)."""
    return installed_version("scikit-learn")


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
    """Write model, its predictor arrays and metadata into folder (atomically replacing an older
    model; the metadata, written last, names the version both files carry)."""
    import skops
    import skops.io as sio

    folder.mkdir(parents=True, exist_ok=True)
    now = now or datetime.now(UTC)
    info = ModelInfo(
        version=f"{now:%Y%m%d%H%M%S}-{corpus[:6]}",
        sklearn_version=sklearn_version(),
        taxonomy=taxonomy_hash(),
        trained_at=now.isoformat(),
        metrics=metrics,
        examples=examples,
        corpus=corpus,
    )
    tmp = folder / (MODEL_FILE + ".tmp")
    sio.dump(model, tmp)
    tmp.replace(folder / MODEL_FILE)
    predictor = model.predictor()
    predictor.version = info.version
    predictor.save(folder / PREDICTOR_FILE)
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
    if info.sklearn_version != sklearn_version():
        raise ModelMismatch(
            f"model in {folder} was trained with scikit-learn {info.sklearn_version}, "
            f"this installation has {sklearn_version()}: retrain with `veille train`"
        )
    if info.taxonomy != taxonomy_hash():
        raise ModelMismatch(
            f"model in {folder} was trained for another label scheme "
            f"(taxonomy {info.taxonomy}, expected {taxonomy_hash()}): retrain"
        )
    return info


def load_predictor(folder: Path) -> tuple[Predictor, ModelInfo]:
    """The stored predictor (what the tagger runs: numpy only) after checking versions."""
    info = read_info(folder)
    path = folder / PREDICTOR_FILE
    if not path.exists():
        raise ModelMismatch(f"{path} is missing: retrain with `veille train`")
    try:
        predictor = Predictor.load(path)
    except Exception as exc:  # numpy raises many kinds on a corrupt or foreign file
        raise ModelMismatch(f"{path} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if predictor.version != info.version:
        raise ModelMismatch(
            f"{path} belongs to model {predictor.version!r}, not {info.version!r}: retrain"
        )
    return predictor, info


def load(folder: Path) -> tuple[TypeModel, ModelInfo]:
    """Load the whole scikit-learn model (for training and evaluation) after checking versions
    and that the file holds only trusted types."""
    import skops.io as sio

    from classifiers.model import TypeModel

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
