"""The article stage on loopback: teaser feeds whose items link to article pages, good and bad."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta
from email.utils import format_datetime
from functools import partial
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from bot.config import FeedConfig, Settings
from bot.feeds import gnews, safety
from bot.feeds.article import ArticleReport, ArticleStage, wants_article
from bot.feeds.extract import extract_article, without_headline
from bot.feeds.fetcher import Fetcher
from bot.feeds.poller import Poller
from bot.store.articles import ArticleStore
from bot.store.repo import Store
from bot.store.schema import article_pages, items
from tests.conftest import NOW, feed_config
from tests.support.feedserver import FeedServer, Route

pytestmark = pytest.mark.timeout(120)

HTML = "text/html; charset=utf-8"
ARTICLE_FR = (
    "Le conseil régional de Bretagne a voté jeudi à Rennes un fonds de vingt millions d'euros "
    "destiné aux entreprises qui adoptent l'intelligence artificielle. Les PME industrielles du "
    "Finistère et des Côtes-d'Armor seront les premières concernées, selon le président de la "
    "Région, qui veut en faire un levier pour l'emploi industriel.",
    "Le dispositif sera géré par l'agence régionale de développement, qui accompagnera chaque "
    "entreprise pendant dix-huit mois. Un appel à projets ouvrira en avril ; les dossiers seront "
    "examinés par un jury d'industriels et de chercheurs de l'université de Rennes.",
    "Selon la vice-présidente chargée du numérique, l'objectif est de permettre à deux cents "
    "entreprises de tester des outils d'apprentissage automatique d'ici à 2027, notamment pour "
    "la maintenance prédictive et le contrôle qualité dans l'agroalimentaire.",
)
ARTICLE_DE = (
    "Die Landesregierung hat am Donnerstag ein neues Förderprogramm für künstliche Intelligenz "
    "vorgestellt. Kleine und mittlere Unternehmen sollen damit Werkzeuge des maschinellen Lernens "
    "erproben können, wie der Wirtschaftsminister in der Hauptstadt erklärte.",
    "Das Programm wird von der regionalen Entwicklungsagentur verwaltet und begleitet jedes "
    "Unternehmen achtzehn Monate lang. Eine Ausschreibung beginnt im April, die Bewerbungen "
    "werden von einer Jury aus Industrie und Forschung geprüft.",
)
COOKIE_BANNER = (
    '<div id="cookie-consent" class="cookie-banner">Nous utilisons des cookies pour mesurer '
    "l'audience. <button>Tout accepter</button> <button>Paramétrer les cookies</button></div>"
)


def article_page(title: str, paragraphs: tuple[str, ...], *, lang: str = "fr") -> bytes:
    """An article page with ordinary furniture: menu, cookie banner, related links, footer."""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f'<!doctype html><html lang="{lang}"><head><title>{escape(title)}</title></head><body>'
        '<header><nav><a href="/">Accueil</a> <a href="/eco">Économie</a> '
        '<a href="/sport">Sport</a> <a href="/connexion">Se connecter</a></nav></header>'
        f"{COOKIE_BANNER}<main><article><h1>{escape(title)}</h1>"
        f'<p class="date">12 mars 2025</p>{body}</article>'
        '<aside><h2>À lire aussi</h2><ul><li><a href="/1">Le port de Brest se modernise</a></li>'
        '<li><a href="/2">Football : le Stade rennais s\'impose</a></li></ul></aside></main>'
        "<footer><p>Mentions légales — Contact — Plan du site — © 2025 Ouest Journal</p></footer>"
        "</body></html>"
    ).encode()


LOGIN_WALL = (
    "<!doctype html><html><body><header><nav><a href='/'>Accueil</a></nav></header>"
    "<main><h1>Connectez-vous pour lire cet article</h1><p>Article réservé aux abonnés. "
    "Déjà abonné ? Identifiez-vous.</p><form><input name='email'>"
    "<input type='password' name='pw'><button>Se connecter</button></form>"
    "<p>Abonnez-vous dès 1 € le premier mois.</p></main></body></html>"
).encode()
COOKIE_WALL = (
    "<!doctype html><html><body><div class='consent'><h2>Vos choix concernant les cookies</h2>"
    "<p>Nous et nos partenaires utilisons des cookies. Avec votre consentement, nous les "
    "utilisons pour mesurer l'audience et personnaliser la publicité.</p>"
    "<button>Tout accepter</button><button>Tout refuser</button>"
    "<a href='/cookies'>Paramétrer les cookies</a></div></body></html>"
).encode()
HOME_PAGE = (
    "<!doctype html><html><body><header><nav><a href='/'>Accueil</a> <a href='/eco'>Éco</a>"
    "</nav></header><main><h1>À la une</h1><ul>"
    + "".join(f"<li><a href='/a{i}'>Titre d'article numéro {i}</a></li>" for i in range(12))
    + "</ul></main><footer>Mentions légales</footer></body></html>"
).encode()


def teaser_feed(*entries: tuple[str, str, str], title: str = "Teasers") -> bytes:
    """RSS of (title, link, teaser) items."""
    date = format_datetime(NOW - timedelta(hours=3), usegmt=True)
    body = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link>"
        f"<guid>{escape(link)}</guid><pubDate>{date}</pubDate>"
        f"<description>{escape(teaser)}</description></item>"
        for t, link, teaser in entries
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}'
        f"</title><link>http://example.org/</link>{body}</channel></rss>"
    ).encode()


class Rig:
    """A store, a loopback server, settings; polls feeds then runs the article stage."""

    def __init__(
        self, store: Store, server: FeedServer, make_settings: Callable[..., Settings]
    ) -> None:
        self.store = store
        self.server = server
        self.make_settings = make_settings
        self.now = NOW
        self.retag: Any = None

    def clock(self) -> Any:
        """The rig's time."""
        return self.now

    def feeds(self, *configs: FeedConfig) -> None:
        """Declare the configured feeds."""
        self.store.sync_feeds(configs, self.now)

    def feed(self, feed_id: str, *entries: tuple[str, str, str], **fields: Any) -> FeedConfig:
        """Serve a teaser feed at /<feed_id>.xml; its config."""
        url = self.server.add(f"/{feed_id}.xml", Route(body=teaser_feed(*entries)))
        return feed_config(feed_id, url, **fields)

    def page(self, path: str, body: bytes, **route: Any) -> str:
        """Serve an article page; its URL."""
        return self.server.add(path, Route(body=body, content_type=route.pop("ct", HTML), **route))

    @asynccontextmanager
    async def stage(self, **env: str) -> AsyncIterator[tuple[Poller, ArticleStage]]:
        """A Poller and an ArticleStage sharing one Fetcher."""
        settings = self.make_settings(**env)
        pool = ThreadPoolExecutor(max_workers=1)
        try:
            # The check is looked up at each call, so a test may say which addresses are public.
            async with Fetcher(settings, allowed=lambda a: safety.is_public(a)) as fetcher:
                poller = Poller(self.store, fetcher, settings, clock=self.clock, parse_pool=pool)
                stage = ArticleStage(
                    ArticleStore(self.store),
                    fetcher,
                    settings,
                    clock=self.clock,
                    extract_pool=pool,
                    retag=self.retag,
                )
                try:
                    yield poller, stage
                finally:
                    await stage.close()
                    await poller.close()
        finally:
            pool.shutdown(wait=True)

    async def run(self, **env: str) -> ArticleReport:
        """Poll the due feeds, then read the article pages of what is new."""
        async with self.stage(**env) as (poller, stage):
            await poller.poll_due()
            return await stage.run_pending()

    def rows(self) -> dict[str, dict[str, Any]]:
        """Stored items by title: link, text source, status and the page's text."""
        q = select(
            items.c.title,
            items.c.link,
            items.c.canonical_link,
            items.c.text_source,
            items.c.article_status,
            items.c.duplicate_of,
            items.c.summary,
            article_pages.c.text,
            article_pages.c.final_url,
        ).outerjoin(article_pages, article_pages.c.key == items.c.article_key)
        with self.store.engine.connect() as conn:
            return {r.title: dict(r._mapping) for r in conn.execute(q)}


