"""Fetch and poll against a real HTTP server on 127.0.0.1: caching, errors, backoff, dedup."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.config import FeedConfig, Settings
from bot.errors import BodyTooLarge, FetchError, FetchTimeout, HTTPStatusError
from bot.feeds.fetcher import Fetcher, parse_max_age, parse_retry_after
from bot.feeds.poller import Poller, PollReport
from bot.feeds.workers import make_parse_pool
from bot.store.repo import Store
from bot.store.rows import FeedState
from tests.conftest import FEED_FILES, NOW, feed_config, rss
from tests.support.feedserver import FeedServer, Route

pytestmark = pytest.mark.timeout(60)

THREE = rss(
    ("Premier article sur l'IA en Bretagne", "https://example.org/1?utm_source=rss"),
    ("Deuxième article sur la French Tech", "https://example.org/2"),
    ("Troisième article sur un appel à projets", "https://example.org/3"),
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward."""
        self.now += timedelta(**delta)


class Rig:
    """A store, a loopback server and a clock; polls with settings built from an environ."""

    def __init__(
        self, store: Store, server: FeedServer, make_settings: Callable[..., Settings]
    ) -> None:
        self.store = store
        self.server = server
        self.make_settings = make_settings
        self.clock = Clock(NOW)

    def feeds(self, *configs: FeedConfig) -> None:
        """Declare the configured feeds."""
        self.store.sync_feeds(configs, self.clock())

    def serve(self, feed_id: str, route: Route, **fields: Any) -> FeedConfig:
        """Serve route at /<feed_id> and return a feed pointing at it."""
        return feed_config(feed_id, self.server.add(f"/{feed_id}", route), **fields)

    def state(self, feed_id: str) -> FeedState:
        """The stored state of a feed."""
        found = self.store.feed_state(feed_id)
        assert found is not None
        return found

    @asynccontextmanager
    async def poller(self, **env: str) -> AsyncIterator[Poller]:
        """A Poller over a real Fetcher, parsing in a one-thread pool."""
        settings = self.make_settings(**env)
        pool = make_parse_pool(1)
        try:
            async with Fetcher(settings) as fetcher:
                poller = Poller(self.store, fetcher, settings, clock=self.clock, parse_pool=pool)
                try:
                    yield poller
                finally:
                    await poller.close()
        finally:
            pool.shutdown(wait=True)

    async def poll(self, **env: str) -> PollReport:
        """One poll round of the due feeds."""
        async with self.poller(**env) as poller:
            return await poller.poll_due()


@pytest.fixture
def rig(store: Store, feed_server: FeedServer, make_settings: Callable[..., Settings]) -> Rig:
    """The poll rig of one test."""
    return Rig(store, feed_server, make_settings)


async def test_normal_feed_is_stored_then_answered_with_304(rig: Rig) -> None:
    rig.feeds(rig.serve("news", Route(body=THREE)))
    first = await rig.poll()
    assert (first.feeds, first.ok, first.failed, first.new_items) == (1, 1, 0, 3)
    assert rig.store.count_items() == 3
    state = rig.state("news")
    assert state.status == "ok"
    assert state.etag and state.body_hash
    assert state.items_total == 3
    assert state.next_check_at == NOW + timedelta(minutes=15)

    rig.clock.advance(minutes=16)
    second = await rig.poll()
    assert (second.feeds, second.not_modified, second.new_items) == (1, 1, 0)
    assert rig.server.conditional_hits["/news"] == 1
    assert rig.store.count_items() == 3
    assert rig.state("news").last_success_at == rig.clock()


async def test_feed_not_due_is_not_fetched(rig: Rig) -> None:
    rig.feeds(rig.serve("news", Route(body=THREE)))
    await rig.poll()
    rig.clock.advance(minutes=5)
    report = await rig.poll()
    assert report.feeds == 0
    assert rig.server.hits["/news"] == 1


async def test_same_body_with_new_etag_is_not_parsed_again(rig: Rig) -> None:
    route = Route(body=THREE, etag=False, headers={"ETag": '"v1"'})
    rig.feeds(rig.serve("news", route))
    assert (await rig.poll()).new_items == 3
    route.headers["ETag"] = '"v2"'
    rig.clock.advance(minutes=16)
    report = await rig.poll()
    assert (report.ok, report.unchanged, report.not_modified, report.new_items) == (0, 1, 0, 0)
    state = rig.state("news")
    assert state.status == "ok"
    assert state.etag == '"v2"'


