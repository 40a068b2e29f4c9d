"""Bytes of an article page in, its main text and a status out (pure; trafilatura inside).

A page that is not an article says so rather than raising: not_html (a PDF, an image), wall (a
login, paywall or cookie-consent page with no article behind it), no_article (a home page, a
list of links). The language of the text is detected here and compared with the feed's later.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from classifiers.text import MAX_TEXT_CHARS, fold_key, html_to_text

# Statuses of an article page (stored in article_pages.status; items.article_status adds
# skipped, other_language, unsafe, unresolved, working).
OK = "ok"
TOO_LARGE = "too_large"
NOT_HTML = "not_html"
WALL = "wall"
NO_ARTICLE = "no_article"
FAILED = "failed"
TIMEOUT = "timeout"

MIN_ARTICLE_CHARS = 250  # less than this is a teaser (about 200), a caption or a consent box
PROSE_LINE_CHARS = 100  # a paragraph of prose; lists of links and menus are short lines
WALL_SUSPECT_CHARS = 1500  # a text this short made of wall phrases is the wall itself
HTML_TYPES = ("text/html", "application/xhtml+xml")
SNIFF_HTML = re.compile(rb"<(?:!doctype\s+html|html|head|body|article|p)\b", re.IGNORECASE)
PASSWORD_INPUT = re.compile(rb"<input[^>]+type\s*=\s*[\"']?password", re.IGNORECASE)
WALL_PHRASES = (
    "connectez-vous",
    "se connecter",
    "identifiez-vous",
    "mot de passe",
    "abonnez-vous",
    "réservé aux abonnés",
    "article réservé",
    "déjà abonné",
    "accepter les cookies",
    "acceptez les cookies",
    "tout accepter",
    "paramétrer les cookies",
    "gérer les cookies",
    "consentement",
    "log in",
    "sign in",
    "subscribe to continue",
    "subscribers only",
    "accept cookies",
    "accept all",
    "cookie settings",
    "password",
)

# trafilatura logs every page it finds no text in at WARNING: that is our no_article status.
logging.getLogger("trafilatura").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Extracted:
    """What an article page gave."""

    status: str
    text: str = ""
    language: str | None = None
    message: str | None = None


def is_html(content_type: str | None, body: bytes) -> bool:
    """True for an HTML page (by Content-Type, or by its first bytes when none is given)."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if body.lstrip()[:5] == b"%PDF-":
        return False
    if mime:
        return mime in HTML_TYPES
    return bool(SNIFF_HTML.search(body[:2048]))


def _wall_phrases(text: str) -> int:
    lowered = text.lower()
    return sum(phrase in lowered for phrase in WALL_PHRASES)


def prose_chars(text: str) -> int:
    """Characters of text in paragraph-long lines (a home page's list of titles has none)."""
    return sum(len(line) for line in text.splitlines() if len(line) >= PROSE_LINE_CHARS)


def without_headline(text: str, title: str) -> str:
    """The article text without its first line when that line is the item's title (the page's
    headline): the tagger gets the title once, as for an article given whole."""
    first, _, rest = text.partition("\n")
    head, name = fold_key(first), fold_key(title)
    if len(head) >= 20 and (head == name or name.startswith(head) or head.startswith(name)):
        return rest
    return text


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of a text, or None when it is too short or the guess is unsure."""
    if len(text) < 80:
        return None
    lang, prob = _identifier().classify(text[:4000])
    return str(lang) if prob >= 0.9 else None


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def extract_article(body: bytes, content_type: str | None, url: str | None = None) -> Extracted:
    """The main text of an article page, or the reason there is none."""
    if not body or not body.strip():
        return Extracted(NO_ARTICLE, message="empty page")
    if not is_html(content_type, body):
        mime = (content_type or "unknown type").split(";")[0].strip()
        return Extracted(NOT_HTML, message=f"not an HTML page ({mime})")
    import trafilatura  # imported on first use: lxml and its tables take a moment

    try:
        text = trafilatura.extract(
            body,
            url=url,
            output_format="txt",
            favor_precision=True,  # bench/extract.py: higher F1 and faster on furnished pages
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            deduplicate=True,
            with_metadata=False,
        )
    except Exception as exc:  # a hostile page must not stop the stage: it is "no article"
        return Extracted(NO_ARTICLE, message=f"extraction failed: {type(exc).__name__}")
    text = (text or "")[:MAX_TEXT_CHARS].strip()
    walled = (
        bool(PASSWORD_INPUT.search(body))
        or _wall_phrases(html_to_text(body[:200_000].decode("utf-8", "replace"))) >= 2
    )
    if prose_chars(text) < MIN_ARTICLE_CHARS:
        if walled:
            return Extracted(WALL, message="login, paywall or cookie wall")
        return Extracted(NO_ARTICLE, message=f"no article text ({len(text)} characters)")
    if len(text) < WALL_SUSPECT_CHARS and _wall_phrases(text) >= 2:
        return Extracted(WALL, message="the page's main text is a login or consent box")
    return Extracted(OK, text=text, language=detect_language(text))
