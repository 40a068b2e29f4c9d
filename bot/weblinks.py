"""Addresses in the web window (a query's page, Atom feed, OPML), for the bot's messages.

Light on purpose: the bot imports it without aiohttp, Jinja2 or feedgen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from bot.config import Settings
from bot.i18n import t
from bot.render import esc

MAX_LINK_CHARS = 900  # a Telegram caption holds 1,024 characters


@dataclass(frozen=True)
class WebLinks:
    """Where the web window is reached, and its token when it is private."""

    base_url: str
    token: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WebLinks | None:
        """The window's links, or None when VEILLE_WEB_PORT is not set."""
        address = settings.web_address
        return cls(address, settings.web_token_value()) if address else None

    def _url(self, path: str, params: list[tuple[str, str]], *, private: bool) -> str:
        if private and self.token:
            params = [*params, ("token", self.token)]
        return f"{self.base_url.rstrip('/')}{path}?{urlencode(params)}"

    def feed(self, query: str, lang: str = "fr", *, private: bool = True) -> str:
        """The Atom feed of a query (with the token: feed readers send no cookie)."""
        return self._url("/feed.atom", [("q", query), ("lang", lang)], private=private)

    def page(self, query: str, lang: str = "fr", *, private: bool = True) -> str:
        """The web page of a query (the token, when set, opens the window in the browser)."""
        return self._url("/", [("q", query), ("lang", lang)], private=private)

    def opml(self, queries: Sequence[str], lang: str = "fr") -> str:
        """An OPML file listing the Atom feeds of these queries."""
        return self._url("/opml", [*(("q", q) for q in queries), ("lang", lang)], private=True)


def week_query(query: str, start: datetime, end: datetime) -> str:
    """A query limited to the days of a digest (`2026-11-23..2026-11-30`)."""
    return f"{query} {start:%Y-%m-%d}..{end:%Y-%m-%d}".strip()


def week_line(links: WebLinks, query: str, start: datetime, end: datetime, lang: str) -> str:
    """Telegram HTML: a link to the web page of a digest's week for this query text."""
    url = links.page(week_query(query, start, end), lang)
    if len(url) > MAX_LINK_CHARS:  # very long keywords: the week for everything
        url = links.page(week_query("", start, end), lang)
    return f'🗺 <a href="{esc(url)}">{esc(t(lang, "web_week_link"))}</a>'
