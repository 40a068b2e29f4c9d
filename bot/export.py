"""Stored items as records for `veille items --format jsonl|csv` (pure: values in, text out).

One record per item: where it is (id, link, title, feed, published), which text it was tagged
on (text_source, article_status), the story it belongs to (story_id: the same news from
other feeds), and the TAXONOMY fields with the tagger's scores.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bot.store.rows import StoredItem

FIELDS = (
    "id",
    "link",
    "title",
    "feed",
    "feed_name",
    "published",
    "text_source",
    "article_status",
    "duplicate_of",
    "story_id",
    "regions",
    "countries",
    "national",
    "types",
    "primary_type",
    "topic_ai",
    "scores",
)
LIST_FIELDS = ("regions", "countries", "types")
LIST_SEPARATOR = "|"  # no region name, country code or type contains it


def record(item: StoredItem, details: Mapping[str, Any]) -> dict[str, Any]:
    """The export record of an item; details: text_source, article_status, result (or None)."""
    result = details.get("result") or {}
    return {
        "id": item.id,
        "link": item.link,
        "title": item.title,
        "feed": item.feed_id,
        "feed_name": item.feed_name,
        "published": item.published_at.isoformat(),
        "text_source": details.get("text_source") or "feed",
        "article_status": details.get("article_status"),
        "duplicate_of": item.duplicate_of,
        "story_id": item.story_id,
        "regions": list(item.regions),
        "countries": list(item.countries),
        "national": item.national,
        "types": list(item.types),
        "primary_type": item.primary_type,
        "topic_ai": item.topic_ai,
        "scores": result.get("scores", {}),
    }


def to_jsonl(records: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """One JSON object per line."""
    for rec in records:
        yield json.dumps(rec, ensure_ascii=False) + "\n"


def to_csv(records: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """A header line, then one row per record: lists joined by '|', scores as JSON."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        row = dict(rec)
        for name in LIST_FIELDS:
            row[name] = LIST_SEPARATOR.join(rec[name])
        row["scores"] = json.dumps(rec["scores"], ensure_ascii=False, sort_keys=True)
        for name in ("national", "topic_ai"):
            row[name] = "" if rec[name] is None else str(rec[name]).lower()
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def from_csv_row(row: Mapping[str, str]) -> dict[str, Any]:
    """A CSV row back into a record (the inverse of to_csv, for readers of the export)."""
    out: dict[str, Any] = dict(row)
    out["id"] = int(row["id"])
    for name in ("duplicate_of", "story_id"):
        out[name] = int(row[name]) if row[name] else None
    for name in LIST_FIELDS:
        out[name] = row[name].split(LIST_SEPARATOR) if row[name] else []
    for name in ("national", "topic_ai"):
        out[name] = None if row[name] == "" else row[name] == "true"
    out["scores"] = json.loads(row["scores"]) if row["scores"] else {}
    for name in ("link", "article_status", "primary_type"):
        out[name] = row[name] or None
    return out