@pytest.fixture
def rig(store: Store, feed_server: FeedServer, make_settings: Callable[..., Settings]) -> Rig:
    """The article rig of one test."""
    return Rig(store, feed_server, make_settings)


# ---- pure parts ------------------------------------------------------------------------------


def test_auto_reads_the_page_only_of_short_items() -> None:
    assert wants_article("auto", "Un teaser de deux lignes.")
    assert not wants_article("auto", "x" * 5000)
    assert wants_article("always", "x" * 5000)
    assert not wants_article("never", "")


def test_extraction_keeps_the_article_and_drops_the_furniture() -> None:
    got = extract_article(article_page("Un fonds IA", ARTICLE_FR), HTML, "https://x.example/a")
    assert got.status == "ok" and got.language == "fr"
    assert "vingt millions" in got.text and "maintenance prédictive" in got.text
    for furniture in ("cookies", "Mentions légales", "Stade rennais", "Accueil"):
        assert furniture not in got.text


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (LOGIN_WALL, HTML, "wall"),
        (COOKIE_WALL, HTML, "wall"),
        (HOME_PAGE, HTML, "no_article"),
        (b"%PDF-1.7\n%binary", "application/pdf", "not_html"),
        (b"%PDF-1.7\n%binary", "application/octet-stream", "not_html"),
        (b"", HTML, "no_article"),
    ],
)
def test_pages_that_are_not_articles_say_why(body: bytes, content_type: str, status: str) -> None:
    assert extract_article(body, content_type).status == status


