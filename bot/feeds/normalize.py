"""Pure helpers that turn feed values into stored values: URLs, dates, dedup keys.

HTML to text and accent folding live in classifiers/text.py (one home for both).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from classifiers.text import fold_key

TRACKING_PARAMS = frozenset(
    {
        "xtor",
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_hsenc",
        "_hsmi",
        "ref_src",
        "cmpid",
        "ito",
        "at_medium",
        "at_campaign",
        "at_platform",
        "at_send_date",
        "at_recipient_id",
        "at_link",
        "at_ptr_name",
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
        "icid",
        "soc_src",
        "soc_trk",
        "spm",
        "__twitter_impression",
    }
)
TRACKING_PREFIXES = ("utm_", "oly_", "wt_", "pk_", "mtm_", "at_", "_ga")
FUTURE_TOLERANCE = timedelta(days=1)
OLDEST_PLAUSIBLE = datetime(1995, 1, 1, tzinfo=UTC)


def canonical_url(url: str | None) -> str | None:
    """Lowercase scheme and host, drop default ports, fragments and tracking parameters."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port in {80, 443}:
        port = None
    netloc = host if port is None else f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


def shorten(text: str, limit: int) -> str:
    """Cut text at a word boundary and add an ellipsis when it is longer than limit."""
    text = text.replace("\n", " ").strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.") + "…"


def title_key(title: str) -> str | None:
    """Hash of the folded title, for cross-feed dedup; None for titles too short to trust."""
    folded = fold_key(title)
    if len(folded) < 20 or len(folded.split()) < 4:
        return None
    return hashlib.sha1(folded.encode()).hexdigest()[:20]


def content_hash(*parts: str | None) -> str:
    """A stable hash of an item's content, for items with neither guid nor a unique link."""
    h = hashlib.sha1()
    for part in parts:
        h.update((part or "").encode("utf-8", "replace"))
        h.update(b"\x00")
    return h.hexdigest()[:24]


FR_MONTHS = {
    "janv": 1,
    "jan": 1,
    "janvier": 1,
    "fevr": 2,
    "fev": 2,
    "fevrier": 2,
    "feb": 2,
    "mars": 3,
    "mar": 3,
    "avr": 4,
    "avril": 4,
    "apr": 4,
    "mai": 5,
    "may": 5,
    "juin": 6,
    "jun": 6,
    "juil": 7,
    "juillet": 7,
    "jul": 7,
    "aout": 8,
    "aug": 8,
    "sept": 9,
    "sep": 9,
    "septembre": 9,
    "oct": 10,
    "octobre": 10,
    "nov": 11,
    "novembre": 11,
    "dec": 12,
    "decembre": 12,
}
_FR_DATE = re.compile(
    r"(?P<day>\d{1,2})(?:er)?\s+(?P<month>[a-zéèûô]+)\.?\s+(?P<year>\d{4})"
    r"(?:\s+(?:à\s+)?(?P<h>\d{1,2})[:h](?P<m>\d{2})(?::(?P<s>\d{2}))?)?"
    r"(?:\s*(?P<tz>[+-]\d{4}|gmt|utc|z))?",
    re.IGNORECASE,
)


def parse_french_date(raw: str | None) -> datetime | None:
    """Parse dates such as 'mar., 13 sept. 2022 16:41:30 +0000' that feedparser leaves unparsed."""
    if not raw:
        return None
    match = _FR_DATE.search(raw.lower())
    if not match:
        return None
    month_word = fold_key(match["month"])
    month = (
        FR_MONTHS.get(month_word) or FR_MONTHS.get(month_word[:4]) or FR_MONTHS.get(month_word[:3])
    )
    if month is None:
        return None
    try:
        value = datetime(
            int(match["year"]),
            month,
            int(match["day"]),
            int(match["h"] or 0),
            int(match["m"] or 0),
            int(match["s"] or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    tz = (match["tz"] or "").lower()
    if tz and tz[0] in "+-":
        sign = 1 if tz[0] == "+" else -1
        value -= sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5]))
    return value


def plausible_date(value: datetime | None, now: datetime) -> datetime | None:
    """The date if it is neither in the future nor absurdly old, else None."""
    if value is None:
        return None
    if value > now + FUTURE_TOLERANCE or value < OLDEST_PLAUSIBLE:
        return None
    return value
