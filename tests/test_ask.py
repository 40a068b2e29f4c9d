"""Questions and alert profiles through their plain functions (Reply in, Reply out), on a real store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerting import enqueue_due_profile_digests, enqueue_profile_alerts
from bot.commands import alerts as alert_commands
from bot.commands import ask
from bot.commands.reply import Ctx, Reply
from bot.config import load_settings
from bot.render import TELEGRAM_LIMIT
from bot.store.alerts import AlertStore
from bot.store.chats import ChatStore
from bot.store.repo import Store
from tests.conftest_bot import Spec, add_items, gazetteer, outbox_rows

NOW = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)  # a Wednesday
COMMANDS = ["start", "help", "subscribe", "alerts", "search", "region", "type", "latest", "why"]


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Ctx]:
    """A private chat over a store holding a few tagged items."""
    settings = load_settings({"VEILLE_STATE_DIR": str(tmp_path / "state")})
    store = Store.open(settings.db_url)
    chats = ChatStore(store)
    chats.ensure_chat(1, type="private", title=None, language="fr", now=NOW)
    add_items(
        store,
        [
            Spec(
                "Un jumeau numérique pour le port de Brest",
                NOW - timedelta(days=2),
                ("Bretagne",),
                ("research",),
            ),
            Spec(
                "Appel à projets IA en Bretagne",
                NOW - timedelta(days=1),
                ("Bretagne",),
                ("funding",),
            ),
            Spec(
                "Lille lance un fonds pour l'IA",
                NOW - timedelta(hours=5),
                ("Hauts-de-France",),
                ("funding",),
            ),
            Spec(
                "Les jumeaux numériques de l'usine lilloise",
                NOW - timedelta(hours=2),
                ("Hauts-de-France",),
                ("business_support",),
            ),
            Spec(
                "Plan national IA et crypto",
                NOW - timedelta(days=3),
                (),
                ("strategy",),
                national=True,
            ),
        ],
        NOW - timedelta(days=4),
    )
    yield Ctx(settings, store, chats, gazetteer(), NOW, 1)
    store.close()


def titles(reply: Reply) -> str:
    """The reply's text."""
    return reply.text


def check_bounds(reply: Reply) -> None:
    """Every message within Telegram's limit, every button's data within 64 bytes."""
    assert reply.messages
    assert all(0 < len(m) <= TELEGRAM_LIMIT for m in reply.messages)
    assert all(len(b.data.encode()) <= 64 for row in reply.buttons for b in row)


def test_search_on_stems_finds_the_readme_example(ctx: Ctx) -> None:
    reply = ask.search(ctx, "jumeau numérique")
    assert "Brest" in reply.text and "usine lilloise" in reply.text
    assert "jumeau · numérique" in reply.text


def test_combined_queries(ctx: Ctx) -> None:
    reply = ask.search(ctx, "financement Bretagne ce mois-ci")
    assert "Bretagne · financement · ce mois-ci" in reply.text
    assert "Appel à projets IA en Bretagne" in reply.text and "Lille lance" not in reply.text
    reply = ask.search(ctx, "bonjour, je cherche les financements IA en Bretagne")
    assert "Appel à projets IA en Bretagne" in reply.text and "Brest" not in reply.text
    assert "Plan national" in ask.search(ctx, "stratégie nationale").text
    assert "Plan national" not in ask.search(ctx, "national -crypto").text


def test_region_and_type_accept_more_words(ctx: Ctx) -> None:
    reply = ask.region(ctx, "Bretagne financement")
    assert "Appel à projets" in reply.text and "Brest" not in reply.text
    reply = ask.type_(ctx, "financement Bretagne")
    assert "Appel à projets" in reply.text and "Lille" not in reply.text
    reply = ask.region(ctx, "Lille")
    assert "Lille → Hauts-de-France" in reply.text and "Lille lance" in reply.text
    assert "Type inconnu" in ask.type_(ctx, "Bretagne").text


def test_a_typo_gets_the_nearest_city_and_its_region(ctx: Ctx) -> None:
    reply = ask.region(ctx, "Lile")
    assert "Lille (Hauts-de-France)" in reply.text
    assert reply.buttons[0][0].text == "Hauts-de-France"


def test_unknown_commands_get_the_nearest_one() -> None:
    assert ask.nearest_command("serch", COMMANDS) == "search"
    assert ask.nearest_command("reg", COMMANDS) == "region"
    assert ask.nearest_command("xyzzy", COMMANDS) is None


def test_nothing_to_search_gets_an_example(ctx: Ctx) -> None:
    assert "Essayez" in ask.search(ctx, "bonjour !").text
    assert "Aucun article ne correspond" in ask.search(ctx, "blockchain quantique").text


