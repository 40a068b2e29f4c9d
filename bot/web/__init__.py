"""The web window: pages per query and per region, the map of the period, Atom and OPML out.

`app.py` (aiohttp routes, access token, bounded concurrency), `search.py` (a query read by
bot.query -> the items of its period), `pages.py` (what a page shows, as values),
`feeds.py` (Atom with feedgen), `templates/` (Jinja2, autoescaped), `static/` (CSS; no CDN).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.service import Runtime
    from bot.web.app import WebWindow


@asynccontextmanager
async def serve(rt: Runtime) -> AsyncIterator[WebWindow | None]:
    """The web window while the block runs, when VEILLE_WEB_PORT is set (else None)."""
    settings = rt.settings
    if settings.web_port is None:
        yield None
        return
    from bot.web.app import WebConfig, WebWindow

    window = WebWindow(
        rt.store,
        lambda: rt.gazetteer,
        WebConfig(
            host=settings.web_host,
            port=settings.web_port,
            token=settings.web_token_value(),
            base_url=settings.web_url,
            concurrency=settings.web_concurrency,
        ),
        rt.clock,
    )
    await window.start()
    try:
        yield window
    finally:
        await window.stop()