def _gnews_id(payload: bytes, *, amp: bytes = b"") -> str:
    """An article id as Google builds it: field 1 = 19, field 4 = payload (field 26 = AMP)."""
    message = b"\x08\x13\x22" + bytes([len(payload)]) + payload
    if amp:
        message += b"\xd2\x01" + bytes([len(amp)]) + amp
    return base64.urlsafe_b64encode(message).decode().rstrip("=")


def test_google_news_ids_that_carry_the_url_decode_offline() -> None:
    art = _gnews_id(b"https://www.ouest.example/eco/ia.html", amp=b"https://amp.ouest.example/x")
    assert gnews.decode_offline(art) == "https://www.ouest.example/eco/ia.html"
    assert gnews.decode_offline(_gnews_id(b"AU_yqLtoken123")) is None  # needs Google
    with pytest.raises(gnews.GoogleNewsError):
        gnews.decode_offline("not-an-id!!")
    link = f"https://news.google.com/rss/articles/{art}?oc=5"
    assert gnews.article_id(link, "https://news.google.com") == art
    assert (
        gnews.article_id("https://www.ouest.example/rss/articles/x", "https://news.google.com")
        is None
    )


def test_batchexecute_answers_are_read_in_both_shapes() -> None:
    row = json.dumps([["wrb.fr", "Fbv4je", json.dumps(["garturlres", "https://a.example/x", 1])]])
    assert gnews.parse_batchexecute(f")]}}'\n\n{row}".encode()) == "https://a.example/x"
    chunked = f')]}}\'\n\n{len(row)}\n{row}\n25\n[["e",4,null,null,123]]\n'
    assert gnews.parse_batchexecute(chunked.encode()) == "https://a.example/x"
    with pytest.raises(gnews.GoogleNewsError):
        gnews.parse_batchexecute(b')]}\'\n\n[["e",4]]')


# ---- the stage on loopback ---------------------------------------------------------------------


