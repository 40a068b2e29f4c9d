"""The SQLite store: feed sync, idempotent inserts, accent-insensitive search, tag filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.feeds.normalize import canonical_url, title_key
from bot.store.repo import Store
from bot.store.rows import ParsedItem
from tests.conftest import NOW, feed_config


def item(
    key: str,
    title: str,
    *,
    summary: str = "",
    content: str = "",
    link: str | None = None,
    published: datetime = NOW,
    **fields: Any,
) -> ParsedItem:
    """A parsed item as the parser would give it."""
    link = link or f"https://example.org/{key}"
    return ParsedItem(
        dedup_key=f"guid:{key}",
        guid=key,
        link=link,
        canonical_link=canonical_url(link),
        title=title,
        summary=summary or title,
        content=content,
        author=None,
        published_at=published,
        date_is_fallback=False,
        language="fr",
        title_key=title_key(title),
        **fields,
    )


def tags(
    regions: Sequence[str] = (),
    types: Sequence[str] = (),
    *,
    topic: bool = True,
    national: bool = False,
) -> dict[str, Any]:
    """A tagger result with the TAXONOMY fields."""
    return {
        "regions": list(regions),
        "countries": ["France"],
        "types": list(types),
        "primary_type": types[0] if types else None,
        "national": national,
        "topic_ai": topic,
        "scores": {"topic_ai": 0.9 if topic else 0.1},
    }


@pytest.fixture
def two_feeds(store: Store) -> Store:
    """A store with feeds 'alpha' and 'beta'."""
    store.sync_feeds(
        [
            feed_config("alpha", "https://alpha.example/rss", name="Alpha"),
            feed_config("beta", "https://beta.example/rss", name="Beta", region="Bretagne"),
        ],
        NOW,
    )
    return store


def test_sync_adds_feeds_due_now(store: Store) -> None:
    store.sync_feeds(
        [
            feed_config(
                "alpha",
                "https://alpha.example/rss",
                region="Occitanie",
                min_interval_minutes=30,
                max_interval_minutes=600,
            )
        ],
        NOW,
    )
    state = store.feed_state("alpha")
    assert state is not None
    assert (state.status, state.enabled, state.source) == ("new", True, "config")
    assert (state.url, state.region_hint) == ("https://alpha.example/rss", "Occitanie")
    assert (state.min_interval, state.max_interval) == (30, 600)
    assert state.next_check_at == NOW
    assert [f.id for f in store.due_feeds(NOW)] == ["alpha"]


def test_sync_updates_fields_and_resets_on_a_new_url(two_feeds: Store) -> None:
    two_feeds.save_feed_states(
        [
            {
                "id": "alpha",
                "status": "ok",
                "etag": '"e1"',
                "body_hash": "h",
                "next_check_at": NOW + timedelta(hours=1),
            }
        ]
    )
    later = NOW + timedelta(minutes=5)
    two_feeds.sync_feeds(
        [
            feed_config(
                "alpha", "https://alpha.example/rss", name="Alpha 2", max_interval_minutes=60
            ),
            feed_config("beta", "https://beta.example/rss", name="Beta"),
        ],
        later,
    )
    alpha = two_feeds.feed_state("alpha")
    assert alpha is not None
    assert (alpha.name, alpha.max_interval, alpha.etag) == ("Alpha 2", 60, '"e1"')
    assert alpha.next_check_at == NOW + timedelta(hours=1)

    two_feeds.sync_feeds(
        [
            feed_config("alpha", "https://alpha.example/new-rss"),
            feed_config("beta", "https://beta.example/rss"),
        ],
        later,
    )
    alpha = two_feeds.feed_state("alpha")
    assert alpha is not None
    assert alpha.url == "https://alpha.example/new-rss"
    assert (alpha.etag, alpha.body_hash, alpha.next_check_at) == (None, None, later)


def test_sync_disables_feeds_turned_off_or_removed(two_feeds: Store) -> None:
    two_feeds.sync_feeds([feed_config("alpha", "https://alpha.example/rss", enabled=False)], NOW)
    states = {f.id: f for f in two_feeds.feed_states()}
    assert (states["alpha"].status, states["alpha"].enabled) == ("disabled", False)
    assert (states["beta"].status, states["beta"].enabled) == ("disabled", False)
    assert two_feeds.due_feeds(NOW) == []
    assert two_feeds.feed_states(include_disabled=False) == []


def test_sync_reenables_a_feed_put_back(two_feeds: Store) -> None:
    two_feeds.sync_feeds([feed_config("alpha", "https://alpha.example/rss")], NOW)
    later = NOW + timedelta(days=1)
    two_feeds.sync_feeds(
        [
            feed_config("alpha", "https://alpha.example/rss"),
            feed_config("beta", "https://beta.example/rss"),
        ],
        later,
    )
    beta = two_feeds.feed_state("beta")
    assert beta is not None
    assert (beta.status, beta.enabled, beta.next_check_at) == ("new", True, later)


def test_sync_leaves_feeds_added_from_the_bot(store: Store) -> None:
    store.add_feed("from-chat", "From chat", "https://chat.example/rss", NOW)
    store.sync_feeds([feed_config("alpha", "https://alpha.example/rss")], NOW)
    state = store.feed_state("from-chat")
    assert state is not None
    assert (state.source, state.enabled) == ("bot", True)
    assert store.remove_feed("from-chat")
    assert not store.remove_feed("never-existed")


def test_due_feeds_lease_keeps_a_second_owner_out(two_feeds: Store) -> None:
    assert {f.id for f in two_feeds.due_feeds(NOW, owner="a")} == {"alpha", "beta"}
    assert two_feeds.due_feeds(NOW, owner="b") == []
    two_feeds.save_feed_states([{"id": "alpha", "status": "ok"}])  # releases the lease
    assert [f.id for f in two_feeds.due_feeds(NOW, owner="b")] == ["alpha"]


def test_insert_items_is_idempotent(two_feeds: Store) -> None:
    batch = [item("a1", "Premier article de test sur l'IA"), item("a2", "Second article de test")]
    first = two_feeds.insert_items("alpha", batch, NOW)
    assert len(first) == 2
    assert two_feeds.insert_items("alpha", batch, NOW) == []
    more = two_feeds.insert_items("alpha", [*batch, item("a3", "Un troisième article")], NOW)
    assert len(more) == 1
    assert two_feeds.count_items() == 3
    alpha = two_feeds.feed_state("alpha")
    assert alpha is not None and alpha.items_total == 3
    assert two_feeds.insert_items("alpha", [], NOW) == []


def test_same_key_in_another_feed_is_a_duplicate_not_a_conflict(two_feeds: Store) -> None:
    story = item(
        "s", "La même histoire racontée par deux sources", link="https://x.org/s?utm_source=a"
    )
    [original] = two_feeds.insert_items("alpha", [story], NOW)
    [copy] = two_feeds.insert_items("beta", [replace(story, link="https://x.org/s")], NOW)
    stored = {i.id: i for i in two_feeds.recent_items(topic_only=False, include_duplicates=True)}
    assert stored[original].duplicate_of is None
    assert stored[copy].duplicate_of == original
    assert two_feeds.duplicates_of([original]) == {original: ["Beta"]}


def test_titles_far_apart_in_time_are_not_duplicates(two_feeds: Store) -> None:
    title = "Un appel à projets pour l'intelligence artificielle en santé"
    two_feeds.insert_items(
        "alpha", [item("old", title, link="https://a.org/1")], NOW - timedelta(days=30)
    )
    [later] = two_feeds.insert_items(
        "beta",
        [item("new", title, link="https://b.org/2", published=NOW + timedelta(days=10))],
        NOW,
    )
    [stored] = two_feeds.recent_items(topic_only=False, ids=[later])
    assert stored.duplicate_of is None


@pytest.fixture
def searchable(two_feeds: Store) -> Store:
    """Items with accented words in title, summary and content."""
    two_feeds.insert_items(
        "alpha",
        [
            item(
                "n",
                "Le numérique au service des régions",
                summary="Une stratégie régionale pour l'économie numérique.",
            ),
            item(
                "e",
                "Écoles d'ingénieurs et IA",
                content="Un partenariat avec l'université de Lille.",
            ),
            item("o", "Sans rapport aucun avec le sujet"),
        ],
        NOW,
    )
    return two_feeds


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("numérique", {"Le numérique au service des régions"}),
        ("numerique", {"Le numérique au service des régions"}),
        ("NUMERIQUE", {"Le numérique au service des régions"}),
        ("numériques", {"Le numérique au service des régions"}),
        ("economie numerique", {"Le numérique au service des régions"}),
        ("ecoles", {"Écoles d'ingénieurs et IA"}),
        ("université", {"Écoles d'ingénieurs et IA"}),
        ("universite lille", {"Écoles d'ingénieurs et IA"}),
        ("numérique lille", set()),
        ("blockchain", set()),
        ('"; DROP TABLE items; --', set()),
        ("?!", set()),
    ],
)
def test_full_text_search_ignores_accents(
    searchable: Store, query: str, expected: set[str]
) -> None:
    found = {i.title for i in searchable.recent_items(topic_only=False, search=query)}
    assert found == expected
    assert searchable.count_items() == 3


def test_new_items_full_text_rows_are_those_the_trigger_wrote(two_feeds: Store) -> None:
    """The store writes new items' items_fts rows itself (sorted, for FTS5's sake): each is the
    row migration 0006's insert trigger wrote, a time key and the stems, whether the parse
    workers gave the stems or not, in a batch of several feeds or alone."""
    times = [NOW, NOW - timedelta(minutes=5, microseconds=700), datetime(1969, 7, 20, 20, 17, 40)]
    newest_first = [
        item(f"k{n}", f"Article numéro {n} sur les jumeaux numériques", published=at)
        for n, at in enumerate(times)
    ]
    given = {"guid:k1": "stems given by a worker"}
    two_feeds.insert_items_batch(
        [("alpha", newest_first, NOW), ("beta", newest_first[:2], NOW)], index=[given, {}]
    )
    two_feeds.insert_items("alpha", [item("k9", "Un de plus", content="Texte à part")], NOW)
    with two_feeds.engine.connect() as conn:
        written = conn.exec_driver_sql(
            "SELECT rowid, stems, item_id FROM items_fts ORDER BY item_id"
        ).all()
        expected = conn.exec_driver_sql(
            "SELECT CAST(strftime('%s', published_at) AS INTEGER) * 4194304 + (id % 4194304), "
            "veille_stems(title, summary, content), id FROM items ORDER BY id"
        ).all()
    given_id = next(i for _, s, i in written if s == "stems given by a worker")
    assert len(written) == len(expected) == 6
    assert [r for r in written if r[2] != given_id] == [r for r in expected if r[2] != given_id]
    assert [r[0] for r in written if r[2] == given_id] == [
        r[0] for r in expected if r[2] == given_id
    ]
    assert [i.title for i in two_feeds.recent_items(search="jumeau", topic_only=False)] != []


def test_search_keywords_are_plain_words(searchable: Store) -> None:
    assert searchable.recent_items(topic_only=False, search="NOT OR AND NEAR") == []


def add_tagged_sample(store: Store) -> dict[str, int]:
    """Into feed alpha: five tagged items (one off-topic, one 40 days old) and one untagged."""
    ids = store.insert_items(
        "alpha",
        [
            item(
                "bzh", "Un fonds IA pour les startups bretonnes", published=NOW - timedelta(days=1)
            ),
            item("lil", "Un laboratoire lillois recrute en IA", published=NOW - timedelta(days=2)),
            item(
                "both", "Bretagne et Occitanie signent un accord", published=NOW - timedelta(days=3)
            ),
            item(
                "foot", "Le match de football de dimanche soir", published=NOW - timedelta(days=1)
            ),
            item(
                "old",
                "Une vieille annonce de financement breton",
                published=NOW - timedelta(days=40),
            ),
            item("new", "Article pas encore passé au tagger", published=NOW - timedelta(hours=1)),
        ],
        NOW,
    )
    by_key = dict(zip(["bzh", "lil", "both", "foot", "old", "new"], ids, strict=True))
    store.save_tags(
        [
            (by_key["bzh"], tags(["Bretagne"], ["funding"])),
            (by_key["lil"], tags(["Hauts-de-France"], ["research", "training"])),
            (by_key["both"], tags(["Bretagne", "Occitanie"], ["partnership"])),
            (by_key["foot"], tags(["Bretagne"], ["event"], topic=False)),
            (by_key["old"], tags(["Bretagne"], ["funding"])),
        ],
        NOW,
        "test-model",
    )
    return by_key


@pytest.fixture
def tagged(two_feeds: Store) -> tuple[Store, dict[str, int]]:
    """Four tagged items (one off-topic) and one untagged."""
    return two_feeds, add_tagged_sample(two_feeds)


def test_recent_items_filters_by_region_and_type(tagged: tuple[Store, dict[str, int]]) -> None:
    store, ids = tagged
    since = NOW - timedelta(days=7)

    def found(**kw: Any) -> list[int]:
        return [i.id for i in store.recent_items(since=since, **kw)]

    assert found(regions=["Bretagne"]) == [ids["bzh"], ids["both"]]
    assert found(regions=["Bretagne", "Hauts-de-France"]) == [ids["bzh"], ids["lil"], ids["both"]]
    assert found(types=["research"]) == [ids["lil"]]
    assert found(regions=["Bretagne"], types=["funding"]) == [ids["bzh"]]
    assert found(regions=["Corse"]) == []
    # no filter: topic items and untagged ones, newest first; the off-topic one is left out
    assert found() == [ids["new"], ids["bzh"], ids["lil"], ids["both"]]
    assert ids["foot"] in found(topic_only=False)
    assert ids["old"] in [i.id for i in store.recent_items(regions=["Bretagne"])]


def test_recent_items_carry_their_tags(tagged: tuple[Store, dict[str, int]]) -> None:
    store, ids = tagged
    [lil] = store.recent_items(ids=[ids["lil"]])
    assert lil.regions == ("Hauts-de-France",)
    assert set(lil.types) == {"research", "training"}
    assert lil.primary_type == "research"
    assert lil.topic_ai is True
    assert lil.feed_name == "Alpha"
    assert store.item_result(ids["lil"])["regions"] == ["Hauts-de-France"]  # type: ignore[index]
    assert store.item_result(ids["new"]) is None


def test_recent_items_pages_and_bounds(tagged: tuple[Store, dict[str, int]]) -> None:
    store, ids = tagged
    since = NOW - timedelta(days=7)
    first = store.recent_items(since=since, limit=2)
    rest = store.recent_items(since=since, limit=2, offset=2)
    assert [i.id for i in first + rest] == [ids["new"], ids["bzh"], ids["lil"], ids["both"]]
    until = store.recent_items(since=since, until=NOW - timedelta(days=2))
    assert [i.id for i in until] == [ids["both"]]


def test_label_counts(tagged: tuple[Store, dict[str, int]]) -> None:
    store, _ = tagged
    since = NOW - timedelta(days=7)
    assert store.label_counts("region", since) == {
        "Bretagne": 2,
        "Hauts-de-France": 1,
        "Occitanie": 1,
    }
    assert store.label_counts("type", since) == {
        "funding": 1,
        "research": 1,
        "training": 1,
        "partnership": 1,
    }
    assert store.label_counts("country", since) == {"France": 3}
    assert store.label_counts("region", NOW - timedelta(days=60))["Bretagne"] == 3


def test_retagging_replaces_labels(tagged: tuple[Store, dict[str, int]]) -> None:
    store, ids = tagged
    store.save_tags([(ids["bzh"], tags(["Normandie"], ["strategy"]))], NOW, "v2")
    [bzh] = store.recent_items(ids=[ids["bzh"]])
    assert (bzh.regions, bzh.types) == (("Normandie",), ("strategy",))
    assert [row["id"] for row in store.items_for_tagging()] == [ids["new"]]


def test_items_for_tagging_gives_untagged_items_with_the_region_hint(two_feeds: Store) -> None:
    [bid] = two_feeds.insert_items("beta", [item("b", "Un article de la source bretonne")], NOW)
    rows = two_feeds.items_for_tagging()
    assert [(r["id"], r["region_hint"]) for r in rows] == [(bid, "Bretagne")]
    two_feeds.save_tags([(bid, tags(["Bretagne"]))], NOW, "v1")
    assert two_feeds.items_for_tagging() == []
    assert len(two_feeds.items_for_tagging(untagged_only=False)) == 1


def test_reopening_keeps_the_data(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'veille.db'}"
    first = Store.open(url)
    first.sync_feeds([feed_config("alpha", "https://alpha.example/rss")], NOW)
    first.insert_items("alpha", [item("a", "Un article qui doit survivre au redémarrage")], NOW)
    first.close()
    again = Store.open(url)
    try:
        assert again.count_items() == 1
        assert again.recent_items(topic_only=False, search="redemarrage")
    finally:
        again.close()


def test_untagged_leftovers_are_found_until_tagged(store: Store) -> None:
    store.sync_feeds([feed_config("alpha", "https://alpha.example/rss")], NOW)
    ids = store.insert_items(
        "alpha", [item("a", "Un campus IA à Rennes"), item("b", "Data à Lyon")], NOW
    )
    store.due_feeds(NOW, owner="poller@here:1", lease=timedelta(minutes=1))
    assert store.untagged_ids(NOW) == [], "a live poller holds the feed: it tags them itself"
    assert store.untagged_ids(NOW + timedelta(minutes=2)) == ids, "its lease ran out"
    store.release_feed_leases("poller@here:1")
    assert store.untagged_ids(NOW) == ids
    store.save_tags(
        [
            (
                ids[0],
                {
                    "regions": ["Bretagne"],
                    "types": ["training"],
                    "primary_type": "training",
                    "topic_ai": True,
                },
            )
        ],
        NOW,
        "m",
    )
    assert store.untagged_ids(NOW + timedelta(seconds=1)) == ids[1:]


def test_every_parsed_field_is_a_column_of_items() -> None:
    """A new feed field is a ParsedItem field and a column: the insertion copies them all."""
    from dataclasses import fields

    from bot.store.schema import items

    assert {f.name for f in fields(ParsedItem)} <= set(items.c.keys())
