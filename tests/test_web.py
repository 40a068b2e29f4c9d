"""The web window over a real loopback socket: pages, 404s, the map, Atom (parsed back with
feedparser), OPML, the access token, long queries, escaping and a flood of requests."""

from __future__ import annotations

import asyncio
import io
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import feedparser
import httpx
import pytest
from PIL import Image

from bot.i18n import type_label
from bot.query.parse import canonical, parse
from bot.store.repo import Store
from bot.web.app import WebConfig, WebWindow
from bot.web.search import parse_query
from tests.conftest_bot import Spec, add_items, gazetteer

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script><b>Lille</b> & co'


def sample(store: Store) -> list[int]:
    """A week of items: Hauts-de-France, Bretagne, a national one, and a hostile title."""
    ids = add_items(
        store,
        [
            Spec(
                "Lille lance un appel à projets IA",
                NOW - timedelta(days=1),
                ("Hauts-de-France",),
                ("funding",),
                summary="jumeau numérique à Lille",
            ),
            Spec(
                "Rennes forme aux métiers de l'IA",
                NOW - timedelta(days=2),
                ("Bretagne",),
                ("training",),
            ),
            Spec(
                "Brest finance la recherche en IA",
                NOW - timedelta(days=3),
                ("Bretagne",),
                ("funding", "research"),
            ),
            Spec(
                "Plan national pour l'IA", NOW - timedelta(days=2), (), ("strategy",), national=True
            ),
            Spec(HOSTILE, NOW - timedelta(days=1), ("Hauts-de-France",), ("event",)),
            Spec("Vieil article breton", NOW - timedelta(days=40), ("Bretagne",), ("event",)),
        ],
        NOW - timedelta(days=1),
    )
    add_items(
        store,
        [
            Spec(
                "Lille lance un appel à projets IA",
                NOW - timedelta(days=1),
                ("Hauts-de-France",),
                ("funding",),
                link="https://other.example.org/lille",
            )
        ],
        NOW - timedelta(days=1),
        feed_id="autre",
        feed_name="L'Autre Journal",
    )
    return ids


@pytest.fixture
async def window(store: Store) -> AsyncIterator[WebWindow]:
    sample(store)
    win = WebWindow(store, gazetteer, WebConfig(port=0, concurrency=2), lambda: NOW)
    await win.start()
    yield win
    await win.stop()


def url(win: WebWindow, path: str) -> str:
    return f"http://127.0.0.1:{win.port}{path}"


async def get(win: WebWindow, path: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(url(win, path), **kwargs)  # type: ignore[arg-type]


async def test_home_lists_the_week_with_sources_tags_and_evidence(window: WebWindow) -> None:
    response = await get(window, "/")
    assert response.status_code == 200
    html = response.text
    assert '<html lang="fr">' in html and "<main" in html and 'role="search"' in html
    assert '<label for="q">' in html
    assert "Lille lance un appel à projets IA" in html
    assert "Vieil article breton" not in html  # outside the default week
    assert "La Voix du Nord" in html and "L&#39;Autre Journal" in html  # both sources
    assert "Pourquoi ces étiquettes" in html and "appel à projets" in html  # evidence
    assert "/map.png?" in html and "/feed.atom?" in html
    assert "cdn" not in html.lower() and "https://" not in html.split("<main")[0]


async def test_hostile_titles_are_escaped_in_pages_and_feeds(window: WebWindow) -> None:
    html = (await get(window, "/")).text
    assert "<script>alert" not in html
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;Lille&lt;/b&gt; &amp; co" in html
    )
    atom = (await get(window, "/feed.atom")).content
    assert b"<script>" not in atom
    parsed = feedparser.parse(atom)
    assert HOSTILE in [e.title for e in parsed.entries]  # escaped in XML, intact when read back


async def test_query_filters_by_region_type_and_words(window: WebWindow) -> None:
    html = (await get(window, "/", params={"q": "financement Bretagne"})).text
    assert "Brest finance la recherche en IA" in html
    assert "Rennes forme" not in html and "Lille lance" not in html
    assert "Compris : Bretagne · financement" in html
    words = (await get(window, "/", params={"q": '"jumeau numérique"', "lang": "en"})).text
    assert '<html lang="en">' in words and "Lille lance" in words and "Brest" not in words
    longer = (await get(window, "/", params={"q": "Bretagne 60j"})).text
    assert "Vieil article breton" in longer
    plural = (await get(window, "/", params={"q": "jumeaux numériques ce mois-ci"})).text
    assert "Lille lance" in plural and "Brest" not in plural  # stems, as in the bot
    week = (await get(window, "/", params={"q": "Bretagne 2026-11-27..2026-11-27"})).text
    assert "Brest finance" in week and "Rennes forme" not in week


