"""Every command function through its plain interface: a Ctx and an argument in, a Reply out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands import ask, chat, lookups, why
from bot.commands.callbacks import MAX_BYTES
from bot.commands.reply import Ctx, Reply
from bot.commands.routes import decode_button, press
from bot.query.parse import resolve_type
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
    reply = well_formed(ask.region(ctx, "HDF"))
    assert (
        "Hauts-de-France" in reply.text and "numéro 0" in reply.text and "Rennes" not in reply.text
    )
    (more,) = buttons(reply)
    page2 = click(ctx, more[1])
    assert "page 2" in page2.text and "numéro 9" in page2.text


def test_region_unknown_suggests_regions_as_buttons(ctx: Ctx) -> None:
    reply = well_formed(ask.region(ctx, "Bretagn"))
    assert "Région inconnue" in reply.text
    suggested = buttons(reply)
    assert suggested and all(data.startswith("rg:") for _, data in suggested)
    assert "Rennes" in click(ctx, suggested[0][1]).text


def test_region_without_argument_explains_usage(ctx: Ctx) -> None:
    assert "Usage : /region" in ask.region(ctx, "  ").text


def test_type_by_french_name_without_accents(ctx: Ctx) -> None:
    assert resolve_type("Évènement".replace("È", "e")) in {"event", None}
    assert resolve_type("financement") == "funding"
    assert resolve_type("STRATEGIE") == "strategy"
    reply = well_formed(ask.type_(ctx, "recherche"))
    assert "Rennes" in reply.text


def test_type_unknown_and_usage_list_the_types(ctx: Ctx) -> None:
    assert "Type inconnu" in ask.type_(ctx, "cuisine").text
    assert "Financement" in ask.type_(ctx, "").text or "financement" in ask.type_(ctx, "").text


def test_search_finds_words_and_pages_with_the_query_in_the_button(ctx: Ctx) -> None:
    reply = well_formed(ask.search(ctx, "jumeau numérique"))
    assert "numéro" in reply.text
    (more,) = buttons(reply)
    assert "jumeau · numérique" in click(ctx, more[1]).text


def test_search_nothing_found_and_usage(ctx: Ctx) -> None:
    assert "Aucun article ne correspond" in ask.search(ctx, "blockchain").text
    assert "Usage : /search" in ask.search(ctx, "").text


def test_a_long_search_keeps_its_page_button_under_64_bytes(ctx: Ctx) -> None:
    query = "numérique " * 40
    reply = ask.search(ctx, "métropole " + query)
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


# ---- the chat ------------------------------------------------------------------------------


def test_lang_and_stop(ctx: Ctx) -> None:
    assert chat.lang(ctx, "en").text == "Language: English."
    stored = ctx.chats.get(CHAT)
    assert stored is not None and stored.language == "en"
    assert "effacées" in chat.stop(ctx).text
    assert ctx.chats.get(CHAT) is None


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
    assert [text for text, _ in regions] == [
        *REGIONS,
        "🇫🇷 National",
        "Aucune région",
        "✖ Annuler",
    ]
    assert "Pourquoi ces étiquettes" in click(ctx, dict(regions)["✖ Annuler"]).text
    assert correction_examples(ctx.store) == []
    fixed = click(ctx, dict(regions)["Bretagne"]).text
    assert "Merci" in fixed and "📍 Bretagne" in fixed and "corrigé par un utilisateur" in fixed
    types = buttons(click(ctx, fix_type[1]))
    assert len(types) == len(TYPES) + 1
    assert "Merci" in click(ctx, types[0][1]).text
    assert "Merci" in click(ctx, off[1]).text
    (example,) = correction_examples(ctx.store)
    assert example.regions == ("Bretagne",) or list(example.regions) == ["Bretagne"]
    none = click(ctx, dict(regions)["Aucune région"]).text
    assert "📍 Aucune région ← ✏️ corrigé par un utilisateur" in none
    [stored] = ctx.store.recent_items(ids=[item], topic_only=False)
    assert (stored.regions, stored.national, stored.topic_ai) == ((), False, False)


def test_why_evidence_reads_as_the_text_was_written() -> None:
    text = (
        "La Région Bretagne lance un appel à projets de 2 M€ pour les PME d'Île-de-France en 2026."
    )
    cues = ["appel", "appel projets", "un appel", "region", "la region", "pme", "ile de", "m0"]
    assert why.readable(cues, text) == [
        "un appel à projets",
        "La Région",
        "PME",
        "Île-de",
        "m0",  # a cue the text does not hold as words is shown as it is
    ]
    assert why.readable(["jamais vu"], text) == ["jamais vu"]  # not in the text: as it is
    assert why.readable([], text) == []


def test_why_usage_unknown_and_overflowing_numbers(ctx: Ctx) -> None:
    assert "Usage : /why" in why.why(ctx, "").text
    assert "introuvable" in why.why(ctx, "999999").text
    huge = why.why(ctx, "12345678901234567890")
    assert "introuvable" in huge.text and len(huge.text) < 200


def test_a_correction_of_a_missing_item_is_refused(ctx: Ctx) -> None:
    assert "introuvable" in why.correct_off_topic(ctx, 999_999).text
    assert correction_examples(ctx.store) == []