LONG = [
    "x" * 5000,
    "mot " * 1500,
    "<b>" * 2000,
    '"' + "jumeau " * 900,
    "Bretagne " * 800,
    "\u202e" * 3000 + "a",
]


@pytest.mark.parametrize("text", LONG, ids=[f"long{n}" for n in range(len(LONG))])
def test_long_arguments_are_never_echoed_whole(ctx: Ctx, text: str) -> None:
    for func in (ask.search, ask.region, ask.type_, alert_commands.subscribe):
        reply = func(ctx, text)
        check_bounds(reply)
        assert len(reply.text) < 1500
    check_bounds(ask.unknown_command(ctx, text, COMMANDS))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.text(max_size=300))
def test_fuzz_commands_never_raise(ctx: Ctx, text: str) -> None:
    for func in (
        ask.search,
        ask.region,
        ask.type_,
        alert_commands.subscribe,
        alert_commands.unsubscribe,
        alert_commands.fuseau,
    ):
        check_bounds(func(ctx, text))
    check_bounds(ask.unknown_command(ctx, text, COMMANDS))
    for profile in AlertStore(ctx.store).of_chat(1):  # keep the chat under its alert limit
        AlertStore(ctx.store).delete(profile.id, 1)


# ---- alert profiles -----------------------------------------------------------------------


def test_two_alerts_add_up_and_an_item_is_sent_once(ctx: Ctx) -> None:
    alert_commands.subscribe(ctx, "Hauts-de-France instant")
    alert_commands.subscribe(ctx, '"jumeau numérique" instant')
    alert_commands.subscribe(ctx, "Occitanie instant")
    ids = [i.id for i in ctx.store.recent_items(limit=10)]
    queued = enqueue_profile_alerts(ctx.store, ctx.chats, ids, NOW)
    rows = outbox_rows(ctx.chats)
    texts = [r["payload"]["text"] for r in rows]
    assert queued == len(rows) == 3  # Lille fund, Brest twin, Lille twin (once, two alerts)
    [both] = [x for x in texts if "usine lilloise" in x]
    assert "Hauts-de-France, « jumeau numérique »" in both or "jumeau" in both.split("alertes :")[1]
    assert enqueue_profile_alerts(ctx.store, ctx.chats, ids, NOW) == 0  # never twice


def test_alert_list_edit_pause_delete(ctx: Ctx) -> None:
    created = alert_commands.subscribe(ctx, "financement Bretagne hebdo")
    assert "Alerte créée" in created.text and "Prochain envoi" in created.text
    [p] = AlertStore(ctx.store).of_chat(1)
    assert (p.frequency, p.query.regions, p.query.types) == ("weekly", ("Bretagne",), ("funding",))
    # Wednesday 10:30 in Paris: the next Monday 08:00
    assert p.next_digest_at == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    listing = alert_commands.alerts(ctx)
    assert "Bretagne · financement" in listing.text and len(listing.buttons) == 1
    edit = alert_commands.alert_press(ctx, p.id, "e", "-")
    assert any(b.data == f"al:1:{p.id}:h:18" for row in edit.buttons for b in row)
    alert_commands.alert_press(ctx, p.id, "h", "18")
    after = alert_commands.alert_press(ctx, p.id, "f", "daily")
    assert "Prochain envoi : mercredi 18/11 18:00 (Europe/Paris)" in after.text
    paused = alert_commands.alert_press(ctx, p.id, "p", "-")
    assert "en pause" in paused.text
    other = replace(ctx, chat_id=2)
    assert "n'existe plus" in alert_commands.alert_press(other, p.id, "d", "-").text
    assert "supprimée" in alert_commands.alert_press(ctx, p.id, "d", "-").text
    assert AlertStore(ctx.store).of_chat(1) == []


def test_legacy_keyword_syntax_and_bounds(ctx: Ctx) -> None:
    alert_commands.subscribe(ctx, 'mot "IA générative" -mot "crypto"')
    [p] = AlertStore(ctx.store).of_chat(1)
    assert (p.query.terms, p.query.excludes) == ((("ia générative",),), ("crypto",))
    assert "trop longue" in alert_commands.subscribe(ctx, "mot " + "x" * 5000).text
    check_bounds(alert_commands.alerts(ctx))


