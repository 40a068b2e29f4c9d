"""What the web pages show, as plain values (pure apart from the store reads): the I/O-free
half of the web window, so that the templates only lay it out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.i18n import t, type_label
from bot.store.repo import Store
from bot.store.rows import StoredItem
from bot.web.search import WebQuery, find_items
from classifiers.taxonomy import REGIONS

PAGE_ITEMS = 50


@dataclass(frozen=True)
class Evidence:
    """One tag and the words that gave it."""

    label: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class ItemView:
    """One item as a page shows it: sources, tags and the evidence behind them."""

    item: StoredItem
    sources: tuple[str, ...]
    regions: tuple[str, ...]
    types: tuple[str, ...]
    primary: str | None
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Results:
    """A query's items over its period, with the counts the map draws."""

    query: WebQuery
    items: tuple[ItemView, ...]
    total: int
    counts: dict[str, int] = field(default_factory=dict)


def region_counts(items: Sequence[StoredItem]) -> dict[str, int]:
    """Items per region (an item of two regions counts in both), and nationwide ones."""
    counts = Counter(r for i in items for r in i.regions if r in REGIONS)
    national = sum(1 for i in items if i.national)
    return {**counts, "national": national} if national else dict(counts)


def _evidence(result: dict[str, Any] | None, lang: str) -> tuple[Evidence, ...]:
    if not result:
        return ()
    found = result.get("evidence", {})
    out = [
        Evidence(r, tuple(found.get("regions", {}).get(r, [])[:6]))
        for r in result.get("regions", [])
    ]
    if result.get("national"):
        out.append(Evidence(t(lang, "web_national"), tuple(found.get("national", [])[:4])))
    out += [
        Evidence(type_label(k, lang), tuple(found.get("types", {}).get(k, [])[:6]))
        for k in result.get("types", [])
    ]
    return tuple(out)


def results(store: Store, query: WebQuery, lang: str, *, limit: int = PAGE_ITEMS) -> Results:
    """The items of a query (the first `limit` with sources and evidence) and its counts."""
    found = find_items(store, query)
    shown = found[:limit]
    also = store.duplicates_of([i.id for i in shown])
    views = tuple(
        ItemView(
            item=i,
            sources=(i.feed_name, *also.get(i.id, ())),
            regions=i.regions,
            types=tuple(type_label(k, lang) for k in i.types),
            primary=type_label(i.primary_type, lang) if i.primary_type else None,
            evidence=_evidence(store.item_result(i.id), lang),
        )
        for i in shown
    )
    return Results(query=query, items=views, total=len(found), counts=region_counts(found))
