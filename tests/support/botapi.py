"""A fake Telegram Bot API server for tests and benchmarks.

The real python-telegram-bot library talks to it over HTTP on 127.0.0.1::

    with BotAPIServer() as server:
        bot = telegram.Bot(server.token, base_url=server.base_url,
                           base_file_url=server.base_file_url)
        ...
        server.user_message(42, "/start")
        server.wait_for(lambda sent: any(m["chat_id"] == 42 for m in sent))

The aiohttp server runs in its own thread with its own event loop, so both
synchronous and asynchronous tests (any event loop) can use it.  All state that
tests read (``sent``, ``calls``, ``edits`` ...) is protected by ``server.lock``;
the helpers ``wait_for`` / ``await_for`` / ``wait_until`` hand out snapshots.

Run manually with ``python -m tests.support.botapi --port 8081`` (see ``main``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import html
import json
import math
import re
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, TypeVar, cast

from aiohttp import web

__all__ = ["APIError", "BotAPIServer", "parse_html", "parse_markdown_v2", "utf16_len"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64

SEND_METHODS = frozenset({"sendmessage", "sendphoto", "senddocument"})
# Methods refused for a blocked chat (403).
WRITE_METHODS = SEND_METHODS | {
    "sendchataction",
    "editmessagetext",
    "editmessagecaption",
    "editmessagereplymarkup",
    "deletemessage",
}
# Methods refused for a migrated group (400 + migrate_to_chat_id).
CHAT_METHODS = WRITE_METHODS | {"getchat", "getchatmember", "getchatadministrators"}

DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


def utf16_len(s: str) -> int:
    """Length of ``s`` in UTF-16 code units (what Telegram counts)."""
    return len(s.encode("utf-16-le")) // 2


class APIError(Exception):
    """An error answer: ``{"ok": false, "error_code": code, "description": ...}``."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            out["parameters"] = self.parameters
        return out


class EntityParseError(ValueError):
    pass


_T = TypeVar("_T")


def _copy(obj: _T) -> _T:
    """Deep copy of a JSON-like value (results must not alias server state)."""
    return cast("_T", json.loads(json.dumps(obj)))


def _bad(description: str) -> APIError:
    return APIError(400, f"Bad Request: {description}")


# --------------------------------------------------------------------------------------------
# Text parsing (HTML / MarkdownV2) -> (visible text, entities with UTF-16 offsets)
# --------------------------------------------------------------------------------------------

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")


def _byte_offset(text: str, i: int) -> int:
    return len(text[:i].encode("utf-8"))


def _decode_entity(text: str, i: int) -> tuple[str, int] | None:
    m = _ENTITY_RE.match(text, i)
    if not m:
        return None
    if m.group(1) or m.group(2):
        cp = int(m.group(1), 10) if m.group(1) else int(m.group(2), 16)
        if cp == 0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
            return None
        return chr(cp), m.end() - i
    name = m.group(3)
    if name not in _NAMED_ENTITIES:
        return None
    return _NAMED_ENTITIES[name], m.end() - i


class _Out:
    """Accumulates visible text, tracking the UTF-16 offset."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.u16 = 0

    def add(self, s: str) -> None:
        self.parts.append(s)
        self.u16 += utf16_len(s)

    def text(self) -> str:
        return "".join(self.parts)


def parse_html(text: str, *, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML like tdlib does.

    Raises EntityParseError with tdlib-like messages.  With ``strict`` (default) a bare
    ``&`` or an unknown entity such as ``&foo;`` is an error (real Telegram is lenient and
    keeps it literally, but it is almost always an escaping bug in the bot).
    """
    out = _Out()
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, dict[str, str]]] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            dec = _decode_entity(text, i)
            if dec is not None:
                out.add(dec[0])
                i += dec[1]
                continue
            if strict:
                m = re.match(r"&[#a-zA-Z0-9]*;?", text[i:])
                shown = m.group(0) if m else "&"
                raise EntityParseError(
                    f'Unsupported HTML entity "{shown}" at byte offset {_byte_offset(text, i)}; '
                    'use "&amp;" for a literal "&"'
                )
            out.add("&")
            i += 1
            continue
        if c != "<":
            out.add(c)
            i += 1
            continue
        begin = i
        boff = _byte_offset(text, begin)
        if i + 1 < n and text[i + 1] == "/":
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {boff}")
            j = text.find(">", i + 2)
            if j < 0:
                raise EntityParseError(f"Unclosed end tag at byte offset {boff}")
            name = text[i + 2 : j].strip().lower()
            expected = stack[-1][0]
            if name != expected:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {boff}, expected "</{expected}>", '
                    f'found "</{name}>"'
                )
            tag, start, tag_attrs = stack.pop()
            length = out.u16 - start
            if length > 0:
                ent = _html_entity(tag, start, length, tag_attrs, out.text())
                if ent is not None:
                    entities.append(ent)
            i = j + 1
            continue
        # start tag
        j = i + 1
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {boff}")
        name = text[i + 1 : j].lower()
        if name not in _HTML_TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {boff}')
        attrs: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {boff}")
            if text[j] == ">":
                j += 1
                break
            k = j
            while k < n and not text[k].isspace() and text[k] not in "=>":
                k += 1
            attr_name = text[j:k].lower()
            if not attr_name:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {boff}'
                )
            while k < n and text[k].isspace():
                k += 1
            value = ""
            if k < n and text[k] == "=":
                k += 1
                while k < n and text[k].isspace():
                    k += 1
                if k >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {boff}")
                if text[k] in "'\"":
                    q = text[k]
                    end = text.find(q, k + 1)
                    if end < 0:
                        raise EntityParseError(f"Unclosed start tag at byte offset {boff}")
                    value = html.unescape(text[k + 1 : end])
                    k = end + 1
                else:
                    end = k
                    while end < n and not text[end].isspace() and text[end] != ">":
                        end += 1
                    value = html.unescape(text[k:end])
                    k = end
            attrs[attr_name] = value
            j = k
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {boff}')
        stack.append((name, out.u16, attrs))
        i = j
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return out.text(), entities


def _html_entity(
    tag: str, offset: int, length: int, attrs: dict[str, str], visible: str
) -> dict[str, Any] | None:
    etype = _HTML_TAGS[tag]
    ent: dict[str, Any] = {"type": etype, "offset": offset, "length": length}
    if tag == "a":
        url = attrs.get("href", "")
        if not url:
            return None  # tdlib silently drops links it can't use
        ent["url"] = url
    elif tag == "blockquote" and "expandable" in attrs:
        ent["type"] = "expandable_blockquote"
    elif tag == "code" and attrs.get("class", "").startswith("language-"):
        ent["language"] = attrs["class"][len("language-") :]
    elif tag == "tg-emoji":
        ent["custom_emoji_id"] = attrs.get("emoji-id", "")
    return ent


