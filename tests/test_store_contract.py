"""The storage contract: every test runs on SQLite and on a real PostgreSQL server.

Each test gets a fresh database: a file in tmp_path, or a new database of the session's
PostgreSQL server (tests/support/postgres.py). Node ids carry [sqlite] or [postgres...] (the
one PostgreSQL-only test has it in its name), so `pytest -k postgres` runs the PostgreSQL half.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from bot import stories as stories_core
from bot.query.model import Query
from bot.query.stems import index_text
from bot.store.alerts import AlertStore
from bot.store.articles import ArticleStore, CachedPage, ItemOutcome
from bot.store.chats import ChatStore
from bot.store.corrections import add_correction, correction_examples
from bot.store.db import MIGRATIONS
from bot.store.leases import owner_name
from bot.store.outbox import Outbox
from bot.store.repo import Store
from bot.store.rows import ParsedItem
from bot.store.schema import chats as chats_table
from bot.store.schema import items, outbox
from bot.store.stories import StoryStore
from tests.conftest import NOW, feed_config
from tests.support.postgres import PostgresServer
from tests.test_store import add_tagged_sample, item, tags
from tests.test_stories import LINKED

BACKENDS = ["sqlite", "postgres"]
# One announcement told by two outlets, and other news of the same week.
STORY = [
    (
        "La Région Bretagne adopte une feuille de route pour l'intelligence artificielle",
        "Réunis à Rennes, les élus ont voté 40 millions d'euros sur cinq ans pour les PME.",
    ),
    (
        "Bretagne : 40 M€ sur cinq ans pour accompagner les PME vers l'IA",
        "Le conseil régional de Bretagne a validé à Rennes sa feuille de route IA : 40 millions.",
    ),
]
OTHER_NEWS = (
    "Toulouse : Airbus et l'ONERA créent un laboratoire d'IA embarquée",
    "40 chercheurs travailleront à Toulouse sur la certification des systèmes embarqués.",
)
_databases = itertools.count(1)


def linked(half: str, published: datetime, key: str | None = None) -> ParsedItem:
    """One part of tests.test_stories.LINKED: a half ("a", "c") or the item linking them."""
    title, lead = LINKED[half]
    return item(key or half, title, summary=lead, published=published)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend's name: 'sqlite' or 'postgres'."""
    return str(request.param)


@pytest.fixture
def url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database on the backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'veille.db'}"
    server = request.getfixturevalue("postgres_server")
    return str(server.new_database(f"contract_{next(_databases)}"))


@pytest.fixture
def open_store(url: str) -> Iterator[Callable[[], Store]]:
    """Opens Stores on the test's database (each its own engine, like separate processes)."""
    opened: list[Store] = []

    def make() -> Store:
        opened.append(Store.open(url))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def db(open_store: Callable[[], Store]) -> Store:
    """A migrated store with feeds 'alpha' and 'beta' (Bretagne)."""
    store = open_store()
    store.sync_feeds(
        [
            feed_config("alpha", "https://alpha.example/rss", name="Alpha"),
            feed_config("beta", "https://beta.example/rss", name="Beta", region="Bretagne"),
        ],
        NOW,
    )
    return store


@pytest.fixture
def chats(db: Store) -> ChatStore:
    """The chat store over db."""
    return ChatStore(db)


@pytest.fixture
def outbox_(db: Store) -> Outbox:
    """The outbox over db."""
    return Outbox(db)


def alembic(store: Store, action: Callable[..., None], revision: str) -> None:
    """Run an Alembic command (upgrade, downgrade, check) on the store's database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        if action is command.check:
            action(cfg)
        else:
            action(cfg, revision)


def revision_of(store: Store) -> str | None:
    """The database's Alembic revision."""
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def count_rows(store: Store, table: str) -> int:
    """Rows in a table."""
    with store.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def is_utc(value: datetime | None) -> bool:
    """A timezone-aware datetime at offset zero."""
    return value is not None and value.utcoffset() == timedelta(0)


def message(chat_id: int, key: str, text: str = "Bonjour") -> dict[str, Any]:
    """An outbox message for enqueue()."""
    return {
        "chat_id": chat_id,
        "kind": "alert",
        "dedup_key": key,
        "payload": {"method": "sendMessage", "text": text},
    }


def lease_concurrently(take: Callable[[str], list[Any]]) -> dict[str, list[Any]]:
    """Two threads call take(owner) in a loop until it gives nothing; what each one got."""
    got: dict[str, list[Any]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(owner: str) -> None:
        try:
            start.wait()
            while batch := take(owner):
                got[owner].extend(batch)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(owner,)) for owner in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return got


