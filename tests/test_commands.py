"""Every command function through its plain interface: a Ctx and an argument in, a Reply out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands import lookups, subscriptions, why
from bot.commands.callbacks import MAX_BYTES
from bot.commands.reply import Ctx, Reply
from bot.commands.routes import decode_button, press
from bot.render import TELEGRAM_LIMIT
from bot.store.corrections import correction_examples
from classifiers.taxonomy import REGIONS, TYPES
from tests.commandkit import CHAT, make_ctx


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Ctx]:
    """A French-speaking private chat over a store with twelve tagged items."""
    context = make_ctx(tmp_path)
    yield context
    context.store.close()


def buttons(reply: Reply) -> list[tuple[str, str]]:
    """(text, data) of every button, each checked to decode through the route table."""
    out = []
    for row in reply.buttons:
        for b in row:
            assert len(b.data.encode()) <= MAX_BYTES, b.data
            assert decode_button(b.data) is not None, b.data
            out.append((b.text, b.data))
    return out


def click(ctx: Ctx, data: str) -> Reply:
    """The reply to pressing a button with this data."""
    decoded = decode_button(data)
    assert decoded is not None, data
    return press(ctx, *decoded)


def well_formed(reply: Reply) -> Reply:
    """Every message within Telegram's limit."""
    assert reply.messages and all(0 < len(m) <= TELEGRAM_LIMIT for m in reply.messages)
    return reply


# ---- look-ups -----------------------------------------------------------------------------


def test_region_lists_the_items_of_a_region_by_alias(ctx: Ctx) -> None:
    reply = well_formed(lookups.region(ctx, "HDF"))
    assert (
        "Hauts-de-France" in reply.text and "numéro 0" in reply.text and "Rennes" not in reply.text
    )
    (more,) = buttons(reply)
    page2 = click(ctx, more[1])
    assert "page 2" in page2.text and "numéro 9" in page2.text


def test_region_unknown_suggests_regions_as_buttons(ctx: Ctx) -> None:
    reply = well_formed(lookups.region(ctx, "Bretagn"))
    assert "Région inconnue" in reply.text
    suggested = buttons(reply)
    assert suggested and all(data.startswith("rg:") for _, data in suggested)
    assert "Rennes" in click(ctx, suggested[0][1]).text


def test_region_without_argument_explains_usage(ctx: Ctx) -> None:
    assert "Usage : /region" in lookups.region(ctx, "  ").text


def test_type_by_french_name_without_accents(ctx: Ctx) -> None:
    assert lookups.resolve_type("Évènement".replace("È", "e")) in {"event", None}
    assert lookups.resolve_type("financement") == "funding"
    assert lookups.resolve_type("STRATEGIE") == "strategy"
    reply = well_formed(lookups.type_(ctx, "recherche"))
    assert "Rennes" in reply.text


def test_type_unknown_and_usage_list_the_types(ctx: Ctx) -> None:
    assert "Type inconnu" in lookups.type_(ctx, "cuisine").text
    assert (
        "Financement" in lookups.type_(ctx, "").text or "financement" in lookups.type_(ctx, "").text
    )


def test_search_finds_words_and_pages_with_the_query_in_the_button(ctx: Ctx) -> None:
    reply = well_formed(lookups.search(ctx, "jumeau numérique"))
    assert "numéro" in reply.text
    (more,) = buttons(reply)
    assert "jumeau · numérique" in click(ctx, more[1]).text


def test_search_nothing_found_and_usage(ctx: Ctx) -> None:
    assert "Aucun article ne contient" in lookups.search(ctx, "blockchain").text
    assert "Usage : /search" in lookups.search(ctx, "").text


def test_a_long_search_keeps_its_page_button_under_64_bytes(ctx: Ctx) -> None:
    query = "numérique " * 40
    reply = lookups.search(ctx, "métropole " + query)
    for _, data in buttons(reply):
        assert len(data.encode()) <= MAX_BYTES


def test_latest_and_regions_count(ctx: Ctx) -> None:
    latest = well_formed(lookups.latest(ctx))
    assert "Derniers articles" in latest.text and len(buttons(latest)) == 1
    counts = well_formed(lookups.regions_count(ctx)).text
    assert "Hauts-de-France : 10" in counts and "Bretagne : 1" in counts


def test_help_in_both_languages(tmp_path: Path) -> None:
    fr = make_ctx(tmp_path / "fr")
    en = make_ctx(tmp_path / "en", lang="en")
    assert "/subscribe" in lookups.help_(fr).text and "S'abonner" in lookups.help_(fr).text
    assert "Subscribe" in lookups.help_(en).text


# ---- subscriptions ------------------------------------------------------------------------


def test_subscribe_shortcuts_and_the_default_weekly_digest(ctx: Ctx) -> None:
    reply = subscriptions.subscribe(ctx, 'Bretagne financement mot "jumeau numérique"')
    assert "Abonné" in reply.text and "Bretagne" in reply.text and "hebdomadaire" in reply.text
    chat = ctx.chats.get(CHAT)
    assert chat is not None
    assert chat.regions == frozenset({"Bretagne"}) and chat.types == frozenset({"funding"})
    assert chat.keywords == ("jumeau numérique",) and chat.digest == "weekly"
    assert chat.next_digest_at is not None