async def test_region_pages_and_404_with_suggestions(window: WebWindow) -> None:
    page = await get(window, "/region/" + quote("Hauts-de-France"))
    assert page.status_code == 200 and "<h1>Hauts-de-France</h1>" in page.text
    assert "Lille lance" in page.text and "Rennes" not in page.text
    alias = await get(window, "/region/HDF")
    assert alias.status_code == 200 and "<h1>Hauts-de-France</h1>" in alias.text
    unknown = await get(window, "/region/Bretagn")
    assert unknown.status_code == 404
    assert 'href="/region/Bretagne?lang=fr"' in unknown.text
    hostile = await get(window, "/region/" + quote("<script>x</script>"))
    assert hostile.status_code == 404 and "<script>x" not in hostile.text
    assert (await get(window, "/nowhere")).status_code == 404


async def test_map_png_matches_the_query(window: WebWindow) -> None:
    response = await get(window, "/map.png", params={"q": "Bretagne"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.width == 800 and image.height > 600


async def test_atom_feed_is_valid_and_carries_tags_as_categories(window: WebWindow) -> None:
    response = await get(window, "/feed.atom", params={"q": "Bretagne"})
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    atom = "{http://www.w3.org/2005/Atom}"
    assert root.tag == f"{atom}feed"
    for required in ("id", "title", "updated"):
        assert root.find(f"{atom}{required}") is not None
    for entry in root.findall(f"{atom}entry"):
        for required in ("id", "title", "updated"):
            assert entry.find(f"{atom}{required}") is not None
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    titles = [e.title for e in parsed.entries]
    assert titles == ["Rennes forme aux métiers de l'IA", "Brest finance la recherche en IA"]
    brest = parsed.entries[1]
    terms = {(t["term"], t["scheme"]) for t in brest.tags}
    assert ("Bretagne", "https://veille.invalid/region") in terms
    assert ("funding", "https://veille.invalid/type") in terms
    assert {t["label"] for t in brest.tags} >= {"Bretagne", type_label("funding", "fr")}


async def test_opml_lists_a_feed_per_query(window: WebWindow) -> None:
    response = await get(window, "/opml", params=[("q", "Bretagne"), ("q", '"jumeau numérique"')])
    root = ET.fromstring(response.content)
    outlines = root.findall("./body/outline")
    assert len(outlines) == 2
    first = outlines[0].get("xmlUrl") or ""
    assert first.startswith(f"http://127.0.0.1:{window.port}/feed.atom?q=Bretagne")
    feed = await get(window, first.removeprefix(f"http://127.0.0.1:{window.port}"))
    assert len(feedparser.parse(feed.content).entries) == 2


async def test_a_query_of_ten_thousand_characters(window: WebWindow) -> None:
    query = "é" * 5000 + "<b>" * 1000 + "x" * 2000
    assert len(query) >= 10_000
    response = await get(window, "/", params={"q": query})
    assert response.status_code == 200
    assert "seuls les 400 premiers caractères" in response.text
    assert "<b><b>" not in response.text and len(response.text) < 200_000
    assert (await get(window, "/feed.atom", params={"q": query})).status_code == 200
    assert (await get(window, "/region/" + quote(query))).status_code == 404


async def test_token_makes_it_private(store: Store) -> None:
    sample(store)
    win = WebWindow(store, gazetteer, WebConfig(port=0, token="s3cret"), lambda: NOW)
    await win.start()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            denied = await client.get(url(win, "/"))
            assert denied.status_code == 401 and "Lille" not in denied.text
            assert (await client.get(url(win, "/feed.atom"))).status_code == 401
            assert (await client.get(url(win, "/?token=wrong"))).status_code == 401
            opened = await client.get(url(win, "/?token=s3cret"))
            assert opened.status_code == 200 and "Lille" in opened.text
            again = await client.get(url(win, "/region/Bretagne"))  # the cookie now
            assert again.status_code == 200
        async with httpx.AsyncClient(timeout=30) as reader:
            bearer = await reader.get(
                url(win, "/feed.atom"), headers={"Authorization": "Bearer s3cret"}
            )
            assert bearer.status_code == 200
            opml = await reader.get(url(win, "/opml?q=Bretagne&token=s3cret"))
            assert "token=s3cret" in opml.text  # feed readers carry the key in the URL
    finally:
        await win.stop()


async def test_a_flood_of_requests_is_bounded_and_the_loop_stays_free(window: WebWindow) -> None:
    """200 requests at once: each is answered (200, or 503 when the queue is full), and the
    event loop keeps ticking meanwhile (polling and delivery share it)."""
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        responses = await asyncio.gather(
            *(client.get(url(window, f"/?q=Bretagne+{n}")) for n in range(200))
        )
    stop.set()
    await task
    statuses = {r.status_code for r in responses}
    assert statuses <= {200, 503} and 200 in statuses
    assert all(r.headers.get("Retry-After") == "5" for r in responses if r.status_code == 503)
    assert ticks > 10  # the loop was never blocked for the whole flood


def test_the_web_reads_a_query_as_the_bot_does() -> None:
    text = 'Pays de la Loire Bretagne national financement accompagnement "jumeau numérique" OU robotique -crypto -"web 3"'
    bot = parse(text, gazetteer(), now=NOW, tz="Europe/Paris")
    web = parse_query(canonical(bot), gazetteer(), NOW).query  # an alert's query, on the web
    assert bot.regions == ("Pays de la Loire", "Bretagne", "national")
    for got in (web, parse_query(text, gazetteer(), NOW).query):
        assert (got.regions, got.types, got.terms, got.excludes) == (
            bot.regions,
            bot.types,
            bot.terms,
            bot.excludes,
        )
    everything = parse_query("", gazetteer(), NOW)
    assert everything.query.empty and everything.end - everything.start == timedelta(days=7)
    week = parse_query("Bretagne 2026-11-23..2026-11-29", gazetteer(), NOW)
    assert (week.start.date(), week.end.date()) == (date(2026, 11, 22), date(2026, 11, 29))
    assert week.end.hour == 23  # midnight in Paris


def test_alerts_give_their_feed_and_digest_preview_links_the_week(store: Store) -> None:
    from urllib.parse import parse_qs, urlsplit

    from bot.commands.alerts import alerts, digest_preview, subscribe
    from bot.commands.reply import Ctx
    from bot.config import load_settings
    from bot.store.chats import ChatStore
    from tests.support.botapi import parse_html

    sample(store)
    chats = ChatStore(store)
    chats.ensure_chat(7, type="private", title=None, language="fr", now=NOW)
    off = Ctx(
        settings=load_settings({}),
        store=store,
        chats=chats,
        gazetteer=gazetteer(),
        now=NOW,
        chat_id=7,
    )
    subscribe(off, "Hauts-de-France hebdo")
    assert "Flux Atom" not in alerts(off).text  # the web window is off
    preview = digest_preview(off)
    assert "Voir la semaine" not in preview.text + str(preview.pictures)
    (map_, _), (chart, _) = preview.pictures  # the map of the week and its chart, stored once
    assert chats.get_media(map_)[0].startswith(b"\x89PNG")
    assert chats.get_media(chart)[0].startswith(b"\x89PNG")
    on = Ctx(**{**off.__dict__, "settings": load_settings({"VEILLE_WEB_PORT": "8080"})})
    text = alerts(on).text
    parse_html(text, strict=True)
    feed = text.split("Flux Atom : ")[1].split("\n")[0].replace("&amp;", "&")
    assert feed.startswith("http://127.0.0.1:8080/feed.atom?")
    query = parse_qs(urlsplit(feed).query)["q"][0]
    assert "Hauts-de-France" in parse_query(query, gazetteer(), NOW).query.regions
    assert "/opml?q=" in text
    (_, caption), _ = digest_preview(on).pictures  # under the map, as in the weekly digest
    assert "Voir la semaine sur le web" in caption


async def test_only_http_links_are_clickable(store: Store) -> None:
    add_items(
        store,
        [Spec("Lien piégé", NOW - timedelta(days=1), ("Corse",), (), link="javascript:alert(1)")],
        NOW,
    )
    win = WebWindow(store, gazetteer, WebConfig(port=0), lambda: NOW)
    await win.start()
    try:
        html = (await get(win, "/region/Corse")).text
        assert "Lien piégé" in html and "javascript:" not in html
        atom = (await get(win, "/feed.atom?q=Corse")).content
        assert b"javascript:" not in atom and len(feedparser.parse(atom).entries) == 1
    finally:
        await win.stop()
