"""Bytes in, items out: a pure feed parser over feedparser (never given a URL or a path)."""

from __future__ import annotations

import calendar
import gzip
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from bot.errors import ParseError
from bot.feeds import normalize as norm
from bot.feeds import rss_fast
from bot.store.rows import ParsedItem
from classifiers.text import MAX_TEXT_CHARS, html_to_text

# feedparser never sees a URL from us, but its fallback fetches nothing either way.
feedparser.RESOLVE_RELATIVE_URIS = False
feedparser.SANITIZE_HTML = False

SUMMARY_CHARS = 600
MAX_ITEMS = 2_000
MAX_GUNZIP = 20 * 1024 * 1024


@dataclass(frozen=True)
class ParsedFeed:
    """What a feed document says: its metadata and normalised items."""

    title: str
    link: str | None
    language: str | None
    format: str
    items: tuple[ParsedItem, ...]
    bozo: bool = False
    warning: str | None = None
    skipped: int = 0


def _maybe_gunzip(body: bytes) -> bytes:
    """A gzip body served without Content-Encoding is unpacked (with a size cap)."""
    if body[:2] != b"\x1f\x8b":
        return body
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(body, MAX_GUNZIP)
        return out
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise ParseError(f"body is gzip data that cannot be unpacked: {exc}") from exc


def _struct_to_dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _entry_date(entry: Any, now: datetime) -> tuple[datetime, bool]:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = norm.plausible_date(_struct_to_dt(entry.get(key)), now)
        if value is not None:
            return value, False
    for key in ("published", "updated", "created", "date"):
        value = norm.plausible_date(norm.parse_french_date(entry.get(key)), now)
        if value is not None:
            return value, False
    return now, True


def _content_html(entry: Any) -> tuple[str, bool]:
    """The richest body of the entry and whether it is HTML."""
    best, is_html = "", True
    for part in entry.get("content") or []:
        value = part.get("value") or ""
        if len(value) > len(best):
            best, is_html = value, "html" in (part.get("type") or "html")
    return best, is_html


def _to_text(value: str, is_html: bool) -> str:
    return html_to_text(value) if is_html else norm.shorten(value, MAX_TEXT_CHARS)


def _enclosure(entry: Any) -> str | None:
    for enc in entry.get("enclosures") or []:
        href = enc.get("href")
        if href:
            return str(href)
    return None


def _feedparser(
    body: bytes, content_type: str | None
) -> tuple[Any, list[Any], str, bool, str | None]:
    headers = {"content-type": content_type} if content_type else {}
    try:
        doc = feedparser.parse(
            body,
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser can raise odd errors on hostile input
        raise ParseError(f"feed parser failed: {type(exc).__name__}: {exc}") from exc
    bozo = bool(doc.get("bozo"))
    bozo_msg = str(doc.get("bozo_exception")) if bozo else None
    return doc.get("feed") or {}, doc.get("entries") or [], doc.get("version") or "", bozo, bozo_msg


def parse_feed(
    body: bytes,
    *,
    now: datetime,
    content_type: str | None = None,
    language: str | None = None,
    use_fast_path: bool = True,
) -> ParsedFeed:
    """Parse a feed document from bytes; raise ParseError when it is not a feed at all.

    Plain UTF-8 RSS 2.0 goes through rss_fast (same values, a tenth of the time); everything
    else, and everything when use_fast_path is False, through feedparser.
    """
    if not body or not body.strip():
        raise ParseError("empty body")
    body = _maybe_gunzip(body)
    fast = rss_fast.read(body, content_type) if use_fast_path else None
    if fast is not None:
        feed_meta, entries = fast
        version, bozo, bozo_msg = "rss20", False, None
    else:
        feed_meta, entries, version, bozo, bozo_msg = _feedparser(body, content_type)
    if not entries and not version:
        head = body[:512].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
            raise ParseError("not a feed: the server sent an HTML page")
        raise ParseError(f"not a feed: {bozo_msg or 'no RSS or Atom element found'}")
    feed_lang = language or feed_meta.get("language") or None
    items = _normalise_entries(entries[:MAX_ITEMS], now=now, language=feed_lang)
    return ParsedFeed(
        title=html_to_text(feed_meta.get("title") or "")[:300],
        link=feed_meta.get("link"),
        language=feed_lang,
        format=version or "unknown",
        items=tuple(items),
        bozo=bozo,
        warning=bozo_msg,
        skipped=max(0, len(entries) - MAX_ITEMS),
    )


def _normalise_entries(
    entries: list[Any], *, now: datetime, language: str | None
) -> list[ParsedItem]:
    canonicals = [norm.canonical_url(e.get("link")) for e in entries]
    links = Counter(canonicals)
    guids = Counter(e.get("id") for e in entries)
    items: list[ParsedItem] = []
    seen: set[str] = set()
    for entry, canonical in zip(entries, canonicals, strict=True):
        title = html_to_text(entry.get("title") or "")[:500]
        content_html, content_is_html = _content_html(entry)
        summary_html = entry.get("summary") or ""
        summary_detail = entry.get("summary_detail") or {}
        summary_is_html = "html" in (summary_detail.get("type") or "html")
        content = _to_text(content_html, content_is_html)
        summary_full = _to_text(summary_html, summary_is_html) if summary_html else content
        summary = norm.shorten(summary_full or content, SUMMARY_CHARS)
        if not content and len(summary_full) > len(summary):
            content = summary_full
        link = entry.get("link") or None
        guid = (entry.get("id") or "").strip() or None
        enclosure = _enclosure(entry)
        published, fallback = _entry_date(entry, now)
        # Some feeds give every item the same link or guid: fall back to a content hash.
        digest = norm.content_hash(title, summary_full[:2000], enclosure)
        if guid and guids[guid] == 1:
            key = "guid:" + guid[:400]
        elif canonical and links[canonical] == 1:
            key = "link:" + canonical[:400]
        else:
            key = "hash:" + digest
        if not title and not summary and not link:
            continue
        if key in seen:
            continue
        seen.add(key)
        items.append(
            ParsedItem(
                dedup_key=key,
                guid=guid,
                link=link,
                canonical_link=canonical,
                title=title or norm.shorten(summary, 120) or (link or ""),
                summary=summary,
                content=content,
                author=(entry.get("author") or None) and str(entry.get("author"))[:200],
                published_at=published,
                date_is_fallback=fallback,
                language=entry.get("language") or language,
                title_key=norm.title_key(title),
                enclosure_url=enclosure,
            )
        )
    return items