async def test_changed_body_adds_only_new_items(rig: Rig) -> None:
    route = Route(body=THREE)
    rig.feeds(rig.serve("news", route))
    await rig.poll()
    route.body = rss(
        ("Un quatrième article sur l'innovation", "https://example.org/4"),
        ("Deuxième article sur la French Tech", "https://example.org/2"),
    )
    rig.clock.advance(minutes=16)
    report = await rig.poll()
    assert (report.ok, report.new_items) == (1, 1)
    assert rig.store.count_items() == 4


async def test_dead_host_fails_alone(rig: Rig, closed_port: int) -> None:
    rig.feeds(
        rig.serve("good-a", Route(body=THREE)),
        feed_config("gone", f"http://127.0.0.1:{closed_port}/feed.xml"),
        rig.serve(
            "good-b", Route(body=rss(("Un autre flux parle d'IA à Lille", "https://b.org/x")))
        ),
    )
    report = await rig.poll()
    assert (report.feeds, report.ok, report.failed) == (3, 2, 1)
    assert set(report.errors) == {"gone"}
    gone = rig.state("gone")
    assert gone.status == "failing"
    assert gone.last_error and "cannot connect" in gone.last_error
    assert "timed out" not in gone.last_error
    assert gone.next_check_at > rig.clock()
    assert gone.consecutive_errors == 1
    assert gone.failing_since == NOW
    assert rig.state("good-a").status == rig.state("good-b").status == "ok"
    assert rig.store.count_items() == 4


async def test_server_error_backs_off_exponentially_up_to_the_max(rig: Rig) -> None:
    rig.feeds(
        rig.serve(
            "broken",
            Route(status=500, body=b"oops"),
            min_interval_minutes=15,
            max_interval_minutes=100,
        )
    )
    waits: list[float] = []
    for _ in range(5):
        report = await rig.poll()
        assert report.failed == 1
        state = rig.state("broken")
        waits.append((state.next_check_at - rig.clock()).total_seconds() / 60)
        rig.clock.now = state.next_check_at
    assert waits == [15, 30, 60, 100, 100]
    state = rig.state("broken")
    assert state.status == "failing"
    assert state.consecutive_errors == 5
    assert state.last_error and "HTTP 500" in state.last_error
    assert state.failing_since == NOW


async def test_recovery_resets_the_error_count(rig: Rig) -> None:
    route = Route(status=503, body=b"busy")
    rig.feeds(rig.serve("flaky", route))
    await rig.poll()
    assert rig.state("flaky").consecutive_errors == 1
    route.status = 200
    route.body = THREE
    rig.clock.now = rig.state("flaky").next_check_at
    assert (await rig.poll()).ok == 1
    state = rig.state("flaky")
    assert (state.status, state.consecutive_errors, state.last_error, state.failing_since) == (
        "ok",
        0,
        None,
        None,
    )


async def test_429_retry_after_is_honoured(rig: Rig) -> None:
    rig.feeds(rig.serve("busy", Route(status=429, headers={"Retry-After": "3600"})))
    await rig.poll()
    state = rig.state("busy")
    assert state.status == "failing"
    assert state.last_error and "429" in state.last_error
    assert state.next_check_at - rig.clock() >= timedelta(hours=1)


async def test_cache_control_max_age_stretches_the_interval(rig: Rig) -> None:
    rig.feeds(
        rig.serve("cached", Route(body=THREE, headers={"Cache-Control": "public, max-age=7200"}))
    )
    await rig.poll()
    assert rig.state("cached").next_check_at == NOW + timedelta(hours=2)


async def test_redirect_loop_is_reported(rig: Rig) -> None:
    rig.feeds(rig.serve("loop", Route(status=302, redirect_to="/loop")))
    report = await rig.poll()
    assert report.failed == 1
    state = rig.state("loop")
    assert state.last_error and "too many redirects" in state.last_error
    assert rig.server.hits["/loop"] == 6  # the first request and five redirects


