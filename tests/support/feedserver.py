"""A real HTTP server on loopback that serves feed files and misbehaves on demand."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web


@dataclass
class Route:
    """What one path answers."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True  # answer 304 to a matching If-None-Match
    gzip: bool = False  # send with Content-Encoding: gzip
    redirect_to: str | None = None
    byte_delay: float = 0.0  # seconds between bytes (slowloris)
    stream_bytes: int = 0  # stream this many filler bytes instead of body (huge bodies)


class FeedServer:
    """Serves Routes on 127.0.0.1 (or another loopback host) from a background thread; counts
    requests per path."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self.conditional_hits: dict[str, int] = {}
        self.posted: dict[str, list[bytes]] = {}  # bodies of POST requests, per path
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = port

    @property
    def base(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT."""
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of a path."""
        return self.base + path

    def add(self, path: str, route: Route) -> str:
        """Serve route at path; return its URL."""
        self.routes[path] = route
        return self.url(path)

    def add_file(self, path: str, file: Path, **kw: object) -> str:
        """Serve a file's bytes at path."""
        return self.add(path, Route(body=file.read_bytes(), **kw))  # type: ignore[arg-type]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] = self.hits.get(path, 0) + 1
        if request.method == "POST":
            self.posted.setdefault(path, []).append(await request.read())
        route = self.routes.get(path)
        if route is None:
            return web.Response(status=404, text="not found")
        if route.redirect_to:
            return web.Response(status=route.status, headers={"Location": route.redirect_to})
        tag = '"' + hashlib.md5(route.body).hexdigest() + '"'
        if route.etag and request.headers.get("If-None-Match") == tag and route.status == 200:
            self.conditional_hits[path] = self.conditional_hits.get(path, 0) + 1
            return web.Response(status=304, headers={"ETag": tag})
        headers = {"Content-Type": route.content_type, **route.headers}
        if route.etag:
            headers["ETag"] = tag
        if route.stream_bytes or route.byte_delay:
            resp = web.StreamResponse(status=route.status, headers=headers)
            await resp.prepare(request)
            try:
                if route.stream_bytes:
                    chunk = b"<item>" + b"x" * 65530
                    sent = 0
                    while sent < route.stream_bytes:
                        await resp.write(chunk)
                        sent += len(chunk)
                else:
                    for i in range(len(route.body)):
                        await resp.write(route.body[i : i + 1])
                        await asyncio.sleep(route.byte_delay)
            except (ConnectionResetError, asyncio.CancelledError):
                return resp
            return resp
        body = route.body
        if route.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return web.Response(status=route.status, body=body, headers=headers)

    def start(self) -> FeedServer:
        """Start serving; returns self."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=2048)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
