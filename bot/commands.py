"""Bot commands as plain functions: (query, store, ...) -> Reply. Telegram and the terminal adapt them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.i18n import t
from bot.render import esc, item_line, split_chunks
from bot.store.repo import Store
from classifiers.gazetteer import Gazetteer

PAGE = 8


@dataclass(frozen=True)
class Button:
    """An inline button: label and callback data (<= 64 bytes)."""

    text: str
    data: str


@dataclass(frozen=True)
class Reply:
    """What a command answers: HTML messages and rows of buttons under the last one."""

    messages: tuple[str, ...]
    buttons: tuple[tuple[Button, ...], ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        """All messages joined (for tests and the terminal)."""
        return "\n\n".join(self.messages)


def pager(prefix: str, page: int, has_more: bool, lang: str) -> tuple[tuple[Button, ...], ...]:
    """Previous/next buttons for a paged list."""
    row = []
    if page > 0:
        row.append(Button(t(lang, "prev"), f"{prefix}:{page - 1}"[:64]))
    if has_more:
        row.append(Button(t(lang, "more"), f"{prefix}:{page + 1}"[:64]))
    return (tuple(row),) if row else ()


def region(query: str, store: Store, gazetteer: Gazetteer, *, now: datetime, lang: str = "fr",
           page: int = 0, days: int = 30) -> Reply:
    """/region <name>: the latest items of a region, newest first, paged."""
    query = query.strip()
    if not query:
        return Reply((t(lang, "region_usage"),))
    name = gazetteer.resolve_region(query)
    if name is None:
        text = t(lang, "region_unknown", query=esc(query))
        suggestions = gazetteer.suggest_regions(query)
        if suggestions:
            text += "\n" + t(lang, "region_suggest", names=", ".join(esc(s) for s in suggestions))
        buttons = tuple((Button(s, f"rg:{s}:0"[:64]),) for s in suggestions)
        return Reply((text,), buttons)
    items = store.recent_items(regions=[name], since=now - timedelta(days=days),
                               limit=PAGE + 1, offset=page * PAGE)
    has_more = len(items) > PAGE
    items = items[:PAGE]
    if not items:
        return Reply((t(lang, "region_none", region=esc(name)),))
    also = store.duplicates_of([i.id for i in items])
    head = t(lang, "region_title", region=esc(name))
    if page:
        head += f" ({t(lang, 'page', page=page + 1)})"
    blocks = [head, *(item_line(i, lang, also_in=also.get(i.id, ())) for i in items)]
    return Reply(tuple(split_chunks(blocks)), pager(f"rg:{name}", page, has_more, lang))
