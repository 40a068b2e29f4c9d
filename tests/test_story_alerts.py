"""One alert per story: a later member rewrites the waiting alert, or queues one edit of the
sent one (waiting edits merged), never a second alert; old alerts are left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from bot.alerting import enqueue_profile_alerts
from bot.query.model import Query
from bot.store.alerts import AlertStore
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox
from bot.store.repo import Store
from bot.store.rows import StoredItem, one_per_story
from bot.store.schema import outbox
from bot.store.stories import StoryStore
from bot.story_alerts import MAX_SOURCES, sources_line
from tests.conftest_bot import Spec, add_items, outbox_rows
from tests.test_stories import LINKED

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CHAT = 77
TOLD = {
    "ouest": "Bretagne : la Région lance un fonds de 20 millions d'euros pour l'intelligence artificielle",
    "armor": "Intelligence artificielle : 20 millions d'euros de la Région Bretagne pour les PME",
    "breizh": "Rennes : le conseil régional de Bretagne vote un fonds IA de 20 millions pour les PME",
    "tregor": "Fonds IA de 20 millions : la Région Bretagne soutient les PME, vote à Rennes",
}


def tell(store: Store, feed: str, hours: float) -> int:
    """Store, tag and group one outlet's item; its id."""
    spec = Spec(
        TOLD[feed],
        NOW - timedelta(hours=hours),
        ("Bretagne",),
        ("funding",),
        summary="Le conseil régional a voté à Rennes un fonds de 20 millions d'euros pour les PME.",
    )
    [item] = add_items(store, [spec], NOW, feed_id=feed, feed_name=feed.title())
    StoryStore(store).assign([item], NOW)
    return item


def alert(store: Store, item: int) -> int:
    return enqueue_profile_alerts(store, ChatStore(store), [item], NOW)


def rows(store: Store) -> list[dict[str, Any]]:
    return outbox_rows(ChatStore(store))


def subscribe(store: Store) -> None:
    ChatStore(store).ensure_chat(CHAT, type="private", title=None, language="fr", now=NOW)
    AlertStore(store).create(
        CHAT,
        name="Bretagne",
        text="Bretagne",
        query=Query(regions=("Bretagne",)),
        frequency="instant",
        now=NOW - timedelta(days=1),
    )


def sent(store: Store, message_id: int, telegram_id: int, at: datetime = NOW) -> None:
    Outbox(store).mark_sent(message_id, at, telegram_id)


def test_a_waiting_alert_is_rewritten_rather_than_followed(store: Store) -> None:
    subscribe(store)
    assert alert(store, tell(store, "ouest", 3)) == 1
    assert alert(store, tell(store, "armor", 2)) == 0
    [row] = rows(store)
    assert row["kind"] == "alert" and row["status"] == "pending"
    assert "aussi dans : Armor" in row["payload"]["text"]
    assert row["payload"]["text"].endswith("🔔 alertes : Bretagne")


def test_a_sent_alert_gets_one_edit_and_waiting_edits_merge(store: Store) -> None:
    subscribe(store)
    assert alert(store, tell(store, "ouest", 4)) == 1
    [first] = rows(store)
    sent(store, first["id"], 501)
    assert alert(store, tell(store, "armor", 3)) == 1
    assert alert(store, tell(store, "breizh", 2)) == 0  # merged into the waiting edit
    edits = [r for r in rows(store) if r["kind"] == "edit"]
    assert len(edits) == 1 and edits[0]["payload"]["edit_of"] == first["id"]
    assert "aussi dans : Armor, Breizh" in edits[0]["payload"]["text"]
    assert edits[0]["story_id"] == first["story_id"] is not None
    sent(store, edits[0]["id"], 501)
    fourth = tell(store, "tregor", 1)
    assert alert(store, fourth) == 1
    assert enqueue_profile_alerts(store, ChatStore(store), [fourth], NOW, retagged=True) == 0
    kinds = [r["kind"] for r in rows(store)]
    assert kinds == ["alert", "edit", "edit"], "never a second alert"
    assert "aussi dans : Armor, Breizh, Tregor" in rows(store)[-1]["payload"]["text"]