_MD2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """A reasonably faithful MarkdownV2 parser (enough to catch unescaped characters)."""
    out = _Out()
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, int]] = []  # marker, utf16 start, byte offset
    types = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}
    n = len(text)
    i = 0

    def reserved(ch: str, pos: int) -> EntityParseError:
        return EntityParseError(
            f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
        )

    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                out.add(text[i + 1])
                i += 2
                continue
            raise reserved("\\", i)
        if c == "`":
            pre = text.startswith("```", i)
            marker = "```" if pre else "`"
            j = i + len(marker)
            lang = None
            if pre:
                nl = text.find("\n", j)
                close = text.find("```", j)
                if nl >= 0 and (close < 0 or nl < close):
                    lang = text[j:nl].strip() or None
                    j = nl + 1
            start = out.u16
            while True:
                if j >= n:
                    kind = "Pre" if pre else "Code"
                    raise EntityParseError(
                        f"Can't find end of {kind} entity at byte offset {_byte_offset(text, i)}"
                    )
                if text[j] == "\\" and j + 1 < n:
                    out.add(text[j + 1])
                    j += 2
                    continue
                if text.startswith(marker, j):
                    j += len(marker)
                    break
                out.add(text[j])
                j += 1
            if out.u16 > start:
                ent: dict[str, Any] = {
                    "type": "pre" if pre else "code",
                    "offset": start,
                    "length": out.u16 - start,
                }
                if lang:
                    ent["language"] = lang
                entities.append(ent)
            i = j
            continue
        if c in "*_~|":
            marker = c
            if c == "_" and text.startswith("__", i):
                marker = "__"
            if c == "|":
                if not text.startswith("||", i):
                    raise reserved("|", i)
                marker = "||"
            if stack and stack[-1][0] == marker:
                _, start, _b = stack.pop()
                if out.u16 > start:
                    entities.append(
                        {"type": types[marker], "offset": start, "length": out.u16 - start}
                    )
            elif any(s[0] == marker for s in stack):
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {stack[-1][2]}"
                )
            else:
                stack.append((marker, out.u16, _byte_offset(text, i)))
            i += len(marker)
            continue
        if c == "[":
            stack.append(("[", out.u16, _byte_offset(text, i)))
            i += 1
            continue
        if c == "]":
            if not stack or stack[-1][0] != "[":
                raise reserved("]", i)
            _, start, _b = stack.pop()
            i += 1
            if i < n and text[i] == "(":
                j = i + 1
                url_parts: list[str] = []
                while j < n and text[j] != ")":
                    if text[j] == "\\" and j + 1 < n:
                        url_parts.append(text[j + 1])
                        j += 2
                        continue
                    url_parts.append(text[j])
                    j += 1
                if j >= n:
                    raise EntityParseError(
                        f"Can't find end of a url at byte offset {_byte_offset(text, i)}"
                    )
                if out.u16 > start:
                    entities.append(
                        {
                            "type": "text_link",
                            "offset": start,
                            "length": out.u16 - start,
                            "url": "".join(url_parts),
                        }
                    )
                i = j + 1
            continue
        if c == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1  # blockquote marker; entity omitted
            continue
        if c in _MD2_RESERVED:
            raise reserved(c, i)
        out.add(c)
        i += 1
    if stack:
        raise EntityParseError(
            f"Can't find end of the entity starting at byte offset {stack[-1][2]}"
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return out.text(), entities


def _strip_entities(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram strips leading/trailing whitespace; shift and clip entities accordingly."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    out = []
    for e in entities:
        start = max(0, e["offset"] - lead)
        end = min(total, e["offset"] + e["length"] - lead)
        if end > start:
            out.append({**e, "offset": start, "length": end - start})
    return stripped, out


def _command_entities(text: str) -> list[dict[str, Any]]:
    ents = []
    for m in re.finditer(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?", text):
        ents.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: m.start()]),
                "length": utf16_len(m.group(0)),
            }
        )
    return ents


