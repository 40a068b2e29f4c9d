"""Feeds out: the Atom feed of a query (feedgen)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from feedgen.feed import FeedGenerator

from bot.i18n import type_label
from bot.render import http_link
from bot.store.rows import StoredItem

TAG_SCHEME_REGION = "https://veille.invalid/region"
TAG_SCHEME_TYPE = "https://veille.invalid/type"


def _clean(text: str) -> str:
    """Characters XML 1.0 cannot carry are dropped (feeds sometimes contain them)."""
    return "".join(c for c in text if c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff"))


def atom_feed(
    items: Sequence[StoredItem],
    *,
    title: str,
    self_url: str,
    page: str,
    lang: str,
    updated: datetime,
    also_in: Mapping[int, Sequence[str]] | None = None,
) -> bytes:
    """An Atom 1.0 document: one entry per item, its regions and types as categories."""
    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(_clean(title))
    fg.link(href=page, rel="alternate", type="text/html")
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.language(lang)
    fg.author({"name": "Veille"})
    fg.generator("Veille")
    fg.updated(max((i.published_at for i in items), default=updated))
    for item in reversed(items):  # feedgen prepends: oldest first gives newest on top
        entry = fg.add_entry()
        link = http_link(item.link)
        entry.id(link or f"{self_url.split('?')[0]}#item-{item.id}")
        entry.title(_clean(item.title) or "-")
        if link:
            entry.link(href=link, rel="alternate")
        entry.published(item.published_at)
        entry.updated(item.published_at)
        sources = [item.feed_name, *(also_in or {}).get(item.id, ())]
        entry.author({"name": _clean(", ".join(sources))})
        if link:
            if item.summary:
                entry.summary(_clean(item.summary), type="text")
        else:  # Atom: an entry without an alternate link must carry its content
            entry.content(_clean(item.summary or item.title) or "-", type="text")
        for region in item.regions:
            entry.category(term=region, scheme=TAG_SCHEME_REGION, label=region)
        if item.national:
            entry.category(term="national", scheme=TAG_SCHEME_REGION, label="France entière")
        for kind in item.types:
            entry.category(term=kind, scheme=TAG_SCHEME_TYPE, label=type_label(kind, lang))
    return bytes(fg.atom_str(pretty=True))