def test_subscribe_unknown_name_changes_nothing(ctx: Ctx) -> None:
    reply = subscriptions.subscribe(ctx, "Atlantide")
    assert "Région inconnue" in reply.text and "Atlantide" in reply.text
    chat = ctx.chats.get(CHAT)
    assert chat is not None and not chat.subscribed


def test_keywords_are_bounded_in_length_and_number(ctx: Ctx) -> None:
    long = subscriptions.subscribe(ctx, "mot " + "x" * 4000)
    assert "trop long" in long.text and len(long.text) < 400
    for n in range(subscriptions.MAX_KEYWORDS):
        assert "Abonné" in subscriptions.subscribe(ctx, f"mot k{n}").text
    refused = subscriptions.subscribe(ctx, "mot encore")
    assert "Au plus" in refused.text
    chat = ctx.chats.get(CHAT)
    assert chat is not None and len(chat.keywords) == subscriptions.MAX_KEYWORDS


def test_too_many_terms_in_one_message_are_refused(ctx: Ctx) -> None:
    reply = subscriptions.subscribe(ctx, " ".join(f"mot k{n}" for n in range(600)))
    assert "Trop de termes" in reply.text
    chat = ctx.chats.get(CHAT)
    assert chat is not None and chat.keywords == ()


def test_unsubscribe_some_then_everything(ctx: Ctx) -> None:
    subscriptions.subscribe(ctx, "Bretagne Normandie alertes")
    assert "Désabonné" in subscriptions.unsubscribe(ctx, "Bretagne").text
    chat = ctx.chats.get(CHAT)
    assert chat is not None and chat.regions == frozenset({"Normandie"}) and chat.alerts
    assert "ne recevrez plus rien" in subscriptions.unsubscribe(ctx, "").text
    chat = ctx.chats.get(CHAT)
    assert chat is not None and not chat.regions


def test_settings_lang_and_stop(ctx: Ctx) -> None:
    assert "Vos réglages" in subscriptions.settings(ctx).text
    assert subscriptions.lang(ctx, "en").text == "Language: English."
    chat = ctx.chats.get(CHAT)
    assert chat is not None and chat.language == "en"
    assert "effacées" in subscriptions.stop(ctx).text
    assert ctx.chats.get(CHAT) is None


def test_digest_preview_groups_by_region(ctx: Ctx) -> None:
    reply = well_formed(subscriptions.digest_preview(ctx))
    assert "Aperçu de votre synthèse" in reply.text
    assert "Hauts-de-France" in reply.text and "France entière" in reply.text


def test_digest_preview_names_groups_in_english(tmp_path: Path) -> None:
    en = make_ctx(tmp_path, lang="en")
    assert "Nationwide" in subscriptions.digest_preview(en).text


def test_buttons_of_the_first_keyboard_open_the_alerts(ctx: Ctx) -> None:
    # Messages sent before alert profiles still carry them: they lead to /alerts.
    board = dict(buttons(subscriptions.subscribe_keyboard(ctx)))
    for label in (REGIONS[0], "recherche", "Alertes", "Quotidien", "Terminé", "▶"):
        assert "Aucune alerte" in click(ctx, board[label]).text


# ---- /why and corrections ------------------------------------------------------------------


def _first_id(ctx: Ctx) -> int:
    return ctx.store.recent_items(limit=1)[0].id


def test_why_shows_evidence_and_correction_buttons(ctx: Ctx) -> None:
    item = _first_id(ctx)
    reply = well_formed(why.why(ctx, f"/why_{item}"))
    assert "Pourquoi ces étiquettes" in reply.text and "Lille" in reply.text
    assert "IA : oui" in reply.text
    fix_region, fix_type, off = buttons(reply)
    regions = buttons(click(ctx, fix_region[1]))
    assert [text for text, _ in regions] == list(REGIONS)
    assert "Merci" in click(ctx, dict(regions)["Bretagne"]).text
    types = buttons(click(ctx, fix_type[1]))
    assert len(types) == len(TYPES)
    assert "Merci" in click(ctx, types[0][1]).text
    assert "Merci" in click(ctx, off[1]).text
    (example,) = correction_examples(ctx.store)
    assert example.regions == ("Bretagne",) or list(example.regions) == ["Bretagne"]


def test_why_usage_unknown_and_overflowing_numbers(ctx: Ctx) -> None:
    assert "Usage : /why" in why.why(ctx, "").text
    assert "introuvable" in why.why(ctx, "999999").text
    huge = why.why(ctx, "12345678901234567890")
    assert "introuvable" in huge.text and len(huge.text) < 200


def test_a_correction_of_a_missing_item_is_refused(ctx: Ctx) -> None:
    assert "introuvable" in why.correct_off_topic(ctx, 999_999).text
    assert correction_examples(ctx.store) == []
