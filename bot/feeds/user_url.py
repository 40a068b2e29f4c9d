"""Fetching a URL that a user typed (Telegram /addfeed, `veille classify URL`): the one checked path.

The address is refused when it, or any hop of its redirects, resolves to a private or loopback
address, unless the operator allows it (VEILLE_ALLOW_PRIVATE_FEEDS): each hop is checked before
it is requested, on the addresses the connection uses (bot.feeds.safety); the body goes through
the feed fetcher, so its size, redirect and time caps apply.
"""

from __future__ import annotations

from datetime import datetime

from bot.config import Settings
from bot.feeds.fetcher import Fetcher, FetchResult
from bot.feeds.safety import check_public_url, must_be_public


async def fetch_user_url(settings: Settings, url: str, *, now: datetime) -> FetchResult:
    """GET url through the fetcher after the private-address check; raise UnsafeURL or FetchError."""
    allow = settings.allow_private_feeds
    await check_public_url(url, allow_private=allow)  # a clear answer before any request
    async with Fetcher(settings) as fetcher:
        return await fetcher.fetch(url, now=now, public_only=must_be_public("bot", allow))
