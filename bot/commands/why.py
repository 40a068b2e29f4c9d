"""/why: the evidence behind an item's tags, and the buttons that correct them."""

from __future__ import annotations

import re

from bot.commands.callbacks import encode, item_id
from bot.commands.reply import Button, Ctx, Reply, excerpt
from bot.i18n import t, type_label
from bot.render import esc, fmt_date, item_line, safe_href
from bot.store.corrections import add_correction
from bot.store.stories import StoryStore
from classifiers.taxonomy import REGIONS, TYPES

STORY_LINES = 10  # members listed under /why (a story may have dozens)


def why(ctx: Ctx, arg: str) -> Reply:
    """/why <item>: the evidence behind an item's tags, with buttons to correct them."""
    match = re.search(r"\d+", arg or "")
    if not match:
        return Reply((t(ctx.lang, "why_usage"),))
    number = item_id(match.group())
    if number is None:  # beyond any id the database holds
        return Reply((t(ctx.lang, "why_unknown", id=excerpt(match.group(), 24)),))
    found = ctx.store.recent_items(ids=[number], topic_only=False, include_duplicates=True, limit=1)
    if not found:
        return Reply((t(ctx.lang, "why_unknown", id=number),))
    item = found[0]
    result = ctx.store.item_result(number)
    lines = [t(ctx.lang, "why_title"), item_line(item, ctx.lang, with_id=False)]
    lines.extend(_story_lines(ctx, item.story_id))
    if result is None:
        return Reply(("\n".join([*lines, t(ctx.lang, "why_untagged")]),))
    ev, scores = result.get("evidence", {}), result.get("scores", {})
    for r in result.get("regions", []):
        words = ", ".join(ev.get("regions", {}).get(r, [])[:6])
        lines.append(f"📍 {esc(r)} ({scores.get('regions', {}).get(r, '?')}) ← {esc(words)}")
    for c in result.get("countries", []):
        words = ", ".join(ev.get("countries", {}).get(c, [])[:4])
        lines.append(f"🌍 {esc(c)} ← {esc(words)}")
    if result.get("national"):
        words = esc(", ".join(ev.get("national", [])[:4]))
        lines.append(f"🇫🇷 {t(ctx.lang, 'why_national')} ← {words}")
    for kind in result.get("types", []):
        words = ", ".join(ev.get("types", {}).get(kind, [])[:5])
        mark = "★ " if kind == result.get("primary_type") else ""
        lines.append(
            f"🏷 {mark}{esc(type_label(kind, ctx.lang))} "
            f"({scores.get('types', {}).get(kind, '?')}) ← {esc(words)}"
        )
    answer = t(ctx.lang, "yes" if result.get("topic_ai") else "no")
    lines.append(f"🤖 {t(ctx.lang, 'why_topic')} : {answer} ({scores.get('topic_ai', '?')})")
    lines.append(t(ctx.lang, "why_fix"))
    buttons = (
        (
            Button(t(ctx.lang, "fix_region"), encode("fx", number, "R")),
            Button(t(ctx.lang, "fix_type"), encode("fx", number, "T")),
            Button(t(ctx.lang, "fix_offtopic"), encode("fxn", number)),
        ),
    )
    return Reply(("\n".join(lines),), buttons)


def _story_lines(ctx: Ctx, story_id: int | None) -> list[str]:
    """The story's members (source, date, title), when the item's story has several."""
    if story_id is None:
        return []
    members = StoryStore(ctx.store).members([story_id]).get(story_id, [])
    if len(members) < 2:
        return []
    lines = [t(ctx.lang, "why_story", n=len(members))]
    for m in members[:STORY_LINES]:
        title = excerpt(m.title, 120)  # escaped
        href = safe_href(m.link)
        link = f'<a href="{href}">{title}</a>' if href else title
        lines.append(
            f"  • {esc(m.feed_name)}, {fmt_date(m.published_at, ctx.lang)} — {link} (#{m.item_id})"
        )
    if len(members) > STORY_LINES:
        lines.append(f"  • … +{len(members) - STORY_LINES}")
    return lines


def correction_keyboard(ctx: Ctx, number: int, what: str) -> Reply:
    """The choices offered after pressing 'fix region' (R) or 'fix type' (T)."""
    if what == "R":
        rows = [
            tuple(Button(r, encode("fxr", number, r)) for r in REGIONS[k : k + 3])
            for k in range(0, len(REGIONS), 3)
        ]
        return Reply((t(ctx.lang, "fix_pick_region"),), tuple(rows))
    rows = [
        tuple(Button(type_label(x, ctx.lang), encode("fxt", number, x)) for x in TYPES[k : k + 2])
        for k in range(0, len(TYPES), 2)
    ]
    return Reply((t(ctx.lang, "fix_pick_type"),), tuple(rows))


def correct_region(ctx: Ctx, number: int, region: str) -> Reply:
    """Store 'the right region is ...' pressed on a /why keyboard."""
    return _save(ctx, number, "regions", [region])


def correct_type(ctx: Ctx, number: int, kind: str) -> Reply:
    """Store 'the right type is ...' pressed on a /why keyboard."""
    return _save(ctx, number, "primary_type", kind)


def correct_off_topic(ctx: Ctx, number: int) -> Reply:
    """Store 'this item is not about AI/digital' pressed on a /why keyboard."""
    return _save(ctx, number, "topic_ai", False)


def _save(ctx: Ctx, number: int, field: str, value: object) -> Reply:
    if not ctx.store.recent_items(ids=[number], topic_only=False, include_duplicates=True, limit=1):
        return Reply((t(ctx.lang, "why_unknown", id=number),))
    add_correction(ctx.store, number, field, value, chat_id=ctx.chat_id, now=ctx.now)
    return Reply((t(ctx.lang, "fix_saved"),))