@pytest.mark.timeout(600)  # the session's model is trained on first use
async def test_teaser_item_is_tagged_on_the_article_text(rig: Rig, trained_models: Path) -> None:
    from bot.tagging import TaggingService

    title = "Un nouveau dispositif pour les entreprises"
    link = rig.page("/eco/fonds-ia", article_page(title, ARTICLE_FR))
    rig.feeds(rig.feed("teasers", (title, link, "Un dispositif inédit a été voté jeudi…")))
    pool = ThreadPoolExecutor(max_workers=1)
    tagging = TaggingService(rig.store, trained_models, pool, "test", rig.clock)
    rig.retag = partial(tagging.tag_ids, untagged_only=False)
    try:
        async with rig.stage() as (poller, stage):
            poller.tag_new = tagging.tag_ids
            await poller.poll_due()
            [before] = rig.store.recent_items(topic_only=False)
            report = await stage.run_pending()
    finally:
        pool.shutdown()
    assert "Bretagne" not in before.regions  # the teaser names no place
    assert (report.items, report.fetched, report.articles, report.retagged) == (1, 1, 1, 1)
    row = rig.rows()[title]
    assert (row["text_source"], row["article_status"]) == ("article", "ok")
    assert "cookies" not in row["text"] and "vingt millions" in row["text"]
    [after] = rig.store.recent_items(topic_only=False)
    assert "Bretagne" in after.regions and after.topic_ai
    assert "funding" in after.types
    assert row["summary"].startswith("Un dispositif inédit")  # the feed's text is kept


async def test_a_page_is_fetched_once_then_revalidated(rig: Rig) -> None:
    link = rig.page("/eco/fonds-ia", article_page("Fonds", ARTICLE_FR))
    rig.feeds(
        rig.feed("one", ("Un fonds pour l'IA", link + "?utm_source=rss", "Teaser.")),
        rig.feed("two", ("Fonds régional pour l'IA en entreprise", link, "Teaser.")),
    )
    report = await rig.run()
    assert (report.items, report.fetched, report.from_cache) == (2, 1, 1)
    assert rig.server.hits["/eco/fonds-ia"] == 1
    # A week later a third item links to it: one conditional GET, answered 304.
    rig.now += timedelta(days=8)
    rig.feeds(
        rig.feed("one", ("Un fonds pour l'IA", link + "?utm_source=rss", "Teaser.")),
        rig.feed("two", ("Fonds régional pour l'IA en entreprise", link, "Teaser.")),
        rig.feed("three", ("Le fonds IA breton détaillé", link + "#top", "Teaser.")),
    )
    report = await rig.run()
    assert (report.items, report.fetched) == (1, 1)
    assert rig.server.conditional_hits["/eco/fonds-ia"] == 1
    assert {r["article_status"] for r in rig.rows().values()} == {"ok"}


async def test_bad_pages_keep_the_feed_text_and_a_status(rig: Rig) -> None:
    pages = {
        "huge": rig.page("/huge", b"", stream_bytes=20 * 1024 * 1024),
        "login": rig.page("/login", LOGIN_WALL),
        "cookies": rig.page("/cookies", COOKIE_WALL),
        "pdf": rig.page("/doc.pdf", b"%PDF-1.7\n" + b"0" * 5000, ct="application/pdf"),
        "german": rig.page("/de", article_page("KI-Förderung", ARTICLE_DE, lang="de")),
        "home": rig.page("/home", HOME_PAGE),
        "slow": rig.page("/slow", article_page("Lent", ARTICLE_FR), byte_delay=0.05),
        "gone": rig.server.url("/missing"),
        "refused": "http://127.0.0.1:9/nothing-listens",
    }
    rig.feeds(rig.feed("mixed", *((name, url, f"Teaser {name}.") for name, url in pages.items())))
    report = await rig.run(VEILLE_FETCH_TIMEOUT="1", VEILLE_MAX_BODY_BYTES=str(5 * 1024 * 1024))
    rows = rig.rows()
    assert {name: rows[name]["article_status"] for name in pages} == {
        "huge": "too_large",
        "login": "wall",
        "cookies": "wall",
        "pdf": "not_html",
        "german": "other_language",
        "home": "no_article",
        "slow": "timeout",
        "gone": "failed",
        "refused": "failed",
    }
    assert {rows[name]["text_source"] for name in pages} == {"feed"}
    assert all(rows[name]["summary"] == f"Teaser {name}." for name in pages)
    assert report.items == len(pages) and report.articles == 0
    assert rig.store.feed_state("mixed").status == "ok"  # type: ignore[union-attr]


