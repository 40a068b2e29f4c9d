"""Generic fixtures: feed samples, a loopback feed server, settings, a fresh store, builders."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import FeedConfig, Settings, load_settings
from bot.store.repo import Store
from tests.support.feedserver import FeedServer
from tests.support.postgres import PostgresServer, PostgresUnavailable

FIXTURES = Path(__file__).parent / "fixtures"
FEED_FILES = FIXTURES / "feeds"
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


@pytest.fixture
def feed_dir() -> Path:
    """The folder of real/ and hostile/ feed samples."""
    return FEED_FILES


@pytest.fixture
def now() -> datetime:
    """A fixed 'now' for pure functions and injected clocks."""
    return NOW


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A FeedServer on 127.0.0.1, stopped after the test."""
    with FeedServer() as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings from an environ dict whose state folder is tmp_path; keyword args are extra vars."""

    def build(**env: str) -> Settings:
        environ = {"VEILLE_STATE_DIR": str(tmp_path / "state"), "VEILLE_PARSE_WORKERS": "1", **env}
        return load_settings(environ)

    return build


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store in tmp_path."""
    db = Store.open(f"sqlite:///{tmp_path / 'store' / 'veille.db'}")
    yield db
    db.close()


def feed_config(feed_id: str, url: str, **fields: Any) -> FeedConfig:
    """A FeedConfig with test defaults (15 min .. 24 h)."""
    return FeedConfig(id=feed_id, name=fields.pop("name", feed_id.title()), url=url, **fields)


def rss(
    *items: tuple[str, str],
    title: str = "Test feed",
    guid: bool = True,
    published: datetime = NOW - timedelta(days=1),
) -> bytes:
    """A small RSS 2.0 document of (title, link) items, all published at one time."""
    date = format_datetime(published, usegmt=True)
    entries = "".join(
        f"<item><title>{t}</title><link>{link}</link>"
        + (f"<guid>{link}</guid>" if guid else "")
        + f"<pubDate>{date}</pubDate>"
        f"<description>Texte de l'article {t}.</description></item>"
        for t, link in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://example.org/</link>{entries}</channel></rss>"
    ).encode()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1 for the session; fails (never skips) without one."""
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:  # outside the except block, so the report shows only our message
        pytest.fail(
            f"PostgreSQL is needed by this test and could not be started: {problem}", pytrace=False
        )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tagger model trained once per test session (no held-out measurement), to share."""
    from classifiers.train import train

    folder = tmp_path_factory.mktemp("trained") / "models"
    train(folder, measure=False)
    return folder
