"""HTTP fetching of feeds (httpx on an aiohttp transport): conditional GET, caps, limits.

Library errors become FetchError subclasses here, at the boundary.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cached_property
from urllib.parse import urlsplit

import httpx
from httpx_aiohttp import AiohttpTransport

from bot.config import Settings
from bot.errors import BodyTooLarge, FetchError, FetchTimeout, HTTPStatusError

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


class Fetcher:
    """A shared HTTP client with a global and a per-host concurrency limit."""

    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        limits = httpx.Limits(
            max_connections=settings.global_concurrency,
            max_keepalive_connections=settings.global_concurrency,
        )
        self._client = httpx.AsyncClient(
            transport=transport or AiohttpTransport(limits=limits),
            timeout=httpx.Timeout(
                settings.fetch_timeout, connect=min(10.0, settings.fetch_timeout)
            ),
            follow_redirects=True,
            max_redirects=settings.max_redirects,
            headers={
                "User-Agent": settings.user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": "gzip, deflate",
            },
        )
        self._global = asyncio.Semaphore(settings.global_concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.per_host_concurrency)
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close connections."""
        await self._client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        now: datetime | None = None,
        follow_redirects: bool = True,
        accept: str | None = None,
        form: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """GET url conditionally (POST form when given); raise FetchError on failure.

        With follow_redirects=False a 3xx comes back as it is (location set), so that a caller
        can check each hop before taking it.
        """
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
                    return await self._get(url, headers, started, now or datetime.now(UTC), request)
            except TimeoutError as exc:
                raise FetchTimeout(
                    f"no complete answer within {self.settings.fetch_timeout * 3:.0f} s"
                ) from exc

    async def _get(
        self,
        url: str,
        headers: dict[str, str],
        started: float,
        now: datetime,
        request: _Request | None = None,
    ) -> FetchResult:
        cap = self.settings.max_body_bytes
        request = request or _Request()
        try:
            async with self._client.stream(
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
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > cap:
                            raise BodyTooLarge(f"body exceeds the {cap}-byte cap")
                        chunks.append(chunk)
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
        except httpx.TooManyRedirects as exc:
            raise FetchError(
                f"too many redirects (more than {self.settings.max_redirects})"
            ) from exc
        except httpx.TimeoutException as exc:
            # httpx-aiohttp maps every aiohttp connection error, a refused one included, to
            # ConnectTimeout: only a cause that is a real timeout is reported as one.
            cause = exc.__cause__
            if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
                raise FetchError(f"cannot connect: {exc}") from exc
            raise FetchTimeout(f"timed out: {type(exc).__name__}") from exc
        except httpx.ConnectError as exc:
            raise FetchError(f"cannot connect: {exc or type(exc).__name__}") from exc
        except httpx.DecodingError as exc:
            raise FetchError(f"cannot decode the response body: {exc}") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from exc
        except (OSError, ValueError) as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class _Request:
    """How to send one request (feeds: a GET that follows redirects)."""

    method: str = "GET"
    form: Mapping[str, str] | None = None
    follow_redirects: bool = True