async def test_streamed_huge_body_hits_a_small_cap(rig: Rig) -> None:
    rig.feeds(rig.serve("huge", Route(stream_bytes=50 * 1024 * 1024)))
    await rig.poll(VEILLE_MAX_BODY_BYTES="200000")
    state = rig.state("huge")
    assert state.status == "failing"
    assert state.last_error and "exceeds the 200000-byte cap" in state.last_error


@pytest.mark.timeout(60)
async def test_streamed_huge_body_hits_the_default_cap(rig: Rig) -> None:
    rig.feeds(rig.serve("huge", Route(stream_bytes=50 * 1024 * 1024)))
    await rig.poll()
    state = rig.state("huge")
    assert state.last_error and f"exceeds the {10 * 1024 * 1024}-byte cap" in state.last_error


async def test_declared_content_length_over_the_cap_is_refused(rig: Rig) -> None:
    rig.feeds(rig.serve("big", Route(body=b"<rss>" + b" " * 300_000 + b"</rss>")))
    await rig.poll(VEILLE_MAX_BODY_BYTES="100000")
    state = rig.state("big")
    assert state.last_error and "exceeds the 100000-byte cap" in state.last_error


async def test_slow_server_times_out(rig: Rig) -> None:
    rig.feeds(rig.serve("slow", Route(body=THREE, byte_delay=1.0)))
    report = await rig.poll(VEILLE_FETCH_TIMEOUT="1")
    assert report.failed == 1
    state = rig.state("slow")
    assert state.status == "failing"
    # the read timeout (1 s between bytes) or the whole-transfer deadline (3 s), whichever first
    assert re.search(r"timed out|no complete answer within 3 s", state.last_error or "")


async def test_html_page_is_not_a_feed(rig: Rig) -> None:
    page = (
        b"<!DOCTYPE html>\n<html><head><title>Accueil</title></head><body>Bienvenue</body></html>"
    )
    rig.feeds(rig.serve("page", Route(body=page, content_type="text/html; charset=utf-8")))
    report = await rig.poll()
    assert report.failed == 1
    state = rig.state("page")
    assert state.last_error and "not a feed" in state.last_error
    assert rig.store.count_items() == 0


async def test_permanent_redirect_updates_the_stored_url(rig: Rig) -> None:
    new_url = rig.server.add("/new", Route(body=THREE))
    config = rig.serve("moved", Route(status=301, redirect_to=new_url))
    rig.feeds(config)
    assert (await rig.poll()).new_items == 3
    assert rig.state("moved").url == new_url
    # a later sync of the unchanged configuration keeps the new address
    rig.feeds(config)
    assert rig.state("moved").url == new_url


async def test_temporary_redirect_keeps_the_stored_url(rig: Rig) -> None:
    elsewhere = rig.server.add("/elsewhere", Route(body=THREE))
    config = rig.serve("hop", Route(status=302, redirect_to=elsewhere))
    rig.feeds(config)
    assert (await rig.poll()).new_items == 3
    assert rig.state("hop").url == config.url


async def test_items_survive_a_later_failure(rig: Rig) -> None:
    route = Route(body=THREE)
    rig.feeds(rig.serve("news", route))
    await rig.poll()
    route.status = 500
    rig.clock.advance(minutes=16)
    assert (await rig.poll()).failed == 1
    assert rig.state("news").status == "failing"
    assert rig.store.count_items() == 3
    titles = {i.title for i in rig.store.recent_items(topic_only=False)}
    assert "Deuxième article sur la French Tech" in titles


async def test_same_story_in_two_feeds_is_marked_duplicate(rig: Rig) -> None:
    rig.feeds(
        rig.serve(
            "alpha",
            Route(
                body=rss(
                    (
                        "La région lance un programme IA pour les PME",
                        "https://news.example.org/story?utm_source=alpha",
                    ),
                )
            ),
        ),
        rig.serve(
            "beta",
            Route(
                body=rss(
                    (
                        "Programme IA : ce que la région prévoit",
                        "https://NEWS.example.org/story?xtor=RSS-12#top",
                    ),
                )
            ),
        ),
    )
    await rig.poll()
    stored = rig.store.recent_items(topic_only=False, include_duplicates=True)
    assert len(stored) == 2
    originals = [i for i in stored if i.duplicate_of is None]
    copies = [i for i in stored if i.duplicate_of is not None]
    assert len(originals) == len(copies) == 1
    assert copies[0].duplicate_of == originals[0].id
    assert copies[0].feed_id != originals[0].feed_id
    assert [i.id for i in rig.store.recent_items(topic_only=False)] == [originals[0].id]
    assert rig.store.duplicates_of([originals[0].id]) == {originals[0].id: [copies[0].feed_name]}


