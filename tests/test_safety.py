"""The private-address check for URLs that come from Telegram (/addfeed, `veille classify URL`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.config import load_settings
from bot.errors import UnsafeURL
from bot.feeds.safety import check_public_url, is_public
from bot.feeds.user_url import fetch_user_url
from tests.support.feedserver import FeedServer, Route


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_routable_addresses_are_public(address: str) -> None:
    assert is_public(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/rss",
        "http://localhost:8080/rss",
        "http://[::1]/rss",
        "https://10.0.0.1/",
        "file:///etc/passwd",
        "gopher://example.org/",
        "http:///nohost",
    ],
)
def test_check_public_url_refuses(url: str) -> None:
    with pytest.raises(UnsafeURL):
        asyncio.run(check_public_url(url))


def test_the_operator_may_allow_private_addresses_but_not_other_schemes() -> None:
    asyncio.run(check_public_url("http://127.0.0.1/rss", allow_private=True))
    with pytest.raises(UnsafeURL):
        asyncio.run(check_public_url("file:///etc/passwd", allow_private=True))


def test_user_urls_go_through_the_check_before_any_request(feed_server: FeedServer) -> None:
    url = feed_server.add("/rss", Route(body=b"<rss/>"))
    settings = load_settings({})
    with pytest.raises(UnsafeURL):
        asyncio.run(fetch_user_url(settings, url, now=_now()))
    assert feed_server.hits.get("/rss", 0) == 0
    allowed = load_settings({"VEILLE_ALLOW_PRIVATE_FEEDS": "true"})
    result = asyncio.run(fetch_user_url(allowed, url, now=_now()))
    assert result.body == b"<rss/>"


def _now() -> datetime:
    return datetime.now(UTC)
