"""HTTP fetching of feeds and pages (httpx on an aiohttp transport): conditional GET, caps, limits.

Library errors become FetchError subclasses here, at the boundary. The body is decoded here
too (not by httpx, which inflates a whole network chunk before any size check): one coding at
most, inflated piece by piece under the body cap. `public_only` fetches (URLs from Telegram)
go through a second client whose every hop and resolved address is checked (bot.feeds.safety).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import zlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver
from httpx_aiohttp import AiohttpTransport

from bot.config import Settings
from bot.errors import BodyTooLarge, FetchError, FetchTimeout, HTTPStatusError, UnsafeURL
from bot.feeds.safety import AddressCheck, PublicResolver, is_public, request_check, unsafe_cause

ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
PERMANENT = {301, 308}


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one conditional GET."""

    url: str
    status: int
    body: bytes | None
    content_type: str | None
    etag: str | None
    last_modified: str | None
    final_url: str
    permanent_redirect: bool
    max_age: float | None
    retry_after: float | None
    elapsed: float
    location: str | None = None  # a redirect's target, when redirects are not followed

    @property
    def is_redirect(self) -> bool:
        """True for a 3xx answer that names its target (only when redirects are not followed)."""
        return 300 <= self.status < 400 and self.status != 304 and bool(self.location)

    @property
    def not_modified(self) -> bool:
        """True for a 304."""
        return self.status == 304

    @cached_property
    def body_hash(self) -> str | None:
        """SHA-256 of the body, to skip parsing an unchanged document (computed once)."""
        return hashlib.sha256(self.body).hexdigest() if self.body is not None else None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def parse_max_age(cache_control: str | None) -> float | None:
    """max-age from Cache-Control, or None."""
    if not cache_control:
        return None
    match = re.search(r"(?:^|[,\s])max-age\s*=\s*(\d+)", cache_control)
    return float(match.group(1)) if match else None


class BodyDecoder:
    """Inflates a body as it arrives, refusing more than `cap` decoded bytes.

    One Content-Encoding at most (gzip or deflate; identity is none): a stacked coding such as
    "gzip, gzip" multiplies the expansion of every chunk, and no real feed server sends one.
    """

    def __init__(self, content_encoding: str | None, cap: int) -> None:
        codings = [
            c.strip().lower()
            for c in (content_encoding or "").split(",")
            if c.strip() and c.strip().lower() != "identity"
        ]
        if len(codings) > 1:
            raise FetchError(f"stacked Content-Encoding refused: {content_encoding}")
        self.coding = codings[0] if codings else None
        if self.coding not in {None, "gzip", "x-gzip", "deflate"}:
            raise FetchError(f"unsupported Content-Encoding: {self.coding}")
        self.cap = cap
        self.size = 0
        self._raw_deflate = False
        self._inflater: Any = self._new_inflater()

    def _new_inflater(self) -> Any:
        if self.coding in {"gzip", "x-gzip"}:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.coding == "deflate":
            return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)
        return None

    def _count(self, piece: bytes) -> bytes:
        self.size += len(piece)
        if self.size > self.cap:
            raise BodyTooLarge(f"body exceeds the {self.cap}-byte cap")
        return piece

    def feed(self, chunk: bytes) -> bytes:
        """The decoded bytes of one raw chunk (never more than the cap allows)."""
        if self._inflater is None:
            return self._count(chunk)
        out: list[bytes] = []
        data = chunk
        while data:
            try:
                piece = self._inflater.decompress(data, self.cap - self.size + 1)
            except zlib.error as exc:
                if self.coding == "deflate" and not self._raw_deflate and self.size == 0:
                    # Some servers send raw deflate without the zlib header (as httpx allows).
                    self._raw_deflate = True
                    self._inflater = self._new_inflater()
                    continue
                raise FetchError(f"cannot decode the response body: {exc}") from exc
            out.append(self._count(piece))
            data = self._inflater.unconsumed_tail
            if not data and self._inflater.eof and self._inflater.unused_data:
                data = self._inflater.unused_data  # a next gzip member
                self._inflater = self._new_inflater()
        return b"".join(out)


