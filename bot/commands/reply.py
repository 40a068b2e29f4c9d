"""What a command reads (Ctx) and answers (Reply: HTML messages, buttons under the last one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.config import Settings
from bot.render import TELEGRAM_LIMIT, esc, split_chunks
from bot.store.chats import ChatStore
from bot.store.repo import Store
from classifiers.gazetteer import Gazetteer

EXCERPT_CHARS = 60  # user input echoed in a reply is cut to this


@dataclass(frozen=True)
class Button:
    """An inline button: label and callback data (see bot.commands.callbacks)."""

    text: str
    data: str


@dataclass(frozen=True)
class Reply:
    """What a command answers: HTML messages (each <= 4,096 characters) and rows of buttons."""

    messages: tuple[str, ...]
    buttons: tuple[tuple[Button, ...], ...] = field(default_factory=tuple)
    # Pictures sent after the messages: (media key, HTML caption); a digest's map and chart.
    pictures: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if any(len(m) > TELEGRAM_LIMIT for m in self.messages):
            object.__setattr__(self, "messages", tuple(split_chunks(self.messages)))

    @property
    def text(self) -> str:
        """All messages joined (for tests and the terminal)."""
        return "\n\n".join(self.messages)


@dataclass(frozen=True)
class Ctx:
    """What a command may read: settings, the stores, the gazetteer, the clock's now, who asks."""

    settings: Settings
    store: Store
    chats: ChatStore
    gazetteer: Gazetteer
    now: datetime
    chat_id: int
    lang: str = "fr"
    is_admin: bool = False


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """User input as echoed in a reply: one line, at most `limit` characters, HTML-escaped."""
    line = " ".join(text.split())
    return esc(line if len(line) <= limit else line[: limit - 1] + "…")
