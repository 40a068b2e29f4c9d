"""The route table, the callback-data codec, the admin commands and the terminal entry point."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.commands import admin, callbacks, routes
from bot.commands.reply import Ctx, Reply
from bot.i18n import MESSAGES, t
from classifiers.taxonomy import REGIONS, TYPES
from tests.commandkit import make_ctx
from tests.support.feedserver import FeedServer


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Ctx]:
    """A French-speaking private chat, not an admin."""
    context = make_ctx(tmp_path)
    yield context
    context.store.close()


def run(ctx: Ctx, line: str) -> Reply:
    """The reply to a command line, through the route table."""
    return asyncio.run(routes.answer_line(ctx, line))


# ---- the table ----------------------------------------------------------------------------


def test_every_command_has_one_route_and_menu_texts_in_both_languages() -> None:
    names = [c.name for c in routes.COMMANDS]
    assert len(names) == len(set(names)) and set(routes.BY_NAME) == set(names)
    for command in routes.COMMANDS:
        if command.menu:
            for lang in ("fr", "en"):
                assert f"menu_{command.name}" in MESSAGES[lang], (command.name, lang)
    admin_names = {c.name for c in routes.COMMANDS if c.admin}
    assert admin_names == {"feeds", "addfeed", "removefeed", "stats"}
    assert not any(c.menu for c in routes.COMMANDS if c.admin)


def test_every_string_key_exists_in_both_languages() -> None:
    assert set(MESSAGES["fr"]) == set(MESSAGES["en"])


def test_split_command_strips_the_bot_name() -> None:
    assert routes.split_command("/Region@veille_bot  Hauts-de-France ") == (
        "region",
        "Hauts-de-France",
    )


def test_admin_commands_need_an_admin_chat(ctx: Ctx) -> None:
    for line in ("/feeds", "/stats", "/removefeed x", "/addfeed https://example.org/rss"):
        assert run(ctx, line).text == t("fr", "admin_only")
    assert "Statistiques" in run(replace(ctx, is_admin=True), "/stats").text


def test_unknown_command_is_named_in_the_reply(ctx: Ctx) -> None:
    reply = run(ctx, "/nope").text
    assert reply.startswith("Commande inconnue : /nope.") and "/help" in reply
    assert "/search" in run(ctx, "/serch jumeau").text  # the nearest command


def test_arguments_lose_null_bytes_and_excess_length(ctx: Ctx) -> None:
    assert routes.clean_argument("Bre\x00tagne") == "Bretagne"
    assert len(routes.clean_argument("x" * 10_000)) == routes.MAX_ARGUMENT_CHARS
    assert "Rennes" in run(ctx, "/region Bre\x00tagne").text


# ---- the codec ----------------------------------------------------------------------------


def test_callback_data_names_things_and_carries_a_version() -> None:
    data = callbacks.encode("rg", "Provence-Alpes-Côte d'Azur", 2)
    assert data == f"rg:{callbacks.VERSION}:Provence-Alpes-Côte d'Azur:2"
    decoded = callbacks.decode(data, routes.SCHEMAS)
    assert decoded is not None and decoded.values == ("Provence-Alpes-Côte d'Azur", 2)


def test_every_region_and_type_fits_in_a_button() -> None:
    longest = max(REGIONS, key=lambda r: len(r.encode()))
    for route, value in (("sr", longest), ("st", max(TYPES, key=len))):
        data = callbacks.encode(route, value, 999)
        assert len(data.encode()) <= callbacks.MAX_BYTES
        assert routes.decode_button(data) is not None
    data = callbacks.encode("fxr", callbacks.MAX_ID, longest)
    assert len(data.encode()) <= callbacks.MAX_BYTES and routes.decode_button(data) is not None


def test_a_long_last_field_is_cut_on_a_character_boundary() -> None:
    data = callbacks.encode("se", 3, "é" * 100)
    assert len(data.encode()) <= callbacks.MAX_BYTES
    decoded = routes.decode_button(data)
    assert decoded is not None and decoded[1][0] == 3 and set(str(decoded[1][1])) == {"é"}


def test_a_search_may_contain_colons() -> None:
    decoded = routes.decode_button(callbacks.encode("se", 0, "IA : régions"))
    assert decoded is not None and decoded[1] == (0, "IA : régions")


@pytest.mark.parametrize(
    "data",
    [
        "fx:abc:R",
        "s:r:99:0",
        "s:d:anything",
        "s:d:weekly:0",
        "rg:3:0",
        "fx:1:abc:R",
        "fx:1:12345678901234567890:R",
        "fx:1:0:R",
        "fx:1:5:X",
        "fxr:1:5:Atlantide",
        "fxt:1:5:cooking",
        "sd:1:hourly:0",
        "sr:1:Bretagne:-1",
        "sr:1:Bretagne:1000",
        "sr:1:Bretagne",
        "sr:1:Bretagne:0:extra",
        "sr:2:Bretagne:0",
        "sx:1:x",
        "se:1:0:",
        "se:1:0:nul\x00byte",
        "la:1:٣",
        "",
        ":",
        "zz:1:0",
        "rg:1:" + "x" * 80,
    ],
)
def test_forged_or_stale_callback_data_is_refused(data: str) -> None:
    assert routes.decode_button(data) is None


def test_ids_within_a_64_bit_integer_only() -> None:
    assert callbacks.item_id(str(callbacks.MAX_ID)) == callbacks.MAX_ID
    assert callbacks.item_id(str(callbacks.MAX_ID + 1)) is None
    assert callbacks.item_id("²") is None and callbacks.item_id("-1") is None


def test_every_button_route_is_drawn_by_some_keyboard(ctx: Ctx) -> None:
    from bot.commands import alerts, ask, lookups, why

    item = ctx.store.recent_items(limit=1)[0].id
    alerts.subscribe(ctx, "Hauts-de-France hebdo")
    [profile] = alerts.AlertStore(ctx.store).of_chat(ctx.chat_id)
    replies = [
        alerts.alerts(ctx),
        alerts.edit_keyboard(ctx, profile),
        alerts.fuseau(ctx, ""),
        alerts.settings(ctx),
        ask.region(ctx, "Hauts-de-France"),
        ask.region(ctx, "Bretagn"),
        ask.type_(ctx, "financement"),
        ask.search(ctx, "métropole"),
        lookups.latest(ctx),
        why.why(ctx, str(item)),
        why.correction_keyboard(ctx, item, "R"),
        why.correction_keyboard(ctx, item, "T"),
    ]
    drawn = {b.data.split(":", 1)[0] for r in replies for row in r.buttons for b in row}
    assert drawn == set(routes.BUTTONS) - {route for route, _ in routes.LEGACY}
    samples = {"sr": ("Bretagne", 0), "st": ("funding", 0), "sd": ("daily", 0), "sx": ()}
    for route, _ in routes.LEGACY:  # the first keyboard's buttons, still in old messages
        decoded = routes.decode_button(callbacks.encode(route, *samples.get(route, (0,))))
        assert decoded is not None, route
        assert routes.press(ctx, *decoded).text == alerts.alerts(ctx).text


# ---- admin --------------------------------------------------------------------------------


def test_feeds_stats_and_removefeed(ctx: Ctx) -> None:
    ctx = replace(ctx, is_admin=True)
    assert "Sources" in admin.feeds(ctx).text and "la-voix" in admin.feeds(ctx).text
    stats = admin.stats(ctx).text
    assert "items: 12" in stats and "types (7 j): " in stats
    assert "Usage : /removefeed" in admin.removefeed(ctx, " ").text
    assert "inconnue" in admin.removefeed(ctx, "nope" * 100).text
    assert "désactivée" in admin.removefeed(ctx, "la-voix").text
    assert "1 désactivées" in admin.feeds(ctx).text


def test_addfeed_refuses_bad_urls_and_private_addresses(ctx: Ctx) -> None:
    ctx = replace(ctx, is_admin=True)
    assert "Usage : /addfeed" in asyncio.run(admin.addfeed(ctx, "ftp://example.org")).text
    assert "Usage : /addfeed" in asyncio.run(admin.addfeed(ctx, "https://" + "a" * 5000)).text
    refused = asyncio.run(admin.addfeed(ctx, "http://127.0.0.1:9/rss")).text
    assert "Refusé" in refused and "127.0.0.1" in refused


def test_addfeed_fetches_parses_and_adds_when_private_feeds_are_allowed(
    tmp_path: Path, feed_server: FeedServer, feed_dir: Path
) -> None:
    ctx = make_ctx(tmp_path, is_admin=True, VEILLE_ALLOW_PRIVATE_FEEDS="true")
    url = feed_server.add_file("/rss", feed_dir / "real" / "fr_framablog_wordpress.rss.xml")
    reply = asyncio.run(admin.addfeed(ctx, url))
    assert "Source ajoutée" in reply.text
    added = [f for f in ctx.store.feed_states() if f.url == url]
    assert len(added) == 1 and added[0].source != "config"
    again = asyncio.run(admin.addfeed(ctx, url))
    assert len({f.id for f in ctx.store.feed_states()}) == 3, again.text  # a new id, suffixed


def test_addfeed_refuses_what_is_not_a_feed(tmp_path: Path, feed_server: FeedServer) -> None:
    from tests.support.feedserver import Route

    ctx = make_ctx(tmp_path, is_admin=True, VEILLE_ALLOW_PRIVATE_FEEDS="true")
    url = feed_server.add("/page", Route(body=b"<html><body>no feed</body></html>"))
    assert "Refusé" in asyncio.run(admin.addfeed(ctx, url)).text


def test_the_terminal_answers_as_an_admin(ctx: Ctx) -> None:
    reply = routes.terminal_answer(
        ctx.settings, ctx.store, ctx.gazetteer, ctx.now, "/stats", chat_id=-7
    )
    assert "Statistiques" in reply.text


def test_plain_text_is_a_question(ctx: Ctx) -> None:
    reply = run(ctx, "bonjour, je cherche les financements à Lille")
    assert reply.text.startswith("🔎 <b>Hauts-de-France · financement</b>")
