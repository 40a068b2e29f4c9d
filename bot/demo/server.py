"""A loopback HTTP server for the bundled sample feeds, with dates moved to the current week."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from aiohttp import web

SAMPLES = Path(__file__).parent / "samples"
# The samples are written for the week ending on this day; the server shifts them to today.
SAMPLES_WRITTEN_FOR = date(2026, 11, 21)
_RFC822 = re.compile(rb"<(pubDate|lastBuildDate)>([^<]+)</\1>")
_ISO = re.compile(rb"<(dc:date|updated|published)>([^<]+)</\1>")

FEED_FILES = {
    "regions-actu.rss.xml": ("demo-regions-actu", "Actu Régions (démo)"),
    "innovation-agences.atom.xml": ("demo-innovation-agences", "Agences d'innovation (démo)"),
    "labos-recherche.rdf.xml": ("demo-labos-recherche", "Labos & recherche (démo)"),
    "seeds.rss.xml": ("demo-seeds", "Articles de référence (démo)"),
}


def shift_dates(body: bytes, delta: timedelta) -> bytes:
    """Move every RFC 822 and ISO 8601 date of a feed document by delta."""

    def rfc(match: re.Match[bytes]) -> bytes:
        try:
            value = parsedate_to_datetime(match.group(2).decode().strip()) + delta
        except (TypeError, ValueError):
            return match.group(0)
        return b"<%s>%s</%s>" % (match.group(1), format_datetime(value).encode(), match.group(1))

    def iso(match: re.Match[bytes]) -> bytes:
        raw = match.group(2).decode().strip()
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00")) + delta
        except ValueError:
            return match.group(0)
        return b"<%s>%s</%s>" % (match.group(1), value.isoformat().encode(), match.group(1))

    return _ISO.sub(iso, _RFC822.sub(rfc, body))


def sample_bodies(today: date) -> dict[str, bytes]:
    """The sample files by name, dated as if written this week."""
    delta = timedelta(days=(today - SAMPLES_WRITTEN_FOR).days)
    return {name: shift_dates((SAMPLES / name).read_bytes(), delta) for name in FEED_FILES}


class DemoServer:
    """Serves the samples at http://127.0.0.1:PORT/<file>."""

    def __init__(self, now: datetime) -> None:
        self.bodies = sample_bodies(now.astimezone(UTC).date())
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        body = self.bodies.get(request.match_info["name"])
        if body is None:
            return web.Response(status=404)
        kind = (
            "application/atom+xml" if request.path.endswith(".atom.xml") else "application/rss+xml"
        )
        return web.Response(body=body, content_type=kind)

    async def start(self) -> str:
        """Start and return the base URL."""
        app = web.Application()
        app.router.add_get("/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