def test_due_profile_digests_add_up_and_skip_empty_ones(ctx: Ctx) -> None:
    alert_commands.subscribe(ctx, "Hauts-de-France")
    alert_commands.subscribe(ctx, '"jumeau numérique"')
    alert_commands.subscribe(ctx, "Occitanie")  # nothing there
    store = AlertStore(ctx.store)
    hdf, twin, occ = store.of_chat(1)
    for p in (hdf, twin):
        store.update(p.id, 1, next_digest_at=NOW)
    store.update(occ.id, 1, next_digest_at=NOW + timedelta(minutes=5))
    later = NOW + timedelta(minutes=10)
    queued = enqueue_due_profile_digests(ctx.store, ctx.chats, later)
    rows = outbox_rows(ctx.chats)
    assert queued == len(rows) >= 1  # the Occitanie digest is empty: not sent
    text = "\n".join(r["payload"]["text"] for r in rows)
    # a daily digest: the last day only (the Brest twin is two days old)
    assert text.count("usine lilloise") == 1 and "Lille lance" in text and "Brest" not in text
    assert all(p.next_digest_at and p.next_digest_at > later for p in store.of_chat(1))
    assert enqueue_due_profile_digests(ctx.store, ctx.chats, later) == 0


def test_time_zone_moves_the_next_delivery(ctx: Ctx) -> None:
    alert_commands.subscribe(ctx, "Bretagne quotidien")
    assert "Europe/Paris" in alert_commands.fuseau(ctx, "").text
    assert "inconnu" in alert_commands.fuseau(ctx, "Mars/Olympus").text
    moved = alert_commands.fuseau(ctx, "Indian/Reunion")
    assert "Indian/Reunion" in moved.text
    [p] = AlertStore(ctx.store).of_chat(1)
    assert p.next_digest_at == datetime(2026, 11, 19, 4, 0, tzinfo=UTC)  # 08:00 at UTC+4
    assert "Indian/Reunion" in alert_commands.settings(ctx).text


def test_digest_preview_is_the_alerts_digest(ctx: Ctx) -> None:
    assert "Lille lance" in alert_commands.digest_preview(ctx).text  # no alert: everything
    alert_commands.subscribe(ctx, "Bretagne hebdo")
    preview = alert_commands.digest_preview(ctx)
    assert "Brest" in preview.text and "Appel à projets" in preview.text
    assert "Lille" not in preview.text
    check_bounds(preview)


def test_the_readme_search_finds_the_demo_item(tmp_path: Path) -> None:
    from bot.feeds.parser import parse_feed
    from tests.conftest import feed_config

    samples = Path(__file__).parents[1] / "bot" / "demo" / "samples"
    store = Store.open(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        store.sync_feeds([feed_config("actu", "https://actu-regions.example/rss")], NOW)
        body = (samples / "regions-actu.rss.xml").read_bytes()
        store.insert_items("actu", parse_feed(body, now=NOW).items, NOW)
        settings = load_settings({"VEILLE_STATE_DIR": str(tmp_path / "state")})
        ctx = Ctx(settings, store, ChatStore(store), gazetteer(), NOW, 1)
        ctx.chats.ensure_chat(1, type="private", title=None, language="fr", now=NOW)
        for words in ("jumeau numérique", "jumeaux numériques", '"jumeau numerique"'):
            assert "jumeau numérique de ses terminaux" in ask.search(ctx, words).text, words
    finally:
        store.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.sampled_from(["al:", "tz:", "rg:", "ty:", "se:", "la:", "fx:", "s:p:", "x:"]),
    st.text(max_size=60),
)
def test_fuzz_forged_callback_data(ctx: Ctx, head: str, rest: str) -> None:
    from bot.commands import routes

    decoded = routes.decode_button(head + "1:" + rest)
    if decoded is not None:
        check_bounds(routes.press(ctx, *decoded))


def test_digest_headings_follow_the_alerts(ctx: Ctx) -> None:
    from bot.alerting import digest_messages
    from bot.query.model import Query

    add_items(
        ctx.store,
        [
            Spec(
                "Plan régional et fonds IA",
                NOW - timedelta(hours=1),
                ("Corse",),
                ("strategy", "funding"),
            )
        ],
        NOW,
        feed_id="corse",
        feed_name="Corse Matin",
    )
    start = NOW - timedelta(days=7)
    funding = digest_messages(
        ctx.store, [("F", Query(types=("funding",)))], start, NOW, "fr", title_key="digest_title"
    )
    text = "\n".join(funding)
    assert "Plan régional" in text and "stratégie" not in text and "financement" in text
    national = digest_messages(
        ctx.store,
        [("N", Query(regions=("Bretagne", "national")))],
        start,
        NOW,
        "fr",
        title_key="digest_title",
    )
    assert "Plan national IA" in "\n".join(national) and "Brest" in "\n".join(national)