class Fetcher:
    """A shared HTTP client with a global and a per-host concurrency limit.

    `fetch(url, public_only=True)` is the one entry for URLs that came from Telegram (a feed
    added with /addfeed and the article pages it links to): see bot.feeds.safety.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        allowed: AddressCheck = is_public,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.settings = settings
        self._limits = httpx.Limits(
            max_connections=settings.global_concurrency,
            max_keepalive_connections=settings.global_concurrency,
        )
        self._client = self._make_client(transport or AiohttpTransport(limits=self._limits))
        # Built on first use: most deployments have no feed added from Telegram.
        self._allowed = allowed
        self._resolver = resolver
        self._public_client: httpx.AsyncClient | None = None
        self._global = asyncio.Semaphore(settings.global_concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.per_host_concurrency)
        )

    def _make_client(
        self, transport: httpx.AsyncBaseTransport, *, hooks: list[Any] | None = None
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(
                self.settings.fetch_timeout, connect=min(10.0, self.settings.fetch_timeout)
            ),
            follow_redirects=True,
            max_redirects=self.settings.max_redirects,
            headers={
                "User-Agent": self.settings.user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": "gzip, deflate",
            },
            event_hooks={"request": hooks or []},
        )

    def _public(self) -> httpx.AsyncClient:
        """The client for URLs from Telegram: each hop checked, addresses pinned by the resolver."""
        if self._public_client is None:
            allowed, base = self._allowed, self._resolver

            def session() -> aiohttp.ClientSession:
                connector = aiohttp.TCPConnector(
                    resolver=PublicResolver(base, allowed=allowed),
                    limit=self.settings.global_concurrency,
                )
                return aiohttp.ClientSession(connector=connector)

            self._public_client = self._make_client(
                AiohttpTransport(limits=self._limits, client=session),
                hooks=[request_check(allowed)],
            )
        return self._public_client

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close connections."""
        await self._client.aclose()
        if self._public_client is not None:
            await self._public_client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        now: datetime | None = None,
        public_only: bool = False,
        follow_redirects: bool = True,
        accept: str | None = None,
        form: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """GET url conditionally (POST form when given); raise FetchError (with retry_after when
        given) on failure.

        public_only: the URL came from Telegram; UnsafeURL when it, or any redirect hop,
        reaches a private address (checked on the addresses actually connected to).
        With follow_redirects=False a 3xx comes back as it is (location set), so that a caller
        can check each hop before taking it.
        """
        client = self._public() if public_only else self._client
        host = (urlsplit(url).hostname or "").lower()
        headers: dict[str, str] = {"Accept": accept} if accept else {}
        request = _Request("POST" if form is not None else "GET", form, follow_redirects)
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        async with self._global, self._hosts[host]:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.settings.fetch_timeout * 3):
                    return await self._get(
                        client, url, headers, started, now or datetime.now(UTC), request
                    )
            except TimeoutError as exc:
                raise FetchTimeout(
                    f"no complete answer within {self.settings.fetch_timeout * 3:.0f} s"
                ) from exc

    async def _get(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        started: float,
        now: datetime,
        request: _Request | None = None,
    ) -> FetchResult:
        cap = self.settings.max_body_bytes
        request = request or _Request()
        try:
            async with client.stream(
                request.method,
                url,
                headers=headers,
                data=request.form,
                follow_redirects=request.follow_redirects,
            ) as resp:
                retry_after = parse_retry_after(resp.headers.get("retry-after"), now)
                if resp.status_code >= 400:
                    raise HTTPStatusError(
                        resp.status_code,
                        f"HTTP {resp.status_code} {resp.reason_phrase}".strip(),
                        retry_after,
                    )
                body: bytes | None = None
                if resp.status_code != 304:
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > cap:
                        raise BodyTooLarge(
                            f"body of {int(declared)} bytes exceeds the {cap}-byte cap"
                        )
                    decoder = BodyDecoder(resp.headers.get("content-encoding"), cap)
                    chunks: list[bytes] = []
                    async for chunk in resp.aiter_raw():
                        chunks.append(decoder.feed(chunk))
                    body = b"".join(chunks)
                history = resp.history
                return FetchResult(
                    url=url,
                    status=resp.status_code,
                    body=body,
                    content_type=resp.headers.get("content-type"),
                    etag=resp.headers.get("etag"),
                    last_modified=resp.headers.get("last-modified"),
                    final_url=str(resp.url),
                    permanent_redirect=bool(history)
                    and all(h.status_code in PERMANENT for h in history),
                    max_age=parse_max_age(resp.headers.get("cache-control")),
                    retry_after=retry_after,
                    elapsed=time.perf_counter() - started,
                    location=None if request.follow_redirects else resp.headers.get("location"),
                )
        except httpx.HTTPError as exc:
            raise self._translate(exc) from exc
        except (OSError, ValueError) as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from exc

    def _translate(self, exc: httpx.HTTPError) -> FetchError:
        """Our error for an httpx one."""
        unsafe = unsafe_cause(exc)
        if unsafe is not None:
            return UnsafeURL(str(unsafe))
        if isinstance(exc, httpx.TooManyRedirects):
            return FetchError(f"too many redirects (more than {self.settings.max_redirects})")
        if isinstance(exc, httpx.TimeoutException):
            # httpx-aiohttp maps every aiohttp connection error, a refused one included, to
            # ConnectTimeout: only a cause that is a real timeout is reported as one.
            cause = exc.__cause__
            if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
                return FetchError(f"cannot connect: {exc}")
            return FetchTimeout(f"timed out: {type(exc).__name__}")
        if isinstance(exc, httpx.ConnectError):
            return FetchError(f"cannot connect: {exc or type(exc).__name__}")
        if isinstance(exc, httpx.DecodingError):
            return FetchError(f"cannot decode the response body: {exc}")
        return FetchError(f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class _Request:
    """How to send one request (feeds: a GET that follows redirects)."""

    method: str = "GET"
    form: Mapping[str, str] | None = None
    follow_redirects: bool = True
