"""Refuse URLs that came from Telegram when they reach inside the network (SSRF).

Operator feeds (feeds.yaml) may point anywhere; a feed added with /addfeed, and the article
pages it links to, are fetched with `public_only=True` (see `must_be_public`). Then:

- every request, redirect hops included, is checked before it is sent (an IP-literal host by
  `check_request`, a name by the resolver);
- the resolver on the connection (`PublicResolver`) refuses a name that resolves to any private
  address, and the connection uses exactly the addresses it checked — no second lookup a DNS
  rebinding could answer differently;
- this happens on every fetch, so a name that turns private later is refused at the next poll.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from bot.errors import UnsafeURL

AddressCheck = Callable[[str], bool]


def is_public(address: str) -> bool:
    """True for a globally routable address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def must_be_public(source: str, allow_private: bool) -> bool:
    """Whether fetches for a feed (and its article pages) are limited to public addresses:
    feeds added from Telegram are, unless VEILLE_ALLOW_PRIVATE_FEEDS; operator feeds never."""
    return source == "bot" and not allow_private


class PrivateAddress(OSError):
    """Raised inside the connector: aiohttp wraps resolver errors that are OSErrors."""


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


class PublicResolver(AbstractResolver):
    """An aiohttp resolver that refuses names resolving to any non-public address."""

    def __init__(
        self, base: AbstractResolver | None = None, *, allowed: AddressCheck = is_public
    ) -> None:
        self._base = base or DefaultResolver()
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The base resolver's answer, when every address in it is public."""
        results = await self._base.resolve(host, port, family)
        refused = sorted({r["host"] for r in results if not self._allowed(r["host"])})
        if refused:
            raise PrivateAddress(
                f"{host} resolves to a private or loopback address ({', '.join(refused)})"
            )
        return results

    async def close(self) -> None:
        """Close the base resolver."""
        await self._base.close()


def request_check(allowed: AddressCheck = is_public) -> Callable[[httpx.Request], Any]:
    """An httpx request hook, run before every request including each redirect hop: refuses
    non-http(s) URLs and IP-literal hosts that are not public (names go to the resolver)."""

    async def check(request: httpx.Request) -> None:
        if request.url.scheme not in {"http", "https"}:
            raise UnsafeURL(f"not an http(s) URL: {request.url}")
        literal = _ip_literal(request.url.host)
        if literal is not None and not allowed(literal):
            raise UnsafeURL(f"{request.url.host} is a private or loopback address")

    return check


def unsafe_cause(exc: BaseException) -> PrivateAddress | None:
    """The PrivateAddress behind a connection error, if that is what it was."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, PrivateAddress):
            return current
        todo.extend([current.__cause__, current.__context__, getattr(current, "os_error", None)])
    return None


async def check_public_url(url: str, *, allow_private: bool = False) -> None:
    """Raise UnsafeURL unless url is http(s) and every address its host resolves to is public
    (a first answer for the user; the fetch itself checks again, hop by hop)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UnsafeURL(f"not an http(s) URL: {url}")
    if allow_private:
        return
    host = parts.hostname
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, parts.port or 80, type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise UnsafeURL(f"cannot resolve {host}: {exc.strerror}") from exc
    addresses = {str(info[4][0]) for info in infos}
    private = sorted(a for a in addresses if not is_public(a))
    if private:
        raise UnsafeURL(f"{host} resolves to a private or loopback address ({', '.join(private)})")
