"""User corrections of an item's tags, turned into labelled examples for the next training."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.store.fixes import FIELDS
from bot.store.repo import Store
from bot.store.schema import corrections, item_tags, items
from classifiers.corpus import Example, validate


def add_correction(
    store: Store, item_id: int, field: str, value: Any, *, chat_id: int | None, now: datetime
) -> None:
    """Store a correction (a field of bot.store.fixes.FIELDS); the item's tags show it at once."""
    if field not in FIELDS:
        raise ValueError(f"cannot correct field {field!r}")
    with store.engine.begin() as conn:
        conn.execute(
            corrections.insert().values(
                item_id=item_id, chat_id=chat_id, field=field, value=value, created_at=now
            )
        )
    store.refresh_corrections(item_id)


def correction_examples(store: Store) -> list[Example]:
    """One example per corrected item: its current tags with the corrections applied, latest last."""
    q = (
        select(
            corrections.c.item_id,
            corrections.c.field,
            corrections.c.value,
            items.c.title,
            items.c.content,
            items.c.summary,
            item_tags.c.result,
        )
        .join(items, items.c.id == corrections.c.item_id)
        .outerjoin(item_tags, item_tags.c.item_id == items.c.id)
        .order_by(corrections.c.id)
    )
    merged: dict[int, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(q):
            base = merged.get(row.item_id)
            if base is None:
                result = dict(row.result or {})
                base = merged[row.item_id] = {
                    "id": f"correction-{row.item_id}",
                    "title": row.title,
                    "text": row.content or row.summary or "",
                    "source": "correction",
                    **{
                        k: result.get(k)
                        for k in (
                            "regions",
                            "countries",
                            "national",
                            "types",
                            "primary_type",
                            "topic_ai",
                        )
                    },
                }
            base[row.field] = row.value
            if row.field == "primary_type" and row.value not in (base.get("types") or []):
                base["types"] = [*(base.get("types") or []), row.value]
    out = []
    for item_id, raw in merged.items():
        try:
            out.append(validate(raw, f"correction of item {item_id}"))
        except ValueError:
            continue
    return out
