"""Digest scheduling, selection and rendering (pure), and queueing due digests (store only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.alerting import enqueue_due_profile_digests as enqueue_due_digests
from bot.digest import ELSEWHERE, NATIONAL, build_digest, digest_period, next_digest_time
from bot.query.model import Query
from bot.render import TELEGRAM_LIMIT, alert_html, digest_html
from bot.store.alerts import AlertStore
from bot.store.chats import ChatStore
from bot.store.repo import Store
from bot.store.rows import Filters, StoredItem
from classifiers.text import visible_text
from tests.conftest_bot import Spec, add_items, outbox_rows
from tests.support.botapi import parse_html, utf16_len

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
EVERYTHING = Query()
PARIS = "Europe/Paris"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("frequency", "weekday", "hour", "after", "expected"),
    [
        # spring forward: Sunday 30 March 2025, 02:00 CET -> 03:00 CEST
        ("daily", 0, 8, utc(2025, 3, 29, 8, 0), utc(2025, 3, 30, 6, 0)),  # 08:00 CEST
        ("daily", 0, 8, utc(2025, 3, 29, 6, 0), utc(2025, 3, 29, 7, 0)),  # 08:00 CET, same day
        ("weekly", 0, 8, utc(2025, 3, 24, 7, 0), utc(2025, 3, 31, 6, 0)),  # at the slot: next week
        ("weekly", 6, 9, utc(2025, 3, 29, 12, 0), utc(2025, 3, 30, 7, 0)),  # the Sunday itself
        ("daily", 0, 2, utc(2025, 3, 29, 12, 0), utc(2025, 3, 30, 1, 0)),  # 02:00 does not exist
        # fall back: Sunday 26 October 2025, 03:00 CEST -> 02:00 CET
        ("daily", 0, 8, utc(2025, 10, 25, 7, 0), utc(2025, 10, 26, 7, 0)),  # 08:00 CET
        ("weekly", 0, 8, utc(2025, 10, 20, 6, 0), utc(2025, 10, 27, 7, 0)),
        ("daily", 0, 2, utc(2025, 10, 25, 12, 0), utc(2025, 10, 26, 0, 0)),  # first 02:00 only
        ("daily", 0, 2, utc(2025, 10, 26, 0, 0), utc(2025, 10, 27, 1, 0)),  # not the second one
    ],
)
def test_next_digest_time_across_dst(
    frequency: str, weekday: int, hour: int, after: datetime, expected: datetime
) -> None:
    assert next_digest_time(frequency, weekday, hour, PARIS, after) == expected


def test_next_digest_time_off_and_other_zones() -> None:
    assert next_digest_time("off", 0, 8, PARIS, NOW) is None
    assert next_digest_time("daily", 0, 8, "America/New_York", utc(2025, 3, 14, 13, 0)) == utc(
        2025, 3, 15, 12, 0
    )


def test_digest_period() -> None:
    assert digest_period("weekly", NOW, None) == (NOW - timedelta(days=7), NOW)
    assert digest_period("daily", NOW, None) == (NOW - timedelta(days=1), NOW)
    assert digest_period("daily", NOW, NOW - timedelta(hours=3)) == (NOW - timedelta(hours=3), NOW)
    assert digest_period("weekly", NOW, NOW - timedelta(days=30)) == (NOW - timedelta(days=7), NOW)


def item(
    n: int,
    title: str,
    days: float,
    regions: tuple[str, ...] = (),
    types: tuple[str, ...] = (),
    *,
    national: bool = False,
    summary: str = "",
    link: str | None = None,
) -> StoredItem:
    return StoredItem(
        id=n,
        feed_id="f",
        feed_name="Le <Journal> & Cie",
        title=title,
        link=link or f"https://example.org/{n}",
        summary=summary,
        published_at=NOW - timedelta(days=days),
        duplicate_of=None,
        regions=regions,
        types=types,
        primary_type=types[0] if types else None,
        national=national,
        topic_ai=True,
    )


ITEMS = [
    item(1, "Fonds IA régional", 1, ("Hauts-de-France",), ("funding",)),
    item(2, "Appel à projets IA", 2, ("Hauts-de-France",), ("funding",)),
    item(3, "Salon de l'IA à Lille", 0.5, ("Hauts-de-France",), ("event",)),
    item(4, "Campus IA à Rennes", 3, ("Bretagne",), ("training", "research")),
    item(5, "Stratégie nationale IA", 1, (), ("strategy",), national=True),
    item(6, "Partenariat Lille-Rennes", 2, ("Bretagne", "Hauts-de-France"), ("partnership",)),
    item(7, "Trop ancien", 9, ("Hauts-de-France",), ("funding",)),
    item(8, "Sans région", 1, (), ("research",)),
]


def test_build_digest_groups_by_region_then_type() -> None:
    digest = build_digest(ITEMS, start=NOW - timedelta(days=7), end=NOW)
    assert digest.total == 7
    assert [(g.region, g.count) for g in digest.groups] == [
        ("Hauts-de-France", 4),
        ("Bretagne", 2),
        (NATIONAL, 1),
        (ELSEWHERE, 1),
    ]
    hdf = digest.groups[0]
    assert [(t.type, [i.id for i in t.items]) for t in hdf.types] == [
        ("funding", [1, 2]),
        ("partnership", [6]),
        ("event", [3]),
    ]
    assert digest.by_region == {"Hauts-de-France": 4, "Bretagne": 2, NATIONAL: 1, ELSEWHERE: 1}
    assert digest.by_type["funding"] == 2 and digest.by_type["research"] == 2


def test_build_digest_applies_filters() -> None:
    filters = Filters(
        regions=frozenset({"Bretagne", "national"}), keywords=("ia",), excludes=("partenariat",)
    )
    digest = build_digest(ITEMS, start=NOW - timedelta(days=7), end=NOW, filters=filters)
    assert [(g.region, [i.id for t in g.types for i in t.items]) for g in digest.groups] == [
        ("Bretagne", [4]),
        (NATIONAL, [5]),
    ]


def test_digest_html_escapes_and_chunks_at_item_boundaries() -> None:
    hostile = item(
        99,
        "<script>&",
        0.1,
        ("Hauts-de-France",),
        ("event",),
        link='https://example.org/x?a=1&b="<>"',
    )
    many = [
        item(
            100 + n,
            f"Initiative numéro {n} : " + "intelligence artificielle " * 6,
            (n + 1) / 30,
            ("Hauts-de-France", "Bretagne", "Normandie")[n % 3 : n % 3 + 1],
            ("funding", "research", "event", "training")[n % 4 : n % 4 + 1],
        )
        for n in range(150)
    ]
    digest = build_digest([hostile, *many], start=NOW - timedelta(days=7), end=NOW, per_group=50)
    chunks = digest_html(digest, "fr")
    assert len(chunks) > 3
    seen: list[str] = []
    for chunk in chunks:
        assert len(chunk) <= TELEGRAM_LIMIT
        plain, _entities = parse_html(chunk, strict=True)  # valid, every tag closed in its chunk
        assert utf16_len(plain) <= TELEGRAM_LIMIT
        seen += [line for line in plain.splitlines() if line.startswith("• ")]
    assert len(seen) == len(set(seen)) == digest.total, "each item whole, in one chunk"
    joined = "\n".join(chunks)
    assert "&lt;script&gt;&amp;" in joined and "<script>" not in joined
    assert 'href="https://example.org/x?a=1&amp;b=&quot;&lt;&gt;&quot;"' in joined
    assert "Le &lt;Journal&gt; &amp; Cie" in joined
    assert "<script>&" in visible_text(joined)
    first = parse_html(chunks[0])[0]
    assert first.startswith("Veille IA & innovation — synthèse de la semaine")
    assert "151 sujet(s)" in first and "📍 Hauts-de-France (51)" in first


def test_digest_html_empty_and_english() -> None:
    empty = build_digest([], start=NOW - timedelta(days=7), end=NOW)
    (only,) = digest_html(empty, "en")
    assert "No article" in parse_html(only)[0]
    (text,) = digest_html(build_digest(ITEMS, start=NOW - timedelta(days=7), end=NOW), "en")
    plain = parse_html(text)[0]
    assert "AI & innovation watch — weekly digest" in plain and "funding (2)" in plain


def test_alert_html_escapes() -> None:
    alert = item(
        7,
        'Titre <b>gras</b> & "cité"',
        0,
        ("Hauts-de-France",),
        ("funding",),
        summary="Résumé <img src=x onerror=alert(1)> & fin",
    )
    html = alert_html(alert, "fr", also_in=["Ouest <France>"])
    plain, _ = parse_html(html, strict=True)
    assert 'Titre <b>gras</b> & "cité"' in plain
    assert "Résumé <img src=x onerror=alert(1)> & fin" in plain
    assert "Ouest <France>" in plain and "Hauts-de-France · financement" in plain
    assert len(html) <= TELEGRAM_LIMIT


def _subscribe(
    chats: ChatStore,
    chat_id: int,
    digest: str,
    due: datetime,
    query: Query = EVERYTHING,
    hour: int = 8,
) -> int:
    """A chat with one alert profile due at `due`; the profile's id."""
    chats.ensure_chat(chat_id, type="private", title=None, language="fr", now=due)
    return AlertStore(chats.store).create(
        chat_id,
        name="a",
        text=" ".join(query.regions),
        query=query,
        frequency=digest,
        now=due,
        hour=hour,
        next_digest_at=due,
    )


