"""parse_feed on the 42 real and hostile samples of tests/fixtures/feeds (bytes in, items out)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import ParseError
from bot.feeds.parser import ParsedFeed, parse_feed
from tests.conftest import FEED_FILES, NOW

ALL_FILES = sorted(FEED_FILES.glob("*/*.xml"))


def parse(name: str) -> ParsedFeed:
    """Parse one fixture file, e.g. 'real/en_no_guid.rss.xml'."""
    return parse_feed((FEED_FILES / name).read_bytes(), now=NOW)


def test_all_fixture_files_are_present() -> None:
    assert len(ALL_FILES) == 42
    assert len(list((FEED_FILES / "real").glob("*.xml"))) == 22
    assert len(list((FEED_FILES / "hostile").glob("*.xml"))) == 20
    assert (FEED_FILES / "SOURCES.md").is_file()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_file_parses_or_raises_parse_error(path: Path) -> None:
    try:
        feed = parse_feed(path.read_bytes(), now=NOW)
    except ParseError as exc:
        assert str(exc)
        return
    keys = [item.dedup_key for item in feed.items]
    assert len(keys) == len(set(keys))
    for item in feed.items:
        assert item.title
        assert item.published_at.tzinfo is not None
        assert item.published_at <= NOW.replace(day=15)
        assert len(item.summary) <= 601


@pytest.mark.timeout(20)
@pytest.mark.parametrize("path", sorted(FEED_FILES.glob("real/*.xml")), ids=lambda p: p.name)
def test_every_real_feed_gives_items(path: Path) -> None:
    assert parse_feed(path.read_bytes(), now=NOW).items


def test_commitstrip_french_dates_are_parsed() -> None:
    feed = parse("real/en_commitstrip_bom_crlf.rss.xml")
    assert len(feed.items) == 3
    first = feed.items[0]
    assert not first.date_is_fallback
    assert first.published_at == datetime(2022, 9, 13, 16, 41, 30, tzinfo=UTC)
    assert all(not item.date_is_fallback for item in feed.items)


def test_podcast_items_sharing_one_link_get_distinct_keys() -> None:
    feed = parse("real/fr_rsr_capsule_podcast.rss.xml")
    assert len(feed.items) == 15
    assert {item.link for item in feed.items} == {"http://www.rsr.ch/capsule"}
    assert all(item.guid is None for item in feed.items)
    assert len({item.dedup_key for item in feed.items}) == 15
    assert all(item.dedup_key.startswith("hash:") for item in feed.items)
    assert all(item.enclosure_url and item.enclosure_url.endswith(".mp3") for item in feed.items)


def test_feed_without_guids_dedups_by_link() -> None:
    feed = parse("real/en_no_guid.rss.xml")
    assert len(feed.items) == 11
    assert all(item.guid is None for item in feed.items)
    by_link = [item for item in feed.items if item.dedup_key.startswith("link:")]
    assert by_link
    for item in by_link:
        assert item.dedup_key == f"link:{item.canonical_link}"


def test_same_bytes_give_same_keys() -> None:
    first = parse("real/en_no_guid.rss.xml")
    again = parse("real/en_no_guid.rss.xml")
    assert [i.dedup_key for i in first.items] == [i.dedup_key for i in again.items]


def test_lemonde_links_lose_the_xtor_tracker() -> None:
    feed = parse("real/fr_lemonde_une_2018.rss.xml")
    assert len(feed.items) == 21
    assert all("xtor=" in (item.link or "") for item in feed.items)
    assert all(item.canonical_link and "xtor" not in item.canonical_link for item in feed.items)
    assert all(item.dedup_key.startswith("guid:http://www.lemonde.fr/tiny/") for item in feed.items)
    assert "’" in feed.items[0].title


def test_undeclared_latin1_decodes_accents() -> None:
    feed = parse("real/fr_cercle_psy_iso8859-1_nodecl.rss.xml")
    titles = [item.title for item in feed.items]
    assert "Migrants : l'urgence thérapeutique" in titles
    assert any("modèles européens" in t for t in titles)
    assert not any("\ufffd" in t or "Ã" in t for t in titles)
    # the one item with an empty title, link and description is dropped
    assert len(feed.items) == 9


def test_empty_document_raises_parse_error() -> None:
    with pytest.raises(ParseError, match="not a feed"):
        parse("hostile/fp_illformed_empty_document.xml")


@pytest.mark.parametrize("body", [b"", b"   \r\n  "])
def test_blank_body_raises_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError, match="empty"):
        parse_feed(body, now=NOW)


def test_html_page_is_not_a_feed() -> None:
    page = b"<!DOCTYPE html><html><head><title>Accueil</title></head><body>Bonjour</body></html>"
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed(page, now=NOW, content_type="text/html")


@pytest.mark.timeout(20)
def test_large_podcast_gives_all_730_items() -> None:
    feed = parse("real/en_giantbomb_podcast_large.rss.xml")
    assert len(feed.items) == 730
    assert feed.skipped == 0
    assert all(item.enclosure_url for item in feed.items)


def test_sanitize_case_keeps_no_script() -> None:
    feed = parse("hostile/fp_sanitize_crazy_html.xml")
    assert len(feed.items) == 1
    item = feed.items[0]
    for text in (item.title, item.summary, item.content):
        assert "<script" not in text.lower()
        assert "executeMe" not in text
        assert "alert(" not in text
    assert "Did The Javascript Execute?" in item.content


@pytest.mark.timeout(20)
def test_raw_gzip_body_is_unpacked() -> None:
    raw = (FEED_FILES / "hostile/nfp_raw_gzip_body_invalid_chars.xml").read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    feed = parse_feed(raw, now=NOW)
    assert feed.items
    assert feed.format == "rss20"


def test_broken_gzip_body_raises_parse_error() -> None:
    with pytest.raises(ParseError, match="gzip"):
        parse_feed(b"\x1f\x8b\x08\x00garbage-not-deflate", now=NOW)


def test_latin1_and_cyrillic_and_chinese_feeds_decode() -> None:
    golem = parse("real/de_golem_iso8859-1.rss.xml")
    assert any(ch in item.title for item in golem.items for ch in "äöüÄÖÜß")
    russian = parse("real/ru_windows-1251.rss.xml")
    assert all(any("\u0400" <= ch <= "\u04ff" for ch in item.title) for item in russian.items)
    chinese = parse("real/zh_kc0011_gb2312.rss.xml")
    assert any("\u4e00" <= ch <= "\u9fff" for item in chinese.items for ch in item.title)


def test_atom_entries_use_content_when_there_is_no_summary() -> None:
    feed = parse("real/fr_carnet_de_flus.atom.xml")
    assert feed.format == "atom10"
    assert len(feed.items) == 10
    assert all(item.summary and item.content for item in feed.items)
    assert all("<" not in item.summary for item in feed.items)


def test_rdf_feed_is_read() -> None:
    feed = parse("real/en_slashdot_rss10_iso8859-1.rdf.xml")
    assert feed.format == "rss10"
    assert len(feed.items) == 15


def test_spip_dc_date_is_used() -> None:
    feed = parse("real/fr_nota_bene_spip.rss.xml")
    assert len(feed.items) == 3
    assert not any(item.date_is_fallback for item in feed.items)


def test_numeric_entities_become_accents() -> None:
    feed = parse("real/fr_reporterre_spip_dcdate.rss.xml")
    assert "&#" not in feed.items[0].summary
    assert "é" in feed.items[0].summary + feed.items[0].title


def test_leading_whitespace_before_xml_declaration_is_tolerated() -> None:
    feed = parse("real/fr_sudweb_vimeo_leading_ws.rss.xml")
    assert feed.bozo
    assert len(feed.items) == 25
    # every title is empty in the source: the item falls back to its summary or link
    assert all(item.title for item in feed.items)


def test_misparsed_or_future_dates_fall_back_to_now() -> None:
    early = datetime(2019, 1, 1, tzinfo=UTC)
    feed = parse_feed((FEED_FILES / "real/zh_kc0011_gb2312.rss.xml").read_bytes(), now=early)
    assert all(item.published_at <= early for item in feed.items)


def test_external_entities_are_not_expanded() -> None:
    feed = parse("hostile/fp_doctype_external_param_entity.xml")
    assert feed.items == ()


def test_feed_language_is_kept_and_can_be_overridden() -> None:
    framablog = parse("real/fr_framablog_wordpress.rss.xml")
    assert framablog.language == "fr-FR"
    forced = parse_feed(
        (FEED_FILES / "real/en_no_guid.rss.xml").read_bytes(), now=NOW, language="en"
    )
    assert all(item.language == "en" for item in forced.items)
