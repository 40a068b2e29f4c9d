"""OPML import into feeds.yaml (appended, comments kept) and export from it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from bot.config import FeedConfig, load_feeds
from bot.errors import ConfigError
from classifiers.text import slugify


def read_opml(path: Path) -> list[tuple[str, str]]:
    """(title, xmlUrl) of every feed outline of an OPML file."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise ConfigError(f"{path}: not a readable OPML file: {exc}") from exc
    out = []
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        if url:
            out.append((outline.get("title") or outline.get("text") or url, url.strip()))
    return out


def import_into_yaml(opml_path: Path, feeds_path: Path) -> list[str]:
    """Append the OPML's feeds that are not yet in feeds_path; return their new ids."""
    existing = load_feeds(feeds_path).feeds if feeds_path.exists() else ()
    taken = {f.id for f in existing}
    urls = {f.url for f in existing}
    lines: list[str] = []
    added: list[str] = []
    for title, url in read_opml(opml_path):
        if url in urls or not re.match(r"^https?://", url):
            continue
        urls.add(url)
        feed_id = slugify(title, max_len=48, taken=taken)
        taken.add(feed_id)
        added.append(feed_id)
        name = title.replace('"', "'")
        lines += [
            f"  - id: {feed_id}",
            f'    name: "{name}"',
            f'    url: "{url}"',
            "    language: fr",
            "    enabled: true",
        ]
    if lines:
        text = feeds_path.read_text(encoding="utf-8") if feeds_path.exists() else "feeds:\n"
        if not text.endswith("\n"):
            text += "\n"
        text += f"  # imported from {opml_path.name}\n" + "\n".join(lines) + "\n"
        feeds_path.write_text(text, encoding="utf-8")
        load_feeds(feeds_path)  # fail loudly if the result does not validate
    return added


def export(feeds: Iterable[FeedConfig]) -> str:
    """An OPML 2.0 document listing the feeds."""
    return document("Veille feeds", [(f.name, f.url, None) for f in feeds])


def document(title: str, outlines: Iterable[tuple[str, str, str | None]]) -> str:
    """An OPML 2.0 document of (name, feed URL, optional web page URL) outlines."""
    body = "\n".join(
        f'    <outline type="rss" text={quoteattr(name)} title={quoteattr(name)} '
        f"xmlUrl={quoteattr(url)}" + (f" htmlUrl={quoteattr(html)}" if html else "") + "/>"
        for name, url, html in outlines
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">\n'
        f"  <head><title>{escape(title)}</title></head>\n  <body>\n{body}\n  </body>\n</opml>\n"
    )