def test_enqueue_due_digests_once_per_slot(store: Store) -> None:
    now = NOW
    add_items(
        store,
        [
            Spec(
                "Fonds IA <régional> & co",
                now - timedelta(days=1),
                ("Hauts-de-France",),
                ("funding",),
            ),
            Spec("Campus IA à Rennes", now - timedelta(hours=12), ("Bretagne",), ("training",)),
        ],
        now,
    )
    chats = ChatStore(store)
    slot = now - timedelta(minutes=1)
    first = _subscribe(chats, 1, "weekly", slot)
    second = _subscribe(chats, 2, "daily", slot, Query(regions=("Bretagne",)), hour=10)
    _subscribe(chats, 3, "weekly", now + timedelta(hours=1))  # not due yet

    queued = enqueue_due_digests(store, chats, now)
    assert enqueue_due_digests(store, chats, now) == 0, "called twice: queued once"
    rows = outbox_rows(chats)
    assert queued == len(rows) == 4  # weekly digest + its map and chart, daily digest
    by_chat = {(r["chat_id"], r["kind"]): r for r in rows}
    assert set(by_chat) == {(1, "digest"), (1, "map"), (1, "chart"), (2, "digest")}
    assert [r["kind"] for r in rows if r["chat_id"] == 1] == ["digest", "map", "chart"]
    map_png, _ = chats.get_media(by_chat[(1, "map")]["payload"]["media"])
    assert map_png.startswith(b"\x89PNG")
    parse_html(by_chat[(1, "map")]["payload"]["caption"], strict=True)
    weekly = by_chat[(1, "digest")]["payload"]["text"]
    assert "Fonds IA &lt;régional&gt; &amp; co" in weekly and "Campus IA" in weekly
    parse_html(weekly, strict=True)
    daily = by_chat[(2, "digest")]["payload"]["text"]
    assert "Campus IA" in daily and "Fonds" not in daily
    chart = by_chat[(1, "chart")]["payload"]
    assert chart["method"] == "sendPhoto"
    png, file_id = chats.get_media(chart["media"])  # stored once, sent by file_id after the first
    assert png.startswith(b"\x89PNG") and file_id is None
    parse_html(chart["caption"], strict=True)

    one, two = AlertStore(store).get(first, 1), AlertStore(store).get(second, 2)
    assert one is not None and two is not None
    assert one.next_digest_at == utc(2025, 3, 17, 7, 0)  # Monday 08:00 CET
    assert two.next_digest_at == utc(2025, 3, 15, 9, 0)  # tomorrow 10:00 CET
    assert one.last_digest_at == now

    # a restart that lost the schedule update must not send the same slot again
    AlertStore(store).update(first, 1, next_digest_at=slot)
    assert enqueue_due_digests(store, chats, now + timedelta(seconds=30)) == 0
    assert len(outbox_rows(chats)) == 4


