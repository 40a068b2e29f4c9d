"""One alert per story: later sources edit the alert instead of sending a second one.

An alert of an item that belongs to a story (bot/stories.py) is queued under the story's key,
so a chat gets one alert per story whichever member matched first, naming the other sources it
already has ("aussi dans : A, B"). When items join a story that has alerts, each alert is
brought up to date: still waiting in the outbox, its text is rewritten in place; already sent,
an edit (editMessageText) is queued behind it in the chat's order, and an edit still waiting is
rewritten rather than followed by another. An alert older than delivery.EDIT_MAX_AGE, or not
delivered, is left as it is (bot.delivery drops such edits too, and those Telegram refuses).

When a late item merges two stories (bot.store.stories), a chat that had the absorbed story's
alert but not the survivor's keeps that alert as the story's: the next edit lists every source.
A chat that had both gets its survivor's alert edited to list every source; the absorbed
story's message is left as it was sent: it was true when sent, editing it too would show the
same story twice in the chat, and an edit costs a Telegram call for nothing new to read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.delivery import EDIT_MAX_AGE, edit_payload
from bot.render import alert_html
from bot.store.outbox import Outbox, StoryMessage
from bot.store.repo import Store
from bot.store.stories import StoryStore

log = logging.getLogger(__name__)

MAX_SOURCES = 12  # sources named under an alert; more are counted ("+3")


def alert_key(chat_id: int, story_id: int) -> str:
    """The outbox dedup key of a story's alert in a chat: one alert per story and chat."""
    return f"alert:{chat_id}:s{story_id}"


def sources_line(names: Sequence[str]) -> list[str]:
    """The other sources shown under an alert, at most MAX_SOURCES and a count of the rest."""
    if len(names) <= MAX_SOURCES:
        return list(names)
    return [*names[:MAX_SOURCES], f"+{len(names) - MAX_SOURCES}"]


def story_meta(item_id: int, footer: str, lang: str) -> dict[str, Any]:
    """What an alert's payload keeps to be rendered again when its story grows."""
    return {"item": item_id, "footer": footer, "lang": lang}


@dataclass
class StoryAlerts:
    """The alerts and edits the stories of a batch already have, per (chat, story)."""

    messages: dict[tuple[int, int], list[StoryMessage]]

    @classmethod
    def load(cls, outbox: Outbox, story_ids: Iterable[int]) -> StoryAlerts:
        """Read them from the outbox."""
        out: dict[tuple[int, int], list[StoryMessage]] = {}
        for m in outbox.story_messages(list(story_ids)):
            out.setdefault((m.chat_id, m.story_id), []).append(m)
        return cls(out)

    def alerted(self, chat_id: int, story_id: int) -> bool:
        """True when the chat already has (or had) an alert for the story."""
        return any(m.kind == "alert" for m in self.messages.get((chat_id, story_id), ()))


def stories_of(store: Store, item_ids: Sequence[int]) -> dict[int, int]:
    """item id -> story id, for the items that have one."""
    return StoryStore(store).story_of(item_ids)


def edits_for_grown(
    store: Store,
    outbox: Outbox,
    known: StoryAlerts,
    grown: Mapping[int, int],
    now: datetime,
) -> list[dict[str, Any]]:
    """Bring the alerts of stories that gained members up to date (see the module docstring).

    grown: story id -> the newest member's item id (it names the edit, so a batch that is run
    again after a crash queues the same edit once). Returns the edit messages to queue.
    """
    work: list[tuple[int, int, StoryMessage, list[StoryMessage]]] = []
    for (chat_id, story_id), msgs in known.messages.items():
        alert = next((m for m in msgs if m.kind == "alert"), None)
        if story_id not in grown or alert is None or alert.status == "dead":
            continue
        if "story" not in alert.payload:
            continue
        if alert.status == "sent" and (
            alert.telegram_message_id is None
            or alert.sent_at is None
            or now - alert.sent_at > EDIT_MAX_AGE
        ):
            log.info("story alert not edited chat=%s story=%s reason=old", chat_id, story_id)
            continue
        work.append((chat_id, story_id, alert, msgs))
    if not work:
        return []
    shown = sorted({int(alert.payload["story"]["item"]) for _, _, alert, _ in work})
    items = {
        i.id: i
        for i in store.recent_items(
            ids=shown, topic_only=False, include_duplicates=True, limit=len(shown)
        )
    }
    sources = store.duplicates_of(shown)
    edits: list[dict[str, Any]] = []
    for chat_id, story_id, alert, msgs in work:
        meta = alert.payload["story"]
        item = items.get(int(meta["item"]))
        if item is None:
            continue
        text = alert_html(item, meta["lang"], sources_line(sources.get(item.id, [])))
        if meta["footer"]:
            text += "\n" + meta["footer"]
        if text == msgs[-1].payload.get("text"):
            continue  # nothing new to say (a retagged item, a batch run again)
        if alert.status == "pending" and outbox.revise(alert.id, {**alert.payload, "text": text}):
            continue
        waiting = [m for m in msgs if m.kind == "edit" and m.status == "pending"]
        if waiting and outbox.revise(waiting[-1].id, {**waiting[-1].payload, "text": text}):
            continue
        edits.append(
            {
                "chat_id": chat_id,
                "kind": "edit",
                "story_id": story_id,
                "dedup_key": f"edit:{chat_id}:s{story_id}:i{grown[story_id]}",
                "payload": edit_payload(alert.id, text, alert.payload.get("buttons")),
            }
        )
    return edits