async def test_same_title_in_two_feeds_is_marked_duplicate(rig: Rig) -> None:
    title = "Hauts-de-France : un nouveau campus dédié à l'intelligence artificielle"
    rig.feeds(rig.serve("one", Route(body=rss((title, "https://one.example/a")))))
    await rig.poll()
    rig.clock.advance(hours=1)
    rig.feeds(
        rig.serve("one", Route(body=rss((title, "https://one.example/a")))),
        rig.serve("two", Route(body=rss((title.upper(), "https://two.example/b")))),
    )
    await rig.poll()
    stored = {
        i.feed_id: i for i in rig.store.recent_items(topic_only=False, include_duplicates=True)
    }
    assert stored["one"].duplicate_of is None
    assert stored["two"].duplicate_of == stored["one"].id


async def test_feed_failing_too_long_becomes_dead(rig: Rig, closed_port: int) -> None:
    rig.feeds(feed_config("gone", f"http://127.0.0.1:{closed_port}/rss"))
    await rig.poll()
    assert rig.state("gone").status == "failing"
    rig.clock.advance(days=15)
    report = await rig.poll()
    assert report.failed == 1
    state = rig.state("gone")
    assert state.status == "dead"
    assert not state.enabled
    assert state.last_error and state.last_error.startswith("disabled after 14 days failing")
    assert rig.store.due_feeds(rig.clock() + timedelta(days=30)) == []
    rig.clock.advance(days=30)
    assert (await rig.poll()).feeds == 0
    # a config sync does not bring an auto-disabled feed back
    rig.feeds(feed_config("gone", f"http://127.0.0.1:{closed_port}/rss"))
    assert rig.state("gone").status == "dead"


async def test_disable_after_days_comes_from_settings(rig: Rig) -> None:
    rig.feeds(rig.serve("broken", Route(status=500)))
    await rig.poll(VEILLE_DISABLE_AFTER_DAYS="2")
    rig.clock.advance(days=1)
    await rig.poll(VEILLE_DISABLE_AFTER_DAYS="2")
    assert rig.state("broken").status == "failing"
    rig.clock.advance(days=1)
    await rig.poll(VEILLE_DISABLE_AFTER_DAYS="2")
    assert rig.state("broken").status == "dead"


async def test_gzip_content_encoding_is_decoded(rig: Rig) -> None:
    rig.feeds(rig.serve("zipped", Route(body=THREE, gzip=True)))
    report = await rig.poll()
    assert (report.ok, report.new_items) == (1, 3)


async def test_gzip_body_without_content_encoding_is_handled(rig: Rig) -> None:
    path = FEED_FILES / "hostile/nfp_raw_gzip_body_invalid_chars.xml"
    rig.feeds(rig.serve("raw-gzip", Route(body=path.read_bytes(), content_type="text/xml")))
    report = await rig.poll()
    assert (report.feeds, report.ok, report.failed) == (1, 1, 0)
    assert report.new_items > 0


@pytest.mark.timeout(60)
async def test_every_real_sample_polls_in_one_round(rig: Rig) -> None:
    files = sorted((FEED_FILES / "real").glob("*.xml"))
    configs = []
    for n, path in enumerate(files):
        url = rig.server.add_file(f"/real/{n}", path, content_type="application/xml")
        configs.append(feed_config(f"real-{n}", url))
    rig.feeds(*configs)
    report = await rig.poll()
    assert (report.feeds, report.ok, report.failed) == (len(files), len(files), 0), report.errors
    assert report.new_items > 1000


