"""Fetching a URL that a user typed (Telegram /addfeed, `veille classify URL`): the one checked path.

The address is refused when it (or the address it redirected to) resolves to a private or loopback
address, unless the operator allows it (VEILLE_ALLOW_PRIVATE_FEEDS); the body goes through the
feed fetcher, so its size, redirect and time caps apply.
"""

from __future__ import annotations

from datetime import datetime

from bot.config import Settings
from bot.feeds.fetcher import Fetcher, FetchResult
from bot.feeds.safety import check_public_url


async def fetch_user_url(settings: Settings, url: str, *, now: datetime) -> FetchResult:
    """GET url through the fetcher after the private-address check; raise UnsafeURL or FetchError."""
    allow = settings.allow_private_feeds
    await check_public_url(url, allow_private=allow)
    async with Fetcher(settings) as fetcher:
        result = await fetcher.fetch(url, now=now)
    if not allow and result.final_url != url:
        await check_public_url(result.final_url)
    return result
