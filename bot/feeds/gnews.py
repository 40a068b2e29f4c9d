"""Google News article links -> the publisher's URL.

A Google News search feed links every item to news.google.com/rss/articles/<id>, not to the
article. Older ids carry the publisher's URL inside (a small protobuf message, base64url): they
are decoded here without any request. Newer ids ("AU_yqL..." inside) carry only a token: the
article's Google page gives a signature and a timestamp, and Google's batchexecute endpoint
trades them for the URL. Both requests go through our Fetcher (limits, timeouts, body cap).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bot.errors import ParseError
from bot.feeds.fetcher import Fetcher

ARTICLE_PATHS = ("articles", "read")
BATCHEXECUTE_PATH = "/_/DotsSplashUi/data/batchexecute"
DEFAULT_LOCALE = {"hl": "fr", "gl": "FR", "ceid": "FR:fr"}
_SIGNATURE = re.compile(rb'data-n-a-sg="([^"]+)"')
_TIMESTAMP = re.compile(rb'data-n-a-ts="([^"]+)"')
# The fixed request context the web client sends with a "garturlreq" call.
_CONTEXT: list[Any] = [
    ["X", "X", ["X", "X"], None, None, 1, 1, "FR:fr", None, 1, None, None, None, None, None, 0, 1],
    "X",
    "X",
    1,
    [1, 1, 1],
    1,
    1,
    None,
    0,
    0,
    None,
    0,
]


class GoogleNewsError(ParseError):
    """A Google News link that could not be turned into the publisher's URL."""


def article_id(link: str | None, origin: str) -> str | None:
    """The article id of a Google News link on origin (e.g. https://news.google.com), or None."""
    if not link:
        return None
    try:
        parts, home = urlsplit(link), urlsplit(origin)
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or parts.netloc.lower() != home.netloc.lower():
        return None
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) >= 2 and segments[-2] in ARTICLE_PATHS and segments[-1]:
        return segments[-1]
    return None


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: enough of the wire format for these ids."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, value
        elif wire == 2:
            size, at = _varint(data, at)
            if at + size > len(data):
                raise ValueError("truncated field")
            yield number, data[at : at + size]
            at += size
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")


def decode_offline(art_id: str) -> str | None:
    """The publisher's URL when the id carries it; None when the id is a token (ask Google).

    Raises GoogleNewsError for an id that is not a Google News article id at all.
    """
    try:
        raw = base64.urlsafe_b64decode(art_id + "=" * (-len(art_id) % 4))
        fields = list(_fields(raw))
    except (ValueError, binascii.Error) as exc:
        raise GoogleNewsError(f"not a Google News article id: {art_id[:40]}") from exc
    for number, value in fields:
        if number == 4 and isinstance(value, bytes):
            text = value.decode("utf-8", "replace")
            if re.match(r"^https?://", text):
                return text
            if text.startswith("AU_yq"):
                return None
    raise GoogleNewsError(f"no URL nor token in Google News id {art_id[:40]}")


def parse_signature(page: bytes) -> tuple[str, str]:
    """The (signature, timestamp) an article's Google page carries for the batchexecute call."""
    sig, ts = _SIGNATURE.search(page), _TIMESTAMP.search(page)
    if not sig or not ts:
        raise GoogleNewsError("the Google News article page has no signature")
    return sig.group(1).decode("ascii", "replace"), ts.group(1).decode("ascii", "replace")


def batchexecute_form(art_id: str, timestamp: str, signature: str) -> dict[str, str]:
    """The form body that asks Google for the URL behind a token id."""
    call = ["garturlreq", _CONTEXT, art_id, int(timestamp) if timestamp.isdigit() else timestamp]
    call.append(signature)
    envelope = [[["Fbv4je", json.dumps(call, separators=(",", ":")), None, "generic"]]]
    return {"f.req": json.dumps(envelope, separators=(",", ":"))}


def parse_batchexecute(body: bytes) -> str:
    """The URL in a batchexecute answer (a JSON array after the )]}' guard, maybe chunked)."""
    text = body.decode("utf-8", "replace")
    if text.startswith(")]}'"):
        text = text[4:]
    candidates = [text.strip()] + [ln for ln in text.splitlines() if ln.lstrip().startswith("[")]
    for candidate in candidates:
        try:
            rows = json.loads(candidate)
        except ValueError:
            continue
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, list) and len(row) >= 3 and row[:2] == ["wrb.fr", "Fbv4je"]:
                try:
                    payload = json.loads(row[2]) if isinstance(row[2], str) else row[2]
                except ValueError:
                    continue
                if (
                    isinstance(payload, list)
                    and len(payload) >= 2
                    and payload[0] == "garturlres"
                    and isinstance(payload[1], str)
                    and re.match(r"^https?://", payload[1])
                ):
                    return payload[1]
    raise GoogleNewsError("no URL in Google's batchexecute answer")


async def resolve(fetcher: Fetcher, link: str, origin: str, *, now: datetime) -> str:
    """The publisher's URL behind a Google News link; GoogleNewsError or FetchError otherwise."""
    art_id = article_id(link, origin)
    if art_id is None:
        raise GoogleNewsError(f"not a Google News article link: {link}")
    offline = decode_offline(art_id)
    if offline is not None:
        return offline
    query = parse_qs(urlsplit(link).query)
    locale = {k: (query.get(k) or [v])[0] for k, v in DEFAULT_LOCALE.items()}
    page = await fetcher.fetch(f"{origin}/rss/articles/{art_id}?{urlencode(locale)}", now=now)
    signature, timestamp = parse_signature(page.body or b"")
    answer = await fetcher.fetch(
        origin + BATCHEXECUTE_PATH, form=batchexecute_form(art_id, timestamp, signature), now=now
    )
    return parse_batchexecute(answer.body or b"")
