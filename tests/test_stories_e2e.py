"""End to end: one news told by three loopback feeds, polled one after the other, tagged by the
real tagger, alerted through the outbox to the loopback Bot API: one alert, edited twice, and
one digest entry naming the three sources. Plus the edits Telegram refuses."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from bot.alerting import enqueue_profile_alerts
from bot.config import FeedConfig, load_settings
from bot.query.model import Query
from bot.service import Runtime
from bot.store.alerts import AlertStore
from bot.store.chats import ChatStore
from bot.store.repo import Store
from bot.telegram_app import start_telegram
from tests.conftest_bot import utcnow
from tests.support.botapi import BotAPIServer, parse_html
from tests.support.feedserver import FeedServer, Route

pytestmark = [
    pytest.mark.timeout(600),  # the session's model is trained on first use
    pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning"),
]

CHAT = 901
# The same announcement as three outlets tell it (written for this test).
TOLD = (
    (
        "ouest",
        "Ouest Matin",
        "Bretagne : la Région lance un fonds de 20 millions d'euros pour l'intelligence "
        "artificielle",
        "Le conseil régional de Bretagne a voté à Rennes un fonds de 20 millions d'euros "
        "destiné aux PME qui adoptent l'intelligence artificielle.",
    ),
    (
        "armor",
        "Armor Éco",
        "Intelligence artificielle : 20 millions d'euros de la Région Bretagne pour les PME",
        "Réunis à Rennes, les élus régionaux ont adopté un fonds de 20 millions d'euros pour "
        "aider les PME bretonnes à adopter l'intelligence artificielle.",
    ),
    (
        "breizh",
        "Breizh Tech",
        "Rennes : le conseil régional de Bretagne vote un fonds IA de 20 millions pour les PME",
        "À Rennes, la Région Bretagne consacre 20 millions d'euros aux PME qui veulent se "
        "lancer dans l'intelligence artificielle.",
    ),
)


def feed_body(title: str, summary: str, link: str, published: datetime) -> bytes:
    """A one-item RSS document."""
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>http://example.org/</link><item><title>{escape(title)}</title>"
        f"<link>{link}</link><guid>{link}</guid>"
        f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>"
        f"<description>{escape(summary)}</description></item></channel></rss>"
    ).encode()


async def test_one_story_from_three_feeds_is_one_alert_edited_twice_and_one_digest_entry(
    tmp_path: Path, feed_server: FeedServer, trained_models: Path
) -> None:
    server = BotAPIServer(strict_html=True)
    await asyncio.to_thread(server.start)
    settings = load_settings(
        {
            "VEILLE_STATE_DIR": str(tmp_path / "state"),
            "TELEGRAM_BOT_TOKEN": server.token,
            "TELEGRAM_API_URL": server.base_url,
            "VEILLE_PARSE_WORKERS": "1",
        }
    )
    shutil.copytree(trained_models, settings.models_dir)
    store = Store.open(settings.db_url)
    rt = Runtime(settings=settings, store=store, clock=utcnow)
    jobs: dict[str, Any] = {}
    telegram = await start_telegram(rt, jobs, role="all")
    assert telegram is not None
    chats = ChatStore(store)
    try:
        now = utcnow()
        server.user_message(CHAT, "/start")
        await server.await_for(lambda s: any(m["chat_id"] == CHAT for m in s), timeout=15)
        profiles = AlertStore(store)
        query = Query(regions=("Bretagne",))
        profiles.create(
            CHAT, name="Bretagne", text="Bretagne", query=query, frequency="instant", now=now
        )
        profiles.create(
            CHAT,
            name="Bretagne",
            text="Bretagne",
            query=query,
            frequency="weekly",
            now=now,
            next_digest_at=now + timedelta(days=30),
        )
        before = len(server.sent_to(CHAT))

        async def alert(ids: Sequence[int]) -> int:
            queued = await asyncio.to_thread(enqueue_profile_alerts, store, chats, ids, utcnow())
            telegram.sender.wake.set()
            return queued

        configs: list[FeedConfig] = []
        for n, (feed_id, name, title, summary) in enumerate(TOLD):
            link = f"https://{feed_id}.example/articles/fonds-ia"
            published = now - timedelta(hours=3 - n)
            url = feed_server.add(
                f"/{feed_id}", Route(body=feed_body(title, summary, link, published))
            )
            configs.append(FeedConfig(id=feed_id, name=name, url=url, full_text="never"))
            store.sync_feeds(configs, utcnow())  # one more outlet tells it
            async with rt.poller(alert_new=alert) as poller:
                report = await poller.poll_due()
            assert (report.new_items, report.tagged) == (1, 1), report
            if n == 0:
                await server.await_for(
                    lambda s: len([m for m in s if m["chat_id"] == CHAT]) > before
                )
            else:
                await server.await_until(lambda k=n: len(server.edits) >= k, timeout=15)

        await asyncio.sleep(1.5)  # a second alert would have gone out by now
        sent = server.sent_to(CHAT)[before:]
        assert len(sent) == 1, [m["plain_text"] for m in sent]
        [message] = sent
        assert "Ouest Matin" in message["plain_text"]
        with server.lock:
            edits = [e for e in server.edits if e["message_id"] == message["message_id"]]
        assert [e["method"] for e in edits] == ["editMessageText"] * 2
        assert "aussi dans : Armor Éco" in edits[0]["plain_text"]
        assert "aussi dans : Armor Éco, Breizh Tech" in edits[1]["plain_text"]
        assert "🔔 alertes : Bretagne" in edits[1]["plain_text"]  # the footer is kept
        for entry in (message, *edits):
            parse_html(entry["text"], strict=True)

        # The weekly digest: one entry for the story, with its three sources.
        [weekly] = [p for p in profiles.of_chat(CHAT) if p.frequency == "weekly"]
        profiles.update(weekly.id, CHAT, next_digest_at=utcnow() - timedelta(minutes=1))
        digests, _every = jobs["digests"]
        await digests()
        snap = await server.await_for(
            lambda s: any(m["chat_id"] == CHAT and "synthèse" in (m["plain_text"] or "") for m in s)
        )
        [digest] = [
            m for m in snap if m["chat_id"] == CHAT and "synthèse" in (m["plain_text"] or "")
        ]
        text = digest["plain_text"]
        assert TOLD[0][2] in text and sum(text.count(told[2]) for told in TOLD) == 1, text
        assert "Ouest Matin" in text and "aussi dans : Armor Éco, Breizh Tech" in text
        assert "1 sujet" in text
        with server.lock:
            refused = [c for c in server.calls if c["status"] != 200]
        assert refused == []
        # Listings and counts: one entry per story.
        [entry] = store.recent_items(regions=["Bretagne"])
        assert store.duplicates_of([entry.id])[entry.id] == ["Armor Éco", "Breizh Tech"]
        assert store.label_counts("region", now - timedelta(days=1)) == {"Bretagne": 1}
        story_ids = {i.story_id for i in store.recent_items(include_duplicates=True)}
        assert len(story_ids) == 1 and None not in story_ids
    finally:
        await telegram.stop_all()
        store.close()
        await asyncio.to_thread(server.stop)
