"""The RSS 2.0 fast path gives exactly what feedparser gives, or stands aside.

Each sample is parsed twice, through rss_fast and through feedparser alone; the ParsedFeeds
(or the ParseErrors) must be equal. Variants cover the feedparser rules rss_fast reproduces.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ParseError
from bot.feeds import rss_fast
from bot.feeds.parser import parse_feed
from tests.conftest import FEED_FILES, NOW

RSS_CT = "application/rss+xml; charset=utf-8"

HEAD = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
    b'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">'
    b"<channel><title> Le fil &amp; co </title><link>https://ex.fr/?a=1&amp;b=2</link>"
    b'<atom:link href="https://ex.fr/feed" rel="self" type="application/rss+xml"/>'
    b"<language>fr</language><description>d</description>"
)
TAIL = b"</channel></rss>"

ITEMS = {
    "plain": b"<item><title>Un titre assez long pour la cle</title><link>https://ex.fr/a?"
    b"utm_source=x&amp;id=1</link><guid isPermaLink='false'>g-1</guid><pubDate>"
    b"Mon, 02 Sep 2024 10:00:00 +0200</pubDate><description>&lt;p&gt;Bonjour&amp;nbsp;"
    b": &lt;a href='/x'&gt;lien"
    b"&lt;/a&gt; &amp;amp; plus&lt;/p&gt;</description></item>",
    "guid_is_link": b"<item><guid>https://ex.fr/g2</guid><title> x </title></item>",
    "empty_link": b"<item><link></link><guid>https://ex.fr/g3</guid><title>y</title></item>",
    "link_after_guid": b"<item><guid>https://ex.fr/g4</guid><link>https://ex.fr/l4</link>"
    b"<title>z</title></item>",
    "cdata": b"<item><title><![CDATA[ <b>Gras</b> &eacute; ]]></title><description><![CDATA[<p>Un"
    b" &eacute;t&eacute;</p>]]></description><guid>https://ex.fr/g5</guid></item>",
    "content_only": b"<item><title>t</title><content:encoded><![CDATA[<p>Corps</p>]]>"
    b"</content:encoded><dc:creator>Marie (marie@ex.fr)</dc:creator></item>",
    "content_and_description": b"<item><title>t2</title><description>court</description>"
    b"<content:encoded>&lt;p&gt;long&lt;/p&gt;</content:encoded></item>",
    "enclosure": b"<item><title>pod</title><enclosure url='https://ex.fr/a.mp3' length='1' "
    b"type='audio/mpeg'/><category>c</category><comments>https://ex.fr/c</comments>"
    b"</item>",
    "bad_date": b"<item><title>d</title><pubDate>mar., 13 sept. 2022 16:41:30 +0000</pubDate>"
    b"</item>",
    "author_email": b"<item><title>a</title><author>jdoe@ex.fr (John Doe)</author></item>",
    "mojibake": "<item><title>Ã©tÃ© \u0092</title><link>https://ex.fr/&amp;x;</link></item>".encode(),
    "same_links": b"<item><title>one</title><link>https://ex.fr/same</link></item>"
    b"<item><title>two</title><link>https://ex.fr/same</link></item>",
    "whitespace_guid": b"<item><guid>  https://ex.fr/g9  </guid><title>w</title></item>",
}


def outcome(body: bytes, content_type: str | None, fast: bool) -> object:
    try:
        return parse_feed(body, now=NOW, content_type=content_type, use_fast_path=fast)
    except ParseError as exc:
        return ("ParseError", str(exc))


@pytest.mark.parametrize("content_type", [None, RSS_CT, "text/xml"])
@pytest.mark.parametrize("name", sorted(ITEMS))
def test_variant_matches_feedparser(name: str, content_type: str | None) -> None:
    body = HEAD + ITEMS[name] + TAIL
    assert outcome(body, content_type, True) == outcome(body, content_type, False)


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_variants_take_the_fast_path(name: str) -> None:
    assert rss_fast.read(HEAD + ITEMS[name] + TAIL, RSS_CT) is not None


@pytest.mark.parametrize("content_type", [None, RSS_CT])
@pytest.mark.parametrize(
    "path", sorted(FEED_FILES.glob("*/*.xml")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_sample_matches_feedparser(path: Path, content_type: str | None) -> None:
    body = path.read_bytes()
    assert outcome(body, content_type, True) == outcome(body, content_type, False)


@pytest.mark.parametrize(
    "body",
    [
        HEAD + b"<item><title>t</title><source url='https://o.fr'>O</source></item>" + TAIL,
        HEAD + b"<item><title>t</title><description><p>xhtml</p></description></item>" + TAIL,
        HEAD.replace(b"utf-8", b"iso-8859-1") + TAIL,
        b"<!DOCTYPE rss>" + HEAD + TAIL,
        HEAD.replace(b"<channel>", b"<channel xml:lang='fr'>") + TAIL,
        HEAD + b"<item><title>t</title>" + TAIL,
    ],
)
def test_unusual_documents_go_to_feedparser(body: bytes) -> None:
    assert rss_fast.read(body, RSS_CT) is None