def _image_size(data: bytes) -> tuple[int, int]:
    """Width/height of a PNG, GIF or JPEG; (1, 1) if unknown."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            w, h = struct.unpack(">II", data[16:24])
            return int(w), int(h)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", data[6:10])
            return int(w), int(h)
        if data[:2] == b"\xff\xd8":
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    i += 1
                    continue
                marker = data[i + 1]
                seglen = struct.unpack(">H", data[i + 2 : i + 4])[0]
                if marker in (
                    0xC0,
                    0xC1,
                    0xC2,
                    0xC3,
                    0xC5,
                    0xC6,
                    0xC7,
                    0xC9,
                    0xCA,
                    0xCB,
                    0xCD,
                    0xCE,
                    0xCF,
                ):
                    h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                    return int(w), int(h)
                i += 2 + seglen
    except (struct.error, IndexError):
        pass
    return 1, 1


# --------------------------------------------------------------------------------------------
# Request parameters
# --------------------------------------------------------------------------------------------


class _Upload:
    def __init__(self, filename: str | None, content_type: str | None, data: bytes):
        self.filename = filename
        self.content_type = content_type
        self.data = data

    def describe(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.data),
        }


_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "scope",
        "commands",
        "allowed_updates",
        "link_preview_options",
        "reply_parameters",
        "media",
    }
)


class _Params:
    """Parameters from query string + JSON / form / multipart body.

    Values from form and multipart bodies are strings (PTB JSON-encodes every non-string
    value, e.g. chat_id "42", disable_notification "true", reply_markup '{"inline_...}');
    values from a JSON body keep their JSON types.
    """

    def __init__(self, raw: dict[str, Any], files: dict[str, _Upload]):
        self.raw = raw
        self.files = files

    def __contains__(self, name: str) -> bool:
        return name in self.raw or name in self.files

    def get(self, name: str, default: Any = None) -> Any:
        return self.raw.get(name, default)

    def get_str(self, name: str, default: str | None = None) -> str | None:
        v = self.raw.get(name)
        if v is None:
            return default
        return v if isinstance(v, str) else json.dumps(v)

    def get_int(
        self, name: str, default: int | None = None, *, required: bool = False
    ) -> int | None:
        v = self.raw.get(name)
        if v is None or v == "":
            if required:
                raise _bad(f"{name} is empty" if name != "chat_id" else "chat_id is empty")
            return default
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, int):
            return v
        if isinstance(v, float):
            return int(v)
        try:
            return int(str(v).strip())
        except ValueError:
            try:
                return int(float(str(v)))
            except ValueError:
                raise _bad(f"invalid {name} specified") from None

    def get_float(self, name: str, default: float = 0.0) -> float:
        v = self.raw.get(name)
        if v is None or v == "":
            return default
        try:
            return float(v)
        except (TypeError, ValueError):
            raise _bad(f"invalid {name} specified") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        v = self.raw.get(name)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        return str(v).strip().lower() in ("true", "1", "yes", "on")

    def get_json(self, name: str) -> Any:
        v = self.raw.get(name)
        if v is None:
            return None
        if isinstance(v, str):
            if v == "":
                return None
            try:
                return json.loads(v)
            except ValueError:
                if name == "reply_markup":
                    raise _bad("can't parse reply keyboard markup JSON object") from None
                raise _bad(f"can't parse {name} JSON object") from None
        return v

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in self.raw.items():
            if k in _JSON_FIELDS and isinstance(v, str):
                with contextlib.suppress(ValueError):
                    v = json.loads(v)
            out[k] = v
        for k, f in self.files.items():
            out[k] = f.describe()
        return out


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class _Limiter:
    def wait(self, now: float) -> float:
        """Seconds until one more message is allowed (0 if allowed now)."""
        raise NotImplementedError

    def record(self, now: float) -> None:
        raise NotImplementedError


class _Window(_Limiter):
    """At most ``limit`` messages in any sliding window of ``period`` seconds."""

    def __init__(self, limit: float, period: float):
        self.limit = limit
        self.period = period
        self.times: collections.deque[float] = collections.deque()

    def wait(self, now: float) -> float:
        while self.times and self.times[0] <= now - self.period:
            self.times.popleft()
        if len(self.times) < self.limit:
            return 0.0
        return self.times[0] + self.period - now

    def record(self, now: float) -> None:
        self.times.append(now)


class _Bucket(_Limiter):
    """Token bucket: ``capacity`` burst, refilled at ``rate`` tokens/s; a message needs a
    token, with ``tolerance`` seconds of slack (what aiolimiter/AIORateLimiter model)."""

    def __init__(self, capacity: float, rate: float, tolerance: float):
        self.capacity = float(capacity)
        self.rate = rate
        self.tolerance = tolerance
        self.tokens = float(capacity)
        self.last: float | None = None

    def _level(self, now: float) -> float:
        if self.last is None:
            return self.capacity
        return min(self.capacity, self.tokens + (now - self.last) * self.rate)

    def wait(self, now: float) -> float:
        tokens = self._level(now)
        if tokens >= 1.0 - self.tolerance * self.rate:
            return 0.0
        return (1.0 - tokens) / self.rate

    def record(self, now: float) -> None:
        self.tokens = max(0.0, self._level(now) - 1.0)
        self.last = now


class _FaultRule:
    def __init__(self, n: int, methods: frozenset[str] | None, **kw: Any):
        self.n = n
        self.methods = methods
        self.kw = kw

    def take(self, method: str, chat: Any = None) -> bool:
        chats = self.kw.get("chats")
        if chats is not None and str(chat) not in chats:
            return False
        if self.n > 0 and (self.methods is None or method in self.methods):
            self.n -= 1
            return True
        return False


class BotAPIServer:
    """Fake Bot API.  See module docstring.  Public attributes (read them under ``lock``
    or via the snapshot helpers):

    ``sent``: accepted outgoing messages, dicts with keys method, chat_id, message_id,
    text, caption (one of them None), plain_text (visible text after markup parsing),
    entities, parse_mode, reply_markup, photo (bytes | None), document (bytes | None),
    filename, date (float), params (all parsed params).
    ``calls``: every request: method, params, status, time, description.
    ``edits``: accepted edits (method, chat_id, message_id, text/caption, reply_markup, date).
    ``deleted``: (chat_id, message_id) tuples.  ``callback_answers``: answerCallbackQuery
    params.  ``chat_actions``: sendChatAction params.  ``received_429``: count of 429s.
    ``commands``: last setMyCommands per (scope_key, language_code) where scope_key is
    e.g. "default", "all_private_chats", "chat:-100123", "chat_member:-100123:42"
    and language_code "" when absent.  ``messages``: current state of every message
    (bot's and users') by (chat_id, message_id), as Bot API Message dicts.
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        global_rate: float = 30.0,
        per_chat_rate: float = 1.0,
        group_per_minute: int = 20,
        enforce_limits: bool = True,
        bot_username: str = "veille_test_bot",
        private_burst: int = 1,
        rate_tolerance: float = 0.05,
        limit_model: str = "window",
        strict_html: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        log_calls: bool = False,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.bot_username = bot_username
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.group_per_minute = group_per_minute
        self.enforce_limits = enforce_limits
        self.private_burst = max(1, private_burst)
        self.rate_tolerance = rate_tolerance
        if limit_model not in ("window", "bucket"):
            raise ValueError("limit_model must be 'window' or 'bucket'")
        self.limit_model = limit_model
        self.strict_html = strict_html
        self.host = host
        self.port = port
        self.log_calls = log_calls

        self.lock = threading.RLock()
        self._cond = threading.Condition(self.lock)

        self.sent: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []
        self.deleted: list[tuple[int, int]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.chat_actions: list[dict[str, Any]] = []
        self.received_429 = 0
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.webhook_url = ""
        self.closed = False

        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1000
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._chats: dict[int, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._msg_counter: dict[int, int] = collections.defaultdict(int)
        self._bot_messages: set[tuple[int, int]] = set()
        self._blocked: dict[int, str] = {}
        self._migrated: dict[int, int] = {}
        self._admins: dict[int, list[int]] = {}
        self._creator: dict[int, int] = {}
        self._callback_ids: dict[str, bool] = {}
        self._next_callback = 1
        self._files: dict[str, tuple[str, bytes, str | None]] = {}  # id -> (path, data, name)
        self._next_file = 1
        self._faults: list[_FaultRule] = []
        self._delays: list[_FaultRule] = []
        # rate limiting state (monotonic clock)
        self._global_limiter: _Limiter | None = None
        self._chat_limiters: dict[int, _Limiter] = {}

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._update_event: asyncio.Event | None = None
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self.host}:{self.port}/file/bot"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        if self._thread is not None:
            return
        ready = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:
                error.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-botapi", daemon=True)
        self._thread.start()
        ready.wait(10)
        if error:
            self._thread = None
            raise error[0]

    async def _astart(self) -> None:
        self._closing = False
        self._update_event = asyncio.Event()
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def _astop(self) -> None:
        self._closing = True
        self._notify_updates()
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        loop = self._loop
        fut = asyncio.run_coroutine_threadsafe(self._astop(), loop)
        with contextlib.suppress(Exception):
            fut.result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> BotAPIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> BotAPIServer:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # ------------------------------------------------------------------ users / chats

    def _chat(self, chat_id: int) -> dict[str, Any]:
        chat = self._chats.get(chat_id)
        if chat is not None:
            return dict(chat)
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
        if chat_id <= -1_000_000_000_000:
            return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}
        return {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}

    def _user(self, user_id: int, language_code: str | None = None) -> dict[str, Any]:
        u = self._users.get(user_id)
        if u is None:
            u = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
            if language_code:
                u["language_code"] = language_code
            self._users[user_id] = u
        return dict(u)

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Veille Test Bot",
            "username": self.bot_username,
        }

    def set_chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """Register/alter a chat (type private/group/supergroup/channel)."""
        with self.lock:
            chat = self._chat(chat_id)
            if chat_type:
                chat["type"] = chat_type
            if chat["type"] == "private":
                chat.pop("title", None)
                chat["first_name"] = first_name or chat.get("first_name") or f"User{chat_id}"
            else:
                chat.pop("first_name", None)
                chat["title"] = title or chat.get("title") or f"Group {chat_id}"
            if username:
                chat["username"] = username
            self._chats[chat_id] = chat
            return dict(chat)

    def set_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> None:
        with self.lock:
            u = self._user(user_id)
            if first_name:
                u["first_name"] = first_name
            if username:
                u["username"] = username
            if language_code:
                u["language_code"] = language_code
            self._users[user_id] = u

    def set_admins(
        self, chat_id: int, user_ids: Iterable[int], *, creator: int | None = None
    ) -> None:
        """Administrators returned by getChatAdministrators / getChatMember."""
        with self.lock:
            self._admins[chat_id] = list(user_ids)
            if creator is not None:
                self._creator[chat_id] = creator

    def _next_message_id(self, chat_id: int) -> int:
        self._msg_counter[chat_id] += 1
        return self._msg_counter[chat_id]

    # ------------------------------------------------------------------ acting as users

    def _notify_updates(self) -> None:
        ev = self._update_event
        if ev is not None:
            ev.set()
            self._update_event = asyncio.Event()

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (update_id assigned if missing); returns the update_id."""
        with self.lock:
            update = dict(update)
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
            self._updates.append(update)
            self._cond.notify_all()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._notify_updates)
        return int(update["update_id"])

    def user_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str | None = None,
        language_code: str = "fr",
        title: str | None = None,
        first_name: str | None = None,
        username: str | None = None,
        reply_to: int | None = None,
    ) -> int:
        """A user writes ``text`` in ``chat_id``.  chat_type defaults to the known type of the
        chat, else "private" for positive ids and "group"/"supergroup" for negative ids.
        ``reply_to`` makes it a reply to that message id.  Returns the update_id."""
        with self.lock:
            known = self._chats.get(chat_id)
            ctype = chat_type or (known["type"] if known else self._chat(chat_id)["type"])
            chat = self.set_chat(
                chat_id, ctype, title=title, first_name=first_name if ctype == "private" else None
            )
            if user_id is None:
                user_id = chat_id if ctype == "private" else 777000001
            user = self._user(user_id, language_code)
            if first_name:
                user["first_name"] = first_name
            if username:
                user["username"] = username
            if language_code:
                user["language_code"] = language_code
            self._users[user_id] = user
            mid = self._next_message_id(chat_id)
            msg: dict[str, Any] = {
                "message_id": mid,
                "from": dict(user),
                "chat": chat,
                "date": int(time.time()),
                "text": text,
            }
            ents = _command_entities(text)
            if ents:
                msg["entities"] = ents
            if reply_to is not None and (chat_id, reply_to) in self.messages:
                msg["reply_to_message"] = dict(self.messages[(chat_id, reply_to)])
            self.messages[(chat_id, mid)] = msg
            return self.push_update({"message": msg})

    def channel_post(self, chat_id: int, text: str, title: str = "Chan") -> int:
        with self.lock:
            chat = self.set_chat(chat_id, "channel", title=title)
            mid = self._next_message_id(chat_id)
            msg = {
                "message_id": mid,
                "sender_chat": chat,
                "chat": chat,
                "date": int(time.time()),
                "text": text,
            }
            ents = _command_entities(text)
            if ents:
                msg["entities"] = ents
            self.messages[(chat_id, mid)] = msg
            return self.push_update({"channel_post": msg})

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        language_code: str = "fr",
    ) -> int:
        """A user presses an inline button with callback ``data`` on a bot message."""
        with self.lock:
            msg = self.messages.get((chat_id, message_id))
            if msg is None:
                raise KeyError(f"no message {message_id} in chat {chat_id}")
            if user_id is None:
                user_id = chat_id if chat_id > 0 else 777000001
            qid = str(9_000_000_000 + self._next_callback)
            self._next_callback += 1
            self._callback_ids[qid] = False
            cq = {
                "id": qid,
                "from": self._user(user_id, language_code),
                "message": json.loads(json.dumps(msg)),
                "chat_instance": str(abs(chat_id) * 7 + 1),
                "data": data,
            }
            return self.push_update({"callback_query": cq})

    def chat_member_update(
        self,
        chat_id: int,
        new_status: str,
        *,
        old_status: str = "member",
        user_id: int | None = None,
    ) -> int:
        """A ``my_chat_member`` update about the bot (e.g. new_status="kicked" when a user
        blocks it, "member" when added to a group).  Statuses: member, left, kicked."""

        def member(status: str) -> dict[str, Any]:
            m: dict[str, Any] = {"status": status, "user": self._bot_user()}
            if status == "kicked":
                m["until_date"] = 0
            return m

        with self.lock:
            if user_id is None:
                user_id = chat_id if chat_id > 0 else 777000001
            upd = {
                "chat": self._chat(chat_id),
                "from": self._user(user_id),
                "date": int(time.time()),
                "old_chat_member": member(old_status),
                "new_chat_member": member(new_status),
            }
            return self.push_update({"my_chat_member": upd})

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._updates)

    # ------------------------------------------------------------------ waiting

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.sent)

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], Any], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Block until ``predicate(sent)`` is truthy; returns the ``sent`` snapshot.
        Raises TimeoutError (showing the last messages) otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                snap = list(self.sent)
                if predicate(snap):
                    return snap
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(timeout))
                self._cond.wait(min(remaining, 0.25))

    async def await_for(
        self,
        predicate: Callable[[list[dict[str, Any]]], Any],
        timeout: float = 10.0,
        interval: float = 0.01,
    ) -> list[dict[str, Any]]:
        """Async version of wait_for (polls with asyncio.sleep; never blocks the loop)."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.snapshot()
            if predicate(snap):
                return snap
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(timeout))
            await asyncio.sleep(interval)

    def wait_until(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Block until ``condition()`` (called under the lock) is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = condition()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout}s")
                self._cond.wait(min(remaining, 0.25))

    async def await_until(
        self, condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                value = condition()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(interval)

    def _timeout_message(self, timeout: float) -> str:
        with self.lock:
            last = [
                (m["chat_id"], m["message_id"], (m["text"] or m["caption"] or "")[:80])
                for m in self.sent[-5:]
            ]
            errs = [
                (c["method"], c["status"], c["description"])
                for c in self.calls
                if c["status"] != 200
            ][-5:]
        return (
            f"predicate not satisfied within {timeout}s; {len(self.sent)} sent, "
            f"last: {last}; recent errors: {errs}"
        )

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.sent if m["chat_id"] == chat_id]

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        low = method.lower()
        with self.lock:
            return [c for c in self.calls if c["method"].lower() == low]

    def reset(self) -> None:
        """Forget recorded traffic (sent, calls, edits...), keep chats and rules."""
        with self.lock:
            self.sent.clear()
            self.calls.clear()
            self.edits.clear()
            self.deleted.clear()
            self.callback_answers.clear()
            self.chat_actions.clear()
            self.received_429 = 0

    # ------------------------------------------------------------------ fault injection

    def block_chat(self, chat_id: int, *, notify: bool = False) -> None:
        """Writing to chat_id answers 403 (user blocked the bot / bot kicked from group).
        With notify=True a my_chat_member "kicked" update is queued too."""
        with self.lock:
            if chat_id > 0:
                self._blocked[chat_id] = "Forbidden: bot was blocked by the user"
            elif self._chat(chat_id)["type"] == "channel":
                self._blocked[chat_id] = "Forbidden: bot is not a member of the channel chat"
            elif self._chat(chat_id)["type"] == "supergroup":
                self._blocked[chat_id] = "Forbidden: bot was kicked from the supergroup chat"
            else:
                self._blocked[chat_id] = "Forbidden: bot was kicked from the group chat"
        if notify:
            self.chat_member_update(chat_id, "kicked")

    def unblock_chat(self, chat_id: int) -> None:
        with self.lock:
            self._blocked.pop(chat_id, None)

    def migrate_chat(self, chat_id: int, new_chat_id: int) -> None:
        """Group chat_id became supergroup new_chat_id: calls to the old id answer 400 with
        parameters.migrate_to_chat_id."""
        with self.lock:
            self._migrated[chat_id] = new_chat_id
            old = self._chat(chat_id)
            self.set_chat(new_chat_id, "supergroup", title=old.get("title"))

    def fail_next(
        self,
        n: int,
        status: int = 502,
        *,
        methods: Iterable[str] | None = None,
        description: str | None = None,
        retry_after: int = 1,
        chats: Iterable[int] | None = None,
    ) -> None:
        """The next n calls of ``methods`` (default: sendMessage/sendPhoto/sendDocument)
        answer ``status`` (e.g. 500, 502, 504, or 429 with ``retry_after``)."""
        ms = frozenset(m.lower() for m in methods) if methods is not None else SEND_METHODS
        only = frozenset(str(c) for c in chats) if chats is not None else None
        with self.lock:
            self._faults.append(
                _FaultRule(
                    n,
                    ms,
                    status=status,
                    description=description,
                    retry_after=retry_after,
                    chats=only,
                )
            )

    def delay_next(
        self,
        n: int,
        seconds: float,
        *,
        methods: Iterable[str] | None = None,
        deliver: bool = True,
        chats: Iterable[int] | None = None,
    ) -> None:
        """The next n calls of ``methods`` (default: send methods) wait ``seconds`` before
        being processed.  With deliver=True the call is then processed normally (even if the
        client has already timed out — like Telegram, the message may be delivered anyway);
        with deliver=False it then fails with 502 and nothing is recorded as sent.
        With ``chats``, only calls to those chat ids count."""
        ms = frozenset(m.lower() for m in methods) if methods is not None else SEND_METHODS
        only = frozenset(str(c) for c in chats) if chats is not None else None
        with self.lock:
            self._delays.append(_FaultRule(n, ms, seconds=seconds, deliver=deliver, chats=only))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._delays.clear()
            self._blocked.clear()
            self._migrated.clear()

    # ------------------------------------------------------------------ HTTP handling

    async def _read_params(self, request: web.Request) -> _Params:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, _Upload] = {}
        ctype = request.content_type
        if request.can_read_body:
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise _bad("can't parse JSON encoded request body") from None
                if not isinstance(body, dict):
                    raise _bad("JSON body must be an object")
                raw.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for k, v in form.items():
                    if isinstance(v, web.FileField):
                        files[k] = _Upload(v.filename, v.content_type, v.file.read())
                    elif isinstance(v, bytes | bytearray):
                        raw[k] = bytes(v).decode("utf-8", "replace")
                    else:
                        raw[k] = v
            else:
                await request.read()
        return _Params(raw, files)

    async def _handle(self, request: web.Request) -> web.Response:
        method_name = request.match_info["method"]
        token = request.match_info["token"]
        started = time.time()
        params = _Params({}, {})
        try:
            if token != self.token:
                if re.fullmatch(r"\d+:[A-Za-z0-9_-]+", token):
                    raise APIError(401, "Unauthorized")
                raise APIError(404, "Not Found")
            method = method_name.lower()
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise APIError(404, "Not Found")
            params = await self._read_params(request)
            await self._apply_delay(method, params.get("chat_id"))
            self._apply_faults(method, params.get("chat_id"))
            self._check_chat_state(method, params)
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
            body: dict[str, Any] = {"ok": True, "result": result}
            status = 200
            description = None
        except APIError as exc:
            body = exc.body()
            status = exc.code
            description = exc.description
            if status == 429:
                with self.lock:
                    self.received_429 += 1
        except Exception as exc:  # a bug in the fake: surface it as a 500
            body = {
                "ok": False,
                "error_code": 500,
                "description": f"Internal Server Error: fake server bug: {exc!r}",
            }
            status = 500
            description = body["description"]
        with self.lock:
            try:
                described = params.describe()
            except APIError:
                described = dict(params.raw)
            self.calls.append(
                {
                    "method": method_name,
                    "params": described,
                    "status": status,
                    "time": started,
                    "description": description,
                }
            )
            self._cond.notify_all()
        if self.log_calls:
            print(
                f"[botapi] {method_name} {status} {description or ''} "
                f"{json.dumps(params.raw, ensure_ascii=False)[:200]}",
                flush=True,
            )
        return web.json_response(
            body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        path = request.match_info["path"]
        with self.lock:
            for fpath, data, _name in self._files.values():
                if fpath == path:
                    return web.Response(body=data)
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def _apply_delay(self, method: str, chat: Any = None) -> None:
        with self.lock:
            rule = next((r for r in self._delays if r.take(method, chat)), None)
        if rule is None:
            return
        await asyncio.sleep(rule.kw["seconds"])
        if not rule.kw["deliver"]:
            raise APIError(502, "Bad Gateway")

    def _apply_faults(self, method: str, chat: Any = None) -> None:
        with self.lock:
            rule = next((r for r in self._faults if r.take(method, chat)), None)
        if rule is None:
            return
        status = rule.kw["status"]
        desc = rule.kw["description"]
        if status == 429:
            ra = rule.kw["retry_after"]
            raise APIError(429, desc or f"Too Many Requests: retry after {ra}", {"retry_after": ra})
        if desc is None:
            try:
                desc = HTTPStatus(status).phrase
            except ValueError:
                desc = "Error"
            if status == 400:
                desc = f"Bad Request: {desc}"
        raise APIError(status, desc)

    def _resolve_chat_id(self, params: _Params, name: str = "chat_id") -> int:
        v = params.get(name)
        if isinstance(v, str) and v.strip().startswith("@"):
            uname = v.strip()[1:].lower()
            with self.lock:
                for known_id, chat in self._chats.items():
                    if str(chat.get("username", "")).lower() == uname:
                        return known_id
            raise _bad("chat not found")
        cid = params.get_int(name, required=True)
        if not cid:
            raise _bad("chat not found")
        return cid

    def _check_chat_state(self, method: str, params: _Params) -> None:
        if method not in CHAT_METHODS or "chat_id" not in params:
            return
        cid = self._resolve_chat_id(params)
        with self.lock:
            if cid in self._migrated:
                raise APIError(
                    400,
                    "Bad Request: group chat was upgraded to a supergroup chat",
                    {"migrate_to_chat_id": self._migrated[cid]},
                )
            if method in WRITE_METHODS and cid in self._blocked:
                raise APIError(403, self._blocked[cid])

    # ------------------------------------------------------------------ validation helpers

    def _parse_text(
        self, text: str, parse_mode: str | None, entities: Any
    ) -> tuple[str, list[dict[str, Any]]]:
        mode = (parse_mode or "").strip().lower()
        try:
            if mode == "html":
                plain, ents = parse_html(text, strict=self.strict_html)
            elif mode == "markdownv2":
                plain, ents = parse_markdown_v2(text)
            elif mode == "markdown":
                plain = re.sub(r"[*_`\[\]]", "", text)
                ents = []
            elif mode == "":
                plain = text
                ents = list(entities) if isinstance(entities, list) else []
            else:
                raise _bad("unsupported parse_mode")
        except EntityParseError as exc:
            raise _bad(f"can't parse entities: {exc}") from None
        return _strip_entities(plain, ents)

    def _check_markup(self, markup: Any) -> dict[str, Any] | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            kb = markup["inline_keyboard"]
            if not isinstance(kb, list) or not all(isinstance(r, list) for r in kb):
                raise _bad("can't parse inline keyboard markup JSON object")
            count = 0
            for row in kb:
                for btn in row:
                    count += 1
                    if not isinstance(btn, dict) or not isinstance(btn.get("text"), str):
                        raise _bad(
                            'can\'t parse inline keyboard button: Field "text" must '
                            "be of type String"
                        )
                    actions = [
                        k
                        for k in (
                            "url",
                            "callback_data",
                            "web_app",
                            "login_url",
                            "switch_inline_query",
                            "switch_inline_query_current_chat",
                            "switch_inline_query_chosen_chat",
                            "copy_text",
                            "callback_game",
                            "pay",
                        )
                        if k in btn
                    ]
                    if not actions:
                        raise _bad(
                            "can't parse inline keyboard button: Text buttons are "
                            "unallowed in the inline keyboard"
                        )
                    if "callback_data" in btn:
                        cd = btn["callback_data"]
                        if (
                            not isinstance(cd, str)
                            or not 1 <= len(cd.encode("utf-8")) <= MAX_CALLBACK_DATA
                        ):
                            raise _bad("BUTTON_DATA_INVALID")
                    if "url" in btn and not re.match(r"^(https?|tg)://\S+$", str(btn["url"])):
                        raise _bad("BUTTON_URL_INVALID")
                    if not btn["text"]:
                        raise _bad("can't parse inline keyboard button: Text must be non-empty")
            if count > 100:
                raise _bad("reply markup is too long")
        return markup

    def _limiters(self, chat_id: int) -> list[_Limiter]:
        if self._global_limiter is None:
            self._global_limiter = self._make_limiter(self.global_rate, 1.0)
        out = [self._global_limiter]
        if chat_id > 0:
            if self.per_chat_rate > 0:
                lim = self._chat_limiters.get(chat_id)
                if lim is None:
                    lim = _Bucket(self.private_burst, self.per_chat_rate, self.rate_tolerance)
                    self._chat_limiters[chat_id] = lim
                out.append(lim)
        elif self.group_per_minute > 0:
            lim = self._chat_limiters.get(chat_id)
            if lim is None:
                lim = self._make_limiter(self.group_per_minute, 60.0)
                self._chat_limiters[chat_id] = lim
            out.append(lim)
        return out

    def _make_limiter(self, limit: float, period: float) -> _Limiter:
        if self.limit_model == "bucket":
            return _Bucket(limit, limit / period, self.rate_tolerance)
        return _Window(limit, period)

    def _check_rate(self, chat_id: int) -> None:
        if not self.enforce_limits:
            return
        now = time.monotonic()
        for lim in self._limiters(chat_id):
            wait = lim.wait(now)
            if wait > 0:
                self._raise_429(max(1, math.ceil(wait)))

    def _record_rate(self, chat_id: int) -> None:
        now = time.monotonic()
        for lim in self._limiters(chat_id):
            lim.record(now)

    @staticmethod
    def _raise_429(retry_after: int) -> None:
        raise APIError(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
        )

    def _store_upload(
        self, params: _Params, field: str, kind: str
    ) -> tuple[bytes | None, str | None, str | None, str]:
        """Returns (data, filename, mime, file_id) for a photo/document parameter."""
        up = params.files.get(field)
        if up is not None:
            with self.lock:
                fid = f"FAKE{kind.upper()}{self._next_file:06d}"
                self._next_file += 1
                ext = (
                    (up.filename or "").rsplit(".", 1)[-1]
                    if "." in (up.filename or "")
                    else ("jpg" if kind == "photo" else "bin")
                )
                path = f"{kind}s/file_{fid}.{ext}"
                self._files[fid] = (path, up.data, up.filename)
            return up.data, up.filename, up.content_type, fid
        ref = params.get_str(field)
        if not ref:
            raise _bad(f"there is no {kind} in the request")
        if ref.startswith("attach://"):
            raise _bad(f"there is no {kind} in the request")
        with self.lock:
            if ref in self._files:
                _path, data, name = self._files[ref]
                return data, name, None, ref
        if re.match(r"^https?://", ref):
            return None, None, None, f"URL{abs(hash(ref)) % 10**9}"
        raise _bad("wrong file identifier/HTTP URL specified")

    # ------------------------------------------------------------------ message building

    def _new_message(self, chat_id: int, extra: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(chat_id)
        mid = self._next_message_id(chat_id)
        msg: dict[str, Any] = {"message_id": mid, "date": int(time.time()), "chat": chat}
        if chat["type"] == "channel":
            msg["sender_chat"] = chat
        else:
            msg["from"] = self._bot_user()
        msg.update(extra)
        return msg

    def _accept_send(
        self,
        method: str,
        chat_id: int,
        params: _Params,
        content: dict[str, Any],
        record: dict[str, Any],
    ) -> dict[str, Any]:
        """Rate-limit check + message creation + recording, atomically."""
        markup = self._check_markup(params.get_json("reply_markup"))
        with self.lock:
            self._check_rate(chat_id)
            extra = dict(content)
            if markup and "inline_keyboard" in markup:
                extra["reply_markup"] = markup
            rp = params.get_json("reply_parameters")
            reply_id = params.get_int("reply_to_message_id")
            if isinstance(rp, dict) and rp.get("message_id") is not None:
                reply_id = int(rp["message_id"])
            msg = self._new_message(chat_id, extra)
            if reply_id is not None and (chat_id, reply_id) in self.messages:
                msg["reply_to_message"] = dict(self.messages[(chat_id, reply_id)])
            self._record_rate(chat_id)
            self.messages[(chat_id, msg["message_id"])] = msg
            self._bot_messages.add((chat_id, msg["message_id"]))
            entry = {
                "method": method,
                "chat_id": chat_id,
                "message_id": msg["message_id"],
                "text": None,
                "caption": None,
                "plain_text": None,
                "entities": [],
                "parse_mode": params.get_str("parse_mode"),
                "reply_markup": markup,
                "photo": None,
                "document": None,
                "filename": None,
                "date": time.time(),
                "params": params.describe(),
            }
            entry.update(record)
            self.sent.append(entry)
            self._cond.notify_all()
            return _copy(msg)

    # ------------------------------------------------------------------ methods

    def _m_getme(self, p: _Params) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_logout(self, p: _Params) -> bool:
        return True

    def _m_close(self, p: _Params) -> bool:
        with self.lock:
            self.closed = True
        return True

    def _m_setwebhook(self, p: _Params) -> bool:
        url = p.get_str("url") or ""
        if url and not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        with self.lock:
            self.webhook_url = url
            if p.get_bool("drop_pending_updates"):
                self._updates.clear()
            allowed = p.get_json("allowed_updates")
            if allowed is not None:
                self._allowed_updates = list(allowed)
        return True

    def _m_deletewebhook(self, p: _Params) -> bool:
        with self.lock:
            self.webhook_url = ""
            if p.get_bool("drop_pending_updates"):
                self._updates.clear()
        return True

    def _m_getwebhookinfo(self, p: _Params) -> dict[str, Any]:
        with self.lock:
            info: dict[str, Any] = {
                "url": self.webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if self._allowed_updates is not None:
                info["allowed_updates"] = list(self._allowed_updates)
            return info

    def _allowed(self, update: dict[str, Any]) -> bool:
        kind = next((k for k in update if k != "update_id"), "")
        if not self._allowed_updates:
            return kind not in DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed_updates

    async def _m_getupdates(self, p: _Params) -> list[dict[str, Any]]:
        offset = p.get_int("offset", 0) or 0
        limit = min(100, max(1, p.get_int("limit", 100) or 100))
        timeout = max(0.0, p.get_float("timeout", 0.0))
        allowed = p.get_json("allowed_updates")
        with self.lock:
            if self.webhook_url:
                raise APIError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is "
                    "active; use deleteWebhook to delete the webhook first",
                )
            if allowed is not None:
                self._allowed_updates = list(allowed)
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            self._poll_generation += 1
            generation = self._poll_generation
        self._notify_updates()  # wake (and terminate) a previous long poll
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if generation != self._poll_generation:
                    raise APIError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                self._updates = [u for u in self._updates if self._allowed(u)]
                batch = [u for u in self._updates if u["update_id"] >= offset][:limit]
                self._cond.notify_all()
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._closing:
                return _copy(batch)
            event = self._update_event
            assert event is not None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not isinstance(scope, dict) or not scope.get("type"):
            return "default"
        parts = [str(scope["type"])]
        if "chat_id" in scope:
            parts.append(str(scope["chat_id"]))
        if "user_id" in scope:
            parts.append(str(scope["user_id"]))
        return ":".join(parts)

    def _m_setmycommands(self, p: _Params) -> bool:
        commands = p.get_json("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        clean = []
        for c in commands:
            if not isinstance(c, dict):
                raise _bad("can't parse BotCommand")
            cmd = str(c.get("command", "")).lstrip("/")
            desc = str(c.get("description", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", cmd):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(desc) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": cmd, "description": desc})
        key = (self._scope_key(p.get_json("scope")), p.get_str("language_code") or "")
        with self.lock:
            if clean:
                self.commands[key] = clean
            else:
                self.commands.pop(key, None)
        return True

    def _m_getmycommands(self, p: _Params) -> list[dict[str, Any]]:
        key = (self._scope_key(p.get_json("scope")), p.get_str("language_code") or "")
        with self.lock:
            return list(self.commands.get(key, []))

    def _m_deletemycommands(self, p: _Params) -> bool:
        key = (self._scope_key(p.get_json("scope")), p.get_str("language_code") or "")
        with self.lock:
            self.commands.pop(key, None)
        return True

    def _m_sendmessage(self, p: _Params) -> dict[str, Any]:
        chat_id = self._resolve_chat_id(p)
        text = p.get_str("text") or ""
        if not text.strip():
            raise _bad("message text is empty")
        plain, ents = self._parse_text(text, p.get_str("parse_mode"), p.get_json("entities"))
        if not plain:
            raise _bad("message text is empty")
        if utf16_len(plain) > MAX_TEXT:
            raise _bad("message is too long")
        content: dict[str, Any] = {"text": plain}
        if ents:
            content["entities"] = ents
        return self._accept_send(
            "sendMessage",
            chat_id,
            p,
            content,
            {"text": text, "plain_text": plain, "entities": ents},
        )

    def _caption(self, p: _Params) -> tuple[str | None, str | None, list[dict[str, Any]]]:
        caption = p.get_str("caption")
        if not caption:
            return None, None, []
        plain, ents = self._parse_text(
            caption, p.get_str("parse_mode"), p.get_json("caption_entities")
        )
        if utf16_len(plain) > MAX_CAPTION:
            raise _bad("message caption is too long")
        return caption, plain, ents

    def _m_sendphoto(self, p: _Params) -> dict[str, Any]:
        chat_id = self._resolve_chat_id(p)
        caption, plain, ents = self._caption(p)
        data, filename, _mime, fid = self._store_upload(p, "photo", "photo")
        w, h = _image_size(data) if data else (800, 600)
        size = len(data) if data else 0
        sizes = [
            {
                "file_id": fid,
                "file_unique_id": f"U{fid}",
                "width": w,
                "height": h,
                "file_size": size,
            }
        ]
        if w > 90 or h > 90:
            scale = 90 / max(w, h)
            sizes.insert(
                0,
                {
                    "file_id": f"{fid}_s",
                    "file_unique_id": f"U{fid}_s",
                    "width": max(1, int(w * scale)),
                    "height": max(1, int(h * scale)),
                    "file_size": max(1, size // 10),
                },
            )
        content: dict[str, Any] = {"photo": sizes}
        if plain:
            content["caption"] = plain
            if ents:
                content["caption_entities"] = ents
        return self._accept_send(
            "sendPhoto",
            chat_id,
            p,
            content,
            {
                "caption": caption,
                "plain_text": plain,
                "entities": ents,
                "photo": data,
                "filename": filename,
            },
        )

    def _m_senddocument(self, p: _Params) -> dict[str, Any]:
        chat_id = self._resolve_chat_id(p)
        caption, plain, ents = self._caption(p)
        data, filename, mime, fid = self._store_upload(p, "document", "document")
        doc: dict[str, Any] = {
            "file_id": fid,
            "file_unique_id": f"U{fid}",
            "file_size": len(data) if data else 0,
        }
        if filename:
            doc["file_name"] = filename
        if mime:
            doc["mime_type"] = mime
        content: dict[str, Any] = {"document": doc}
        if plain:
            content["caption"] = plain
            if ents:
                content["caption_entities"] = ents
        return self._accept_send(
            "sendDocument",
            chat_id,
            p,
            content,
            {
                "caption": caption,
                "plain_text": plain,
                "entities": ents,
                "document": data,
                "filename": filename,
            },
        )

    def _m_getfile(self, p: _Params) -> dict[str, Any]:
        fid = p.get_str("file_id") or ""
        with self.lock:
            if fid not in self._files:
                raise _bad("invalid file_id")
            path, data, _name = self._files[fid]
        return {
            "file_id": fid,
            "file_unique_id": f"U{fid}",
            "file_size": len(data),
            "file_path": path,
        }

    _CHAT_ACTIONS = frozenset(
        {
            "typing",
            "upload_photo",
            "record_video",
            "upload_video",
            "record_voice",
            "upload_voice",
            "upload_document",
            "choose_sticker",
            "find_location",
            "record_video_note",
            "upload_video_note",
        }
    )

    def _m_sendchataction(self, p: _Params) -> bool:
        chat_id = self._resolve_chat_id(p)
        action = p.get_str("action") or ""
        if action not in self._CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        with self.lock:
            self.chat_actions.append({"chat_id": chat_id, "action": action, "date": time.time()})
        return True

    def _edit_target(self, p: _Params) -> tuple[int, int, dict[str, Any]] | None:
        if p.get_str("inline_message_id"):
            return None
        chat_id = self._resolve_chat_id(p)
        mid = p.get_int("message_id")
        if mid is None:
            raise _bad("message identifier is not specified")
        with self.lock:
            msg = self.messages.get((chat_id, mid))
            if msg is None:
                raise _bad("message to edit not found")
            if (chat_id, mid) not in self._bot_messages:
                raise _bad("message can't be edited")
            return chat_id, mid, msg

    def _apply_edit(
        self,
        method: str,
        chat_id: int,
        mid: int,
        msg: dict[str, Any],
        changes: dict[str, Any],
        markup: dict[str, Any] | None,
        record: dict[str, Any],
    ) -> dict[str, Any]:
        new = dict(msg)
        for k, v in changes.items():
            if v is None:
                new.pop(k, None)
            else:
                new[k] = v
        if markup and "inline_keyboard" in markup:
            new["reply_markup"] = markup
        else:
            new.pop("reply_markup", None)
        keys = ("text", "entities", "caption", "caption_entities", "reply_markup")
        if all(new.get(k) == msg.get(k) for k in keys):
            raise _bad(NOT_MODIFIED.removeprefix("Bad Request: "))
        new["edit_date"] = int(time.time())
        with self.lock:
            self.messages[(chat_id, mid)] = new
            self.edits.append(
                {
                    "method": method,
                    "chat_id": chat_id,
                    "message_id": mid,
                    "reply_markup": markup,
                    "date": time.time(),
                    "parse_mode": None,
                    **record,
                }
            )
            self._cond.notify_all()
        return _copy(new)

    def _m_editmessagetext(self, p: _Params) -> dict[str, Any] | bool:
        text = p.get_str("text") or ""
        if not text.strip():
            raise _bad("message text is empty")
        plain, ents = self._parse_text(text, p.get_str("parse_mode"), p.get_json("entities"))
        if not plain:
            raise _bad("message text is empty")
        if utf16_len(plain) > MAX_TEXT:
            raise _bad("message is too long")
        markup = self._check_markup(p.get_json("reply_markup"))
        target = self._edit_target(p)
        if target is None:
            return True
        chat_id, mid, msg = target
        if "text" not in msg:
            raise _bad("there is no text in the message to edit")
        return self._apply_edit(
            "editMessageText",
            chat_id,
            mid,
            msg,
            {"text": plain, "entities": ents or None},
            markup,
            {"text": text, "plain_text": plain, "parse_mode": p.get_str("parse_mode")},
        )

    def _m_editmessagecaption(self, p: _Params) -> dict[str, Any] | bool:
        caption, plain, ents = self._caption(p)
        markup = self._check_markup(p.get_json("reply_markup"))
        target = self._edit_target(p)
        if target is None:
            return True
        chat_id, mid, msg = target
        if "text" in msg:
            raise _bad("there is no caption in the message to edit")
        return self._apply_edit(
            "editMessageCaption",
            chat_id,
            mid,
            msg,
            {"caption": plain, "caption_entities": ents or None},
            markup,
            {"caption": caption, "plain_text": plain, "parse_mode": p.get_str("parse_mode")},
        )

    def _m_editmessagereplymarkup(self, p: _Params) -> dict[str, Any] | bool:
        markup = self._check_markup(p.get_json("reply_markup"))
        target = self._edit_target(p)
        if target is None:
            return True
        chat_id, mid, msg = target
        return self._apply_edit("editMessageReplyMarkup", chat_id, mid, msg, {}, markup, {})

    def _m_deletemessage(self, p: _Params) -> bool:
        chat_id = self._resolve_chat_id(p)
        mid = p.get_int("message_id", required=True) or 0
        with self.lock:
            if (chat_id, mid) not in self.messages:
                raise _bad("message to delete not found")
            del self.messages[(chat_id, mid)]
            self._bot_messages.discard((chat_id, mid))
            self.deleted.append((chat_id, mid))
            self._cond.notify_all()
        return True

    def _m_answercallbackquery(self, p: _Params) -> bool:
        qid = p.get_str("callback_query_id") or ""
        text = p.get_str("text")
        if text is not None and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        with self.lock:
            if self._callback_ids.get(qid, True):
                raise _bad(QUERY_INVALID.removeprefix("Bad Request: "))
            self._callback_ids[qid] = True
            self.callback_answers.append(
                {
                    "callback_query_id": qid,
                    "text": text,
                    "show_alert": p.get_bool("show_alert"),
                    "url": p.get_str("url"),
                    "cache_time": p.get_int("cache_time", 0),
                    "date": time.time(),
                }
            )
            self._cond.notify_all()
        return True

    def _m_getchat(self, p: _Params) -> dict[str, Any]:
        chat_id = self._resolve_chat_id(p)
        with self.lock:
            chat = self._chat(chat_id)
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _member(self, chat_id: int, user_id: int) -> dict[str, Any]:
        user = self._bot_user() if user_id == self.bot_id else self._user(user_id)
        if self._creator.get(chat_id) == user_id:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in self._admins.get(chat_id, []):
            perms = dict.fromkeys(
                (
                    "is_anonymous",
                    "can_manage_chat",
                    "can_delete_messages",
                    "can_manage_video_chats",
                    "can_restrict_members",
                    "can_promote_members",
                    "can_change_info",
                    "can_invite_users",
                    "can_post_stories",
                    "can_edit_stories",
                    "can_delete_stories",
                    "can_pin_messages",
                ),
                False,
            )
            perms["can_manage_chat"] = True
            return {"status": "administrator", "user": user, "can_be_edited": False, **perms}
        if chat_id in self._blocked and user_id == self.bot_id:
            return {"status": "kicked", "user": user, "until_date": 0}
        return {"status": "member", "user": user}

    def _m_getchatmember(self, p: _Params) -> dict[str, Any]:
        chat_id = self._resolve_chat_id(p)
        user_id = p.get_int("user_id", required=True)
        assert user_id is not None
        with self.lock:
            return self._member(chat_id, user_id)

    def _m_getchatadministrators(self, p: _Params) -> list[dict[str, Any]]:
        chat_id = self._resolve_chat_id(p)
        with self.lock:
            if self._chat(chat_id)["type"] == "private":
                raise _bad("there are no administrators in the private chat")
            ids = list(self._admins.get(chat_id, []))
            creator = self._creator.get(chat_id)
            if creator is not None and creator not in ids:
                ids.insert(0, creator)
            return [self._member(chat_id, uid) for uid in ids]


# --------------------------------------------------------------------------------------------
# Manual use: python -m tests.support.botapi --port 8081
# --------------------------------------------------------------------------------------------

_HELP = """commands (stdin):
  msg CHAT_ID TEXT...          a user writes TEXT in CHAT_ID (negative id = group)
  press CHAT_ID MSG_ID DATA    a user presses an inline button
  chan CHAT_ID TEXT...         a channel post
  block CHAT_ID | migrate OLD NEW | fail N [STATUS] | delay N SECONDS
  sent [N]                     show the last N (default 10) messages sent by the bot
  quit"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fake Telegram Bot API server")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--token", default="123456:TEST-TOKEN")
    ap.add_argument("--bot-username", default="veille_test_bot")
    ap.add_argument("--no-limits", action="store_true", help="disable rate limiting")
    ap.add_argument("--quiet", action="store_true", help="don't log every call")
    ap.add_argument("--no-stdin", action="store_true", help="don't read commands from stdin")
    args = ap.parse_args(argv)
    server = BotAPIServer(
        args.token,
        host=args.host,
        port=args.port,
        bot_username=args.bot_username,
        enforce_limits=not args.no_limits,
        log_calls=not args.quiet,
    )
    server.start()
    print(
        f"Fake Bot API on {server.base_url} (token {server.token})\n"
        f"  TELEGRAM_API_URL={server.base_url}\n{_HELP}",
        flush=True,
    )

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    quit_requested = False
    try:
        for line in [] if args.no_stdin else sys.stdin:
            parts = line.strip().split(maxsplit=2)
            if not parts:
                continue
            cmd = parts[0]
            try:
                if cmd == "quit":
                    quit_requested = True
                    break
                if cmd == "msg":
                    server.user_message(int(parts[1]), parts[2])
                elif cmd == "chan":
                    server.channel_post(int(parts[1]), parts[2])
                elif cmd == "press":
                    cid, rest = int(parts[1]), parts[2].split(maxsplit=1)
                    server.press_button(cid, int(rest[0]), rest[1])
                elif cmd == "block":
                    server.block_chat(int(parts[1]))
                elif cmd == "migrate":
                    server.migrate_chat(int(parts[1]), int(parts[2]))
                elif cmd == "fail":
                    server.fail_next(int(parts[1]), int(parts[2]) if len(parts) > 2 else 502)
                elif cmd == "delay":
                    server.delay_next(int(parts[1]), float(parts[2]))
                elif cmd == "sent":
                    n = int(parts[1]) if len(parts) > 1 else 10
                    for m in server.snapshot()[-n:]:
                        print(
                            f"  #{m['message_id']} -> {m['chat_id']}: "
                            f"{m['text'] or m['caption']!r} markup={m['reply_markup']}"
                        )
                else:
                    print(_HELP)
            except (IndexError, ValueError, KeyError) as exc:
                print(f"error: {exc!r}\n{_HELP}")
        if not quit_requested:  # stdin closed (e.g. run in the background): serve until killed
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
