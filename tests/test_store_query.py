"""The store's side of the query language and alert profiles, on SQLite and PostgreSQL.

Same fixtures as tests/test_store_contract.py: each test runs on both backends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import MetaData, Table, insert, inspect, select, text, update

from bot.query.match import ItemFacts, matches
from bot.query.model import NATIONAL, Query
from bot.query.parse import parse
from bot.store import search
from bot.store.alerts import MAX_ALERTS_PER_CHAT, AlertStore
from bot.store.chats import ChatStore
from bot.store.repo import Store
from bot.store.rows import StoredItem
from bot.store.schema import items
from classifiers.gazetteer import Gazetteer
from tests.conftest import NOW
from tests.test_store import item, tags
from tests.test_store_contract import (  # noqa: F401  (fixtures)
    alembic,
    backend,
    chats,
    db,
    open_store,
    revision_of,
    tagged,
    url,
)

_GAZ = Gazetteer.load()


def found(db: Store, query: Query) -> set[int]:
    """Ids the store finds for a query (all of them, off-topic included)."""
    return {i.id for i in db.recent_items(query=query, topic_only=False, limit=100)}


@pytest.fixture
def texts(db: Store) -> dict[str, int]:
    """Tagged items with words to search for."""
    ids = db.insert_items(
        "alpha",
        [
            item(
                "jum",
                "Les jumeaux numériques arrivent au port de Brest",
                published=NOW - timedelta(days=2),
            ),
            item(
                "cry",
                "Un jumeau numérique pour la crypto",
                summary="Le bitcoin et la blockchain",
                published=NOW - timedelta(days=3),
            ),
            item(
                "nat",
                "Plan national pour l'intelligence artificielle",
                content="Le gouvernement annonce un financement.",
                published=NOW - timedelta(days=20),
            ),
            item("usi", "L'usine du futur à Lyon", published=NOW - timedelta(days=1)),
        ],
        NOW,
    )
    by_key = dict(zip(["jum", "cry", "nat", "usi"], ids, strict=True))
    db.save_tags(
        [
            (by_key["jum"], tags(["Bretagne"], ["research"])),
            (by_key["cry"], tags(["Occitanie"], ["funding"])),
            (by_key["nat"], {**tags([], ["strategy", "funding"]), "national": True}),
            (by_key["usi"], tags(["Auvergne-Rhône-Alpes"], ["business_support"])),
        ],
        NOW,
        "test-model",
    )
    return by_key


class TestQuerySearch:
    """One search function over the structured query."""

    def test_stems_phrases_and_exclusions(self, db: Store, texts: dict[str, int]) -> None:
        jumeau = Query(terms=(("jumeau numerique",),))
        assert found(db, jumeau) == {texts["jum"], texts["cry"]}
        assert found(db, Query(terms=(("jumeaux",),), excludes=("crypto",))) == {texts["jum"]}
        assert found(db, Query(terms=(("jumeau numerique",),), excludes=("bitcoin",))) == {
            texts["jum"]
        }
        assert found(db, Query(terms=(("numerique jumeau",),))) == set()
        assert found(db, Query(terms=(("usines",), ("futur",)))) == {texts["usi"]}
        assert found(db, Query(terms=(("usine", "blockchain"),))) == {texts["usi"], texts["cry"]}

    def test_regions_national_types_and_period(self, db: Store, texts: dict[str, int]) -> None:
        assert found(db, Query(regions=("Bretagne",))) == {texts["jum"]}
        assert found(db, Query(regions=(NATIONAL,))) == {texts["nat"]}
        assert found(db, Query(regions=("Bretagne", NATIONAL))) == {texts["jum"], texts["nat"]}
        assert found(db, Query(types=("funding",))) == {texts["cry"], texts["nat"]}
        week = parse("cette semaine", _GAZ, now=NOW).period
        assert found(db, Query(types=("funding",), period=week)) == {texts["cry"]}
        assert found(db, Query(types=("funding",), excludes=("crypto",))) == {texts["nat"]}

    def test_parsed_questions(self, db: Store, texts: dict[str, int]) -> None:
        def ask(question: str) -> set[int]:
            return found(db, parse(question, _GAZ, now=NOW))

        assert ask("jumeau numérique") == {texts["jum"], texts["cry"]}
        assert ask("bonjour, je cherche les jumeaux numériques à Brest") == {texts["jum"]}
        assert ask("financement national") == {texts["nat"]}
        assert ask("financements -crypto 30j") == {texts["nat"]}
        assert ask("financements 7j") == {texts["cry"]}

    def test_a_list_counts_what_it_would_list(self, db: Store, texts: dict[str, int]) -> None:
        for question in (
            "jumeau numérique",
            "financement national",
            "financements -crypto 30j",
            "Bretagne",
            "usines futur",
            "zzz",
        ):
            query = parse(question, _GAZ, now=NOW)
            listed = db.recent_items(query=query, limit=None)
            assert db.count_listed(query=query) == (len(listed), True), question
        everything = len(db.recent_items(limit=None))
        assert everything > 2 and db.count_listed() == (everything, True)
        assert db.count_listed(cap=2) == (2, False)  # counting stops at the cap

    def test_a_list_counts_stories_not_items(self, db: Store, texts: dict[str, int]) -> None:
        """Two outlets' items of one story are one line of a listing and one in its count."""
        (retold,) = db.insert_items(
            "alpha",
            [item("jum2", "Brest : le port se dote de jumeaux numériques", published=NOW)],
            NOW,
        )
        db.save_tags([(retold, tags(["Bretagne"], ["research"]))], NOW, "test-model")
        before = db.count_listed()
        with db.engine.begin() as conn:
            story = items.c.id.in_([texts["jum"], retold])
            conn.execute(update(items).where(story).values(story_id=4242))
        everything = db.recent_items(limit=None)
        assert db.count_listed() == (len(everything), True) == (before[0] - 1, True)
        for question in ("Bretagne", "jumeau numérique", "recherche 30j"):
            query = parse(question, _GAZ, now=NOW)
            listed = db.recent_items(query=query, limit=None)
            assert [i.story_id for i in listed].count(4242) == 1, question
            assert db.count_listed(query=query) == (len(listed), True), question

        # Pages too: the second page of one-line pages starts after the story's one line.
        def entry(i: StoredItem) -> int:
            return i.story_id or -i.id

        pages = [db.recent_items(limit=1, offset=n) for n in range(len(everything))]
        assert [entry(p[0]) for p in pages] == [entry(i) for i in everything]
        assert db.recent_items(limit=1, offset=len(everything)) == []

    @pytest.mark.parametrize(
        "nasty",
        ['"', "NEAR(a b", "*", "AND OR", "NOT", "-", "'", "a:b", "^x", "(", "\x00", "‮"],
    )
    def test_fts_syntax_from_users_never_errors(
        self, db: Store, texts: dict[str, int], nasty: str
    ) -> None:
        query = parse(f"jumeau {nasty} numérique -{nasty}", _GAZ, now=NOW)
        assert found(db, query) <= {texts["jum"], texts["cry"]}
        found(db, Query(terms=((nasty,),), excludes=(nasty,)))

    def test_python_matching_agrees_with_sql(self, db: Store, texts: dict[str, int]) -> None:
        stems = db.stems_of(list(texts.values()))
        stored = {i.id: i for i in db.recent_items(ids=list(texts.values()), topic_only=False)}
        facts = [
            ItemFacts(i.id, i.regions, i.types, i.national, i.published_at, stems[i.id])
            for i in stored.values()
        ]
        for question in (
            "jumeau numérique",
            "jumeaux -crypto",
            "financement",
            "Bretagne OU national",
            '"usine du futur"',
            "bitcoin OU gouvernement",
        ):
            query = parse(question, _GAZ, now=NOW)
            assert {f.id for f in facts if matches(query, f)} == found(db, query), question

    def test_common_words_read_the_newest_matches_first(
        self, db: Store, texts: dict[str, int], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        questions = [
            Query(terms=(("jumeau numerique",),)),
            Query(terms=(("jumeau", "usine"),), excludes=("crypto",)),
            Query(terms=(("le", "la", "l"),)),
            Query(terms=(("le", "la", "l"),), period=parse("7j", _GAZ, now=NOW).period),
            Query(terms=(("numerique",),), types=("research",)),
        ]

        def pages(query: Query) -> list[list[int]]:
            return [
                [i.id for i in db.recent_items(query=query, topic_only=False, limit=1, offset=n)]
                for n in range(5)
            ]

        expected = [pages(q) for q in questions]
        monkeypatch.setattr(search, "WINDOW", 1)  # the window starts at one match
        monkeypatch.setattr(search, "WINDOW_PER_ROW", 0)
        assert [pages(q) for q in questions] == expected
        assert expected[0][:2] == [[texts["jum"]], [texts["cry"]]]

    def test_the_index_follows_edits_and_deletes(self, db: Store, texts: dict[str, int]) -> None:
        with db.engine.begin() as conn:
            conn.execute(
                update(items)
                .where(items.c.id == texts["usi"])
                .values(title="Des robots collaboratifs", summary="")
            )
        assert found(db, Query(terms=(("robot",),))) == {texts["usi"]}
        assert found(db, Query(terms=(("usine",),))) == set()
        with db.engine.begin() as conn:
            conn.execute(items.delete().where(items.c.id == texts["usi"]))
        assert found(db, Query(terms=(("robot",),))) == set()


class TestAlertProfiles:
    """Several named alerts per chat."""

    def test_create_list_edit_pause_delete(self, chats: ChatStore) -> None:
        chats.ensure_chat(1, type="private", title=None, language="fr", now=NOW)
        chats.ensure_chat(2, type="private", title=None, language="fr", now=NOW)
        store = AlertStore(chats.store)
        q1 = parse("Hauts-de-France", _GAZ, now=NOW)
        a = store.create(
            1, name="HDF", text="Hauts-de-France", query=q1, frequency="daily", now=NOW
        )
        b = store.create(
            1,
            name="Jumeau",
            text='"jumeau numérique"',
            query=Query(terms=(("jumeau numerique",),)),
            frequency="instant",
            now=NOW,
        )
        profiles = store.of_chat(1)
        assert [p.name for p in profiles] == ["HDF", "Jumeau"]
        assert profiles[0].query.regions == ("Hauts-de-France",)
        assert profiles[1].query.terms == (("jumeau numerique",),)
        assert profiles[1].alerts_since == NOW
        assert store.get(a, 2) is None  # another chat's alert is not reachable
        assert not store.delete(a, 2)
        assert store.update(a, 1, paused=True, hour=9, frequency="weekly")
        edited = store.get(a, 1)
        assert edited is not None
        assert (edited.paused, edited.hour, edited.frequency) == (True, 9, "weekly")
        assert [p.id for p in store.instant()] == [b]
        assert store.update(b, 1, next_digest_at=NOW)
        assert store.due(NOW) == []  # instant profiles have no digest; the weekly one is paused
        assert store.update(a, 1, paused=False, next_digest_at=NOW - timedelta(minutes=1))
        assert [p.id for p in store.due(NOW)] == [a]
        chats.deactivate(1, "blocked")
        assert store.due(NOW) == [] and store.instant() == []
        assert store.delete(b, 1)
        chats.delete_chat(1)
        assert store.of_chat(1) == []

    def test_a_chat_has_a_bounded_number_of_alerts(self, chats: ChatStore) -> None:
        chats.ensure_chat(1, type="private", title=None, language="fr", now=NOW)
        store = AlertStore(chats.store)
        for n in range(MAX_ALERTS_PER_CHAT):
            store.create(1, name=f"a{n}", text="x", query=Query(), frequency="daily", now=NOW)
        with pytest.raises(ValueError, match="too many"):
            store.create(1, name="one more", text="x", query=Query(), frequency="daily", now=NOW)

    def test_migration_turns_subscriptions_into_profiles(
        self, open_store: Callable[[], Store]
    ) -> None:
        store = open_store()
        alembic(store, command.downgrade, "0006")
        assert revision_of(store) == "0006"
        with store.engine.connect() as conn:  # the tables as they were before alert profiles
            subscriptions = Table("subscriptions", MetaData(), autoload_with=conn)
            chats_table = Table("chats", MetaData(), autoload_with=conn)
        base = {
            "type": "private",
            "language": "fr",
            "timezone": "Europe/Paris",
            "active": True,
            "digest_weekday": 2,
            "digest_hour": 7,
            "created_at": NOW,
            "alerts_since": None,
            "next_digest_at": None,
            "last_digest_at": None,
        }
        with store.engine.begin() as conn:
            conn.execute(
                insert(chats_table),
                [
                    {
                        **base,
                        "id": 1,
                        "alerts": True,
                        "digest": "weekly",
                        "alerts_since": NOW,
                        "next_digest_at": NOW + timedelta(days=1),
                        "last_digest_at": NOW,
                    },
                    {**base, "id": 2, "alerts": False, "digest": "daily"},
                    {**base, "id": 3, "alerts": False, "digest": "off"},
                    {**base, "id": 4, "alerts": False, "digest": "off"},
                ],
            )
            conn.execute(
                insert(subscriptions),
                [
                    {"chat_id": 1, "kind": "region", "value": "Hauts-de-France"},
                    {"chat_id": 1, "kind": "region", "value": "national"},
                    {"chat_id": 1, "kind": "type", "value": "funding"},
                    {"chat_id": 1, "kind": "keyword", "value": "jumeau numérique"},
                    {"chat_id": 1, "kind": "keyword", "value": "IA générative"},
                    {"chat_id": 1, "kind": "exclude", "value": "crypto"},
                    {"chat_id": 3, "kind": "type", "value": "event"},
                ],
            )
        alembic(store, command.upgrade, "head")
        profiles = AlertStore(store)
        one = profiles.of_chat(1)
        assert [p.frequency for p in one] == ["instant", "weekly"]
        for p in one:
            assert set(p.query.regions) == {"Hauts-de-France", NATIONAL}
            assert p.query.types == ("funding",)
            assert p.query.terms == (("jumeau numérique", "ia générative"),)
            assert p.query.excludes == ("crypto",)
            assert (p.hour, p.weekday, p.paused) == (7, 2, False)
            # the stored text says the same thing to the parser
            assert parse(p.text, _GAZ, now=NOW).to_json() == p.query.to_json()
        assert one[0].alerts_since == NOW
        assert (one[1].next_digest_at, one[1].last_digest_at) == (NOW + timedelta(days=1), NOW)
        [two] = profiles.of_chat(2)
        assert (two.frequency, two.query, two.paused) == ("daily", Query(), False)
        [three] = profiles.of_chat(3)  # subscribed to a type, nothing delivered: kept, paused
        assert (three.frequency, three.paused, three.query.types) == ("weekly", True, ("event",))
        assert profiles.of_chat(4) == []
        # 0009 dropped the old table: everything it held is in the profiles above
        assert "subscriptions" not in inspect(store.engine).get_table_names()
        alembic(store, command.downgrade, "0008")  # and back: the table, empty
        with store.engine.connect() as conn:
            assert conn.execute(select(text("count(*)")).select_from(subscriptions)).scalar() == 0
        alembic(store, command.upgrade, "head")
        assert len(AlertStore(store).of_chat(1)) == 2
