"""When to check a feed next, and what its health becomes: pure functions of the outcome."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.store.rows import FeedState


def next_check_after_success(
    feed: FeedState, now: datetime, *, max_age: float | None, retry_after: float | None
) -> datetime:
    """The feed's minimum interval, stretched by Cache-Control max-age or Retry-After."""
    seconds = feed.min_interval * 60.0
    for hint in (max_age, retry_after):
        if hint:
            seconds = max(seconds, hint)
    return now + timedelta(seconds=min(seconds, feed.max_interval * 60.0))


def next_check_after_error(
    feed: FeedState, now: datetime, errors: int, retry_after: float | None
) -> datetime:
    """Exponential backoff from the minimum interval, capped by the maximum; Retry-After wins."""
    seconds = feed.min_interval * 60.0 * (2 ** min(errors - 1, 16))
    seconds = min(seconds, feed.max_interval * 60.0)
    if retry_after:
        seconds = max(seconds, min(retry_after, 7 * 86400.0))
    return now + timedelta(seconds=seconds)


def success_changes(
    feed: FeedState,
    now: datetime,
    *,
    status: int,
    etag: str | None,
    last_modified: str | None,
    body_hash: str | None,
    new_url: str | None,
    max_age: float | None,
    retry_after: float | None,
) -> dict[str, Any]:
    """Columns to set after a successful check (200 parsed, 200 unchanged, or 304)."""
    changes: dict[str, Any] = {
        "id": feed.id,
        "status": "ok",
        "last_checked_at": now,
        "last_success_at": now,
        "consecutive_errors": 0,
        "failing_since": None,
        "last_error": None,
        "last_status": status,
        "next_check_at": next_check_after_success(
            feed, now, max_age=max_age, retry_after=retry_after
        ),
    }
    if status != 304:
        changes.update(etag=etag, last_modified=last_modified, body_hash=body_hash)
    if new_url and new_url != feed.url:
        changes["url"] = new_url
    return changes


def error_changes(
    feed: FeedState,
    now: datetime,
    *,
    message: str,
    status: int | None,
    retry_after: float | None,
    disable_after_days: int,
) -> dict[str, Any]:
    """Columns to set after a failed check: backoff, and 'dead' after too long failing."""
    errors = feed.consecutive_errors + 1
    failing_since = feed.failing_since or now
    changes: dict[str, Any] = {
        "id": feed.id,
        "status": "failing",
        "last_checked_at": now,
        "consecutive_errors": errors,
        "failing_since": failing_since,
        "last_error": message[:1000],
        "last_status": status,
        "next_check_at": next_check_after_error(feed, now, errors, retry_after),
    }
    if now - failing_since >= timedelta(days=disable_after_days):
        changes.update(
            status="dead",
            enabled=False,
            last_error=f"disabled after {disable_after_days} days failing: {message}"[:1000],
        )
    return changes