async def test_fetcher_sends_conditional_headers_and_returns_metadata(
    feed_server: FeedServer, make_settings: Callable[..., Settings]
) -> None:
    url = feed_server.add(
        "/feed", Route(body=THREE, headers={"Last-Modified": "Thu, 13 Mar 2025 10:00:00 GMT"})
    )
    async with Fetcher(make_settings()) as fetcher:
        first = await fetcher.fetch(url, now=NOW)
        assert first.status == 200 and first.body == THREE
        assert first.last_modified == "Thu, 13 Mar 2025 10:00:00 GMT"
        assert first.final_url == url and not first.permanent_redirect
        again = await fetcher.fetch(
            url, etag=first.etag, last_modified=first.last_modified, now=NOW
        )
    assert again.not_modified and again.body is None and again.body_hash is None


@pytest.mark.parametrize(
    argnames=("route", "error", "text"),
    ids=["status", "redirect-loop", "too-large", "slow"],
    argvalues=[
        (Route(status=404, body=b"nope"), HTTPStatusError, "HTTP 404"),
        (Route(status=302, redirect_to="/r"), FetchError, "too many redirects"),
        (Route(stream_bytes=1_000_000), BodyTooLarge, "exceeds"),
        (Route(body=b"<rss/>" * 20, byte_delay=1.0), FetchTimeout, "timed out|no complete answer"),
    ],
)
async def test_fetcher_raises_our_errors(
    feed_server: FeedServer,
    make_settings: Callable[..., Settings],
    route: Route,
    error: type[Exception],
    text: str,
) -> None:
    url = feed_server.add("/r", route)
    settings = make_settings(VEILLE_MAX_BODY_BYTES="100000", VEILLE_FETCH_TIMEOUT="1")
    async with Fetcher(settings) as fetcher:
        with pytest.raises(error, match=text):
            await fetcher.fetch(url, now=NOW)


async def test_status_error_carries_status_and_retry_after(
    feed_server: FeedServer, make_settings: Callable[..., Settings]
) -> None:
    url = feed_server.add("/slow-down", Route(status=503, headers={"Retry-After": "120"}))
    async with Fetcher(make_settings()) as fetcher:
        with pytest.raises(HTTPStatusError) as caught:
            await fetcher.fetch(url, now=NOW)
    assert (caught.value.status, caught.value.retry_after) == (503, 120.0)


def test_parse_retry_after() -> None:
    assert parse_retry_after("3600", NOW) == 3600.0
    assert parse_retry_after("Fri, 14 Mar 2025 10:30:00 GMT", NOW) == 3600.0
    assert parse_retry_after("Thu, 13 Mar 2025 10:30:00 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_parse_max_age() -> None:
    assert parse_max_age("public, max-age=600") == 600.0
    assert parse_max_age("no-cache") is None
    assert parse_max_age(None) is None


async def test_a_story_retold_by_two_feeds_gets_one_story_id(rig: Rig) -> None:
    told = (
        "La Région Bretagne adopte une feuille de route à Rennes : 40 millions pour les PME",
        "https://alpha.example/plan",
    )
    retold = (
        "Bretagne : 40 millions pour les PME, la feuille de route votée à Rennes",
        "https://beta.example/ia",
    )
    other = (
        "Toulouse : Airbus ouvre un laboratoire à Blagnac avec 60 chercheurs",
        "https://beta.example/airbus",
    )
    rig.feeds(
        rig.serve("alpha", Route(body=rss(told))), rig.serve("beta", Route(body=rss(retold, other)))
    )
    report = await rig.poll()
    assert report.new_items == 3 and report.stories == 2
    by_title = {
        i.title: i.story_id
        for i in rig.store.recent_items(topic_only=False, include_duplicates=True)
    }
    assert by_title[told[0]] == by_title[retold[0]] != by_title[other[0]]
    assert None not in by_title.values()


async def test_stories_can_be_switched_off(rig: Rig) -> None:
    rig.feeds(rig.serve("alpha", Route(body=rss(("Un article", "https://alpha.example/a")))))
    report = await rig.poll(VEILLE_STORIES="off")
    assert report.new_items == 1 and report.stories == 0
    assert [i.story_id for i in rig.store.recent_items(topic_only=False)] == [None]
