"""Text helpers shared by the tagger and the bot: accent folding, HTML to text, slugs.

classifiers/ owns this module and bot/ imports it (classifiers/ never imports bot/), so there is
one accent table and one HTML-to-text routine in the project.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Set

from selectolax.lexbor import LexborHTMLParser


def _latin_fold_table() -> dict[int, str]:
    """Accented Latin letters to their ASCII base letters, plus the ligatures NFKD leaves alone."""
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        if base != char and base.isascii():
            table[code] = base
    table.update({ord("œ"): "oe", ord("Œ"): "OE", ord("æ"): "ae", ord("Æ"): "AE", ord("ß"): "ss"})
    return table


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# The non-ASCII characters of most French and English prose, most frequent first.
_COMMON = "éè’àçêôâî«»\u00a0\u202fûù–—…ëïüœÉÈÀÇÊÔÂÎ“”‘öäÛÙŒæÆß€°•·\u2009×›‹©®²"


class Fold:
    """text.translate(table) for a table of non-ASCII characters, at a fraction of its cost.

    str.translate looks every character up in the dict once the text holds one non-ASCII
    character. French prose has a few accented letters per line, all from a short list: those
    are replaced one by one (str.replace, in C), and only what is left runs through the table.
    """

    __slots__ = ("_common", "table")

    def __init__(self, table: Mapping[int, str]) -> None:
        self.table = table
        # Only ASCII replacements: a later replacement must never see an earlier one's output.
        self._common = tuple(
            (c, table[ord(c)])
            for c in _COMMON
            if isinstance(table.get(ord(c)), str) and table[ord(c)].isascii()
        )

    def __call__(self, text: str) -> str:
        """The text translated (ASCII characters are never in the table)."""
        if text.isascii():
            return text
        for char, repl in self._common:
            text = text.replace(char, repl)
        if text.isascii():
            return text
        table = self.table
        return _NON_ASCII_RUN.sub(lambda m: m.group().translate(table), text)


def translate_non_ascii(text: str, table: Mapping[int, str]) -> str:
    """text.translate(table) for a table that leaves ASCII alone (see Fold, to keep for reuse)."""
    return Fold(table)(text)


# The accent fold every module uses, directly or through strip_accents/fold_key.
LATIN_FOLD = _latin_fold_table()
fold_latin = Fold(LATIN_FOLD)
# Typographic punctuation is a separator in a key anyway; mapping it here spares an NFKD pass.
_KEY_FOLD = Fold({**LATIN_FOLD, **{c: " " for c in map(ord, "’‘“”«»–—…\u00a0\u202f")}})
_NON_WORD = re.compile(r"[^0-9a-z]+")


def strip_accents(text: str) -> str:
    """The text with accents and ligatures removed (case kept); other characters untouched."""
    if text.isascii():
        return text
    folded = fold_latin(text)
    if folded.isascii():
        return folded
    # Letters outside Latin-1/Extended-A: decompose them. Only the non-ASCII runs: ASCII
    # characters are starters that decompose to themselves, so NFKD works run by run.
    return _NON_ASCII_RUN.sub(_decomposed, folded)


def _decomposed(run: re.Match[str]) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", run.group()) if not unicodedata.combining(c)
    )


def fold_key(text: str) -> str:
    """Lowercase ASCII words separated by single spaces: the comparison form of a text."""
    lowered = fold_lower(text)
    if not lowered.isascii():
        lowered = strip_accents(lowered)
    return _NON_WORD.sub(" ", lowered).strip()


# Every ASCII character but [0-9a-z] as a space: fold_words' split, done in C.
_ASCII_NON_WORD = {c: " " for c in range(128) if not (chr(c).isdigit() or "a" <= chr(c) <= "z")}


def fold_words(text: str) -> list[str]:
    """fold_key(text).split(), for less (str.translate and split instead of a regex pass)."""
    lowered = fold_lower(text)
    if not lowered.isascii():
        lowered = strip_accents(lowered)
    if lowered.isascii():
        return lowered.translate(_ASCII_NON_WORD).split()
    return _NON_WORD.sub(" ", lowered).split()


def fold_lower(text: str) -> str:
    """Lowercase, Latin accents folded, typographic punctuation as spaces; other characters kept
    (only the non-ASCII runs translated: cheaper than fold_key when the caller splits words)."""
    return _KEY_FOLD(text.lower())


def slugify(text: str, *, max_len: int = 48, taken: Set[str] = frozenset()) -> str:
    """A lowercase-ASCII, dash-separated id for text, not in taken (suffixed -2, -3, ...)."""
    base = fold_key(text).replace(" ", "-")[:max_len].strip("-") or "feed"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


DROPPED_TAGS = "script, style, noscript, iframe, object, embed, template"
BLOCK_TAGS = "p, div, br, li, h1, h2, h3, h4, h5, h6, tr, blockquote, section, article, pre"
MAX_TEXT_CHARS = 100_000


def _fold_spaces(text: str) -> str:
    """Spaces folded within lines, blank lines dropped (str.split does it in C)."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def html_to_text(
    html: str | None,
    *,
    limit: int = MAX_TEXT_CHARS,
    dropped: str = DROPPED_TAGS,
    blocks: str = BLOCK_TAGS,
    fold_spaces: bool = True,
) -> str:
    """Plain text of HTML: `dropped` elements removed, `blocks` on their own lines, entities decoded.

    With fold_spaces (the default) runs of spaces are folded and blank lines dropped; without it
    the text keeps its layout (Telegram HTML, whose line breaks are literal newlines).
    """
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        text = html[:limit]
        return _fold_spaces(text) if fold_spaces else text
    tree = LexborHTMLParser(html[: limit * 4])
    lowered = html.lower()
    openings = tuple("<" + tag.strip() for tag in dropped.split(",") if tag.strip())
    if openings and any(tag in lowered for tag in openings):  # the query costs more than this test
        for node in tree.css(dropped):
            node.decompose()
    if blocks:
        for node in tree.css(blocks):
            node.insert_before("\n")
    root = tree.body or tree.root
    text = root.text(separator="", strip=False) if root is not None else ""
    return (_fold_spaces(text) if fold_spaces else text)[:limit]


def visible_text(html: str) -> str:
    """The text a reader sees of Telegram HTML: tags removed, entities decoded, layout kept."""
    return html_to_text(html, limit=len(html) + 1, dropped="", blocks="br", fold_spaces=False)


def page_parts(html: str) -> tuple[str, str]:
    """(headline, article HTML) of a web page: <h1> or <title>; <article>, <main> or the body."""
    tree = LexborHTMLParser(html)
    head = tree.css_first("h1") or tree.css_first("title")
    article = tree.css_first("article") or tree.css_first("main") or tree.body
    title = head.text(strip=True) if head is not None else ""
    return title, article.html if article is not None and article.html else html
