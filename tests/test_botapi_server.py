"""Tests of the fake Bot API server, driven by the real python-telegram-bot library."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import struct
import time
import warnings
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.support.botapi import BotAPIServer, parse_html, parse_markdown_v2

pytestmark = [
    pytest.mark.timeout(60),
    # PTB 22.2+ warns about RetryAfter.retry_after becoming a timedelta.
    pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning"),
]


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def retry_seconds(exc: RetryAfter) -> float:
    # PTB 22.2+ warns when reading retry_after as an int (it becomes a timedelta later).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


@pytest.fixture
def server() -> Iterator[BotAPIServer]:
    with BotAPIServer() as srv:
        yield srv


def make_bot(srv: BotAPIServer, **kw: Any) -> telegram.Bot:
    return telegram.Bot(srv.token, base_url=srv.base_url, base_file_url=srv.base_file_url, **kw)


# ------------------------------------------------------------------------------ basics


async def test_get_me_and_send_message(server: BotAPIServer) -> None:
    async with make_bot(server) as bot:
        me = await bot.get_me()
        assert me.username == "veille_test_bot" and me.is_bot and me.id == 123456
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Voir", callback_data="see:1")]])
        msg = await bot.send_message(
            42, "<b>Bonjour</b> &amp; <i>bienvenue</i>", parse_mode="HTML", reply_markup=markup
        )
        assert msg.message_id == 1 and msg.chat.id == 42 and msg.chat.type == "private"
        assert msg.text == "Bonjour & bienvenue"
        assert msg.text_html == "<b>Bonjour</b> &amp; <i>bienvenue</i>"
        assert msg.reply_markup == markup
        assert msg.from_user is not None and msg.from_user.id == me.id
        second = await bot.send_message(-1001234567890, "deux")
        assert second.chat.type == "supergroup" and second.message_id == 1
    sent = server.snapshot()
    assert [m["chat_id"] for m in sent] == [42, -1001234567890]
    first = sent[0]
    assert first["method"] == "sendMessage"
    assert first["text"] == "<b>Bonjour</b> &amp; <i>bienvenue</i>"
    assert first["plain_text"] == "Bonjour & bienvenue"
    assert first["parse_mode"] == "HTML"
    assert first["reply_markup"] == {
        "inline_keyboard": [[{"text": "Voir", "callback_data": "see:1"}]]
    }
    assert first["photo"] is None and isinstance(first["date"], float)
    # PTB sends form-encoded bodies: every value is a string, objects JSON-encoded.
    call = server.calls_to("sendMessage")[0]
    assert call["status"] == 200 and call["params"]["chat_id"] == "42"


async def test_text_limits(server: BotAPIServer) -> None:
    async with make_bot(server) as bot:
        with pytest.raises(BadRequest, match=r"(?i)message is too long"):
            await bot.send_message(1, "x" * 4097)
        with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
            await bot.send_message(2, "   ")
        # Telegram counts the visible text (after entity parsing), in UTF-16 code units.
        await bot.send_message(3, "<b>" + "x" * 4090 + "</b>&amp;", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)message is too long"):
            await bot.send_message(4, "😀" * 2049)  # 4098 UTF-16 code units
        with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
            await bot.send_photo(5, tiny_png(), caption="c" * 1025)
    assert [m["chat_id"] for m in server.snapshot()] == [3]


@pytest.mark.parametrize(
    "text",
    [
        "ligne<br>suivante",
        "<p>para</p>",
        "<b>non fermé",
        "<b><i>croisé</b></i>",
        "fin </b>",
        "a < b",
        "Tom & Jerry",
        "&foo; inconnu",
        '<span class="x">s</span>',
    ],
)
async def test_bad_html_rejected(server: BotAPIServer, text: str) -> None:
    async with make_bot(server) as bot:
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(7, text, parse_mode="HTML")
    assert server.snapshot() == []


def test_html_parser_accepts_telegram_subset() -> None:
    text = (
        "<b>g</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>"
        '<strike>k</strike><del>d</del><a href="https://ex.fr/?a=1&amp;b=2">lien</a>'
        '<code>c</code><pre><code class="language-python">p</code></pre>'
        '<blockquote expandable>q</blockquote><span class="tg-spoiler">sp</span>'
        "<tg-spoiler>t</tg-spoiler> &lt;&gt;&quot;&#233;&#x1F600; >"
    )
    plain, ents = parse_html(text)
    assert plain.endswith('<>"é😀 >')
    types = {e["type"] for e in ents}
    assert {
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "text_link",
        "code",
        "pre",
        "expandable_blockquote",
        "spoiler",
    } <= types
    link = next(e for e in ents if e["type"] == "text_link")
    assert link["url"] == "https://ex.fr/?a=1&b=2"
    # lenient mode behaves like real Telegram for a bare '&'
    assert parse_html("Tom & Jerry", strict=False)[0] == "Tom & Jerry"
    plain, ents = parse_markdown_v2(r"*gras* \- _it_ [lien](https://x\.fr) `c\`d`")
    assert plain == "gras - it lien c`d"
    assert [e["type"] for e in ents] == ["bold", "italic", "text_link", "code"]


async def test_markdown_v2_reserved_characters(server: BotAPIServer) -> None:
    async with make_bot(server) as bot:
        with pytest.raises(
            BadRequest, match=r"(?i)can't parse entities: character '\.' is reserved"
        ):
            await bot.send_message(8, "Fin.", parse_mode="MarkdownV2")
        msg = await bot.send_message(8, r"*Fin*\.", parse_mode="MarkdownV2")
        assert msg.text == "Fin."


async def test_callback_data_too_long_rejected(server: BotAPIServer) -> None:
    async with make_bot(server) as bot:
        ok = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="é" * 32)]])
        await bot.send_message(9, "ok", reply_markup=ok)  # 64 bytes: accepted
        bad = InlineKeyboardMarkup([[InlineKeyboardButton("ko", callback_data="x" * 65)]])
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
            await bot.send_message(10, "ko", reply_markup=bad)
    assert [m["chat_id"] for m in server.snapshot()] == [9]


# ------------------------------------------------------------------------------ limits/faults


async def test_private_chat_rate_limit_gives_retry_after() -> None:
    with BotAPIServer(per_chat_rate=1.0) as srv:
        async with make_bot(srv) as bot:
            await bot.send_message(11, "un")
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(11, "deux")
            assert retry_seconds(info.value) >= 1
            await bot.send_message(12, "autre chat")  # other chats are not affected
        assert srv.received_429 == 1
        assert [m["text"] for m in srv.snapshot()] == ["un", "autre chat"]
        assert srv.calls_to("sendMessage")[1]["status"] == 429


async def test_group_and_global_rate_limits() -> None:
    with BotAPIServer(group_per_minute=3, global_rate=5) as srv:
        async with make_bot(srv) as bot:
            for i in range(3):
                await bot.send_message(-500, f"g{i}")
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(-500, "g3")
            assert 1 <= retry_seconds(info.value) <= 60
            await bot.send_message(21, "p1")
            await bot.send_message(22, "p2")
            with pytest.raises(RetryAfter):  # 6th message within one second
                await bot.send_message(23, "p3")
        assert srv.received_429 == 2 and len(srv.sent) == 5
    # token-bucket model (what PTB's AIORateLimiter assumes): burst, then refill
    with BotAPIServer(group_per_minute=3, limit_model="bucket") as srv:
        async with make_bot(srv) as bot:
            for i in range(3):
                await bot.send_message(-501, f"g{i}")
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(-501, "g3")
            assert 15 <= retry_seconds(info.value) <= 20  # one slot every 60/3 s
    with BotAPIServer(enforce_limits=False) as srv:
        async with make_bot(srv) as bot:
            for i in range(5):
                await bot.send_message(31, f"m{i}")
        assert len(srv.sent) == 5 and srv.received_429 == 0


async def test_blocked_and_migrated_chats(server: BotAPIServer) -> None:
    server.block_chat(13)
    server.migrate_chat(-77, -1000000000077)
    async with make_bot(server) as bot:
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(13, "coucou")
        with pytest.raises(ChatMigrated) as info:
            await bot.send_message(-77, "groupe")
        assert info.value.new_chat_id == -1000000000077
        msg = await bot.send_message(-1000000000077, "supergroupe")
        assert msg.chat.type == "supergroup"
    assert [m["chat_id"] for m in server.snapshot()] == [-1000000000077]


async def test_fail_next_and_delay_next(server: BotAPIServer) -> None:
    async with make_bot(server) as bot:
        server.fail_next(1, 502)
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(14, "a")
        server.fail_next(1, 429, retry_after=3)
        with pytest.raises(RetryAfter):
            await bot.send_message(14, "b")
        server.delay_next(1, 0.6)
        with pytest.raises(TimedOut):
            await bot.send_message(15, "lent", read_timeout=0.2)
        # like Telegram, the slow message is delivered anyway
        server.wait_for(lambda sent: any(m["text"] == "lent" for m in sent), timeout=3)
        await bot.send_message(16, "c")
    assert server.received_429 == 1
    assert [m["text"] for m in server.snapshot()] == ["lent", "c"]


async def test_auth_and_unknown_method(server: BotAPIServer) -> None:
    async with make_bot(server) as bot:
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("noSuchMethod")
    with pytest.raises(InvalidToken):
        async with telegram.Bot("999:WRONG", base_url=server.base_url) as bad:
            await bad.get_me()
    r = httpx.post(f"{server.base_url}{server.token}/noSuchMethod")
    assert r.status_code == 404
    assert r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


def test_json_body_accepted(server: BotAPIServer) -> None:
    markup = {"inline_keyboard": [[{"text": "x", "callback_data": "y"}]]}
    r = httpx.post(
        f"{server.base_url}{server.token}/sendMessage",
        json={"chat_id": 17, "text": "<i>json</i>", "parse_mode": "HTML", "reply_markup": markup},
    )
    body = r.json()
    assert r.status_code == 200 and body["ok"] is True
    assert body["result"]["text"] == "json"
    assert body["result"]["reply_markup"] == markup
    r = httpx.post(
        f"{server.base_url}{server.token}/sendMessage",
        data={"chat_id": "17", "text": "form", "reply_markup": json.dumps(markup)},
    )
    assert r.status_code == 429  # per-chat limit, even across encodings
    assert r.json()["parameters"]["retry_after"] >= 1
    assert server.sent[0]["reply_markup"] == markup


# ------------------------------------------------------------------------------ updates


async def test_get_updates_long_polling(server: BotAPIServer) -> None:
    async with make_bot(server) as bot:
        assert await bot.get_updates(timeout=0) == ()
        first = server.user_message(42, "/start")
        server.user_message(-300, "/aide@veille_test_bot", user_id=5, chat_type="group")
        updates = await bot.get_updates(timeout=5)
        assert [u.update_id for u in updates] == [first, first + 1]
        msg = updates[0].message
        assert msg is not None and msg.text == "/start" and msg.chat.id == 42
        assert msg.from_user is not None and msg.from_user.language_code == "fr"
        assert msg.entities[0].type == "bot_command" and msg.entities[0].length == 6
        grp = updates[1].message
        assert grp is not None and grp.chat.type == "group" and grp.from_user.id == 5
        assert grp.entities[0].length == len("/aide@veille_test_bot")
        # not confirmed yet: same updates again; confirmed by offset: gone
        assert len(await bot.get_updates(timeout=0)) == 2
        assert await bot.get_updates(offset=first + 2, timeout=0) == ()

        # a long poll returns as soon as an update is pushed
        async def push_later() -> None:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(server.channel_post, -1009, "news")

        task = asyncio.create_task(push_later())
        t0 = time.monotonic()
        updates = await bot.get_updates(offset=first + 2, timeout=5)
        elapsed = time.monotonic() - t0
        await task
        assert 0.2 < elapsed < 3
        assert updates[0].channel_post is not None
        assert updates[0].channel_post.text == "news"

        # allowed_updates filters
        server.user_message(42, "ignored")
        assert await bot.get_updates(timeout=0, allowed_updates=["callback_query"]) == ()


async def test_photo_edit_and_callbacks(server: BotAPIServer) -> None:
    png = tiny_png(3, 2)
    async with make_bot(server) as bot:
        photo_msg = await bot.send_photo(18, png, caption="<b>graphe</b>", parse_mode="HTML")
        assert photo_msg.caption == "graphe"
        assert photo_msg.photo[-1].width == 3 and photo_msg.photo[-1].height == 2
        f = await bot.get_file(photo_msg.photo[-1].file_id)
        assert bytes(await f.download_as_bytearray()) == png
        doc = await bot.send_document(19, b"a,b\n1,2\n", filename="export.csv")
        assert doc.document is not None and doc.document.file_name == "export.csv"

        kb = InlineKeyboardMarkup([[InlineKeyboardButton("Suivi", callback_data="follow:7")]])
        msg = await bot.send_message(20, "Article", reply_markup=kb)
        with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
            await bot.edit_message_text("x", chat_id=20, message_id=999)
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await bot.edit_message_text(
                "Article", chat_id=20, message_id=msg.message_id, reply_markup=kb
            )
        edited = await bot.edit_message_text("Article ✓", chat_id=20, message_id=msg.message_id)
        assert isinstance(edited, telegram.Message) and edited.reply_markup is None
        assert await bot.send_chat_action(20, "typing")
        assert await bot.delete_message(20, msg.message_id)

    sent = server.snapshot()
    assert sent[0]["photo"] == png and sent[0]["caption"] == "<b>graphe</b>"
    assert sent[1]["document"] == b"a,b\n1,2\n" and sent[1]["filename"] == "export.csv"
    assert server.edits[-1]["text"] == "Article ✓"
    assert server.deleted == [(20, msg.message_id)]
    assert server.chat_actions[0]["action"] == "typing"


async def test_commands_and_chat_info(server: BotAPIServer) -> None:
    async with make_bot(server) as bot:
        cmds = [telegram.BotCommand("start", "Démarrer"), telegram.BotCommand("aide", "Aide")]
        await bot.set_my_commands(cmds)
        await bot.set_my_commands(
            cmds[:1], scope=telegram.BotCommandScopeAllGroupChats(), language_code="en"
        )
        assert [c.command for c in await bot.get_my_commands()] == ["start", "aide"]
        with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
            await bot.set_my_commands([telegram.BotCommand("Bad-Cmd", "x")])
        assert await bot.delete_my_commands()
        server.set_admins(-400, [5], creator=6)
        admins = await bot.get_chat_administrators(-400)
        assert [(a.status, a.user.id) for a in admins] == [("creator", 6), ("administrator", 5)]
        member = await bot.get_chat_member(-400, 8)
        assert member.status == "member"
        chat = await bot.get_chat(-400)
        assert chat.type == "group"
    assert server.commands == {
        ("all_group_chats", "en"): [{"command": "start", "description": "Démarrer"}]
    }


# ------------------------------------------------------------------------------ Application


async def test_application_end_to_end(server: BotAPIServer) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        kb = InlineKeyboardMarkup([[InlineKeyboardButton("Clic", callback_data="clic")]])
        await update.effective_message.reply_text("hi", reply_markup=kb)

    async def clicked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("ok")
        await query.edit_message_text(f"clicked {query.data}")

    app = (
        ApplicationBuilder()
        .token(server.token)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(clicked))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.05, timeout=2)
        try:
            server.user_message(42, "/start")
            sent = await server.await_for(lambda s: any(m["text"] == "hi" for m in s), 5)
            reply = sent[-1]
            assert reply["chat_id"] == 42
            # group: addressed to us -> answered, addressed to another bot -> ignored
            server.user_message(-600, "/start@other_bot", user_id=9)
            server.user_message(-600, "/start@veille_test_bot", user_id=9)
            await server.await_for(lambda s: any(m["chat_id"] == -600 for m in s), 5)
            server.press_button(42, reply["message_id"], "clic")
            await server.await_until(lambda: server.edits, 5)
            assert server.edits[0]["text"] == "clicked clic"
            assert server.callback_answers[0]["text"] == "ok"
        finally:
            await app.updater.stop()
            await app.stop()
    assert len(server.sent_to(-600)) == 1
    # polling confirmed everything on shutdown
    assert server.pending_updates == []
