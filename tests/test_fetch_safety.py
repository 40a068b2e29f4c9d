"""Hostile servers: stacked Content-Encoding bombs (peak memory measured in a child process)
and SSRF through redirects, permanent redirects and DNS rebinding.

For the SSRF tests, 127.0.0.1 stands for the public internet and 127.0.0.2 for an internal
service (Linux routes all of 127/8 to loopback); names are answered by a stub resolver (the
one part that cannot run here: DNS for arbitrary names).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.config import Settings
from bot.errors import UnsafeURL
from bot.feeds.fetcher import Fetcher
from bot.feeds.poller import Poller
from bot.feeds.workers import make_parse_pool
from bot.store.repo import Store
from tests.conftest import NOW, feed_config, rss
from tests.support.feedserver import FeedServer, Route

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[1]
FEED = rss(("Un article sur l'IA en Bretagne", "https://example.org/1"))
INTERNAL = "127.0.0.2"


def _deflated(chunks: Iterator[bytes], wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join([*(packer.compress(c) for c in chunks), packer.flush()])


def _zeros(megabytes: int) -> Iterator[bytes]:
    block = b"\0" * (1 << 20)
    return (block for _ in range(megabytes))


GZIP, DEFLATE = 31, 15  # zlib wbits of each coding


def bomb(codings: list[str], megabytes: int = 300) -> bytes:
    """megabytes of zeros, encoded with each coding in order (the header lists them so)."""
    data = _deflated(_zeros(megabytes), GZIP if codings[0] == "gzip" else DEFLATE)
    for coding in codings[1:]:
        data = _deflated(iter([data]), GZIP if coding == "gzip" else DEFLATE)
    return data


PEAK_SCRIPT = """
import asyncio, json, resource, sys
from bot.config import load_settings
from bot.feeds.fetcher import Fetcher

async def main(url):
    async with Fetcher(load_settings({"VEILLE_STATE_DIR": sys.argv[2]})) as fetcher:
        try:
            result = await fetcher.fetch(url)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return f"ok {len(result.body or b'')} bytes"

def high_water_kb():
    # VmHWM belongs to this process's own address space: ru_maxrss would carry the parent's
    # peak over fork and exec (pytest's, late in a long run).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

before = high_water_kb()
outcome = asyncio.run(main(sys.argv[1]))
peak = high_water_kb()
print(json.dumps({"outcome": outcome, "before_mb": before / 1024, "peak_mb": peak / 1024}))
"""


def fetch_in_child(url: str, tmp_path: Path) -> dict[str, Any]:
    """Fetch url in a fresh Python process; its outcome and peak resident memory."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, url, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    "codings",
    [["gzip", "gzip"], ["deflate", "gzip"], ["gzip", "deflate"], ["gzip", "gzip", "gzip"]],
    ids=lambda c: "+".join(c),
)
def test_a_nested_encoding_bomb_is_refused_with_bounded_memory(
    feed_server: FeedServer, tmp_path: Path, codings: list[str]
) -> None:
    body = bomb(codings)
    assert len(body) < 400_000
    header = ", ".join(codings)
    url = feed_server.add("/bomb", Route(body=body, headers={"Content-Encoding": header}))
    result = fetch_in_child(url, tmp_path)
    assert result["outcome"].startswith("FetchError: stacked Content-Encoding"), result
    assert result["peak_mb"] < 200 and result["peak_mb"] - result["before_mb"] < 50, result


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_single_encoding_bomb_stops_at_the_cap_with_bounded_memory(
    feed_server: FeedServer, tmp_path: Path, coding: str
) -> None:
    url = feed_server.add(
        "/bomb", Route(body=bomb([coding], 1000), headers={"Content-Encoding": coding})
    )
    result = fetch_in_child(url, tmp_path)
    assert result["outcome"].startswith("BodyTooLarge"), result
    assert result["peak_mb"] < 200 and result["peak_mb"] - result["before_mb"] < 50, result


async def test_well_formed_encodings_still_decode(
    feed_server: FeedServer, make_settings: Callable[..., Settings]
) -> None:
    gz = _deflated(iter([FEED]), GZIP)
    urls = {
        "gzip": feed_server.add("/gz", Route(body=gz, headers={"Content-Encoding": "gzip"})),
        "two members": feed_server.add(
            "/gz2", Route(body=gz + gz, headers={"Content-Encoding": "gzip"})
        ),
        "zlib deflate": feed_server.add(
            "/zd", Route(body=zlib.compress(FEED), headers={"Content-Encoding": "deflate"})
        ),
        "raw deflate": feed_server.add(
            "/rd",
            Route(body=_deflated(iter([FEED]), -15), headers={"Content-Encoding": "deflate"}),
        ),
        "identity": feed_server.add(
            "/id", Route(body=FEED, headers={"Content-Encoding": "identity"})
        ),
    }
    async with Fetcher(make_settings()) as fetcher:
        for name, url in urls.items():
            body = (await fetcher.fetch(url)).body
            assert body == (FEED + FEED if name == "two members" else FEED), name


# ---- SSRF --------------------------------------------------------------------------------


class StubDNS(AbstractResolver):
    """Answers names from a table; a list of answers is given out in turn (DNS rebinding)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: Counter[str] = Counter()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The next answer for host."""
        self.asked[host] += 1
        answers = self.answers.get(host)
        if not answers:
            raise OSError(f"no such host {host}")
        address = answers[min(self.asked[host], len(answers)) - 1]
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        """Nothing to close."""


def looks_public(address: str) -> bool:
    """The tests' internet: every address but the internal one."""
    return address != INTERNAL


