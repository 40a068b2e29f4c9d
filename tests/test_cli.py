"""The `veille` command run as a subprocess against feeds served on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import load_feeds
from tests.conftest import rss
from tests.support.feedserver import FeedServer, Route

pytestmark = pytest.mark.timeout(120)

TITLES = (
    "La Région Bretagne lance un fonds pour l'IA",
    "Un laboratoire lillois ouvre une chaire en apprentissage automatique",
    "Occitanie : 12 startups retenues par l'accélérateur",
)


@dataclass
class Veille:
    """Runs `python -m bot` with a private state folder and a feeds file."""

    home: Path
    feeds: Path

    def run(self, *args: str, feeds: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run one command; the output is captured as text."""
        environ = {
            k: v for k, v in os.environ.items() if not k.startswith(("VEILLE_", "TELEGRAM_"))
        }
        environ.update(
            VEILLE_STATE_DIR=str(self.home / "state"),
            COLUMNS="250",
            NO_COLOR="1",
            TERM="dumb",
            VEILLE_PARSE_WORKERS="2",
        )
        return subprocess.run(
            [sys.executable, "-m", "bot", *args, "--feeds", str(feeds or self.feeds)],
            cwd=self.home,
            env=environ,
            capture_output=True,
            text=True,
            timeout=100,
            check=False,
        )


def feeds_yaml(entries: list[tuple[str, str, str]]) -> str:
    """A feeds file of (id, name, url)."""
    lines = ["feeds:"]
    for feed_id, name, url in entries:
        lines += [
            f"  - id: {feed_id}",
            f'    name: "{name}"',
            f"    url: {url}",
            "    language: fr",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    """One feed server for the module."""
    with FeedServer() as srv:
        yesterday = datetime.now(UTC) - timedelta(days=1)
        srv.add(
            "/regions.xml",
            Route(
                body=rss(
                    (TITLES[0], "https://bzh.example/fonds-ia?utm_source=rss"),
                    (TITLES[1], "https://lille.example/chaire"),
                    published=yesterday,
                )
            ),
        )
        srv.add(
            "/startups.xml",
            Route(
                body=rss(
                    (TITLES[2], "https://occitanie.example/accelerateur"), published=yesterday
                ),
                gzip=True,
            ),
        )
        yield srv


@pytest.fixture(scope="module")
def polled(server: FeedServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Veille, str]:
    """A home folder whose feeds were polled once; with the poll's output."""
    home = tmp_path_factory.mktemp("veille")
    feeds = home / "feeds.yaml"
    feeds.write_text(
        feeds_yaml(
            [
                ("regions", "Actu des régions", server.url("/regions.xml")),
                ("startups", "Startups d'Occitanie", server.url("/startups.xml")),
                ("gone", "Site disparu", server.url("/missing.xml")),
            ]
        ),
        encoding="utf-8",
    )
    veille = Veille(home, feeds)
    result = veille.run("poll", "--once", "--no-tag")
    assert result.returncode == 0, result.stderr
    return veille, result.stdout


def test_poll_once_reports_items(polled: tuple[Veille, str]) -> None:
    veille, out = polled
    assert "3 feeds polled" in out
    assert "2 ok" in out and "1 failed" in out
    assert "3 new items" in out
    assert "gone: HTTP 404" in out
    assert (veille.home / "state" / "veille.db").is_file()


def test_feeds_prints_the_health_table(polled: tuple[Veille, str]) -> None:
    veille, _ = polled
    result = veille.run("feeds")
    assert result.returncode == 0, result.stderr
    rows = {
        line.split("│")[1].strip(): line
        for line in result.stdout.splitlines()
        if line.count("│") > 3 and line.split("│")[1].strip()
    }
    assert {"regions", "startups", "gone"} <= set(rows)
    assert "ok" in rows["regions"] and "│ 2 " in rows["regions"]
    assert "ok" in rows["startups"] and "│ 1 " in rows["startups"]
    assert "failing since" in rows["gone"] and "HTTP 404" in rows["gone"]
    assert "Feeds (" in result.stdout


def test_items_lists_the_stored_titles(polled: tuple[Veille, str]) -> None:
    veille, _ = polled
    result = veille.run("items", "--all", "--since", "30d")
    assert result.returncode == 0, result.stderr
    assert "3 item(s)" in result.stdout
    for title in TITLES:
        assert title in result.stdout
    assert "Actu des régions" in result.stdout


def test_items_search_is_accent_insensitive(polled: tuple[Veille, str]) -> None:
    veille, _ = polled
    result = veille.run("items", "--all", "--since", "30d", "--search", "accelerateur")
    assert result.returncode == 0, result.stderr
    assert "1 item(s)" in result.stdout
    assert TITLES[2] in result.stdout


def test_second_poll_is_not_modified(polled: tuple[Veille, str], server: FeedServer) -> None:
    veille, _ = polled
    before = dict(server.conditional_hits)
    result = veille.run("poll", "--once", "--no-tag")
    assert result.returncode == 0, result.stderr
    assert "2 not modified" in result.stdout
    assert "0 new items" in result.stdout
    assert server.conditional_hits["/regions.xml"] == before.get("/regions.xml", 0) + 1


def test_export_then_import_round_trips(polled: tuple[Veille, str]) -> None:
    veille, _ = polled
    exported = veille.run("feeds", "export")
    assert exported.returncode == 0, exported.stderr
    root = ET.fromstring(exported.stdout)
    outlines = root.findall("./body/outline")
    assert [o.get("text") for o in outlines] == [
        "Actu des régions",
        "Startups d'Occitanie",
        "Site disparu",
    ]

    opml_file = veille.home / "export.opml"
    opml_file.write_text(exported.stdout, encoding="utf-8")
    other = veille.home / "other.yaml"
    imported = veille.run("feeds", "import", str(opml_file), feeds=other)
    assert imported.returncode == 0, imported.stderr
    assert "added 3 feed(s)" in imported.stdout

    original = load_feeds(veille.feeds).feeds
    copy = load_feeds(other).feeds
    assert [(f.name, f.url) for f in copy] == [(f.name, f.url) for f in original]

    again = veille.run("feeds", "import", str(opml_file), feeds=other)
    assert again.returncode == 0, again.stderr
    assert "added 0 feed(s)" in again.stdout
    assert len(load_feeds(other).feeds) == 3


def test_bad_feeds_file_exits_2_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "feeds:\n  - id: a\n    name: A\n    url: http://127.0.0.1:9/a\n    region: Atlantide\n",
        encoding="utf-8",
    )
    veille = Veille(tmp_path, bad)
    for command in (("feeds",), ("poll", "--once", "--no-tag")):
        result = veille.run(*command)
        assert result.returncode == 2
        assert f"{bad}:5: feeds[0].region" in " ".join(result.stdout.split())
        assert "Traceback" not in result.stderr


def test_bad_setting_exits_2(tmp_path: Path, polled: tuple[Veille, str]) -> None:
    veille, _ = polled
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    environ.update(VEILLE_STATE_DIR=str(tmp_path), VEILLE_MAX_BODY_BYTES="lots", COLUMNS="250")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "feeds", "--feeds", str(veille.feeds)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode == 2
    assert "VEILLE_MAX_BODY_BYTES='lots': expected an integer" in result.stdout
