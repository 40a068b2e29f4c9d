"""Pure normalisation helpers: canonical URLs, HTML to text, title keys, French dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.feeds.normalize import (
    canonical_url,
    content_hash,
    parse_french_date,
    plausible_date,
    shorten,
    title_key,
)
from classifiers.text import fold_key, html_to_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "https://example.org/a?utm_source=rss&utm_medium=feed&utm_campaign=x",
            "https://example.org/a",
        ),
        (
            "http://www.lemonde.fr/article_1.html?xtor=RSS-3208",
            "http://www.lemonde.fr/article_1.html",
        ),
        ("https://example.org/a?fbclid=IwAR0abc&id=7", "https://example.org/a?id=7"),
        ("https://example.org/a?id=7&utm_source=x&page=2", "https://example.org/a?id=7&page=2"),
        ("HTTPS://WWW.Example.ORG/Path/Case", "https://www.example.org/Path/Case"),
        ("https://example.org/a#comments", "https://example.org/a"),
        ("https://example.org:443/a", "https://example.org/a"),
        ("http://example.org:80/a", "http://example.org/a"),
        ("http://example.org:8080/a", "http://example.org:8080/a"),
        ("http://example.org", "http://example.org/"),
        ("  https://example.org/a  ", "https://example.org/a"),
    ],
)
def test_canonical_url(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


def test_canonical_url_keeps_param_order_and_blank_values() -> None:
    assert canonical_url("https://e.org/s?b=2&a=1&empty=") == "https://e.org/s?b=2&a=1&empty="


def test_canonical_url_makes_tracked_variants_equal() -> None:
    a = canonical_url("https://Example.org/story?utm_source=twitter#top")
    b = canonical_url("https://example.org/story?xtor=RSS-1&fbclid=abc")
    assert a == b == "https://example.org/story"


@pytest.mark.parametrize("raw", [None, ""])
def test_canonical_url_of_nothing_is_none(raw: str | None) -> None:
    assert canonical_url(raw) is None


@pytest.mark.parametrize("raw", ["mailto:someone@example.org", "urn:uuid:1234", "/relative/path"])
def test_canonical_url_leaves_non_http_alone(raw: str) -> None:
    assert canonical_url(raw) == raw


def test_html_to_text_drops_scripts_and_keeps_blocks() -> None:
    html = (
        "<p>Bonjour&nbsp;le <b>monde</b></p><script>alert('x')</script>"
        "<style>p { color: red }</style><ul><li>un</li><li>deux</li></ul>"
    )
    assert html_to_text(html) == "Bonjour le monde\nun\ndeux"


def test_html_to_text_decodes_entities_and_folds_spaces() -> None:
    assert html_to_text("R&amp;D &eacute;t&#233; &laquo;IA&raquo;") == "R&D été «IA»"
    assert html_to_text("plain   text\n\n\n  here ") == "plain text\nhere"


@pytest.mark.parametrize("raw", [None, ""])
def test_html_to_text_of_nothing_is_empty(raw: str | None) -> None:
    assert html_to_text(raw) == ""


def test_html_to_text_respects_limit() -> None:
    assert len(html_to_text("<p>" + "mot " * 1000 + "</p>", limit=50)) <= 50


def test_shorten_cuts_at_a_word() -> None:
    assert shorten("un deux trois quatre cinq", 12) == "un deux…"
    assert shorten("court", 12) == "court"


def test_fold_key_removes_accents_and_punctuation() -> None:
    assert fold_key("Île-de-France : l’été") == "ile de france l ete"


def test_title_key_ignores_case_accents_and_punctuation() -> None:
    a = title_key("Le Grand Est lance un appel à projets IA")
    b = title_key("LE GRAND-EST lance un appel a projets, IA !")
    assert a is not None
    assert a == b
    assert title_key("Un autre titre qui parle d'autre chose") != a


@pytest.mark.parametrize("title", ["Court titre", "", "Actualités", "IA IA IA IA"])
def test_title_key_is_none_for_short_titles(title: str) -> None:
    assert title_key(title) is None


def test_content_hash_is_stable_and_separates_parts() -> None:
    assert content_hash("a", "b") == content_hash("a", "b")
    assert content_hash("ab", "") != content_hash("a", "b")
    assert content_hash("a", None) == content_hash("a", "")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("mar., 13 sept. 2022 16:41:30 +0000", datetime(2022, 9, 13, 16, 41, 30, tzinfo=UTC)),
        ("13 septembre 2022", datetime(2022, 9, 13, tzinfo=UTC)),
        ("lundi 3 août 2020", datetime(2020, 8, 3, tzinfo=UTC)),
        ("5 févr. 2021 à 10h30", datetime(2021, 2, 5, 10, 30, tzinfo=UTC)),
        ("12 décembre 2020 08:00 +0200", datetime(2020, 12, 12, 6, 0, tzinfo=UTC)),
        ("1er mai 2023", datetime(2023, 5, 1, tzinfo=UTC)),
        ("jeudi 1er janvier 2026 à 9h05", datetime(2026, 1, 1, 9, 5, tzinfo=UTC)),
        ("Publié le 7 juil. 2024 à 18:20 GMT", datetime(2024, 7, 7, 18, 20, tzinfo=UTC)),
    ],
)
def test_parse_french_date(raw: str, expected: datetime) -> None:
    assert parse_french_date(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "hier", "31 février 2020", "13 brumaire 2022"])
def test_parse_french_date_rejects_nonsense(raw: str | None) -> None:
    assert parse_french_date(raw) is None


def test_plausible_date_rejects_future_and_ancient() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert plausible_date(now - timedelta(days=3), now) == now - timedelta(days=3)
    assert plausible_date(now + timedelta(hours=12), now) is not None
    assert plausible_date(now + timedelta(days=2), now) is None
    assert plausible_date(datetime(1970, 1, 1, tzinfo=UTC), now) is None
    assert plausible_date(None, now) is None
