"""classifiers/text.py: the one accent fold, HTML-to-text and slug builder of the project."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from classifiers.text import (
    LATIN_FOLD,
    fold_key,
    fold_words,
    html_to_text,
    page_parts,
    slugify,
    strip_accents,
    translate_non_ascii,
    visible_text,
)


def _nfkd(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def test_the_fold_table_agrees_with_unicode_decomposition() -> None:
    for code, base in LATIN_FOLD.items():
        if chr(code) not in "œŒæÆß":
            assert _nfkd(chr(code)) == base


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Île-de-France", "Ile-de-France"),
        ("Cœur d’Œuvre", "Coeur d’OEuvre"),
        ("Straße", "Strasse"),
        ("ǅemal ﬁn", "Dzemal fin"),
        ("plain", "plain"),
    ],
)
def test_strip_accents_keeps_case_and_other_characters(raw: str, expected: str) -> None:
    assert strip_accents(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "plain ascii 2026", "Île-de-France, l’État « à Brest » œuvre…", "日本 Ærø ǅ", "éé ee éé"],
)
def test_translate_non_ascii_is_str_translate(raw: str) -> None:
    table = {**LATIN_FOLD, ord("’"): "'", ord("…"): "."}
    assert translate_non_ascii(raw, table) == raw.translate(table)


def test_fold_key_is_words_only() -> None:
    assert fold_key("Île-de-France : l’été… «IA»\u00a0!") == "ile de france l ete ia"
    assert fold_key("Ελλάδα 2025") == "2025"  # other scripts are separators in a key


def test_slugs_are_unique_and_short() -> None:
    assert slugify("Le Monde — Pixels !", max_len=40) == "le-monde-pixels"
    assert slugify("Le Monde", taken={"le-monde", "le-monde-2"}) == "le-monde-3"
    assert slugify("!!!") == "feed"
    assert len(slugify("mot " * 50, max_len=40)) <= 40
    assert not slugify("a" * 39 + " b", max_len=40).endswith("-")


def test_html_to_text_of_a_feed_fragment() -> None:
    html = "<p>Bonjour <b>le</b>   monde</p><script>x()</script><ul><li>un</li><li>deux</li></ul>"
    assert html_to_text(html) == "Bonjour le monde\nun\ndeux"


def test_html_to_text_options_keep_layout_and_choose_tags() -> None:
    html = "<nav>Menu</nav><p>Texte  long</p>"
    assert html_to_text(html, dropped="nav", blocks="p", fold_spaces=False) == "\nTexte  long"


def test_visible_text_of_telegram_html() -> None:
    html = '<b>Titre</b>\n  <i>source · <a href="https://x.org">lien</a></i><br>&lt;script&gt;&amp;'
    assert visible_text(html) == "Titre\n  source · lien\n<script>&"


def test_page_parts_finds_the_headline_and_the_article() -> None:
    title, body = page_parts(
        "<html><head><title>Site</title></head><body><nav>x</nav>"
        "<article><h1>Le titre</h1><p>Corps</p></article></body></html>"
    )
    assert title == "Le titre" and body.startswith("<article>")


@pytest.mark.parametrize(
    "text",
    ["Jumeaux NUMÉRIQUES, l’État & la Région", "n°12-3 — Œuvre « x »", "Ωmega 中文 ﬁn", "", "  "],
)
def test_fold_words_are_the_words_of_fold_key(text: str) -> None:
    assert fold_words(text) == fold_key(text).split()


@given(st.text())
def test_fold_words_are_the_words_of_fold_key_whatever_the_text(text: str) -> None:
    assert fold_words(text) == fold_key(text).split()


@given(st.text())
def test_strip_accents_decomposes_as_nfkd_of_the_whole_text(text: str) -> None:
    """strip_accents decomposes only the non-ASCII runs left after the Latin table: the same
    as decomposing the whole text."""
    folded = translate_non_ascii(text, LATIN_FOLD)
    whole = unicodedata.normalize("NFKD", folded)
    assert strip_accents(text) == "".join(c for c in whole if not unicodedata.combining(c))
