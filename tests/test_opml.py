"""OPML import into feeds.yaml (appended, comments kept) and export from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import FeedConfig, load_feeds
from bot.errors import ConfigError
from bot.feeds.opml import export, import_into_yaml, read_opml

OPML = """<?xml version="1.0"?>
<opml version="2.0"><head><title>x</title></head><body>
  <outline text="Tech">
    <outline type="rss" text="L'Usine Digitale" xmlUrl="https://www.usine-digitale.fr/rss"/>
    <outline type="rss" title="Région Bretagne" xmlUrl="https://www.bretagne.bzh/feed/"/>
    <outline type="rss" text="Pas http" xmlUrl="ftp://example.org/feed"/>
    <outline type="rss" text="Sans titre &amp; &lt;tags&gt;" xmlUrl=" https://example.org/a.xml "/>
  </outline>
</body></opml>
"""


def test_read_opml_lists_feed_outlines(tmp_path: Path) -> None:
    path = tmp_path / "in.opml"
    path.write_text(OPML, encoding="utf-8")
    assert read_opml(path) == [
        ("L'Usine Digitale", "https://www.usine-digitale.fr/rss"),
        ("Région Bretagne", "https://www.bretagne.bzh/feed/"),
        ("Pas http", "ftp://example.org/feed"),
        ("Sans titre & <tags>", "https://example.org/a.xml"),
    ]


def test_import_appends_new_feeds_keeps_comments_and_skips_known_urls(tmp_path: Path) -> None:
    opml, feeds = tmp_path / "in.opml", tmp_path / "feeds.yaml"
    opml.write_text(OPML, encoding="utf-8")
    feeds.write_text(
        "# my feeds\nfeeds:\n  - id: usine\n    name: Usine\n"
        "    url: https://www.usine-digitale.fr/rss\n",
        encoding="utf-8",
    )
    added = import_into_yaml(opml, feeds)
    assert added == ["region-bretagne", "sans-titre-tags"]
    text = feeds.read_text(encoding="utf-8")
    assert text.startswith("# my feeds") and "# imported from in.opml" in text
    assert [f.id for f in load_feeds(feeds).feeds] == [
        "usine",
        "region-bretagne",
        "sans-titre-tags",
    ]
    assert import_into_yaml(opml, feeds) == []


def test_import_into_a_missing_file_creates_it(tmp_path: Path) -> None:
    opml, feeds = tmp_path / "in.opml", tmp_path / "new.yaml"
    opml.write_text(OPML, encoding="utf-8")
    assert len(import_into_yaml(opml, feeds)) == 3 and len(load_feeds(feeds).feeds) == 3


def test_an_unreadable_opml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.opml"
    bad.write_text("<opml><body>", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.opml"):
        read_opml(bad)


def test_export_escapes_names_and_round_trips(tmp_path: Path) -> None:
    feeds = [
        FeedConfig(id="a", name='A & "B" <c>', url="https://example.org/?a=1&b=2"),
        FeedConfig(id="b", name="Région", url="https://example.org/b"),
    ]
    document = export(feeds)
    assert "&amp;" in document and "&lt;c&gt;" in document
    path = tmp_path / "out.opml"
    path.write_text(document, encoding="utf-8")
    assert read_opml(path) == [(f.name, f.url) for f in feeds]
