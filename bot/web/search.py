"""A web query -> the items it asks for, read by the bot's own query language (bot.query).

`/?q=financement Bretagne ce mois-ci` means what `/search financement Bretagne ce mois-ci`
means in Telegram. A page always covers a period: the query's own, else the last seven days
(`2026-11-24..2026-11-30` names days exactly, as the digests' week links do). Pure apart from
the store call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.query.model import Query
from bot.query.parse import MAX_QUERY_CHARS, explain, parse
from bot.store.repo import Store
from bot.store.rows import StoredItem
from classifiers.gazetteer import Gazetteer

DEFAULT_DAYS = 7
MAX_ITEMS = 2000  # items read for one page, map or feed
ZONE = ZoneInfo("Europe/Paris")  # the window's readers are in France; the bot's default zone


@dataclass(frozen=True)
class WebQuery:
    """A query as the bot reads it, with the period a page shows ([start, end), UTC)."""

    text: str
    query: Query
    start: datetime
    end: datetime
    now: datetime

    @property
    def truncated(self) -> bool:
        """True when the text was longer than the parser reads."""
        return self.query.truncated


def parse_query(text: str, gazetteer: Gazetteer, now: datetime) -> WebQuery:
    """Read a query; never raises. Without a period, the seven days before the end."""
    query = parse(text, gazetteer, now=now, tz=ZONE)
    end = min(query.until or now, now)
    start = query.since or end - timedelta(days=DEFAULT_DAYS)
    shown = " ".join(text.split())[:MAX_QUERY_CHARS]
    return WebQuery(text=shown, query=query, start=start, end=end, now=now)


def find_items(store: Store, query: WebQuery, *, limit: int = MAX_ITEMS) -> list[StoredItem]:
    """The items of the query over its period, newest first."""
    return store.recent_items(query=query.query, since=query.start, until=query.end, limit=limit)


def describe(query: WebQuery, lang: str) -> str:
    """What the query was understood as, in words ("Bretagne · financement · « jumeau »")."""
    return explain(query.query, lang, now=query.now, tz=ZONE)
