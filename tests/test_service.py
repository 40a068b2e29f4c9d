"""`veille run` as a user meets it: a real process, python-telegram-bot talking to the loopback
Bot API server, feeds on a loopback HTTP server, metrics; the token never reaches the logs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.botapi import BotAPIServer
from tests.support.feedserver import FeedServer, Route

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "987654:SECRET-token-never-logged"

RSS = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Actu</title>
<link>https://actu.example/</link>
<item><title>Lille : Euratechnologies lance un accélérateur d'intelligence artificielle &amp; data</title>
<link>https://actu.example/lille-ia?utm_source=rss</link><guid>lille-ia</guid>
<pubDate>{date}</pubDate><description>&lt;p&gt;L'incubateur lillois accompagnera vingt start-up
de l'IA avec la Région Hauts-de-France.&lt;/p&gt;</description></item>
</channel></rss>"""


def tagged(db: Path) -> int:
    """Items tagged so far (0 while the database is not there yet)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM item_tags").fetchone()[0])
    except sqlite3.Error:
        return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(240)
def test_veille_run_serves_users_polls_and_never_logs_the_token(
    trained_models: Path, tmp_path: Path
) -> None:
    from datetime import UTC, datetime
    from email.utils import format_datetime

    state = tmp_path / "state"
    shutil.copytree(trained_models, state / "models")
    metrics_port = free_port()
    web_port = free_port()
    with BotAPIServer(token=TOKEN, limit_model="bucket") as api, FeedServer() as feeds:
        url = feeds.add(
            "/actu.xml", Route(body=RSS.format(date=format_datetime(datetime.now(UTC))).encode())
        )
        feeds_file = tmp_path / "feeds.yaml"
        feeds_file.write_text(f"feeds:\n  - id: actu\n    name: Actu\n    url: {url}\n")
        env = {
            **os.environ,
            "VEILLE_STATE_DIR": str(state),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": api.base_url,
            "VEILLE_ADMIN_CHAT_IDS": "500",
            "VEILLE_METRICS_PORT": str(metrics_port),
            "VEILLE_WEB_PORT": str(web_port),
            "VEILLE_POLL_TICK_SECONDS": "2",
            "VEILLE_PARSE_WORKERS": "1",
            "VEILLE_LOG_LEVEL": "DEBUG",
        }
        log_path = tmp_path / "run.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bot",
                    "run",
                    "--feeds",
                    str(feeds_file),
                    "--log-level",
                    "DEBUG",
                ],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            api.wait_until(lambda: tagged(state / "veille.db") >= 1, timeout=150)
            api.user_message(100, "/start")
            api.wait_for(lambda sent: any(m["chat_id"] == 100 for m in sent), timeout=60)
            api.user_message(100, "/subscribe alertes Hauts-de-France")
            api.user_message(101, "/region hauts de france", language_code="en")
            sent = api.wait_for(
                lambda s: any(
                    m["chat_id"] == 101 and "Euratechnologies" in (m["text"] or "") for m in s
                ),
                timeout=90,
            )
            reply = next(m for m in sent if m["chat_id"] == 101)
            assert "Hauts-de-France" in reply["text"] and "utm_source" not in reply["text"]
            api.user_message(102, "/region Atlantide")
            sent = api.wait_for(lambda s: any(m["chat_id"] == 102 for m in s), timeout=30)
            assert "inconnue" in next(m for m in sent if m["chat_id"] == 102)["text"]
            api.user_message(103, "/stats")
            sent = api.wait_for(lambda s: any(m["chat_id"] == 103 for m in s), timeout=30)
            assert "administrateurs" in next(m for m in sent if m["chat_id"] == 103)["text"]

            def scrape() -> str:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{metrics_port}/metrics", timeout=10
                ) as resp:
                    return str(resp.read().decode())

            # The feed's health is written when its batch of feeds ends (after tagging, stories
            # and alerts): a scrape shows it within a round, not at the instant an item is stored.
            deadline = time.monotonic() + 60
            metrics = scrape()
            while 'veille_feeds{status="ok"}' not in metrics and time.monotonic() < deadline:
                time.sleep(0.5)
                metrics = scrape()
            assert "veille_items_stored" in metrics and 'veille_feeds{status="ok"}' in metrics
            with urllib.request.urlopen(
                f"http://127.0.0.1:{metrics_port}/healthz", timeout=10
            ) as resp:
                assert resp.status == 200
            assert ("default", "") in api.commands or api.commands, "setMyCommands published"
            # The web window, started by the same process: the polled item, as a page and a feed.
            web = f"http://127.0.0.1:{web_port}"
            with urllib.request.urlopen(f"{web}/?q=Hauts-de-France", timeout=30) as resp:
                assert "Euratechnologies" in resp.read().decode()
            with urllib.request.urlopen(f"{web}/feed.atom?q=Lille", timeout=30) as resp:
                assert b"Euratechnologies" in resp.read()
            api.user_message(104, "/subscribe Hauts-de-France")
            api.wait_for(lambda s: any(m["chat_id"] == 104 for m in s), timeout=30)
            api.user_message(104, "/alerts")
            sent = api.wait_for(lambda s: sum(m["chat_id"] == 104 for m in s) >= 2, timeout=30)
            assert f"{web}/feed.atom?q=" in [m for m in sent if m["chat_id"] == 104][-1]["text"]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
    output = log_path.read_text()
    assert code == 0, output[-3000:]
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert "service started role=all" in output
