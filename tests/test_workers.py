"""The parse/tag worker processes: what they import, what they tag, and when they end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bot.feeds.workers import WorkerPool, parse_and_tag, pool_size
from bot.query.stems import index_text
from tests.conftest import NOW, rss

ROOT = Path(__file__).resolve().parents[1]


def test_a_worker_imports_neither_sqlalchemy_nor_pydantic() -> None:
    """Unpickling a job imports bot.feeds.workers: it must stay light (workers start fast)."""
    code = (
        "import sys, bot.feeds.workers; "
        "print(sorted(m for m in ('sqlalchemy', 'pydantic', 'sklearn', 'bot.feeds.poller') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_parse_and_tag_tags_only_the_items_not_known(trained_models: Path) -> None:
    body = rss(
        (
            "La Région Bretagne lance un appel à projets en intelligence artificielle",
            "https://example.org/a",
        ),
        ("Un laboratoire lillois d'intelligence artificielle recrute", "https://example.org/b"),
    )
    parsed, tagged, _ = parse_and_tag(body, NOW, None, "fr", None, str(trained_models))
    assert len(parsed.items) == 2 and set(tagged) == {p.dedup_key for p in parsed.items}
    first = parsed.items[0].dedup_key
    assert "Bretagne" in tagged[first]["regions"] and tagged[first]["model_version"]
    again, only_new, _ = parse_and_tag(body, NOW, None, "fr", None, str(trained_models), {first})
    assert set(only_new) == {again.items[1].dedup_key}
    _, untagged, _ = parse_and_tag(body, NOW, None, "fr", None, None)
    assert untagged == {}


def test_parse_and_tag_stems_the_new_items_for_the_full_text_index() -> None:
    body = rss(
        ("Des jumeaux numériques", "https://example.org/a"), ("Autre", "https://example.org/b")
    )
    parsed, _, stems = parse_and_tag(body, NOW, None, "fr", None, None, index=True)
    first, second = parsed.items
    assert stems == {
        first.dedup_key: index_text(first.title, first.summary, first.content),
        second.dedup_key: index_text(second.title, second.summary, second.content),
    }
    _, _, only_new = parse_and_tag(body, NOW, None, "fr", None, None, {first.dedup_key}, True)
    assert set(only_new) == {second.dedup_key}
    assert parse_and_tag(body, NOW, None, "fr", None, None).stems == {}  # PostgreSQL stems itself


def test_the_pool_keeps_a_core_for_the_service_process_when_tagging() -> None:
    assert pool_size(0, tagging=True, cpus=2) == 1
    assert pool_size(0, tagging=True, cpus=4) == 3
    assert pool_size(0, tagging=True, cpus=1) == 1
    assert pool_size(0, tagging=False, cpus=2) == 2
    assert pool_size(2, tagging=True, cpus=2) == 2  # VEILLE_PARSE_WORKERS decides


def test_the_pool_starts_workers_on_work_and_ends_them_when_idle() -> None:
    pool = WorkerPool(2, idle_seconds=0.5)
    try:
        assert pool.processes == []  # nothing started before there is work
        assert pool.submit(os.getpid).result(timeout=60) != os.getpid()
        assert len(pool.processes) >= 1
        deadline = time.monotonic() + 30
        while pool.processes and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pool.processes == []  # idle: ended
        assert pool.submit(sum, [1, 2]).result(timeout=60) == 3  # and started again on work
    finally:
        pool.shutdown()
