"""A web query -> the items it asks for (the one place to swap in the bot's query language).

Until the bot has one query language, a query here reads the way `/subscribe` does: region
names (any gazetteer spelling), initiative types (French or English), quoted phrases and free
words (an item must contain one of them), `-word` exclusions, and a period (`7j`, `30j`,
`cette semaine`, `ce mois-ci`, `this week`, `2026-11-24..2026-12-01`). Unknown words are kept as
keywords, so nothing the user typed is silently dropped. Pure apart from the store call.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from bot.query.parse import resolve_type
from bot.store.repo import Store
from bot.store.rows import Filters, StoredItem
from classifiers.gazetteer import Gazetteer

MAX_QUERY_CHARS = 500  # longer queries are cut here (and the page says so)
MAX_TERMS = 40
DEFAULT_DAYS = 7
MAX_ITEMS = 2000  # items read for one page, map or feed (then filtered)
PERIOD_WORDS: dict[str, int] = {
    "cette semaine": 7,
    "this week": 7,
    "semaine": 7,
    "ce mois-ci": 31,
    "ce mois": 31,
    "this month": 31,
    "mois": 31,
    "aujourd'hui": 1,
    "today": 1,
    "cette annee": 366,
    "cette année": 366,
    "this year": 366,
}
DAYS = re.compile(r"^(\d{1,3})\s*(?:j|d|jours|days)$", re.IGNORECASE)
DATES = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.\.(\d{4}-\d{2}-\d{2}))?$")


@dataclass(frozen=True)
class WebQuery:
    """What a query asks for: filters, a period, and whether the text was cut."""

    text: str
    filters: Filters
    start: datetime
    end: datetime
    truncated: bool = False


def _period(token: str, now: datetime) -> tuple[datetime, datetime] | None:
    low = token.lower().strip()
    if low in PERIOD_WORDS:
        return now - timedelta(days=PERIOD_WORDS[low]), now
    match = DAYS.match(low)
    if match and 0 < int(match.group(1)) <= 366:
        return now - timedelta(days=int(match.group(1))), now
    match = DATES.match(low)
    if match:
        try:
            first = date.fromisoformat(match.group(1))
            last = date.fromisoformat(match.group(2)) if match.group(2) else now.date()
        except ValueError:
            return None
        start = datetime.combine(first, time(), tzinfo=UTC)
        end = datetime.combine(last, time(), tzinfo=UTC) + timedelta(days=1)
        return (start, end) if start < end else None
    return None


def _tokens(text: str) -> list[str]:
    quoted = text.replace("«", '"').replace("»", '"').replace("“", '"').replace("”", '"')
    try:
        return shlex.split(quoted)
    except ValueError:  # an unbalanced quote: read the words as they are
        return quoted.replace('"', " ").split()


def parse_query(text: str, gazetteer: Gazetteer, now: datetime) -> WebQuery:
    """Read a query; never raises (unknown words become keywords)."""
    text = "".join(c for c in text if c.isprintable())
    truncated = len(text) > MAX_QUERY_CHARS
    text = text[:MAX_QUERY_CHARS].strip()
    regions: set[str] = set()
    types: set[str] = set()
    keywords: list[str] = []
    excludes: list[str] = []
    start, end = now - timedelta(days=DEFAULT_DAYS), now
    tokens = _tokens(text)[:MAX_TERMS]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        # The longest run of words that names a period or a region ("Pays de la Loire").
        for n in range(min(4, len(tokens) - i), 1, -1):
            window = " ".join(tokens[i : i + n])
            if period := _period(window, now):
                start, end = period
                break
            if name := gazetteer.resolve_region(window):
                regions.add(name)
                break
            if kind := resolve_type(window):
                types.add(kind)
                break
        else:
            n = 1
            if period := _period(token, now):
                start, end = period
            elif token.startswith("-") and len(token) > 1:
                excludes.append(token[1:])
            elif token.lower() in {"national", "nationale", "france"}:
                regions.add("national")
            elif kind := resolve_type(token):
                types.add(kind)
            elif name := gazetteer.resolve_region(token):
                regions.add(name)
            else:
                keywords.append(token)
        i += n
    filters = Filters(
        regions=frozenset(regions),
        types=frozenset(types),
        keywords=tuple(dict.fromkeys(keywords)),
        excludes=tuple(dict.fromkeys(excludes)),
    )
    return WebQuery(text=text, filters=filters, start=start, end=end, truncated=truncated)


def find_items(store: Store, query: WebQuery, *, limit: int = MAX_ITEMS) -> list[StoredItem]:
    """The items of the query's period that pass its filters, newest first."""
    wanted = query.filters.regions
    items = store.recent_items(
        since=query.start,
        until=query.end,
        limit=limit,
        regions=sorted(wanted) if wanted and "national" not in wanted else (),
        types=sorted(query.filters.types),
    )
    return [i for i in items if query.filters.matches(i)]