class SsrfRig:
    """A public server, an internal one on the same port, a store and a stub DNS."""

    def __init__(
        self, store: Store, public: FeedServer, internal: FeedServer, settings: Settings
    ) -> None:
        self.store = store
        self.public = public
        self.internal = internal
        self.settings = settings
        self.dns = StubDNS({"feeds.test": ["127.0.0.1"], "internal.test": [INTERNAL]})
        self.now = NOW

    def url(self, host: str, path: str) -> str:
        """A URL on the public server's port under any host name."""
        return f"http://{host}:{self.public.port}{path}"

    async def poll(self) -> Any:
        """One poll round with a fresh fetcher (a later poll, its own connections)."""
        self.store.force_due(self.now)
        pool = make_parse_pool(1)
        try:
            async with Fetcher(self.settings, allowed=looks_public, resolver=self.dns) as fetcher:
                poller = Poller(
                    self.store, fetcher, self.settings, clock=lambda: self.now, parse_pool=pool
                )
                try:
                    return await poller.poll_due()
                finally:
                    await poller.close()
        finally:
            pool.shutdown(wait=True)
            self.now += timedelta(hours=1)


@pytest.fixture
def ssrf(
    store: Store, feed_server: FeedServer, make_settings: Callable[..., Settings]
) -> Iterator[SsrfRig]:
    """The SSRF rig; the internal server answers a feed and a secret, and counts its hits."""
    with FeedServer(host=INTERNAL, port=feed_server.port) as internal:
        internal.add("/secret", Route(body=b"internal data"))
        internal.add("/feed", Route(body=FEED))
        feed_server.add("/feed", Route(body=FEED))
        yield SsrfRig(store, feed_server, internal, make_settings())


def test_internal_addresses_count_as_private_in_production() -> None:
    from bot.feeds.safety import is_public

    assert not is_public("127.0.0.1") and not is_public("10.1.2.3") and not is_public("::1")
    assert not is_public("169.254.169.254") and not is_public("::ffff:192.168.1.1")
    assert is_public("93.184.216.34")


@pytest.mark.parametrize("internal_host", ["internal.test", INTERNAL])
async def test_a_redirect_hop_inside_is_refused_before_it_is_requested(
    ssrf: SsrfRig, internal_host: str
) -> None:
    """public -> internal -> public: the middle hop is never requested."""
    internal_url = f"http://{internal_host}:{ssrf.internal.port}/secret"
    ssrf.internal.add("/secret", Route(status=302, redirect_to=ssrf.url("feeds.test", "/feed")))
    ssrf.public.add("/hop", Route(status=302, redirect_to=internal_url))
    ssrf.store.add_feed("from-telegram", "Ajouté", ssrf.url("feeds.test", "/hop"), ssrf.now)
    report = await ssrf.poll()
    assert report.failed == 1 and "private" in report.errors["from-telegram"]
    assert ssrf.internal.hits == {}, "the internal service was never reached"


async def test_a_permanent_redirect_inside_is_not_stored(ssrf: SsrfRig) -> None:
    inside = f"http://{INTERNAL}:{ssrf.internal.port}/feed"
    ssrf.public.add("/moved", Route(status=301, redirect_to=inside))
    url = ssrf.url("feeds.test", "/moved")
    ssrf.store.add_feed("from-telegram", "Ajouté", url, ssrf.now)
    report = await ssrf.poll()
    assert report.failed == 1
    state = ssrf.store.feed_state("from-telegram")
    assert state is not None and state.url == url
    assert ssrf.internal.hits == {}


async def test_a_name_that_turns_private_is_refused_at_the_next_poll(ssrf: SsrfRig) -> None:
    """DNS rebinding: public at the first poll, internal later. Each poll checks the answer
    the connection uses, so the internal service is never reached."""
    ssrf.dns.answers["rebind.test"] = ["127.0.0.1", INTERNAL]
    ssrf.store.add_feed("rebinding", "Ajouté", ssrf.url("rebind.test", "/feed"), ssrf.now)
    first = await ssrf.poll()
    assert (first.ok, first.new_items) == (1, 1)
    second = await ssrf.poll()
    assert second.failed == 1 and "private" in second.errors["rebinding"]
    assert ssrf.internal.hits == {}
    assert ssrf.public.hits["/feed"] == 1


async def test_operator_feeds_keep_their_freedom(ssrf: SsrfRig) -> None:
    ssrf.public.add(
        "/hop", Route(status=302, redirect_to=f"http://{INTERNAL}:{ssrf.internal.port}/feed")
    )
    ssrf.store.sync_feeds([feed_config("operator", ssrf.url("127.0.0.1", "/hop"))], ssrf.now)
    report = await ssrf.poll()
    assert (report.ok, report.new_items) == (1, 1)
    assert ssrf.internal.hits == {"/feed": 1}


async def test_a_page_linked_from_a_telegram_feed_is_checked_too(ssrf: SsrfRig) -> None:
    """The entry the full-text stage uses for article pages: fetch(url, public_only=True)."""
    async with Fetcher(ssrf.settings, allowed=looks_public, resolver=ssrf.dns) as fetcher:
        with pytest.raises(UnsafeURL):
            await fetcher.fetch(
                f"http://internal.test:{ssrf.internal.port}/secret", public_only=True
            )
        with pytest.raises(UnsafeURL):
            await fetcher.fetch(f"http://{INTERNAL}:{ssrf.internal.port}/secret", public_only=True)
        page = await fetcher.fetch(ssrf.url("feeds.test", "/feed"), public_only=True)
        assert page.body == FEED
    assert ssrf.internal.hits == {}