async def test_redirects_to_another_host_are_followed_for_operator_feeds(rig: Rig) -> None:
    final = rig.page("/final", article_page("Fonds", ARTICLE_FR))
    other_host = final.replace("127.0.0.1", "localhost")
    rig.server.add("/r2", Route(status=302, redirect_to=other_host))
    first = rig.server.add("/r1", Route(status=301, redirect_to=rig.server.url("/r2")))
    rig.feeds(rig.feed("ops", ("Un fonds breton pour l'IA", first, "Teaser.")))
    await rig.run()
    row = rig.rows()["Un fonds breton pour l'IA"]
    assert (row["article_status"], row["text_source"]) == ("ok", "article")
    assert row["final_url"] == other_host


async def test_addfeed_links_to_private_addresses_are_refused(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 127.0.0.1 stands for the Internet here (the feed is fetched); 127.0.0.2 for the inside.
    monkeypatch.setattr(safety, "is_public", lambda address: address == "127.0.0.1")
    rig.page("/interne", article_page("Fonds", ARTICLE_FR))
    link = f"http://127.0.0.2:{rig.server.port}/interne"
    url = rig.server.add("/bot.xml", Route(body=teaser_feed(("Lien interne", link, "T."))))
    rig.store.add_feed("from-telegram", "Depuis Telegram", url, rig.now)
    await rig.run(VEILLE_ALLOW_PRIVATE_FEEDS="false")
    assert rig.rows()["Lien interne"]["article_status"] == "unsafe"
    assert "/interne" not in rig.server.hits


async def test_addfeed_redirect_hops_are_checked_before_they_are_taken(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 127.0.0.1 stands for the Internet here; 127.0.0.2 (nothing listens there) for the inside.
    monkeypatch.setattr(safety, "is_public", lambda address: address == "127.0.0.1")
    inside = f"http://127.0.0.2:{rig.server.port}/admin"
    hop = rig.server.add("/hop", Route(status=302, redirect_to=inside))
    start = rig.server.add("/start", Route(status=301, redirect_to=hop))
    fine = rig.page("/fine", article_page("Fonds", ARTICLE_FR))
    url = rig.server.add(
        "/bot.xml", Route(body=teaser_feed(("Redirigé", start, "T."), ("Direct", fine, "T.")))
    )
    rig.store.add_feed("from-telegram", "Depuis Telegram", url, rig.now)
    await rig.run()
    rows = rig.rows()
    assert rows["Redirigé"]["article_status"] == "unsafe"
    assert rig.server.hits["/hop"] == 1  # the hop was taken, the inside never asked
    assert (rows["Direct"]["article_status"], rows["Direct"]["text_source"]) == ("ok", "article")


async def test_google_news_links_become_the_publisher_url(rig: Rig) -> None:
    env = {"VEILLE_GOOGLE_NEWS_URL": rig.server.base}
    origin = rig.server.base
    # the publisher's own feed carries the story first
    story = rig.page("/presse/fonds-ia", article_page("Fonds", ARTICLE_FR))
    other = rig.page("/presse/autre", article_page("Autre", ARTICLE_FR[:2]))
    publisher = rig.feed(
        "presse", ("Le fonds breton pour l'intelligence artificielle", story, "T.")
    )
    rig.feeds(publisher)
    await rig.run(**env)
    # old-style id: the URL is inside; new-style id: Google's page and batchexecute are asked
    offline = _gnews_id(story.encode())
    token = _gnews_id(b"AU_yqLnewtoken")
    rig.server.add(
        f"/rss/articles/{token}",
        Route(body=b'<c-wiz><div jscontroller="x" data-n-a-sg="SIG123" data-n-a-ts="1733000000">'),
    )
    answer = json.dumps([["wrb.fr", "Fbv4je", json.dumps(["garturlres", other, 1])]])
    rig.server.add(gnews.BATCHEXECUTE_PATH, Route(body=f")]}}'\n\n{answer}".encode()))
    rig.feeds(
        publisher,
        rig.feed(
            "gnews-bretagne",
            ("Fonds IA - Ouest Journal", f"{origin}/rss/articles/{offline}?oc=5", "Fonds IA"),
            ("Autre sujet - Ouest Journal", f"{origin}/rss/articles/{token}?oc=5", "Autre"),
            ("Lien cassé - X", f"{origin}/rss/articles/{_gnews_id(b'AU_yqLgone')}", "X"),
        ),
    )
    await rig.run(**env)
    rows = rig.rows()
    first, second = rows["Fonds IA - Ouest Journal"], rows["Autre sujet - Ouest Journal"]
    assert first["link"] == story and first["canonical_link"] == story
    assert first["duplicate_of"] is not None  # the same story as the publisher's own item
    assert f"/rss/articles/{offline}" not in rig.server.hits  # decoded without asking
    assert second["link"] == other and second["text_source"] == "article"
    [form] = rig.server.posted[gnews.BATCHEXECUTE_PATH]
    call = json.loads(json.loads(parse_qs(form.decode())["f.req"][0])[0][0][1])
    assert call[2:] == [token, 1733000000, "SIG123"]
    assert rows["Lien cassé - X"]["article_status"] == "unresolved"
    assert rig.server.hits["/presse/fonds-ia"] == 1  # the page was read once for both items


async def test_full_text_mode_of_the_feed_decides(rig: Rig) -> None:
    more = (
        "Les premières entreprises retenues seront connues à l'automne, après un comité de "
        "sélection réuni à Vannes. Les candidatures se font en ligne sur le site de la Région.",
        "Les organisations professionnelles saluent une initiative attendue, tout en demandant "
        "que les artisans et les très petites entreprises puissent aussi en bénéficier.",
        "Un bilan d'étape sera présenté devant l'assemblée régionale dans un an, avec les "
        "premiers résultats des projets accompagnés et le nombre d'emplois créés ou maintenus.",
    )
    link = rig.page("/eco/fonds-ia", article_page("Fonds", ARTICLE_FR + more))
    long_text = "Un article complet dans le flux. " * 32
    rig.feeds(
        rig.feed("never", ("Jamais lu", link + "?n=1", "Teaser."), full_text="never"),
        rig.feed("auto", ("Assez de texte", link + "?n=2", long_text)),
        rig.feed("always", ("Toujours lu", link + "?n=3", long_text), full_text="always"),
    )
    assert rig.store.feed_state("never").full_text == "never"  # type: ignore[union-attr]
    report = await rig.run()
    rows = rig.rows()
    assert rows["Jamais lu"]["article_status"] == "skipped"
    assert rows["Assez de texte"]["article_status"] == "skipped"
    assert (rows["Toujours lu"]["article_status"], rows["Toujours lu"]["text_source"]) == (
        "ok",
        "article",
    )
    assert report.fetched == 1 and rig.server.hits["/eco/fonds-ia"] == 1


def test_the_headline_is_not_given_twice_to_the_tagger() -> None:
    text = "La Région lance un fonds pour l'IA\nLe conseil régional a voté jeudi."
    assert without_headline(text, "La Région lance un fonds pour l’IA") == (
        "Le conseil régional a voté jeudi."
    )
    assert without_headline(text, "La Région lance un fonds pour l'IA - Ouest Journal") == (
        "Le conseil régional a voté jeudi."
    )
    assert without_headline(text, "Tout autre titre d'article") == text