def test_weekly_maps_follow_each_chat_and_link_to_the_web_page_of_the_week(store: Store) -> None:
    from urllib.parse import parse_qs, urlsplit

    from bot.weblinks import WebLinks

    now = NOW
    add_items(
        store,
        [
            Spec("Fonds IA régional", now - timedelta(days=1), ("Hauts-de-France",), ("funding",)),
            Spec("Campus IA à Rennes", now - timedelta(hours=12), ("Bretagne",), ("training",)),
        ],
        now,
    )
    chats = ChatStore(store)
    slot = now - timedelta(minutes=1)
    bretagne = Query(regions=("Bretagne",))
    _subscribe(chats, 1, "weekly", slot, bretagne)
    _subscribe(chats, 2, "weekly", slot, bretagne)  # same alerts as chat 1
    _subscribe(chats, 3, "weekly", slot)
    web = WebLinks("https://veille.example.org", token="k&y")
    enqueue_due_digests(store, chats, now, web=web)
    maps = {r["chat_id"]: r["payload"] for r in outbox_rows(chats) if r["kind"] == "map"}
    assert maps[1]["media"] == maps[2]["media"] != maps[3]["media"]  # one picture per content
    caption = maps[1]["caption"]
    parse_html(caption, strict=True)
    href = caption.split('href="')[1].split('"')[0].replace("&amp;", "&")
    assert href.startswith("https://veille.example.org/?")
    params = parse_qs(urlsplit(href).query)
    assert params["q"] == ["Bretagne 2025-03-07..2025-03-14"] and params["token"] == ["k&y"]
    assert params["lang"] == ["fr"]
