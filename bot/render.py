"""Items, digests and replies to Telegram HTML (every feed string escaped), in chunks <= 4,096."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from bot.digest import Digest, group_label
from bot.i18n import t, type_label
from bot.store.rows import StoredItem
from classifiers.text import visible_text

TELEGRAM_LIMIT = 4096
PARIS = ZoneInfo("Europe/Paris")


def esc(value: str | None) -> str:
    """Escape a feed string for Telegram HTML."""
    return escape(value or "", quote=True)


def http_link(url: str | None) -> str | None:
    """The URL when it is an http(s) link (never javascript: or data:), else None; unescaped."""
    return url if url and re.match(r"^https?://", url, re.IGNORECASE) else None


def safe_href(url: str | None) -> str | None:
    """An http(s) link suitable for <a href> in Telegram HTML, or None."""
    link = http_link(url)
    return esc(link) if link else None


def fmt_date(value: datetime, lang: str, tz: ZoneInfo = PARIS) -> str:
    """A short local date: 21/11 or 21 Nov."""
    local = value.astimezone(tz)
    return local.strftime("%d/%m/%Y") if lang == "fr" else local.strftime("%Y-%m-%d")


def item_tags(item: StoredItem, lang: str, max_regions: int = 3) -> str:
    """'Bretagne, Normandie · financement': an item's regions (or nationwide) and main type."""
    places = list(item.regions[:max_regions])
    if len(item.regions) > max_regions:
        places.append(f"+{len(item.regions) - max_regions}")
    if not places and item.national:
        places.append(t(lang, "group_national"))
    kind = item.primary_type or (item.types[0] if item.types else None)
    parts = [", ".join(places), type_label(kind, lang) if kind else ""]
    return esc(" · ".join(p for p in parts if p))


def item_line(
    item: StoredItem,
    lang: str,
    *,
    also_in: Sequence[str] = (),
    with_id: bool = True,
    tags: bool = False,
) -> str:
    """One item: linked title, source and date (with tags: its regions and main type; and
    'also in' sources)."""
    href = safe_href(item.link)
    title = esc(item.title)
    head = f'<a href="{href}">{title}</a>' if href else f"<b>{title}</b>"
    meta = f"{esc(item.feed_name)} · {fmt_date(item.published_at, lang)}"
    labels = item_tags(item, lang) if tags else ""
    if labels:
        meta += f" · {labels}"
    if with_id:
        meta += f" · /why_{item.id}"
    line = f"• {head}\n  <i>{meta}</i>"
    if also_in:
        line += f"\n  <i>{t(lang, 'also_in')} {esc(', '.join(also_in))}</i>"
    return line


def split_chunks(blocks: Sequence[str], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Join blocks with blank lines into messages of at most limit characters, cutting between blocks."""
    chunks: list[str] = []
    current = ""
    for block in blocks:
        if len(block) > limit:  # a single huge block: cut it hard, tags dropped
            block = esc(visible_text(block))[: limit - 1] + "…"
        candidate = f"{current}\n\n{block}" if current else block
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        current = block
    if current:
        chunks.append(current)
    return chunks


def digest_html(digest: Digest, lang: str, *, title_key: str = "digest_title") -> list[str]:
    """A digest as Telegram HTML messages: grouped by region then type, with counts."""
    head = (
        f"<b>{esc(t(lang, title_key))}</b> — {fmt_date(digest.start, lang)} → "
        f"{fmt_date(digest.end, lang)}\n{t(lang, 'digest_total', n=digest.total)}"
    )
    if digest.total == 0:
        return [head + "\n\n" + t(lang, "digest_empty")]
    blocks = [head]
    for group in digest.groups:
        blocks.append(f"📍 <b>{esc(group_label(group.region, lang))}</b> ({group.count})")
        for tg in group.types:
            lines = [f"<u>{esc(type_label(tg.type, lang))}</u> ({len(tg.items)})"]
            blocks.append("\n".join(lines))
            for item in tg.items:
                blocks.append(item_line(item, lang, also_in=digest.also_in.get(item.id, ())))
    return split_chunks(_merge_small(blocks))


def _merge_small(blocks: list[str]) -> list[str]:
    """Keep a heading with its first item so a message never ends on a bare heading."""
    merged: list[str] = []
    pending = ""
    for block in blocks:
        if block.startswith(("📍", "<u>")):
            pending = f"{pending}\n{block}" if pending else block
            continue
        merged.append(f"{pending}\n{block}" if pending else block)
        pending = ""
    if pending:
        merged.append(pending)
    return merged


def alert_html(item: StoredItem, lang: str, also_in: Sequence[str] = ()) -> str:
    """A real-time alert for one item."""
    tags = " · ".join(
        [*(esc(r) for r in item.regions), *(esc(type_label(ty, lang)) for ty in item.types)]
    )
    summary = esc(item.summary[:500])
    parts = [f"🔔 {item_line(item, lang, also_in=also_in)}"]
    if tags:
        parts.append(f"🏷 {tags}")
    if summary:
        parts.append(summary)
    return "\n".join(parts)[:TELEGRAM_LIMIT]
