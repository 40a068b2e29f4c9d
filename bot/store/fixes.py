"""User corrections laid over a tagger result (pure): what every stored tag write applies, so a
correction shows at once and survives `veille retag` and the article stage's re-tagging.

A correction is (field, value): regions (a list; [] for "no region"), national, types,
primary_type (added to the types), topic_ai or countries; later ones win, and a region or
type outside the taxonomy is ignored. The result says which fields a user corrected
(`corrected_by_user`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from classifiers.taxonomy import REGIONS, TYPES

FIELDS = ("regions", "countries", "national", "types", "primary_type", "topic_ai")


def apply_fixes(result: dict[str, Any], fixes: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """A copy of a tagger result with the corrections applied in order, and marked."""
    out = dict(result)
    corrected: list[str] = list(out.get("corrected_by_user") or [])
    for field, value in fixes:
        if field not in FIELDS or not _valid(field, value):
            continue
        if field == "primary_type" and value not in (out.get("types") or []):
            out["types"] = [*(out.get("types") or []), value]
        elif field == "types" and out.get("primary_type") not in (value or []):
            out["primary_type"] = value[0] if value else None
        elif field == "regions" and value:
            out["national"] = False  # a named region: not France-wide news
        elif field == "national" and value:
            out["regions"] = []
        out[field] = value
        if field not in corrected:
            corrected.append(field)
    if corrected:
        out["corrected_by_user"] = corrected
    return out


def _valid(field: str, value: Any) -> bool:
    """False for a label the taxonomy does not know (it would land in the label index)."""
    if field == "regions":
        return isinstance(value, list) and all(v in REGIONS for v in value)
    if field == "types":
        return isinstance(value, list) and all(v in TYPES for v in value)
    if field == "primary_type":
        return value in TYPES
    if field == "countries":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, bool)
