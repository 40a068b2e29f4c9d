"""The web window: read-only pages, the map and feeds over aiohttp (started by `veille run`).

Routes: `/?q=` (a query's items and map), `/region/<name>`, `/map.png?q=`, `/feed.atom?q=`,
`/opml?q=&q=` (the feeds of several queries), `/static/`. Pages are Jinja2 templates with
autoescape on. Every database read and render runs in the window's own small thread pool, and
at most `concurrency` requests are served at once (others wait briefly, then get 503): a flood
of requests neither blocks the event loop nor takes the threads that polling and delivery use.
With a token, every route but `/static/` needs it (`?token=`, then a cookie; or a Bearer header).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.feeds.opml import document as opml_document
from bot.francemap import picture_size, render_map
from bot.i18n import t
from bot.query.parse import MAX_QUERY_CHARS
from bot.render import http_link
from bot.store.repo import Store
from bot.web.feeds import atom_feed
from bot.web.pages import results
from bot.web.search import describe, parse_query
from bot.weblinks import WebLinks
from classifiers.gazetteer import Gazetteer
from classifiers.taxonomy import REGIONS

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
COOKIE = "veille_token"
QUEUE_WAIT_SECONDS = 5.0
REGION_DAYS = 30
MAX_LINE_BYTES = 128 * 1024  # a 10,000-character query, percent-encoded, fits
T = TypeVar("T")


@dataclass(frozen=True)
class WebConfig:
    """What the window needs from Settings."""

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    base_url: str | None = None
    concurrency: int = 4


def languages(request: web.Request) -> str:
    """'en' or 'fr': ?lang=, else the browser's first preference among the two."""
    asked = request.query.get("lang", "")
    if asked in {"fr", "en"}:
        return asked
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in {"fr", "en"}:
            return code
    return "fr"