def test_an_old_or_undelivered_alert_is_not_edited(store: Store) -> None:
    subscribe(store)
    alert(store, tell(store, "ouest", 4))
    [first] = rows(store)
    sent(store, first["id"], 501, at=NOW - timedelta(days=3))
    assert alert(store, tell(store, "armor", 3)) == 0
    with store.engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == first["id"]).values(status="dead"))
    assert alert(store, tell(store, "breizh", 2)) == 0
    assert [r["kind"] for r in rows(store)] == ["alert"]


def test_listings_show_a_story_once_as_its_earliest_member() -> None:
    def item(n: int, story: int | None, hours: int) -> StoredItem:
        return StoredItem(
            n, "f", "F", f"t{n}", None, "", NOW - timedelta(hours=hours), None, story_id=story
        )

    newest_first = [item(5, 1, 1), item(4, None, 2), item(3, 1, 3), item(2, 2, 4), item(1, 1, 5)]
    assert [i.id for i in one_per_story(newest_first)] == [1, 4, 2]
    names = [f"S{k}" for k in range(MAX_SOURCES + 3)]
    assert sources_line(names)[-1] == "+3" and len(sources_line(names)) == MAX_SOURCES + 1


def test_a_feed_republishing_with_new_guids_gives_one_alert_and_no_edit(store: Store) -> None:
    subscribe(store)
    spec = Spec(
        TOLD["ouest"],
        NOW - timedelta(hours=5),
        ("Bretagne",),
        ("funding",),
        summary="Le conseil régional a voté à Rennes un fonds de 20 millions d'euros.",
    )
    queued = 0
    for hour in range(4):  # the same item, a new guid (link) every hour
        copy = Spec(**{**spec.__dict__, "link": f"https://ouest.example/{hour}"})
        [item] = add_items(store, [copy], NOW, feed_id="ouest", feed_name="Ouest")
        StoryStore(store).assign([item], NOW)
        queued += alert(store, item)
        if hour == 0:
            sent(store, rows(store)[0]["id"], 501)
    assert queued == 1 and [r["kind"] for r in rows(store)] == ["alert"]


def tell_half(store: Store, half: str, feed: str, hours: float) -> int:
    """Store, tag and group one part of tests.test_stories.LINKED from an outlet; its id."""
    title, lead = LINKED[half]
    spec = Spec(title, NOW - timedelta(hours=hours), ("Bretagne",), ("funding",), summary=lead)
    [item] = add_items(store, [spec], NOW, feed_id=feed, feed_name=feed.title())
    StoryStore(store).assign([item], NOW)
    return item


def test_after_a_merge_the_survivors_alert_lists_every_source(store: Store) -> None:
    subscribe(store)
    assert alert(store, tell_half(store, "a", "ouest", 5)) == 1
    assert alert(store, tell_half(store, "c", "tregor", 4)) == 1  # two stories: two alerts
    first, second = rows(store)
    sent(store, first["id"], 501)
    sent(store, second["id"], 502)
    assert alert(store, tell_half(store, "b", "armor", 3)) == 1
    kinds = [(r["kind"], r["story_id"]) for r in rows(store)]
    assert kinds == [
        ("alert", first["story_id"]),
        ("alert", second["story_id"]),  # the absorbed story's message, left as it was sent
        ("edit", first["story_id"]),
    ], "one edit of the surviving story's alert, never another alert"
    edit = rows(store)[-1]["payload"]
    assert edit["edit_of"] == first["id"]
    assert "aussi dans : Tregor, Armor" in edit["text"]


def test_after_a_merge_an_absorbed_storys_alert_becomes_the_storys(store: Store) -> None:
    subscribe(store)
    # The oldest half is too old for an alert: the chat only has the other half's.
    assert alert(store, tell_half(store, "a", "ouest", 60)) == 0
    assert alert(store, tell_half(store, "c", "tregor", 4)) == 1
    [only] = rows(store)
    sent(store, only["id"], 502)
    assert alert(store, tell_half(store, "b", "armor", 3)) == 1
    [_, edit] = rows(store)
    assert edit["kind"] == "edit" and edit["payload"]["edit_of"] == only["id"]
    assert "aussi dans : Ouest, Armor" in edit["payload"]["text"]
