"""End to end: the real python-telegram-bot Application, our handlers and Sender, against the
fake Bot API server on loopback. The test plays the user (server.user_message, press_button)
and reads what the bot sent (server.sent, server.edits).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import load_settings
from bot.service import Runtime
from bot.store.alerts import AlertStore
from bot.store.chats import ChatStore
from bot.store.corrections import correction_examples
from bot.store.repo import Store
from bot.telegram_app import BotRuntime, start_telegram
from tests.conftest_bot import Spec, add_items, days_ago, gazetteer, texts, utcnow
from tests.support.botapi import MAX_CALLBACK_DATA, BotAPIServer, parse_html

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning"),
]

ADMIN = 4242
PARIS = ZoneInfo("Europe/Paris")
HOSTILE = 'Lille <script>alert("x")</script> & l\'IA > tout'


@dataclass
class Bot:
    """A running bot and what the test needs to drive it."""

    server: BotAPIServer
    rt: Runtime
    chats: ChatStore
    telegram: BotRuntime
    ids: dict[str, int]
    jobs: dict[str, Any]

    async def ask(self, chat_id: int, text: str, *, n: int = 1, **kw: Any) -> list[dict[str, Any]]:
        """Send text as a user of chat_id; the bot's next n messages to that chat."""
        before = len(self.server.sent_to(chat_id))
        self.server.user_message(chat_id, text, **kw)
        snap = await self.server.await_for(
            lambda sent: sum(m["chat_id"] == chat_id for m in sent) >= before + n, timeout=15
        )
        return [m for m in snap if m["chat_id"] == chat_id][before:]

    async def press(self, chat_id: int, message_id: int, data: str) -> dict[str, Any]:
        """Press a button of a bot message; the edit it caused."""
        assert len(data.encode()) <= MAX_CALLBACK_DATA
        with self.server.lock:
            before = len(self.server.edits)
        self.server.press_button(chat_id, message_id, data)
        await self.server.await_until(lambda: len(self.server.edits) > before, timeout=15)
        with self.server.lock:
            return dict(self.server.edits[-1])

    def failed_calls(self) -> list[tuple[str, int, str]]:
        """Requests the server refused (none expected: bad HTML, long callback data...)."""
        with self.server.lock:
            return [
                (c["method"], c["status"], c["description"])
                for c in self.server.calls
                if c["status"] != 200
            ]


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The inline buttons of a sent message or edit, flattened."""
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    """The first button whose text contains label."""
    return next(b for b in buttons(message) if label in b["text"])


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    """A bot on a fresh store with a few tagged items, talking to a fake Bot API."""
    server = BotAPIServer(strict_html=True)
    await asyncio.to_thread(server.start)
    settings = load_settings(
        {
            "VEILLE_STATE_DIR": str(tmp_path / "state"),
            "TELEGRAM_BOT_TOKEN": server.token,
            "TELEGRAM_API_URL": server.base_url,
            "VEILLE_ADMIN_CHAT_IDS": str(ADMIN),
        }
    )
    store = Store.open(settings.db_url)
    now = utcnow()
    specs = {
        "hdf_new": Spec(
            "Hauts-de-France : un fonds de 10 M€ pour l'IA",
            days_ago(now, 1),
            ("Hauts-de-France",),
            ("funding",),
        ),
        "hdf_mid": Spec(
            "Jumeau numérique du port de Dunkerque",
            days_ago(now, 3),
            ("Hauts-de-France",),
            ("research",),
            summary="Un jumeau numérique.",
        ),
        "hdf_hostile": Spec(
            HOSTILE,
            days_ago(now, 5),
            ("Hauts-de-France",),
            ("event",),
            link='https://example.org/?a=1&b="2"',
        ),
        "bzh": Spec(
            "Rennes accueille un campus IA en Bretagne",
            days_ago(now, 2),
            ("Bretagne",),
            ("training",),
        ),
    }
    ids = dict(zip(specs, add_items(store, list(specs.values()), now), strict=True))
    more = add_items(
        store,
        [
            Spec(
                f"Bretagne : annonce IA numéro {k} de la semaine",
                days_ago(now, 4 + k / 10),
                ("Bretagne",),
                ("funding",),
            )
            for k in range(10)
        ],
        now,
        feed_id="ouest",
        feed_name="Ouest-France",
    )
    ids["bzh_more"] = more[0]
    rt = Runtime(settings=settings, store=store, clock=utcnow, _gazetteer=gazetteer())
    jobs: dict[str, Any] = {}
    telegram = await start_telegram(rt, jobs, role="all")
    assert telegram is not None
    try:
        yield Bot(server, rt, ChatStore(store), telegram, ids, jobs)
    finally:
        await telegram.stop_all()
        store.close()
        await asyncio.to_thread(server.stop)


def assert_valid_html(server: BotAPIServer) -> None:
    """Every accepted message and edit is Telegram HTML (the server parsed it strictly)."""
    with server.lock:
        entries = [*server.sent, *server.edits]
    for entry in entries:
        body = entry.get("text") or entry.get("caption")
        if body and entry.get("parse_mode") == "HTML":
            parse_html(body, strict=True)
        assert entry.get("parse_mode") in {"HTML", None}
        for b in buttons(entry):
            assert len(b["callback_data"].encode()) <= MAX_CALLBACK_DATA


async def test_help_language_and_commands_menu(bot: Bot) -> None:
    (start,) = await bot.ask(101, "/start")
    assert "Veille IA" in start["plain_text"] and "S'abonner" in start["plain_text"]
    (helped,) = await bot.ask(102, "/help")
    assert "/region Hauts-de-France" in helped["plain_text"]
    (english,) = await bot.ask(103, "/start", language_code="en")
    assert "AI & innovation watch" in english["plain_text"]
    (switched,) = await bot.ask(101, "/lang en")
    assert switched["plain_text"] == "Language: English."
    (again,) = await bot.ask(101, "/help")
    assert "Subscribe" in again["plain_text"]
    with bot.server.lock:
        commands = dict(bot.server.commands)
    assert {c["command"] for c in commands[("default", "")]} >= {"start", "region", "subscribe"}
    assert commands[("default", "en")][0]["description"] == "About"
    assert bot.failed_calls() == []
    assert_valid_html(bot.server)


async def test_region_lookups(bot: Bot) -> None:
    for chat, query in enumerate(("Hauts-de-France", "hauts de france", "HDF", "Lille"), 201):
        (reply,) = await bot.ask(chat, f"/region {query}")
        text = reply["plain_text"]
        assert "Hauts-de-France" in text.splitlines()[0]
        order = [
            text.index("fonds de 10 M€"),
            text.index("Jumeau numérique"),
            text.index("<script>"),
        ]
        assert order == sorted(order), "newest first"
        assert "Rennes" not in text
        assert f"La Voix du Nord · {days_ago(utcnow(), 1).astimezone(PARIS):%d/%m/%Y}" in text
        links = [e["url"] for e in reply["entities"] if e["type"] == "text_link"]
        assert "https://example.org/?a=1&b=%222%22" in links  # the canonical link, quotes encoded
        # the hostile title was escaped, so it shows literally and adds no markup
        assert HOSTILE in text
        assert "&lt;script&gt;" in reply["text"] and "&amp;" in reply["text"]
    (unknown,) = await bot.ask(205, "/region Atlantide")
    assert "Région inconnue : « Atlantide »" in unknown["plain_text"]
    suggested = buttons(unknown)
    assert suggested and all(b["callback_data"].startswith("rg:") for b in suggested)
    edit = await bot.press(205, unknown["message_id"], suggested[0]["callback_data"])
    assert suggested[0]["text"] in edit["plain_text"]
    assert bot.failed_calls() == []
    assert_valid_html(bot.server)


async def test_listing_commands(bot: Bot) -> None:
    (latest,) = await bot.ask(301, "/latest")
    assert "Derniers articles" in latest["plain_text"]
    assert "14 sujet(s) · page 1/2" in latest["plain_text"]
    nxt = button(latest, "Suivant")
    page2 = await bot.press(301, latest["message_id"], nxt["callback_data"])
    assert "14 sujet(s) · page 2/2" in page2["plain_text"]
    (region,) = await bot.ask(300, "/region Bretagne")
    assert "11 sujet(s) · page 1/2" in region["plain_text"]
    # each line: linked title, source, date, regions and main type
    day = days_ago(utcnow(), 2).astimezone(PARIS)
    assert f"La Voix du Nord · {day:%d/%m/%Y} · Bretagne · formation" in region["plain_text"]
    lines = [x for x in region["plain_text"].splitlines() if "Ouest-France ·" in x]
    assert len(lines) == 7 and all("· Bretagne · financement · /why_" in x for x in lines)
    links = [e for e in region["entities"] if e["type"] == "text_link"]
    assert len(links) == 8
    (kind,) = await bot.ask(302, "/type financement")
    assert "financement" in kind["plain_text"] and "fonds de 10 M€" in kind["plain_text"]
    assert "Jumeau" not in kind["plain_text"]
    assert "11 sujet(s) · page 1/2" in kind["plain_text"]
    assert "· Hauts-de-France · financement ·" in kind["plain_text"]
    more = await bot.press(302, kind["message_id"], button(kind, "Suivant")["callback_data"])
    assert (
        "11 sujet(s) · page 2/2" in more["plain_text"]
        and "fonds de 10 M€" not in more["plain_text"]
    )
    (found,) = await bot.ask(303, "/search jumeau numérique")
    assert "Jumeau numérique du port" in found["plain_text"]
    assert "1 sujet(s) · page 1/1" in found["plain_text"]
    assert "· Hauts-de-France · recherche ·" in found["plain_text"]
    (nothing,) = await bot.ask(304, "/search zzzyyyxxx")
    assert "Aucun article" in nothing["plain_text"]
    (counts,) = await bot.ask(305, "/regions")
    assert "Bretagne : 11" in counts["plain_text"] and "Hauts-de-France : 3" in counts["plain_text"]
    assert bot.failed_calls() == []
    assert_valid_html(bot.server)


async def test_digest_command_is_the_scheduled_message(bot: Bot) -> None:
    chat = 306
    (preview, week_map, chart) = await bot.ask(chat, "/digest", n=3)  # no alert: everything
    assert "synthèse de la semaine" in preview["plain_text"]
    assert "Hauts-de-France" in preview["plain_text"] and "Bretagne" in preview["plain_text"]
    assert week_map["photo"].startswith(b"\x89PNG") and chart["photo"].startswith(b"\x89PNG")
    await bot.ask(chat, "/subscribe Hauts-de-France hebdo")
    shown = await bot.ask(chat, "/digest", n=3)
    [alert] = AlertStore(bot.rt.store).of_chat(chat)
    AlertStore(bot.rt.store).update(alert.id, chat, next_digest_at=utcnow() - timedelta(minutes=1))
    before = len(bot.server.sent_to(chat))
    digests, _every = bot.jobs["digests"]
    await digests()
    snap = await bot.server.await_for(
        lambda s: sum(m["chat_id"] == chat for m in s) >= before + 3, timeout=15
    )
    sent = [m for m in snap if m["chat_id"] == chat][before:]
    assert [m["text"] or m["caption"] for m in sent] == [m["text"] or m["caption"] for m in shown]
    assert [m["photo"] for m in sent] == [m["photo"] for m in shown]  # the same map and chart
    assert "Rennes" not in shown[0]["plain_text"] and "fonds de 10 M€" in shown[0]["plain_text"]
    assert bot.failed_calls() == []
    assert_valid_html(bot.server)


async def test_alert_profiles(bot: Bot) -> None:
    chat = 401
    (ok,) = await bot.ask(chat, "/subscribe Hauts-de-France")
    assert "Alerte créée : Hauts-de-France" in ok["plain_text"]
    assert "Prochain envoi" in ok["plain_text"] and "(Europe/Paris)" in ok["plain_text"]
    (kw,) = await bot.ask(chat, '/subscribe "jumeau numérique" -cybersécurité hebdo')
    assert "« jumeau numérique » · sans cybersécurité" in kw["plain_text"]
    (legacy,) = await bot.ask(chat, "/subscribe mot IA générative")
    assert "Alerte créée : générative" in legacy["plain_text"]
    profiles = AlertStore(bot.rt.store).of_chat(chat)
    assert [p.query.regions for p in profiles] == [("Hauts-de-France",), (), ()]
    assert profiles[1].query.excludes == ("cybersécurité",) and profiles[1].frequency == "weekly"

    (listing,) = await bot.ask(chat, "/alerts")
    assert "Vos alertes" in listing["plain_text"] and len(buttons(listing)) == 9
    edit = await bot.press(chat, listing["message_id"], buttons(listing)[0]["callback_data"])
    hour = button(edit, "18h")
    edit = await bot.press(chat, listing["message_id"], hour["callback_data"])
    assert button(edit, "18h")["text"] == "✓ 18h"
    assert " 18:00 (Europe/Paris)" in edit["plain_text"]
    paused = await bot.press(chat, listing["message_id"], button(edit, "Pause")["callback_data"])
    assert "en pause" in paused["plain_text"]
    gone = await bot.press(
        chat, listing["message_id"], button(paused, "Supprimer")["callback_data"]
    )
    assert "Alerte supprimée : Hauts-de-France" in gone["plain_text"]
    assert len(AlertStore(bot.rt.store).of_chat(chat)) == 2

    (zone,) = await bot.ask(chat, "/fuseau")
    reunion = button(zone, "Reunion")
    moved = await bot.press(chat, zone["message_id"], reunion["callback_data"])
    assert "Fuseau horaire : Indian/Reunion" in moved["plain_text"]
    (shown,) = await bot.ask(chat, "/settings")
    assert "Indian/Reunion" in shown["plain_text"] and "jumeau" in shown["plain_text"]

    (one,) = await bot.ask(chat, "/unsubscribe 1")
    assert "Alerte supprimée" in one["plain_text"]
    (off,) = await bot.ask(chat, "/unsubscribe")
    assert "ne recevrez plus rien" in off["plain_text"]
    assert AlertStore(bot.rt.store).of_chat(chat) == []
    (bye,) = await bot.ask(chat, "/stop")
    assert "effacées" in bye["plain_text"]
    assert bot.chats.get(chat) is None
    assert bot.failed_calls() == []
    assert_valid_html(bot.server)


async def test_questions_unknown_commands_and_long_arguments(bot: Bot) -> None:
    (asked,) = await bot.ask(451, "bonjour, je cherche les financements IA en Hauts-de-France")
    assert "Hauts-de-France · financement" in asked["plain_text"]
    assert "fonds de 10 M€" in asked["plain_text"]
    (combined,) = await bot.ask(452, "/region Hauts-de-France financement")
    assert "fonds de 10 M€" in combined["plain_text"] and "Jumeau" not in combined["plain_text"]
    (typo,) = await bot.ask(453, "/region Lile")
    assert "Lille (Hauts-de-France)" in typo["plain_text"]
    (unknown,) = await bot.ask(454, "/serch jumeau")
    assert "/search" in unknown["plain_text"] and "/help" in unknown["plain_text"]
    for chat, command in enumerate(("/search ", "/region ", "/subscribe ", "/type ", ""), 455):
        replies = await bot.ask(chat, command + "é" * 5000)
        assert all(len(r["text"]) <= 4096 for r in replies)
        assert all("é" * 100 not in r["text"] for r in replies), "the argument is not echoed"
    group = -7002
    bot.server.set_chat(group, "group", title="Club")
    before = len(bot.server.sent_to(group))
    bot.server.user_message(group, "les financements en Bretagne ?", user_id=71)
    bot.server.user_message(group, "/inconnue", user_id=71)
    (addressed,) = await bot.ask(group, "@veille_test_bot financements en Bretagne", user_id=71)
    assert "Bretagne · financement" in addressed["plain_text"]
    assert len(bot.server.sent_to(group)) == before + 1, "quiet unless addressed"
    assert bot.failed_calls() == []
    assert_valid_html(bot.server)


async def test_why_and_corrections(bot: Bot) -> None:
    chat, item = 501, bot.ids["hdf_new"]
    (why,) = await bot.ask(chat, f"/why {item}")
    assert "Pourquoi ces étiquettes" in why["plain_text"] and "Hauts-de-France" in why["plain_text"]
    fix = button(why, "Corriger la région")
    pick = await bot.press(chat, why["message_id"], fix["callback_data"])
    assert {"Bretagne", "🇫🇷 National", "Aucune région", "✖ Annuler"} <= {
        b["text"] for b in buttons(pick)
    }
    back = await bot.press(chat, why["message_id"], button(pick, "Annuler")["callback_data"])
    assert (
        "Pourquoi ces étiquettes" in back["plain_text"] and correction_examples(bot.rt.store) == []
    )
    pick = await bot.press(chat, why["message_id"], fix["callback_data"])
    saved = await bot.press(chat, why["message_id"], button(pick, "Bretagne")["callback_data"])
    # the tags change at once: /why says so, and lists put the item under Bretagne
    assert "Les étiquettes sont corrigées" in saved["plain_text"]
    assert (
        "📍 Bretagne" in saved["plain_text"] and "corrigé par un utilisateur" in saved["plain_text"]
    )
    assert "📍 Hauts-de-France" not in saved["plain_text"]
    (listing,) = await bot.ask(chat, "/region Bretagne")
    assert "fonds de 10 M€" in listing["plain_text"]
    examples = correction_examples(bot.rt.store)
    assert [list(e.regions) for e in examples] == [["Bretagne"]]
    pick = await bot.press(chat, why["message_id"], fix["callback_data"])
    national = await bot.press(chat, why["message_id"], button(pick, "National")["callback_data"])
    assert "🇫🇷 national" in national["plain_text"] and "📍" not in national["plain_text"]
    (short,) = await bot.ask(chat, f"/why_{bot.ids['bzh']}")
    assert "Bretagne" in short["plain_text"]
    assert bot.failed_calls() == []
    assert_valid_html(bot.server)


async def test_in_groups_only_admins_correct(bot: Bot) -> None:
    group, item = -7101, bot.ids["hdf_mid"]
    bot.server.set_chat(group, "group", title="Club")
    bot.server.set_admins(group, [72])
    (why,) = await bot.ask(group, f"/why@veille_test_bot {item}", user_id=71)
    fix = button(why, "Corriger le type")
    with bot.server.lock:
        answered = len(bot.server.callback_answers)
    bot.server.press_button(group, why["message_id"], fix["callback_data"], user_id=71)
    await bot.server.await_until(lambda: len(bot.server.callback_answers) > answered, timeout=15)
    with bot.server.lock:
        refusal = bot.server.callback_answers[-1]
    assert "réservée aux administrateurs" in (refusal.get("text") or "")
    assert any(c["method"].lower() == "getchatmember" for c in bot.server.calls)
    with bot.server.lock:
        before = len(bot.server.edits)
    bot.server.press_button(group, why["message_id"], fix["callback_data"], user_id=72)
    await bot.server.await_until(lambda: len(bot.server.edits) > before, timeout=15)
    with bot.server.lock:
        pick = dict(bot.server.edits[-1])
    with bot.server.lock:
        before = len(bot.server.edits)
    bot.server.press_button(
        group, why["message_id"], button(pick, "vénement")["callback_data"], user_id=72
    )
    await bot.server.await_until(lambda: len(bot.server.edits) > before, timeout=15)
    [stored] = bot.rt.store.recent_items(ids=[item], limit=1)
    assert stored.primary_type == "event" and "event" in stored.types
    assert bot.failed_calls() == []
    assert_valid_html(bot.server)


async def test_admin_commands(bot: Bot) -> None:
    (refused,) = await bot.ask(601, "/stats")
    assert "réservée aux administrateurs" in refused["plain_text"]
    (refused,) = await bot.ask(602, "/feeds")
    assert "réservée aux administrateurs" in refused["plain_text"]
    (stats,) = await bot.ask(ADMIN, "/stats")
    assert "items: 14" in stats["plain_text"]
    (feeds,) = await bot.ask(ADMIN, "/feeds")
    assert "la-voix" in feeds["plain_text"]
    (private,) = await bot.ask(ADMIN, f"/addfeed {bot.server.url}/rss.xml")
    assert "Refusé" in private["plain_text"] and "127.0.0.1" in private["plain_text"]
    (removed,) = await bot.ask(ADMIN, "/removefeed ouest")
    assert "désactivée" in removed["plain_text"]
    # a channel post cannot reach admin commands either
    before = len(bot.server.sent_to(-1009))
    bot.server.channel_post(-1009, "/stats")
    snap = await bot.server.await_for(lambda s: sum(m["chat_id"] == -1009 for m in s) > before)
    assert "réservée" in texts(m for m in snap if m["chat_id"] == -1009)[-1]
    assert bot.failed_calls() == []
    assert_valid_html(bot.server)


async def test_groups_and_channels(bot: Bot) -> None:
    group = -7001
    bot.server.set_chat(group, "group", title="Club IA & Co")
    (reply,) = await bot.ask(group, "/region@veille_test_bot HDF", user_id=71)
    assert "Hauts-de-France" in reply["plain_text"]
    (refused,) = await bot.ask(group, "/subscribe@veille_test_bot Bretagne", user_id=71)
    assert "réservée" in refused["plain_text"], "a plain member cannot change the group"
    bot.server.set_admins(group, [72])
    (ok,) = await bot.ask(group, "/subscribe@veille_test_bot Bretagne", user_id=72)
    assert "Alerte créée : Bretagne" in ok["plain_text"]
    [alert] = AlertStore(bot.rt.store).of_chat(group)
    assert alert.query.regions == ("Bretagne",)
    stored = bot.chats.get(group)
    assert stored is not None and stored.type == "group" and stored.title == "Club IA & Co"

    channel = -1005001
    before = len(bot.server.sent_to(channel))
    bot.server.channel_post(channel, "/subscribe Hauts-de-France", title="Veille <IA>")
    snap = await bot.server.await_for(lambda s: sum(m["chat_id"] == channel for m in s) > before)
    assert (
        "Alerte créée : <b>Hauts-de-France</b>"
        in texts(m for m in snap if m["chat_id"] == channel)[-1]
    )
    assert bot.chats.get(channel).type == "channel"  # type: ignore[union-attr]
    assert bot.failed_calls() == []
    assert_valid_html(bot.server)


async def test_settings_say_the_next_digest_and_an_empty_one_may_be_one_line(bot: Bot) -> None:
    chat = 811
    (created,) = await bot.ask(chat, "/subscribe Occitanie hebdo")  # nothing there
    assert "Prochain envoi : lundi" in created["plain_text"]
    (shown,) = await bot.ask(chat, "/settings")
    assert (
        "Prochain envoi : lundi" in shown["plain_text"]
        and "08:00 (Europe/Paris)" in shown["plain_text"]
    )
    assert "Synthèse vide : ne rien envoyer" in shown["plain_text"]
    [alert] = AlertStore(bot.rt.store).of_chat(chat)
    digests, _every = bot.jobs["digests"]
    AlertStore(bot.rt.store).update(alert.id, chat, next_digest_at=utcnow() - timedelta(minutes=1))
    before = len(bot.server.sent_to(chat))
    await digests()
    await asyncio.sleep(1.5)
    assert len(bot.server.sent_to(chat)) == before, "an empty digest is skipped by default"
    edit = await bot.press(chat, shown["message_id"], button(shown, "une ligne")["callback_data"])
    assert "Synthèse vide : une ligne" in edit["plain_text"]
    assert "✓ une ligne" in {b["text"] for b in buttons(edit)}
    AlertStore(bot.rt.store).update(alert.id, chat, next_digest_at=utcnow() - timedelta(minutes=1))
    await digests()
    snap = await bot.server.await_for(lambda s: sum(m["chat_id"] == chat for m in s) > before)
    [line] = [m for m in snap if m["chat_id"] == chat][before:]
    assert line["plain_text"] == (
        "📭 Veille IA & innovation — synthèse de la semaine : rien de nouveau pour vos alertes"
        " (Occitanie)."
    )
    assert not line["photo"]
    assert bot.failed_calls() == []
    assert_valid_html(bot.server)


async def test_due_weekly_digest_is_delivered_with_its_map_and_chart(bot: Bot) -> None:
    chat = 801
    (ok,) = await bot.ask(chat, "/subscribe Hauts-de-France hebdo")
    assert "Alerte créée" in ok["plain_text"]
    [alert] = AlertStore(bot.rt.store).of_chat(chat)
    AlertStore(bot.rt.store).update(alert.id, chat, next_digest_at=utcnow() - timedelta(minutes=1))
    digests, _every = bot.jobs["digests"]
    await digests()
    snap = await bot.server.await_for(
        lambda s: sum(bool(m["chat_id"] == chat and m["photo"]) for m in s) == 2
    )
    digest, week_map, chart = [m for m in snap if m["chat_id"] == chat][1:4]
    assert digest["plain_text"].startswith("Veille IA & innovation — synthèse de la semaine")
    assert "🔔 Hauts-de-France" in digest["plain_text"]
    assert "fonds de 10 M€" in digest["plain_text"] and "Rennes" not in digest["plain_text"]
    assert week_map["method"] == "sendPhoto" and week_map["photo"].startswith(b"\x89PNG")
    assert week_map["plain_text"] == "🗺 La carte de votre semaine"
    assert chart["method"] == "sendPhoto" and chart["photo"].startswith(b"\x89PNG")
    assert chart["plain_text"] == "Veille IA & innovation — la semaine en un coup d'œil"
    await digests()
    await asyncio.sleep(1.5)
    assert len(bot.server.sent_to(chat)) == 4, "the same slot is not sent twice"
    assert bot.failed_calls() == []
    assert_valid_html(bot.server)
