"""The one callback-data codec: `<route>:<version>:<field>:...`, at most 64 bytes.

Buttons name what they act on (a region, a type key), never a list index, so adding a region or
a type does not remap buttons already sent. The version lets a future layout tell old buttons
from new ones; data of another version, an unknown route or a field that fails its check is
refused (decode returns None) and the press is answered with "button expired", nothing changed.
The route table (bot.commands.routes) declares each route's fields; this module knows only how
to write them and how to check them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from classifiers.taxonomy import REGIONS, TYPES

VERSION = "1"
MAX_BYTES = 64  # Telegram's limit on callback data
MAX_ID = 2**63 - 1  # the largest id a database integer column holds
MAX_PAGE = 999


def _cut(text: str, budget: int) -> str:
    """text cut to at most budget UTF-8 bytes, on a character boundary."""
    return text.encode("utf-8")[: max(0, budget)].decode("utf-8", errors="ignore")


def encode(route: str, *fields: str | int) -> str:
    """Callback data for a button of `route`; a long last field (a search) is cut to fit 64 bytes."""
    parts = [route, VERSION, *(str(f) for f in fields)]
    data = ":".join(parts)
    if len(data.encode("utf-8")) <= MAX_BYTES:
        return data
    head = ":".join(parts[:-1]) + ":"
    return head + _cut(parts[-1], MAX_BYTES - len(head.encode("utf-8")))


# ---- field checks: each takes the raw text and returns the value, or None when invalid ------


def item_id(raw: str) -> int | None:
    """A database id: 1 to 19 digits, within a 64-bit integer."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


def page(raw: str) -> int | None:
    """A page number of a listing or keyboard."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 3:
        return None
    return int(raw)


def region(raw: str) -> str | None:
    """One of the 18 regions, by name."""
    return raw if raw in REGIONS else None


def kind(raw: str) -> str | None:
    """An initiative type, by key."""
    return raw if raw in TYPES else None


def fix(raw: str) -> str | None:
    """What a /why button corrects: R(egion) or T(ype)."""
    return raw if raw in {"R", "T"} else None


def place(raw: str) -> str | None:
    """A /why place choice beside the regions: N(ational) or 0 (no region)."""
    return raw if raw in {"N", "0"} else None


def empty(raw: str) -> str | None:
    """What an empty digest does: skip or line."""
    return raw if raw in {"skip", "line"} else None


def digest(raw: str) -> str | None:
    """A digest frequency."""
    return raw if raw in {"daily", "weekly", "off"} else None


def alert_action(raw: str) -> str | None:
    """What an alert button does: e(dit), p(ause), d(elete), f(requency), h(our), w(eekday), x."""
    return raw if raw in {"e", "p", "d", "f", "h", "w", "x"} else None


def alert_value(raw: str) -> str | None:
    """An alert button's value: '-', a frequency, or a small number (hour, weekday)."""
    if raw in {"-", "instant", "daily", "weekly"}:
        return raw
    return raw if raw.isascii() and raw.isdigit() and len(raw) <= 2 else None


def zone(raw: str) -> str | None:
    """An IANA time zone name (Europe/Paris)."""
    if not raw or len(raw) > 40 or not raw.isascii():
        return None
    try:
        ZoneInfo(raw)
    except (ValueError, KeyError, OSError):
        return None
    return raw


def text(raw: str) -> str | None:
    """Free text (a search query): non-empty, no control characters."""
    return raw if raw.strip() and raw.isprintable() else None


Field = Callable[[str], object]


@dataclass(frozen=True)
class Decoded:
    """Callback data that passed its route's checks."""

    route: str
    values: tuple[object, ...]


def decode(data: str, schemas: dict[str, Sequence[Field]]) -> Decoded | None:
    """The route and checked values of callback data, or None when it is not valid data of ours.

    The last field of a route takes the rest of the data (a search query may contain ':').
    """
    if len(data.encode("utf-8")) > MAX_BYTES:
        return None
    route, _, rest = data.partition(":")
    fields = schemas.get(route)
    if fields is None:
        return None
    version, _, rest = rest.partition(":")
    if version != VERSION:
        return None
    raw = rest.split(":", len(fields) - 1) if fields else ([] if not rest else ["", ""])
    if len(raw) != len(fields):
        return None
    values = []
    for check, value in zip(fields, raw, strict=True):
        checked = check(value)
        if checked is None:
            return None
        values.append(checked)
    return Decoded(route, tuple(values))
