"""/why: the evidence behind an item's tags, and the buttons that correct them.

Evidence is shown as the reader wrote it: the tagger's type cues are folded words and word
pairs ("appel projets"), found again in the item's text and shown as the phrase they came from
("un appel à projets"). A correction changes the item's tags at once (bot.store.fixes) and is
kept for the next training; in groups only the chat's administrators may correct
(routes: settings_change).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.commands.callbacks import encode, item_id
from bot.commands.reply import Button, Ctx, Reply, excerpt
from bot.i18n import t, type_label
from bot.render import esc, fmt_date, item_line, safe_href
from bot.store.corrections import add_correction
from bot.store.stories import StoryStore
from classifiers.taxonomy import REGIONS, TYPES
from classifiers.text import LATIN_FOLD

PHRASES = 5  # readable phrases shown per label
PHRASE_CHARS = 60
_WORD = re.compile(r"[^\W_]+")
_FOLD = {**LATIN_FOLD, **{d: "0" for d in range(ord("0"), ord("9") + 1)}}

STORY_LINES = 10  # members listed under /why (a story may have dozens)


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """(folded word, start, end) of the words the tagger reads (two characters or more)."""
    out = []
    for m in _WORD.finditer(text):
        folded = m.group().lower().translate(_FOLD)
        if len(folded) >= 2 and folded[0].isalpha():
            out.append((folded, m.start(), m.end()))
    return out


def readable(cues: Sequence[str], text: str, limit: int = PHRASES) -> list[str]:
    """The phrases of `text` the tagger's folded cues come from, overlapping ones joined, in
    the order of the cues; a cue not found in the text is shown as it is."""
    tokens = _tokens(text)
    folded = [w for w, _, _ in tokens]
    spans: list[tuple[int, int]] = []
    missing: list[str] = []
    for cue in cues:
        words = cue.split()
        n = len(words)
        at = next((i for i in range(len(folded) - n + 1) if folded[i : i + n] == words), None)
        if at is None:
            missing.append(cue)
            continue
        start, end = tokens[at][1], tokens[at + n - 1][2]
        for k, (s, e) in enumerate(spans):  # join what overlaps or touches
            if start <= e + 1 and s <= end + 1:
                spans[k] = (min(s, start), max(e, end))
                break
        else:
            spans.append((start, end))
    phrases = [" ".join(text[s:e].split()) for s, e in spans] + missing
    out: list[str] = []
    for p in phrases:
        p = p if len(p) <= PHRASE_CHARS else p[: PHRASE_CHARS - 1] + "…"
        if p and p not in out:
            out.append(p)
    return out[:limit]


def why(ctx: Ctx, arg: str, note: str = "") -> Reply:
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
    lines = [note, t(ctx.lang, "why_title"), item_line(item, ctx.lang, with_id=False)]
    lines.extend(_story_lines(ctx, item.story_id))
    if result is None:
        return Reply(("\n".join(filter(None, [*lines, t(ctx.lang, "why_untagged")])),))
    lines += _evidence_lines(ctx, result, ctx.store.item_text(number))
    lines.append(t(ctx.lang, "why_fix"))
    buttons = (
        (
            Button(t(ctx.lang, "fix_region"), encode("fx", number, "R")),
            Button(t(ctx.lang, "fix_type"), encode("fx", number, "T")),
            Button(t(ctx.lang, "fix_offtopic"), encode("fxn", number)),
        ),
    )
    return Reply(("\n".join(filter(None, lines)),), buttons)


def _evidence_lines(ctx: Ctx, result: dict[str, Any], text: str) -> list[str]:
    lang = ctx.lang
    ev = result.get("evidence")
    ev = ev if isinstance(ev, dict) else {}
    scores = result.get("scores")
    scores = scores if isinstance(scores, dict) else {}
    corrected = list(result.get("corrected_by_user") or [])
    by_user = t(lang, "why_corrected")

    def cues(kind: str, label: str | None = None) -> str:
        found = ev.get(kind, {})
        words = found.get(label, []) if label is not None and isinstance(found, dict) else found
        return esc(", ".join(readable([str(w) for w in words or []], text)))

    def score(kind: str, label: str) -> object:
        found = scores.get(kind, {})
        return found.get(label, "?") if isinstance(found, dict) else "?"

    lines = []
    regions = list(result.get("regions") or [])
    for r in regions:
        why = by_user if "regions" in corrected else cues("regions", r)
        lines.append(f"📍 {esc(r)} ({score('regions', r)}) ← {why}")
    for c in result.get("countries") or []:
        lines.append(f"🌍 {esc(c)} ← {cues('countries', c)}")
    if result.get("national"):
        why = by_user if "national" in corrected else cues("national")
        lines.append(f"🇫🇷 {t(lang, 'why_national')} ← {why}")
    elif not regions and "regions" in corrected:
        lines.append(f"📍 {t(lang, 'fix_no_region')} ← {by_user}")
    typed = {"types", "primary_type"} & set(corrected)
    for kind in result.get("types") or []:
        mark = "★ " if kind == result.get("primary_type") else ""
        why = by_user if typed and kind == result.get("primary_type") else cues("types", kind)
        lines.append(f"🏷 {mark}{esc(type_label(kind, lang))} ({score('types', kind)}) ← {why}")
    answer = t(lang, "yes" if result.get("topic_ai") else "no")
    topic = f"🤖 {t(lang, 'why_topic')} : {answer} ({scores.get('topic_ai', '?')})"
    lines.append(topic + (f" ← {by_user}" if "topic_ai" in corrected else ""))
    return lines


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
    """The choices offered after pressing 'fix region' (R) or 'fix type' (T), with cancel."""
    cancel = Button(f"✖ {t(ctx.lang, 'btn_cancel')}", encode("fxc", number))
    if what == "R":
        rows = [
            tuple(Button(r, encode("fxr", number, r)) for r in REGIONS[k : k + 3])
            for k in range(0, len(REGIONS), 3)
        ]
        rows.append(
            (
                Button(f"🇫🇷 {t(ctx.lang, 'fix_national')}", encode("fxp", number, "N")),
                Button(t(ctx.lang, "fix_no_region"), encode("fxp", number, "0")),
            )
        )
        return Reply((t(ctx.lang, "fix_pick_region"),), (*rows, (cancel,)))
    rows = [
        tuple(Button(type_label(x, ctx.lang), encode("fxt", number, x)) for x in TYPES[k : k + 2])
        for k in range(0, len(TYPES), 2)
    ]
    return Reply((t(ctx.lang, "fix_pick_type"),), (*rows, (cancel,)))


def cancel(ctx: Ctx, number: int) -> Reply:
    """'Cancel' on a correction keyboard: the evidence again, nothing changed."""
    return why(ctx, str(number))


def correct_region(ctx: Ctx, number: int, region: str) -> Reply:
    """Store 'the right region is ...' pressed on a /why keyboard."""
    return _save(ctx, number, "regions", [region])


def correct_place(ctx: Ctx, number: int, choice: str) -> Reply:
    """Store 'national' (N) or 'no region' (0) pressed on a /why keyboard."""
    if choice == "N":
        return _save(ctx, number, "national", True)
    _save(ctx, number, "national", False)
    return _save(ctx, number, "regions", [])


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
    return why(ctx, str(number), note=t(ctx.lang, "fix_saved"))