def assign_at_once(open_store: Callable[[], Store], item_ids: list[int]) -> list[Any]:
    """Each item assigned to its story by its own store (another poller), all at the same moment;
    the assignments' reports."""
    results: list[Any] = []
    start = threading.Barrier(len(item_ids))

    def assign(store: Store, item_id: int) -> None:
        start.wait()
        results.append(StoryStore(store).assign([item_id], NOW))

    threads = [
        threading.Thread(target=assign, args=(open_store(), item_id)) for item_id in item_ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == len(item_ids), "an assignment failed"
    return results


@pytest.fixture
def tagged(db: Store) -> dict[str, int]:
    """Five tagged items (one off-topic, one old) and one untagged, in feed alpha."""
    return add_tagged_sample(db)


SEARCH_CASES: list[tuple[str, set[str], set[str]]] = [
    # query, found on SQLite (FTS5 over Snowball stems), found on PostgreSQL (unaccent + french)
    ("numérique", {"numérique", "jumeau"}, {"numérique", "jumeau"}),
    ("numerique", {"numérique", "jumeau"}, {"numérique", "jumeau"}),
    ("NUMERIQUE", {"numérique", "jumeau"}, {"numérique", "jumeau"}),
    ("numériques", {"numérique", "jumeau"}, {"numérique", "jumeau"}),
    ("economie numerique", {"numérique"}, {"numérique"}),
    ("ecoles", {"écoles"}, {"écoles"}),
    ("école", {"écoles"}, {"écoles"}),
    ("universite lille", {"écoles"}, {"écoles"}),
    ("financement", {"financements"}, {"financements"}),
    ("covid-19", {"covid"}, {"covid"}),
    ("Covid 19", {"covid"}, {"covid"}),
    ("financements régionaux", {"financements"}, {"financements"}),
    ("jumeaux numériques", {"jumeau"}, {"jumeau"}),
    ("numérique lille", set(), set()),
    ("blockchain", set(), set()),
    ('"; DROP TABLE items; --', set(), set()),
    ("NOT OR AND NEAR", set(), set()),
    ('NEAR(a b) * "', set(), set()),
    ("?!", set(), set()),
]


SEARCH_TITLES = {
    "numérique": "Le numérique au service des régions",
    "écoles": "Écoles d'ingénieurs et IA",
    "financements": "Des financements pour l'intelligence artificielle",
    "covid": "Après le Covid-19, la relance",
    "jumeau": "Un jumeau numérique pour le port",
}


@pytest.fixture(scope="module", params=BACKENDS)
def searchable(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One database per backend with SEARCH_TITLES, shared by the read-only search cases."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('search') / 'veille.db'}"
    else:
        url = request.getfixturevalue("postgres_server").new_database(
            f"contract_{next(_databases)}"
        )
    store = Store.open(url)
    store.sync_feeds([feed_config("alpha", "https://alpha.example/rss")], NOW)
    store.insert_items(
        "alpha",
        [
            item(
                "n",
                SEARCH_TITLES["numérique"],
                summary="Une stratégie régionale pour l'économie numérique.",
            ),
            item(
                "e", SEARCH_TITLES["écoles"], content="Un partenariat avec l'université de Lille."
            ),
            item("f", SEARCH_TITLES["financements"], summary="Appel à projets régional."),
            item("c", SEARCH_TITLES["covid"]),
            item("j", SEARCH_TITLES["jumeau"]),
            item("o", "Sans rapport aucun avec le sujet"),
        ],
        NOW,
    )
    yield store
    store.close()


class TestStoreContract:
    """What bot/ relies on from the store, whatever the database."""

    # ---- migrations ------------------------------------------------------------------------

    def test_migrations_go_down_and_up_again(self, open_store: Callable[[], Store]) -> None:
        store = open_store()
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        assert revision_of(store) == head
        alembic(store, command.downgrade, "base")
        assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
        alembic(store, command.upgrade, "head")
        assert revision_of(store) == head
        store.sync_feeds([feed_config("alpha", "https://alpha.example/rss")], NOW)
        [kept] = store.insert_items("alpha", [item("n", "Le numérique en région")], NOW)
        # down one step and back with data in place: the search index is rebuilt from it
        alembic(store, command.downgrade, "-1")
        alembic(store, command.upgrade, "head")
        assert [i.id for i in store.recent_items(topic_only=False, search="numerique")] == [kept]

    def test_migrations_match_the_schema(self, open_store: Callable[[], Store]) -> None:
        alembic(open_store(), command.check, "head")  # raises when autogenerate finds a change

    def test_reopening_keeps_the_data(self, open_store: Callable[[], Store]) -> None:
        first = open_store()
        first.sync_feeds([feed_config("alpha", "https://alpha.example/rss")], NOW)
        first.insert_items("alpha", [item("a", "Un article qui survit au redémarrage")], NOW)
        first.close()
        again = open_store()
        assert again.count_items() == 1
        assert again.recent_items(topic_only=False, search="redemarrage")

    # ---- feeds -----------------------------------------------------------------------------

    def test_sync_feeds_adds_updates_and_disables(self, db: Store) -> None:
        assert {f.id for f in db.due_feeds(NOW)} == {"alpha", "beta"}
        later = NOW + timedelta(minutes=5)
        db.sync_feeds(
            [
                feed_config(
                    "alpha", "https://alpha.example/new", name="Alpha 2", max_interval_minutes=60
                )
            ],
            later,
        )
        states = {f.id: f for f in db.feed_states()}
        alpha, beta = states["alpha"], states["beta"]
        assert (alpha.name, alpha.url, alpha.max_interval, alpha.next_check_at) == (
            "Alpha 2",
            "https://alpha.example/new",
            60,
            later,
        )
        assert (beta.enabled, beta.status) == (False, "disabled")
        assert [f.id for f in db.feed_states(include_disabled=False)] == ["alpha"]
        db.add_feed("chat-feed", "From a chat", "https://chat.example/rss", NOW)
        db.sync_feeds([feed_config("alpha", "https://alpha.example/new")], later)
        assert db.feed_state("chat-feed").source == "bot"  # type: ignore[union-attr]
        assert db.remove_feed("chat-feed") and not db.remove_feed("nope")
        assert db.feed_state("nope") is None

    def test_lease_keeps_a_second_owner_out_until_it_expires(self, db: Store) -> None:
        lease = timedelta(minutes=10)
        assert {f.id for f in db.due_feeds(NOW, owner="a", lease=lease)} == {"alpha", "beta"}
        assert db.due_feeds(NOW + timedelta(minutes=9), owner="b") == []
        assert db.due_feeds(NOW) == []  # a read without an owner skips leased feeds too
        db.save_feed_states([{"id": "alpha", "status": "ok"}])  # a saved outcome frees the feed
        assert [f.id for f in db.due_feeds(NOW + timedelta(minutes=5), owner="b")] == ["alpha"]
        # beta's holder died: its lease runs out and another poller takes over
        assert [f.id for f in db.due_feeds(NOW + lease + timedelta(seconds=1), owner="c")] == [
            "beta"
        ]

    def test_concurrent_pollers_never_lease_the_same_feed(
        self, open_store: Callable[[], Store]
    ) -> None:
        first, second = open_store(), open_store()
        first.sync_feeds(
            [feed_config(f"f{n:03}", f"https://f{n}.example/rss") for n in range(150)], NOW
        )
        stores = {"a": first, "b": second}
        got = lease_concurrently(
            lambda owner: [f.id for f in stores[owner].due_feeds(NOW, limit=7, owner=owner)]
        )
        assert not set(got["a"]) & set(got["b"])
        assert sorted(got["a"] + got["b"]) == [f"f{n:03}" for n in range(150)]

    def test_save_feed_states_writes_outcomes_in_utc(self, db: Store) -> None:
        # an aware non-UTC time must mean the same instant (SQLite alone would keep 12:00)
        paris = datetime(2025, 3, 14, 11, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
        db.due_feeds(NOW, owner="poller")
        db.save_feed_states(
            [
                {
                    "id": "alpha",
                    "status": "ok",
                    "etag": '"e1"',
                    "last_modified": "Fri, 14 Mar 2025",
                    "body_hash": "h1",
                    "last_status": 200,
                    "consecutive_errors": 0,
                    "last_checked_at": NOW,
                    "last_success_at": NOW,
                    "next_check_at": paris,
                },
                {
                    "id": "beta",
                    "status": "failing",
                    "last_error": "HTTP 503",
                    "last_status": 503,
                    "consecutive_errors": 3,
                    "failing_since": NOW - timedelta(hours=2),
                    "last_checked_at": NOW,
                    "next_check_at": NOW + timedelta(hours=1),
                },
            ]
        )
        alpha, beta = db.feed_state("alpha"), db.feed_state("beta")
        assert alpha is not None and beta is not None
        assert (alpha.status, alpha.etag, alpha.last_modified, alpha.body_hash) == (
            "ok",
            '"e1"',
            "Fri, 14 Mar 2025",
            "h1",
        )
        assert alpha.next_check_at == datetime(2025, 3, 14, 11, 0, tzinfo=UTC)
        assert (beta.status, beta.consecutive_errors, beta.last_error) == ("failing", 3, "HTTP 503")
        assert beta.failing_since == NOW - timedelta(hours=2)
        for value in (
            alpha.next_check_at,
            alpha.last_checked_at,
            alpha.last_success_at,
            beta.failing_since,
        ):
            assert is_utc(value), value
        assert db.due_feeds(NOW + timedelta(minutes=1), owner="other") == []  # not due yet
        db.force_due(NOW)
        assert len(db.due_feeds(NOW, owner="other")) == 2  # leases were released on save

    # ---- items -----------------------------------------------------------------------------

    def test_insert_items_is_idempotent(self, db: Store) -> None:
        batch = [item("a1", "Premier article sur l'IA"), item("a2", "Second article de test")]
        assert len(db.insert_items("alpha", batch, NOW)) == 2
        assert db.insert_items("alpha", batch, NOW) == []
        assert len(db.insert_items("alpha", [*batch, item("a3", "Un troisième article")], NOW)) == 1
        results = db.insert_items_batch(
            [
                ("alpha", [item("a4", "Quatrième article"), *batch], NOW),
                ("beta", [item("b1", "Un article breton")], NOW),
            ]
        )
        assert [len(r) for r in results] == [1, 1]  # type: ignore[arg-type]
        assert db.count_items() == 5
        assert db.feed_state("alpha").items_total == 4  # type: ignore[union-attr]
        [stored] = db.recent_items(topic_only=False, ids=[results[1][0]])  # type: ignore[index]
        assert (stored.feed_name, stored.title) == ("Beta", "Un article breton")
        assert is_utc(stored.published_at) and stored.published_at == NOW

    def test_items_stored_with_their_tags_in_one_transaction(self, db: Store) -> None:
        """The poll path: tags computed by the parse workers, keyed by dedup key, are stored
        with the new items; items without tags stay untagged, for the tagging step."""
        lille = {**tags(["Hauts-de-France"], ["research"]), "model_version": "m1"}
        batch = [item("t1", "Un laboratoire lillois d'IA"), item("t2", "Sans étiquette")]
        [new] = db.insert_items_batch([("alpha", batch, NOW)], [{"guid:t1": lille}])
        assert isinstance(new, list) and len(new) == 2
        untagged = set(db.untagged_ids(NOW + timedelta(days=1)))
        assert untagged == {new[1]}
        [stored] = db.recent_items(ids=[new[0]])
        assert stored.regions == ("Hauts-de-France",) and stored.types == ("research",)
        assert stored.primary_type == "research" and stored.topic_ai is True
        assert db.item_result(new[0])["model_version"] == "m1"  # type: ignore[index]
        assert Outbox(db).awaiting_alerts(new) == [new[0]]  # tagged: its alerts are next
        assert db.insert_items_batch([("alpha", batch, NOW)], [{"guid:t1": lille}]) == [[]]
        assert [i.id for i in db.recent_items(search="laboratoire", topic_only=False)] == [new[0]]

    def test_items_stored_with_stems_from_the_workers_are_searchable(self, db: Store) -> None:
        """The poll path: the parse workers stem new items for SQLite's full-text index; an
        item stored with its stems is found as one stemmed by the store itself."""
        batch = [item("w1", "Des jumeaux numériques en Bretagne"), item("w2", "Sans racines")]
        stems = {"guid:w1": index_text(batch[0].title, batch[0].summary, batch[0].content)}
        [new] = db.insert_items_batch([("alpha", batch, NOW)], index=[stems])
        assert isinstance(new, list) and len(new) == 2
        assert [i.id for i in db.recent_items(search="jumeau numérique", topic_only=False)] == [
            new[0]
        ]
        assert [i.id for i in db.recent_items(search="racine", topic_only=False)] == [new[1]]

    def test_the_same_story_in_another_feed_is_a_duplicate(self, db: Store) -> None:
        story = item(
            "s", "La même histoire racontée par deux sources", link="https://x.org/s?utm_source=a"
        )
        [original] = db.insert_items("alpha", [story], NOW)
        [copy] = db.insert_items("beta", [replace(story, link="https://x.org/s")], NOW)
        [by_title] = db.insert_items(
            "beta",
            [
                item(
                    "t",
                    "La même histoire racontée par deux sources",
                    link="https://y.org/other",
                    published=NOW + timedelta(days=1),
                )
            ],
            NOW,
        )
        [far] = db.insert_items(
            "beta",
            [
                item(
                    "f",
                    "La même histoire racontée par deux sources",
                    link="https://z.org/late",
                    published=NOW + timedelta(days=30),
                )
            ],
            NOW,
        )
        stored = {i.id: i for i in db.recent_items(topic_only=False, include_duplicates=True)}
        assert stored[original].duplicate_of is None
        assert (stored[copy].duplicate_of, stored[by_title].duplicate_of) == (original, original)
        assert stored[far].duplicate_of is None
        assert db.duplicates_of([original, far]) == {original: ["Beta"]}
        assert db.duplicates_of([]) == {}
        assert {i.id for i in db.recent_items(topic_only=False)} == {original, far}

    # ---- stories ---------------------------------------------------------------------------

    def test_retold_news_from_several_feeds_is_one_story(self, db: Store) -> None:
        stories = StoryStore(db)
        [plan] = db.insert_items("alpha", [item("p", STORY[0][0], summary=STORY[0][1])], NOW)
        [retold, other] = db.insert_items(
            "beta",
            [
                item(
                    "r",
                    STORY[1][0],
                    summary=STORY[1][1],
                    content="Texte complet. " * 40,
                    published=NOW + timedelta(hours=3),
                ),
                item("o", OTHER_NEWS[0], summary=OTHER_NEWS[1], published=NOW + timedelta(hours=4)),
            ],
            NOW,
        )
        first = stories.assign([plan], NOW)
        assert first.created == {first.assigned[plan]}
        second = stories.assign([retold, other, plan], NOW)  # plan has its story: left alone
        story = first.assigned[plan]
        assert second.assigned[retold] == story and second.assigned[other] != story
        assert second.joined == {story} and second.created == {second.assigned[other]}
        assert stories.story_of([plan, retold, other]) == {
            plan: story,
            retold: story,
            other: second.assigned[other],
        }
        members = stories.members([story])[story]
        assert [(m.item_id, m.feed_name) for m in members] == [(plan, "Alpha"), (retold, "Beta")]
        assert is_utc(members[0].published_at)
        with db.engine.connect() as conn:
            row = conn.execute(
                text("SELECT size, representative_id FROM stories WHERE id = :i"), {"i": story}
            ).one()
        assert tuple(row) == (2, retold)  # the fuller text, though later
        assert stories.unassigned_ids() == []

    def test_a_feed_republishing_with_new_guids_stays_one_story(self, db: Store) -> None:
        stories = StoryStore(db)
        ids = []
        for hour in range(6):  # the same item with a new guid every hour
            ids += db.insert_items(
                "alpha",
                [
                    item(
                        f"g{hour}",
                        STORY[0][0],
                        summary=STORY[0][1],
                        published=NOW + timedelta(hours=hour),
                    )
                ],
                NOW,
            )
            stories.assign(ids[-1:], NOW)
        assert len(set(stories.story_of(ids).values())) == 1
        bound = stories_core.KEPT_FINGERPRINTS * stories_core.NUM_PERM // stories_core.BAND_ROWS
        assert count_rows(db, "story_keys") <= bound

    def test_items_without_titles_get_stories_of_their_own(self, db: Store) -> None:
        ids = db.insert_items(
            "alpha", [item("e1", "", summary=""), item("e2", "", summary="")], NOW
        )
        found = StoryStore(db).assign(ids, NOW).assigned
        assert set(found) == set(ids) and found[ids[0]] != found[ids[1]]

    def test_concurrent_pollers_make_one_story_of_one_news(
        self, db: Store, open_store: Callable[[], Store]
    ) -> None:
        ids = []
        for n, feed in enumerate(("alpha", "beta")):
            ids += db.insert_items(
                feed,
                [
                    item(
                        f"c{n}",
                        STORY[n][0],
                        summary=STORY[n][1],
                        published=NOW + timedelta(hours=n),
                    )
                ],
                NOW,
            )
        assign_at_once(open_store, ids)
        assert len(set(StoryStore(db).story_of(ids).values())) == 1
        assert count_rows(db, "stories") == 1

    def test_an_item_linking_two_stories_merges_them_into_the_oldest(
        self, db: Store, chats: ChatStore
    ) -> None:
        stories = StoryStore(db)
        [a] = db.insert_items("alpha", [linked("a", NOW)], NOW)
        [c] = db.insert_items("beta", [linked("c", NOW + timedelta(hours=2))], NOW)
        first = stories.assign([a], NOW).assigned[a]
        second = stories.assign([c], NOW).assigned[c]
        assert first != second, "the halves alone are two stories"
        chats.ensure_chat(5, type="private", title=None, language="fr", now=NOW)
        chats.ensure_chat(6, type="private", title=None, language="fr", now=NOW)
        alerts = [
            {"chat_id": 5, "kind": "alert", "dedup_key": f"alert:5:s{second}", "story_id": second},
            {"chat_id": 6, "kind": "alert", "dedup_key": f"alert:6:s{first}", "story_id": first},
            {"chat_id": 6, "kind": "alert", "dedup_key": f"alert:6:s{second}", "story_id": second},
        ]
        Outbox(db).enqueue([{**m, "payload": {"text": m["dedup_key"]}} for m in alerts], NOW)
        [b] = db.insert_items("alpha", [linked("b", NOW + timedelta(hours=3))], NOW)
        report = stories.assign([b], NOW)
        assert report.assigned == {b: first} and report.merged == {second: first}
        assert first in report.joined
        assert stories.story_of([a, b, c]) == {a: first, b: first, c: first}
        assert [m.item_id for m in stories.members([first])[first]] == [a, c, b]
        with db.engine.connect() as conn:
            sizes = dict(conn.execute(text("SELECT id, size FROM stories")).all())
            keyed = set(conn.execute(text("SELECT DISTINCT story_id FROM story_keys")).scalars())
            row = conn.execute(
                text("SELECT size, first_seen FROM stories WHERE id = :i"), {"i": first}
            ).one()
        assert keyed == {first} and row[0] == 3
        assert sizes == {first: 3, second: 0}, "the absorbed row stays, empty"
        # Chat 5 had only the absorbed story's alert: it is the story's alert now. Chat 6 had
        # both: the survivor's stays the story's, the absorbed one is left as it was sent.
        moved = {(m.chat_id, m.payload["text"]) for m in Outbox(db).story_messages([first])}
        assert moved == {(5, f"alert:5:s{second}"), (6, f"alert:6:s{first}")}
        assert [m.chat_id for m in Outbox(db).story_messages([second])] == [6]
        # One entry in listings and counts, its sources all the members'.
        assert [i.story_id for i in db.recent_items(topic_only=False)] == [first]
        assert db.duplicates_of([a, c]) == {a: ["Beta"], c: ["Alpha"]}
        # A later item like either half joins the merged story.
        [late] = db.insert_items("beta", [linked("c", NOW + timedelta(hours=5), "late")], NOW)
        assert stories.assign([late], NOW).assigned == {late: first}
        # A new story never takes the absorbed story's id (its alerts and dedup keys name it).
        [other] = db.insert_items(
            "beta", [item("o", OTHER_NEWS[0], summary=OTHER_NEWS[1], published=NOW)], NOW
        )
        assert stories.assign([other], NOW).assigned[other] not in {first, second}

    def test_concurrent_pollers_merge_a_story_once(
        self, db: Store, open_store: Callable[[], Store]
    ) -> None:
        stories = StoryStore(db)
        [a] = db.insert_items("alpha", [linked("a", NOW)], NOW)
        [c] = db.insert_items("beta", [linked("c", NOW + timedelta(hours=1))], NOW)
        halves = {stories.assign([a], NOW).assigned[a], stories.assign([c], NOW).assigned[c]}
        assert len(halves) == 2
        links = db.insert_items(
            "alpha",
            [
                linked("b", NOW + timedelta(hours=2), "b1"),
                linked("b", NOW + timedelta(hours=3), "b2"),
            ],
            NOW,
        )
        results = assign_at_once(open_store, links)
        assert set(stories.story_of([a, c, *links]).values()) == {min(halves)}
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM stories WHERE size > 0")).scalar() == 1
        assert sum(len(r.merged) for r in results) == 1

    def test_a_story_is_one_entry_in_listings_and_counts(self, db: Store) -> None:
        [plan] = db.insert_items("alpha", [item("p", STORY[0][0], summary=STORY[0][1])], NOW)
        [retold, other] = db.insert_items(
            "beta",
            [
                item("r", STORY[1][0], summary=STORY[1][1], published=NOW + timedelta(hours=1)),
                item("o", OTHER_NEWS[0], summary=OTHER_NEWS[1], published=NOW + timedelta(hours=2)),
            ],
            NOW,
        )
        db.save_tags(
            [(i, tags(["Bretagne"], ["funding"])) for i in (plan, retold, other)], NOW, "t"
        )
        story = StoryStore(db).assign([plan, retold, other], NOW).assigned[plan]
        assert [i.id for i in db.recent_items(regions=["Bretagne"])] == [other, plan]
        # Paged: the same story in the same place (shown by a member of the rows read).
        assert [i.story_id for i in db.recent_items(limit=1, offset=1)] == [story]
        assert len(db.recent_items(include_duplicates=True)) == 3
        assert db.duplicates_of([plan, retold, other]) == {plan: ["Beta"], retold: ["Alpha"]}
        assert db.label_counts("region", NOW - timedelta(days=1)) == {"Bretagne": 2}
        assert db.label_counts("type", NOW - timedelta(days=1)) == {"funding": 2}

    def test_story_alerts_in_the_outbox(self, db: Store, chats: ChatStore) -> None:
        chats.ensure_chat(5, type="private", title=None, language="fr", now=NOW)
        box = Outbox(db)
        message = {"chat_id": 5, "kind": "alert", "dedup_key": "alert:5:s9", "story_id": 9}
        plain = {"chat_id": 5, "kind": "alert", "dedup_key": "alert:5:1"}
        assert (
            box.enqueue([{**message, "payload": {"text": "a"}}, {**plain, "payload": {}}], NOW) == 2
        )
        assert box.enqueue([{**message, "payload": {"text": "again"}}], NOW) == 0
        [alert] = box.story_messages([9, 10])
        assert (alert.chat_id, alert.kind, alert.status, alert.payload) == (
            5,
            "alert",
            "pending",
            {"text": "a"},
        )
        assert box.revise(alert.id, {"text": "b"}) and box.delivered(alert.id) is None
        [leased] = box.lease(NOW, "test", limit=5)  # one per chat: its first message
        assert leased.id == alert.id and not box.revise(alert.id, {"text": "c"})
        box.mark_sent(alert.id, NOW, 321)
        assert box.delivered(alert.id) == (321, NOW)
        assert box.story_messages([9])[0].payload == {"text": "b"}

    @pytest.mark.parametrize(
        ("query", "on_sqlite", "on_postgres"),
        SEARCH_CASES,
        ids=[f"q{n}" for n in range(len(SEARCH_CASES))],
    )
    def test_full_text_search(
        self, searchable: Store, query: str, on_sqlite: set[str], on_postgres: set[str]
    ) -> None:
        expected = on_sqlite if searchable.dialect == "sqlite" else on_postgres
        found = {i.title for i in searchable.recent_items(topic_only=False, search=query)}
        assert found == {SEARCH_TITLES[k] for k in expected}
        assert searchable.count_items() == len(SEARCH_TITLES) + 1

    def test_search_combines_with_filters(self, db: Store, tagged: dict[str, int]) -> None:
        since = NOW - timedelta(days=7)
        assert [i.id for i in db.recent_items(search="startups", regions=["Bretagne"])] == [
            tagged["bzh"]
        ]
        assert db.recent_items(search="startups", regions=["Occitanie"]) == []
        assert db.recent_items(search="financement", since=since) == []  # the old one only
        assert [i.id for i in db.recent_items(search="financement")] == [tagged["old"]]

    def test_recent_items_filters(self, db: Store, tagged: dict[str, int]) -> None:
        since = NOW - timedelta(days=7)

        def found(**kw: Any) -> list[int]:
            return [i.id for i in db.recent_items(since=since, **kw)]

        assert found(regions=["Bretagne"]) == [tagged["bzh"], tagged["both"]]
        assert found(regions=["Bretagne", "Hauts-de-France"]) == [
            tagged["bzh"],
            tagged["lil"],
            tagged["both"],
        ]
        assert found(types=["research"]) == [tagged["lil"]]
        assert found(regions=["Bretagne"], types=["funding"]) == [tagged["bzh"]]
        assert found(regions=["Corse"]) == []
        assert found() == [tagged["new"], tagged["bzh"], tagged["lil"], tagged["both"]]
        assert tagged["foot"] in found(topic_only=False)
        assert found(limit=2) + found(limit=2, offset=2) == found()
        assert found(until=NOW - timedelta(days=2)) == [tagged["both"]]
        assert tagged["old"] in [i.id for i in db.recent_items(regions=["Bretagne"])]

    def test_items_carry_their_tags(self, db: Store, tagged: dict[str, int]) -> None:
        [lil] = db.recent_items(ids=[tagged["lil"]])
        assert lil.regions == ("Hauts-de-France",) and lil.countries == ("France",)
        assert set(lil.types) == {"research", "training"}
        assert (lil.primary_type, lil.topic_ai, lil.national, lil.feed_name) == (
            "research",
            True,
            False,
            "Alpha",
        )
        result = db.item_result(tagged["lil"])
        assert result is not None and result["regions"] == ["Hauts-de-France"]
        assert result["scores"] == {"topic_ai": 0.9}
        assert db.item_result(tagged["new"]) is None
        [new] = db.recent_items(ids=[tagged["new"]])
        assert (new.regions, new.topic_ai, new.national) == ((), None, False)

    def test_label_counts(self, db: Store, tagged: dict[str, int]) -> None:
        since = NOW - timedelta(days=7)
        assert db.label_counts("region", since) == {
            "Bretagne": 2,
            "Hauts-de-France": 1,
            "Occitanie": 1,
        }
        assert db.label_counts("type", since) == {
            "funding": 1,
            "research": 1,
            "training": 1,
            "partnership": 1,
        }
        assert db.label_counts("country", since) == {"France": 3}
        assert db.label_counts("region", NOW - timedelta(days=60))["Bretagne"] == 3

    def test_retagging_replaces_labels(self, db: Store, tagged: dict[str, int]) -> None:
        assert [r["id"] for r in db.items_for_tagging()] == [tagged["new"]]
        db.save_tags([(tagged["bzh"], tags(["Normandie"], ["strategy"], national=True))], NOW, "v2")
        [bzh] = db.recent_items(ids=[tagged["bzh"]])
        assert (bzh.regions, bzh.types, bzh.national) == (("Normandie",), ("strategy",), True)
        [bid] = db.insert_items("beta", [item("b", "Un article de la source bretonne")], NOW)
        rows = {r["id"]: r for r in db.items_for_tagging(limit=10)}
        assert rows[bid]["region_hint"] == "Bretagne"
        assert len(db.items_for_tagging(untagged_only=False)) == 7
        assert [r["id"] for r in db.items_for_tagging([bid])] == [bid]

    # ---- corrections -----------------------------------------------------------------------

    def test_corrections_become_training_examples(self, db: Store, tagged: dict[str, int]) -> None:
        add_correction(db, tagged["bzh"], "regions", ["Occitanie"], chat_id=42, now=NOW)
        add_correction(db, tagged["bzh"], "primary_type", "strategy", chat_id=42, now=NOW)
        add_correction(db, tagged["foot"], "topic_ai", True, chat_id=None, now=NOW)
        add_correction(db, tagged["new"], "regions", ["Atlantide"], chat_id=1, now=NOW)
        with pytest.raises(ValueError, match="cannot correct"):
            add_correction(db, tagged["bzh"], "title", "x", chat_id=1, now=NOW)
        examples = {e.id: e for e in correction_examples(db)}
        assert set(examples) == {f"correction-{tagged['bzh']}", f"correction-{tagged['foot']}"}
        bzh = examples[f"correction-{tagged['bzh']}"]
        assert (bzh.regions, bzh.primary_type, bzh.types) == (
            ("Occitanie",),
            "strategy",
            ("funding", "strategy"),
        )
        assert (bzh.title, bzh.source, bzh.topic_ai) == (
            "Un fonds IA pour les startups bretonnes",
            "correction",
            True,
        )
        assert examples[f"correction-{tagged['foot']}"].topic_ai is True

    def test_a_correction_shows_at_once_and_survives_a_retag(
        self, db: Store, tagged: dict[str, int]
    ) -> None:
        bzh = tagged["bzh"]
        add_correction(db, bzh, "regions", ["Occitanie"], chat_id=42, now=NOW)
        add_correction(db, bzh, "primary_type", "strategy", chat_id=42, now=NOW)
        add_correction(db, bzh, "regions", ["Atlantide"], chat_id=42, now=NOW)  # ignored

        def stored() -> tuple[tuple[str, ...], str | None, tuple[str, ...]]:
            [i] = db.recent_items(ids=[bzh], limit=1)
            return i.regions, i.primary_type, i.types

        assert stored() == (("Occitanie",), "strategy", ("funding", "strategy"))
        assert [i.id for i in db.recent_items(regions=["Occitanie"], types=["strategy"])] == [bzh]
        result = db.item_result(bzh)
        assert result is not None and result["corrected_by_user"] == ["regions", "primary_type"]
        db.save_tags([(bzh, tags(["Bretagne"], ["funding"]))], NOW, "v2")  # veille retag
        assert stored() == (("Occitanie",), "strategy", ("funding", "strategy"))
        add_correction(db, bzh, "national", True, chat_id=42, now=NOW)
        [i] = db.recent_items(ids=[bzh], limit=1)
        assert (i.regions, i.national) == ((), True)
        assert bzh in [x.id for x in db.recent_items(query=Query(regions=("national",)))]
        add_correction(db, bzh, "topic_ai", False, chat_id=42, now=NOW)
        assert db.recent_items(ids=[bzh]) == []  # off topic: out of every list at once

    # ---- chats -----------------------------------------------------------------------------

    def test_chats_settings(self, chats: ChatStore) -> None:
        chats.ensure_chat(7, type="private", title=None, language="fr", now=NOW)
        chats.ensure_chat(7, type="private", title="ignored", language="en", now=NOW)
        chat = chats.get(7)
        assert chat is not None and chats.get(8) is None
        assert (chat.type, chat.language, chat.timezone, chat.active, chat.empty_digest) == (
            "private",
            "fr",
            "Europe/Paris",
            True,
            "skip",
        )
        chats.update(7, language="en", timezone="Indian/Reunion", empty_digest="line")
        chat = chats.get(7)
        assert chat is not None
        assert (chat.language, chat.timezone, chat.empty_digest) == ("en", "Indian/Reunion", "line")

    def test_enqueue_skips_known_keys_and_updates_the_chat_with_it(
        self, chats: ChatStore, outbox_: Outbox
    ) -> None:
        chats.ensure_chat(5, type="private", title=None, language="fr", now=NOW)
        following = NOW + timedelta(days=1)
        update = (5, {"last_digest_at": NOW, "next_digest_at": following})
        assert (
            outbox_.enqueue([message(5, "d:1"), message(5, "d:2", "Deux")], NOW, chat_update=update)
            == 2
        )
        assert outbox_.enqueue([message(5, "d:1"), message(5, "d:3")], NOW) == 1
        assert outbox_.enqueue([message(5, "d:1")], NOW) == 0
        assert outbox_.enqueue([], NOW) == 0
        with chats.engine.connect() as conn:
            row = conn.execute(
                select(chats_table.c.last_digest_at, chats_table.c.next_digest_at).where(
                    chats_table.c.id == 5
                )
            ).one()
        assert (row.last_digest_at, row.next_digest_at) == (NOW, following)
        # one transaction: when the chat update fails, nothing is queued
        with pytest.raises(IntegrityError):
            outbox_.enqueue([message(5, "d:4")], NOW, chat_update=(5, {"digest": None}))
        assert chats.counts()["outbox_pending"] == 3
        [first] = outbox_.lease(NOW, "sender")
        assert first.payload == {"method": "sendMessage", "text": "Bonjour"}
        assert first.created_at == NOW and not first.maybe_sent

    def test_alerts_are_queued_with_their_items_marked_in_one_transaction(
        self, db: Store, chats: ChatStore, outbox_: Outbox
    ) -> None:
        ids = sorted(i for key, i in add_tagged_sample(db).items() if key != "new")
        assert outbox_.awaiting_alerts() == ids
        assert outbox_.awaiting_alerts(ids[:1]) == ids[:1]
        chats.ensure_chat(5, type="private", title=None, language="fr", now=NOW)
        with pytest.raises(IntegrityError):  # the chat update fails: no item is marked either
            outbox_.enqueue(
                [message(5, "a:1")], NOW, chat_update=(5, {"digest": None}), items_alerted=ids
            )
        assert outbox_.awaiting_alerts() == ids
        assert outbox_.enqueue([message(5, "a:1")], NOW, items_alerted=ids[:1]) == 1
        assert outbox_.awaiting_alerts() == ids[1:]

    def test_outbox_leases_one_message_per_chat_in_order(
        self, chats: ChatStore, outbox_: Outbox
    ) -> None:
        for chat in (5, 6, 7, 8):
            outbox_.enqueue([message(chat, f"m:{chat}", f"Message {chat} — é")], NOW)
        outbox_.enqueue([message(5, "m:5b", "Deuxième pour 5")], NOW)
        outbox_.enqueue([message(9, "later")], NOW + timedelta(hours=1))
        leased = outbox_.lease(NOW, "a", limit=10)
        assert [m.payload["text"] for m in leased] == [f"Message {c} — é" for c in (5, 6, 7, 8)]
        assert outbox_.lease(NOW, "b") == [], "one per chat in flight; 'later' is not due"
        sent, retry, quiet, dead = leased
        outbox_.mark_sent(sent.id, NOW, 991)
        outbox_.mark_retry(retry.id, NOW + timedelta(seconds=30), "502", maybe_sent=True)
        outbox_.mark_retry(quiet.id, NOW + timedelta(seconds=10), "flood", count=False)
        outbox_.mark_dead(dead.id, "403 Forbidden" * 100)
        with chats.engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(select(outbox))}
        done = rows[sent.id]
        assert (done.status, done.telegram_message_id, done.attempts) == ("sent", 991, 1)
        assert (rows[retry.id].status, rows[retry.id].attempts) == ("pending", 1)
        assert rows[retry.id].maybe_sent and not rows[quiet.id].maybe_sent
        assert (rows[quiet.id].status, rows[quiet.id].attempts) == ("pending", 0)
        assert rows[dead.id].status == "dead" and len(rows[dead.id].last_error) == 500
        assert all(r.lease_owner is None for r in rows.values())
        [second] = outbox_.lease(NOW, "b")
        assert second.payload["text"] == "Deuxième pour 5", "chat 5's next one, now its turn"
        outbox_.mark_sent(second.id, NOW, 992)
        with chats.engine.connect() as conn:
            pending = [r.not_before for r in conn.execute(select(outbox)) if r.status == "pending"]
        assert min(pending) == NOW + timedelta(seconds=10)
        again = outbox_.lease(NOW + timedelta(minutes=1), "b")
        assert [(m.id, m.attempts, m.maybe_sent) for m in again] == [
            (quiet.id, 0, False),
            (retry.id, 1, True),
        ]
        assert chats.counts() == {
            "chats": 0,
            "active_chats": 0,
            "outbox_pending": 1,
            "outbox_sent": 2,
            "outbox_dead": 1,
        }

    def test_the_longest_queues_are_leased_first(self, outbox_: Outbox) -> None:
        """A digest round ends at the overall rate: a chat with three messages left must not
        start last and then hold the round open while it waits its pace twice."""
        outbox_.enqueue([message(5, "five")], NOW)
        outbox_.enqueue([message(6, f"six {n}") for n in range(3)], NOW)
        outbox_.enqueue([message(7, f"seven {n}") for n in range(2)], NOW)
        outbox_.enqueue([message(8, "eight")], NOW - timedelta(minutes=1))
        assert [m.chat_id for m in outbox_.lease(NOW, "a", limit=2)] == [6, 7]
        assert [m.chat_id for m in outbox_.lease(NOW, "a")] == [8, 5], "then the earliest due"

    def test_a_retried_message_holds_back_its_chat_only(self, outbox_: Outbox) -> None:
        outbox_.enqueue([message(5, "first"), message(5, "second"), message(6, "other")], NOW)
        first, other = outbox_.lease(NOW, "a")
        outbox_.mark_retry(first.id, NOW + timedelta(seconds=30), "timeout")
        outbox_.mark_sent(other.id, NOW, 1)
        assert outbox_.lease(NOW + timedelta(seconds=10), "a") == [], "'second' waits"
        [again] = outbox_.lease(NOW + timedelta(seconds=31), "a")
        assert again.id == first.id

    def test_a_chat_the_sender_cannot_send_to_yet_is_left_for_later(self, outbox_: Outbox) -> None:
        outbox_.enqueue([message(5, "five"), message(6, "six"), message(7, "seven")], NOW)
        leased = outbox_.lease(NOW, "a", skip_chats=[5, 7])
        assert [m.chat_id for m in leased] == [6]
        assert [m.chat_id for m in outbox_.lease(NOW, "a")] == [5, 7]

    def test_an_expired_lease_is_taken_over(self, chats: ChatStore, outbox_: Outbox) -> None:
        outbox_.enqueue([message(5, "a"), message(6, "b")], NOW)
        lease = timedelta(seconds=30)
        assert len(outbox_.lease(NOW, "crashed", lease=lease)) == 2
        assert outbox_.lease(NOW + timedelta(seconds=20), "other") == []
        taken = outbox_.lease(NOW + lease + timedelta(seconds=1), "other")
        assert len(taken) == 2
        with chats.engine.connect() as conn:
            owners = {r.lease_owner for r in conn.execute(select(outbox))}
        assert owners == {"other"}

    def test_a_heartbeat_keeps_a_lease_and_a_restart_takes_back_its_own(
        self, outbox_: Outbox
    ) -> None:
        outbox_.enqueue([message(5, "a"), message(6, "b")], NOW)
        dead_owner = owner_name("sender", pid=2**22 + 12345)  # above pid_max: never alive
        held = outbox_.lease(NOW, dead_owner, lease=timedelta(seconds=30))
        assert outbox_.renew(dead_owner, [m.id for m in held], NOW + timedelta(minutes=5)) == 2
        assert outbox_.lease(NOW + timedelta(minutes=1), "other") == [], "renewed"
        other_host = "sender@elsewhere:1"
        outbox_.release([held[1].id], dead_owner)
        assert len(outbox_.lease(NOW, other_host)) == 1
        assert outbox_.reclaim("sender") == 1, "only the dead local sender's lease"
        [back] = outbox_.lease(NOW, owner_name("sender"))
        assert back.id == held[0].id

    def test_concurrent_senders_never_lease_the_same_message(
        self, outbox_: Outbox, open_store: Callable[[], Store]
    ) -> None:
        outbox_.enqueue([message(1000 + n, f"m:{n}") for n in range(150)], NOW)
        senders = {"a": outbox_, "b": Outbox(open_store())}
        got = lease_concurrently(
            lambda owner: [m.id for m in senders[owner].lease(NOW, owner, limit=7)]
        )
        assert not set(got["a"]) & set(got["b"])
        assert len(got["a"]) + len(got["b"]) == 150

    def test_migrate_moves_a_group_to_its_supergroup(self, chats: ChatStore) -> None:
        chats.ensure_chat(-100, type="group", title="Veille IA", language="fr", now=NOW)
        alerts_ = AlertStore(chats.store)
        alerts_.create(
            -100,
            name="BZH",
            text="Bretagne",
            query=Query(regions=("Bretagne",)),
            frequency="daily",
            now=NOW,
            next_digest_at=NOW,
        )
        outbox_ = Outbox(chats.store)
        outbox_.enqueue(
            [message(-100, "done"), message(-100, "in-flight"), message(-100, "queued")], NOW
        )
        [done] = outbox_.lease(NOW, "a", limit=2)
        outbox_.mark_sent(done.id, NOW, 1)
        [_in_flight] = outbox_.lease(NOW, "a", limit=2)
        chats.migrate(-100, -1001)
        assert chats.get(-100) is None
        new = chats.get(-1001)
        assert new is not None
        assert (new.type, new.title) == ("supergroup", "Veille IA")
        [moved] = alerts_.of_chat(-1001)  # the group's alerts follow it
        assert (moved.name, moved.query.regions, moved.next_digest_at) == (
            "BZH",
            ("Bretagne",),
            NOW,
        )
        assert alerts_.of_chat(-100) == []
        with chats.engine.connect() as conn:
            rows = {r.dedup_key: r for r in conn.execute(select(outbox))}
        assert {k: (r.chat_id, r.status) for k, r in rows.items()} == {
            "done": (-100, "sent"),
            "in-flight": (-1001, "pending"),
            "queued": (-1001, "pending"),
        }
        chats.migrate(-100, -1001)  # a repeated update changes nothing
        assert chats.get(-1001) == new

    def test_deactivate_and_come_back(self, chats: ChatStore) -> None:
        chats.ensure_chat(9, type="private", title=None, language="fr", now=NOW)
        AlertStore(chats.store).create(
            9, name="tout", text="", query=Query(), frequency="instant", now=NOW
        )
        Outbox(chats.store).enqueue([message(9, "x"), message(9, "y")], NOW)
        chats.deactivate(9, "Forbidden: bot was blocked by the user")
        assert chats.counts() == {
            "chats": 1,
            "active_chats": 0,
            "outbox_pending": 0,
            "outbox_sent": 0,
            "outbox_dead": 2,
        }
        assert AlertStore(chats.store).instant() == [] and Outbox(chats.store).lease(NOW, "a") == []
        chats.ensure_chat(9, type="private", title=None, language="fr", now=NOW)
        chat = chats.get(9)
        assert chat is not None and chat.active and len(AlertStore(chats.store).instant()) == 1

    def test_delete_chat_forgets_it(self, chats: ChatStore) -> None:
        for chat_id in (1, 2):
            chats.ensure_chat(chat_id, type="private", title=None, language="fr", now=NOW)
            AlertStore(chats.store).create(
                chat_id,
                name="f",
                text="financement",
                query=Query(types=("funding",)),
                frequency="daily",
                now=NOW,
            )
            Outbox(chats.store).enqueue(
                [message(chat_id, f"{chat_id}:a"), message(chat_id, f"{chat_id}:b")], NOW
            )
        [done] = Outbox(chats.store).lease(NOW, "a", limit=1)
        Outbox(chats.store).mark_sent(done.id, NOW, 5)
        chats.delete_chat(1)
        assert chats.get(1) is None
        assert chats.get(2) is not None and AlertStore(chats.store).of_chat(1) == []
        assert [p.query.types for p in AlertStore(chats.store).of_chat(2)] == [("funding",)]
        counts = chats.counts()
        assert (counts["chats"], counts["outbox_sent"], counts["outbox_pending"]) == (1, 1, 2)

    # ---- article stage ---------------------------------------------------------------------

    def test_article_queue_claims_each_item_once(
        self, db: Store, open_store: Callable[[], Store]
    ) -> None:
        db.insert_items(
            "alpha", [item(f"a{n}", f"Article numéro {n} du flux") for n in range(60)], NOW
        )
        stages = {"a": ArticleStore(db), "b": ArticleStore(open_store())}
        got = lease_concurrently(lambda owner: [p.id for p in stages[owner].claim_pending(limit=7)])
        assert not set(got["a"]) & set(got["b"])
        assert len(got["a"]) + len(got["b"]) == 60
        assert stages["a"].claim_pending(limit=10) == []
        # a dead stage's claims come back once its items are old enough
        assert stages["a"].release_stale(NOW - timedelta(minutes=1)) == 0
        assert stages["a"].release_stale(NOW + timedelta(minutes=1)) == 60
        assert len(stages["a"].claim_pending(limit=100)) == 60

    def test_release_of_stale_claims_passes_rows_another_transaction_holds(
        self, db: Store, open_store: Callable[[], Store]
    ) -> None:
        db.insert_items("alpha", [item(f"s{n}", f"Article en cours {n}") for n in range(5)], NOW)
        stage = ArticleStore(db)
        claimed = sorted(p.id for p in stage.claim_pending(limit=5))
        other = open_store()
        if other.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has one writer at a time: no row locks to pass")
        # Another stage holds one claimed row (a transaction updating it, not yet committed):
        # the release must not wait for it (two such waits in opposite orders deadlocked).
        with other.engine.begin() as conn:
            conn.execute(
                update(items).where(items.c.id == claimed[0]).values(article_status="working")
            )
            done: list[int] = []
            worker = threading.Thread(
                target=lambda: done.append(stage.release_stale(NOW + timedelta(minutes=1)))
            )
            worker.start()
            worker.join(60)
            assert done == [4], "released the four free rows without waiting for the held one"
        assert stage.release_stale(NOW + timedelta(minutes=1)) == 1

    def test_article_pages_and_outcomes(self, db: Store) -> None:
        articles = ArticleStore(db)
        [first] = db.insert_items(
            "alpha", [item("p", "Le fonds breton", link="https://p.example/a")], NOW
        )
        [gnews_item] = db.insert_items(
            "beta", [item("g", "Le fonds breton - Presse", link="https://news.example/rss/x")], NOW
        )
        [pending_one, _] = articles.claim_pending(limit=10)
        assert (pending_one.full_text, pending_one.feed_source) == ("auto", "config")
        page = CachedPage(
            "k1",
            "https://p.example/a",
            "https://p.example/a",
            "ok",
            200,
            '"e"',
            None,
            "Le texte entier de l'article.",
            "fr",
            None,
            NOW,
            NOW + timedelta(days=7),
        )
        articles.save_page(page)
        articles.save_page(replace(page, etag='"e2"'))  # an upsert, not a second row
        assert articles.page("k1") == replace(page, etag='"e2"')
        assert articles.page("nope") is None
        articles.finish(
            [
                ItemOutcome(first, "ok", text_source="article", page_key="k1"),
                ItemOutcome(
                    gnews_item,
                    "ok",
                    text_source="article",
                    page_key="k1",
                    link="https://p.example/a?utm_source=gn",
                    canonical_link="https://p.example/a",
                ),
            ]
        )
        rows = {r["id"]: r for r in db.items_for_tagging(untagged_only=False)}
        assert rows[first]["article_text"] == "Le texte entier de l'article."
        [shown] = db.recent_items(topic_only=False)  # the Google News item joined the story
        assert shown.id == first
        details = db.item_details([first, gnews_item])
        assert {i: (d["text_source"], d["article_status"]) for i, d in details.items()} == {
            first: ("article", "ok"),
            gnews_item: ("article", "ok"),
        }


def test_postgres_search_without_the_unaccent_extension(postgres_server: PostgresServer) -> None:
    """A role that may not create extensions still migrates: French stems, accents kept."""
    name = f"contract_{next(_databases)}"
    postgres_server.new_database(name)
    role = f"{name}_owner"
    with psycopg.connect(
        postgres_server.url_for(name).replace("+psycopg", ""), autocommit=True
    ) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    store = Store.open(postgres_server.url_for(name).replace("postgres@", f"{role}@"))
    try:
        with store.engine.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT count(*) FROM pg_extension WHERE extname = 'unaccent'")
                ).scalar()
                == 0
            )
        store.sync_feeds([feed_config("alpha", "https://alpha.example/rss")], NOW)
        [found] = store.insert_items("alpha", [item("n", "Des financements pour les écoles")], NOW)

        def search(query: str) -> list[int]:
            return [i.id for i in store.recent_items(topic_only=False, search=query)]

        assert search("financement écoles") == [found]
        assert search("ecoles") == []  # no accent folding without unaccent
    finally:
        store.close()
