"""A digest: choose the items of a period for a chat's filters and group them by region, then type.

select_digest is the one place that reads a digest's items; the Digest it returns feeds both the
HTML renderer (bot.render.digest_html) and the weekly chart (bot.chart), so they cannot disagree.
build_digest and the time helpers are pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.i18n import t
from bot.store.repo import Store
from bot.store.rows import Filters, StoredItem, one_per_story
from classifiers.taxonomy import REGIONS, TYPES

# Group keys of items with no region: national news, and the rest (shown translated).
NATIONAL = "France entière"
ELSEWHERE = "Autres"
EVERYTHING = Filters()  # no filter: every item


@dataclass(frozen=True)
class TypeGroup:
    """Items of one initiative type within a region."""

    type: str
    items: tuple[StoredItem, ...]


@dataclass(frozen=True)
class RegionGroup:
    """Items of one region, by type."""

    region: str
    count: int
    types: tuple[TypeGroup, ...]


@dataclass(frozen=True)
class Digest:
    """A period's items for one chat, grouped for reading."""

    start: datetime
    end: datetime
    total: int
    groups: tuple[RegionGroup, ...]
    by_region: dict[str, int] = field(default_factory=dict)
    by_type: dict[str, int] = field(default_factory=dict)
    also_in: dict[int, list[str]] = field(default_factory=dict)


def group_label(region: str, lang: str) -> str:
    """A region group's name as shown: the region, or 'nationwide'/'elsewhere' translated."""
    if region == NATIONAL:
        return t(lang, "group_national")
    if region == ELSEWHERE:
        return t(lang, "group_elsewhere")
    return region


def _region_keys(item: StoredItem, wanted: frozenset[str]) -> list[str]:
    keys = [r for r in item.regions if not wanted or r in wanted]
    if keys:
        return keys
    return [NATIONAL if item.national else ELSEWHERE]


def build_digest(
    items: Iterable[StoredItem],
    *,
    start: datetime,
    end: datetime,
    filters: Filters = EVERYTHING,
    also_in: dict[int, list[str]] | None = None,
    per_group: int = 8,
) -> Digest:
    """Group the matching items of [start, end) by region then type, newest first; a story
    (the same news from several feeds) is one entry, and counts count stories."""
    chosen = one_per_story(
        sorted(
            (i for i in items if start <= i.published_at < end and filters.matches(i)),
            key=lambda i: i.published_at,
            reverse=True,
        )
    )
    by_region: dict[str, dict[str, list[StoredItem]]] = {}
    for item in chosen:
        # Under the type the reader follows, when the item has it (not its main type).
        followed = [k for k in item.types if k in filters.types]
        kind = (
            followed[0]
            if followed
            else item.primary_type or (item.types[0] if item.types else "event")
        )
        for region in _region_keys(item, filters.regions - {"national"}):
            by_region.setdefault(region, {}).setdefault(kind, []).append(item)
    order = {r: i for i, r in enumerate((*REGIONS, NATIONAL, ELSEWHERE))}
    groups = []
    for region in sorted(
        by_region, key=lambda r: (-sum(map(len, by_region[r].values())), order.get(r, 99))
    ):
        types = by_region[region]
        groups.append(
            RegionGroup(
                region=region,
                count=sum(len(v) for v in types.values()),
                types=tuple(
                    TypeGroup(t, tuple(types[t][:per_group]))
                    for t in sorted(types, key=lambda t: TYPES.index(t) if t in TYPES else 99)
                ),
            )
        )
    region_counts = Counter(r for i in chosen for r in _region_keys(i, frozenset()))
    type_counts = Counter(t for i in chosen for t in (i.types or ()))
    return Digest(
        start=start,
        end=end,
        total=len(chosen),
        groups=tuple(groups),
        by_region=dict(region_counts),
        by_type=dict(type_counts),
        also_in={k: v for k, v in (also_in or {}).items() if any(k == i.id for i in chosen)},
    )


def select_digest(store: Store, filters: Filters, start: datetime, end: datetime) -> Digest:
    """The digest of [start, end) for some filters, read from the store (at most 2,000 items)."""
    regions = filters.regions - {"national"}
    items = store.recent_items(
        since=start,
        until=end,
        limit=2000,
        regions=sorted(regions) if regions and "national" not in filters.regions else (),
        types=sorted(filters.types),
    )
    also = store.duplicates_of([i.id for i in items])
    return build_digest(items, start=start, end=end, filters=filters, also_in=also)


def next_digest_time(
    frequency: str, weekday: int, hour: int, tz_name: str, after: datetime
) -> datetime | None:
    """The first digest time strictly after `after`, at the chat's local hour (DST-safe), in UTC."""
    if frequency not in {"daily", "weekly"}:
        return None
    tz = ZoneInfo(tz_name)
    local = after.astimezone(tz)
    day = local.date()
    for offset in range(0, 9):
        candidate_day = day + timedelta(days=offset)
        if frequency == "weekly" and candidate_day.weekday() != weekday:
            continue
        candidate = datetime.combine(candidate_day, time(hour=hour), tzinfo=tz)
        # A local time skipped by a DST change resolves to the next real instant.
        as_utc = candidate.astimezone(UTC)
        if as_utc > after:
            return as_utc
    return None


def digest_period(
    frequency: str, now: datetime, last: datetime | None
) -> tuple[datetime, datetime]:
    """[start, end) covered by a digest sent now: since the last one, at most a week back."""
    span = timedelta(days=7 if frequency == "weekly" else 1)
    start = max(last, now - span) if last else now - span
    return start, now