def templates() -> Environment:
    """The Jinja2 environment (autoescape on for every template)."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["urlq"] = lambda value: quote(str(value), safe="")
    env.filters["href"] = http_link  # only http(s) links become clickable
    return env


class WebWindow:
    """The aiohttp application and its server."""

    def __init__(
        self,
        store: Store,
        gazetteer: Callable[[], Gazetteer],
        config: WebConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._gazetteer = gazetteer
        self.env = templates()
        self.pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="veille-web")
        self.slots = asyncio.Semaphore(config.concurrency)
        self._runner: web.AppRunner | None = None
        self.port = config.port

    # ---- plumbing ---------------------------------------------------------------------

    def app(self) -> web.Application:
        """The routes and middlewares."""
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._index)
        app.router.add_get("/region/{name}", self._region)
        app.router.add_get("/map.png", self._map)
        app.router.add_get("/feed.atom", self._feed)
        app.router.add_get("/opml", self._opml)
        app.router.add_static("/static/", HERE / "static")
        return app

    async def start(self) -> None:
        """Listen on the configured address (port 0: any free port, then self.port)."""
        self._runner = web.AppRunner(
            self.app(),
            access_log=None,
            max_line_size=MAX_LINE_BYTES,
            max_field_size=MAX_LINE_BYTES,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        log.info("web window listening host=%s port=%d", self.config.host, self.port)

    async def stop(self) -> None:
        """Stop listening and release the threads."""
        if self._runner is not None:
            await self._runner.cleanup()
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def _call(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, partial(func, *args))

    def _allowed(self, request: web.Request) -> tuple[bool, bool]:
        """(allowed, came with ?token= so a cookie should be set)."""
        token = self.config.token
        if not token:
            return True, False
        given = request.query.get("token", "")
        if given and hmac.compare_digest(given.encode(), token.encode()):
            return True, True
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        cookie = request.cookies.get(COOKIE, "")
        return any(
            v and hmac.compare_digest(v.encode(), token.encode()) for v in (bearer, cookie)
        ), False

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        lang = languages(request)
        if request.path.startswith("/static/"):
            return await handler(request)
        allowed, set_cookie = self._allowed(request)
        if not allowed:
            return self._page("message.html", lang, status=401, heading=t(lang, "web_private"))
        try:
            await asyncio.wait_for(self.slots.acquire(), QUEUE_WAIT_SECONDS)
        except TimeoutError:
            busy = self._page("message.html", lang, status=503, heading=t(lang, "web_busy"))
            busy.headers["Retry-After"] = "5"
            return busy
        response: web.StreamResponse
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status != 404:
                raise
            response = self._page(
                "message.html", lang, status=404, heading=t(lang, "web_not_found")
            )
        except Exception:
            log.exception("web request failed path=%s", request.path)
            response = self._page("message.html", lang, status=500, heading=t(lang, "web_error"))
        finally:
            self.slots.release()
        if set_cookie and self.config.token:
            response.set_cookie(COOKIE, self.config.token, httponly=True, samesite="Strict")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.content_type == "text/html":
            response.headers["Content-Security-Policy"] = (
                "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
                "base-uri 'none'; frame-ancestors 'none'"
            )
        return response

    def _page(self, name: str, lang: str, *, status: int = 200, **values: Any) -> web.Response:
        html = self._render(name, lang, values)
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    def base_url(self, request: web.Request) -> str:
        """Where the window is reached: the configured address, else the request's own."""
        return self.config.base_url or f"{request.scheme}://{request.host}"

    # ---- pages ------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        lang = languages(request)
        text = request.query.get("q", "")
        gazetteer = await self._call(self._gazetteer)
        query = parse_query(text, gazetteer, self.clock())
        found = await self._call(results, self.store, query, lang)
        html = await self._call(
            self._render,
            "index.html",
            lang,
            {
                "q": query.text,
                "found": found,
                "understood": describe(query, lang),
                "feed": WebLinks("").feed(query.text, lang, private=False),
                "map_src": "/map.png?" + urlencode({"q": query.text, "lang": lang}),
            },
        )
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    def _render(self, name: str, lang: str, values: dict[str, Any]) -> str:
        return self.env.get_template(name).render(
            lang=lang,
            _=partial(t, lang),
            other_lang="en" if lang == "fr" else "fr",
            regions=REGIONS,
            max_chars=MAX_QUERY_CHARS,
            map_size=picture_size(),
            **values,
        )

    async def _region(self, request: web.Request) -> web.Response:
        lang = languages(request)
        asked = request.match_info["name"][:MAX_QUERY_CHARS]
        gazetteer = await self._call(self._gazetteer)
        name = asked if asked in REGIONS else gazetteer.resolve_region(asked)
        if name is None:
            return self._page(
                "message.html",
                lang,
                status=404,
                heading=t(lang, "web_not_found"),
                detail=t(lang, "web_region_unknown", query=asked[:80]),
                suggestions=gazetteer.suggest_regions(asked[:200]),
            )
        text = f"{name} {REGION_DAYS}j"
        query = parse_query(text, gazetteer, self.clock())
        found = await self._call(results, self.store, query, lang)
        html = await self._call(
            self._render,
            "region.html",
            lang,
            {
                "q": query.text,
                "region": name,
                "days": REGION_DAYS,
                "found": found,
                "feed": WebLinks("").feed(query.text, lang, private=False),
                "map_src": "/map.png?" + urlencode({"q": query.text, "lang": lang}),
            },
        )
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def _map(self, request: web.Request) -> web.Response:
        lang = languages(request)
        gazetteer = await self._call(self._gazetteer)
        query = parse_query(request.query.get("q", ""), gazetteer, self.clock())
        found = await self._call(partial(results, self.store, query, lang, limit=0))
        note = _note(query.start, query.end - timedelta(seconds=1), lang)
        png = await self._call(
            partial(render_map, found.counts, lang=lang, title=t(lang, "web_map_title"), note=note)
        )
        return web.Response(
            body=png, content_type="image/png", headers={"Cache-Control": "max-age=300"}
        )

    async def _feed(self, request: web.Request) -> web.Response:
        lang = languages(request)
        gazetteer = await self._call(self._gazetteer)
        text = request.query.get("q", "")
        query = parse_query(text, gazetteer, self.clock())
        found = await self._call(results, self.store, query, lang)
        links = WebLinks(self.base_url(request))
        body = atom_feed(
            [v.item for v in found.items],
            title=f"Veille — {describe(query, lang)}",
            self_url=links.feed(query.text, lang),
            page=links.page(query.text, lang),
            lang=lang,
            updated=query.end,
            also_in={v.item.id: v.sources[1:] for v in found.items},
        )
        return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")

    async def _opml(self, request: web.Request) -> web.Response:
        lang = languages(request)
        links = WebLinks(self.base_url(request), self.config.token)
        queries = [q[:MAX_QUERY_CHARS] for q in request.query.getall("q", [])][:50]
        body = opml_document(
            t(lang, "web_feeds_title"),
            [
                (
                    f"Veille — {q or t(lang, 'web_everything')}",
                    links.feed(q, lang),
                    links.page(q, lang, private=False),
                )
                for q in queries
            ],
        )
        return web.Response(
            text=body,
            content_type="text/x-opml",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="veille.opml"'},
        )


def _note(start: datetime, end: datetime, lang: str) -> str:
    return t(lang, "web_period", start=f"{start:%d/%m/%Y}", end=f"{end:%d/%m/%Y}")
