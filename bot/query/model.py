"""A parsed query (bot.query.parse makes them; the store and the alert matcher read them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.query.period import Period

NATIONAL = "national"  # the region value of France-wide items, as in subscriptions


@dataclass(frozen=True)
class Query:
    """What a query asks for. Empty fields mean 'no constraint'.

    terms is a conjunction of alternatives: every group must match, any term of a group does;
    a term with a space is a phrase. Terms and excludes are lowercase words (bot.query.stems.term),
    accents kept; the search folds and stems them.
    """

    regions: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    period: Period | None = None
    terms: tuple[tuple[str, ...], ...] = ()
    excludes: tuple[str, ...] = ()
    places: tuple[tuple[str, str], ...] = ()  # (what the user wrote, region) when not a region name
    unknown: tuple[str, ...] = ()  # free words as written, for "did you mean" suggestions
    truncated: bool = False

    @property
    def empty(self) -> bool:
        """True when the query constrains nothing."""
        return not (self.regions or self.types or self.period or self.terms or self.excludes)

    @property
    def since(self) -> datetime | None:
        """Start of the period (UTC), if any."""
        return self.period.start if self.period else None

    @property
    def until(self) -> datetime | None:
        """End of the period (UTC, exclusive), if any."""
        return self.period.end if self.period else None

    def to_json(self) -> dict[str, Any]:
        """The query as JSON data (alert profiles store it); the period is not kept."""
        return {
            "regions": list(self.regions),
            "types": list(self.types),
            "terms": [list(g) for g in self.terms],
            "excludes": list(self.excludes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Query:
        """The inverse of to_json (unknown keys ignored)."""
        return cls(
            regions=tuple(str(r) for r in data.get("regions", ())),
            types=tuple(str(t) for t in data.get("types", ())),
            terms=tuple(tuple(str(t) for t in g) for g in data.get("terms", ()) if g),
            excludes=tuple(str(e) for e in data.get("excludes", ())),
        )
