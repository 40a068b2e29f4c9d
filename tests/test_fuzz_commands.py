"""Hostile input to every command and every button: a clear reply, never an exception.

Random Unicode (RTL marks, zero-width characters, emoji, other scripts), 10,000-character
arguments, HTML metacharacters, unbalanced quotes and null bytes go through the route table as
Telegram's handlers send them; forged and mutated callback data go through the button decoder.
Every reply must be valid Telegram HTML (the loopback Bot API's parser), each message at most
4,096 characters.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from bot.commands import routes
from bot.commands.reply import Ctx, Reply
from bot.render import TELEGRAM_LIMIT
from tests.commandkit import CHAT, NOW, make_ctx
from tests.support.botapi import parse_html

PIECES = [
    "<b>",
    "</i>",
    "<a href='javascript:alert(1)'>",
    "&",
    "&amp;",
    "&#0;",
    '"',
    "'",
    "«",
    "»",
    "“",
    "\\",
    "\x00",
    "\u200f",  # right-to-left mark
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\ufeff",
    "🇫🇷",
    "👩‍💻",
    "Ω",
    "中文",
    "עברית",
    "ا",
    "\n",
    "\t",
    " ",
    "mot",
    "-mot",
    "alertes",
    "hebdo",
    "Bretagne",
    "HDF",
    "financement",
    "12345678901234567890",
    "-1",
    "0",
    "9" * 40,
    "/why_",
    "@bot",
    "%s",
    "{0}",
    "{name}",
    "*",
    "OR",
    "NEAR(",
    ":*",
    "'; DROP TABLE items; --",
]


def _random_text(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:  # random code points, surrogates excluded
        return "".join(
            chr(c)
            for c in (rng.randrange(0x20, 0x2FFFF) for _ in range(rng.randrange(1, 60)))
            if not 0xD800 <= c <= 0xDFFF
        )
    if kind == 1:  # a huge argument
        piece = rng.choice(PIECES)
        return (piece * (10_000 // len(piece) + 1))[:10_000]
    if kind == 2:
        return "x" * 10_000
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 25)))


def _check(reply: Reply) -> None:
    assert isinstance(reply, Reply) and reply.messages
    for message in reply.messages:
        assert 0 < len(message) <= TELEGRAM_LIMIT
        parse_html(message)  # raises on HTML Telegram would refuse
    for row in reply.buttons:
        for button in row:
            assert routes.decode_button(button.data) is not None, button.data


def _fuzz_commands(ctx: Ctx, rounds: int, seed: int) -> int:
    rng = random.Random(seed)
    commands = [c for c in routes.COMMANDS if c.name != "addfeed"]
    asked = 0
    for n in range(rounds):
        command = commands[n % len(commands)]
        # What the Telegram handler does before every update: the chat exists.
        if ctx.chats.get(CHAT) is None:
            ctx.chats.ensure_chat(CHAT, type="private", title="t", language=ctx.lang, now=NOW)
        arg = _random_text(rng)
        reply = asyncio.run(routes.run(command, ctx, arg))
        _check(reply)
        asked += 1
    return asked


def _fuzz_buttons(ctx: Ctx, rounds: int, seed: int) -> int:
    rng = random.Random(seed)
    item = ctx.store.recent_items(limit=1)[0].id
    valid = [
        f"rg:1:Bretagne:{rng.randrange(3)}",
        "ty:1:funding:1",
        "se:1:1:jumeau",
        "la:1:2",
        "sp:1:5",
        "sr:1:Normandie:0",
        "st:1:event:1",
        "sa:1:0",
        "sd:1:daily:0",
        "sw:1:0",
        "sh:1:2",
        "sx:1",
        f"fx:1:{item}:R",
        f"fxr:1:{item}:Bretagne",
        f"fxt:1:{item}:event",
        f"fxn:1:{item}",
        "fxn:1:987654321",
    ]
    refused = 0
    for n in range(rounds):
        if ctx.chats.get(CHAT) is None:
            ctx.chats.ensure_chat(CHAT, type="private", title="t", language=ctx.lang, now=NOW)
        data = rng.choice(valid)
        if n % 2:  # mutate: cut, splice random text, or replace a field
            cut = rng.randrange(len(data) + 1)
            data = data[:cut] + _random_text(rng)[: rng.randrange(0, 70)] + data[cut:]
        decoded = routes.decode_button(data)
        if decoded is None:
            refused += 1
            continue
        _check(routes.press(ctx, *decoded))
    return refused


# 2,000 inputs in all: 1,000 commands and 800 buttons on SQLite, 200 on PostgreSQL.
@pytest.mark.parametrize(("lang", "rounds"), [("fr", 700), ("en", 300)])
def test_fuzzed_commands_all_get_a_clear_reply(tmp_path: Path, lang: str, rounds: int) -> None:
    ctx = make_ctx(tmp_path, lang=lang, is_admin=True)
    try:
        assert _fuzz_commands(ctx, rounds, seed={"fr": 1, "en": 2}[lang]) == rounds
    finally:
        ctx.store.close()


def test_fuzzed_buttons_are_refused_or_answered(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    try:
        refused = _fuzz_buttons(ctx, 800, seed=7)
        assert 0 < refused < 800
    finally:
        ctx.store.close()


def test_fuzzed_commands_and_buttons_on_postgres(tmp_path: Path, postgres_server: object) -> None:
    url = postgres_server.new_database("fuzz_commands")  # type: ignore[attr-defined]
    ctx = make_ctx(tmp_path, is_admin=True, VEILLE_DATABASE_URL=url)
    try:
        assert _fuzz_commands(ctx, 100, seed=11) == 100
        _fuzz_buttons(ctx, 100, seed=12)
    finally:
        ctx.store.close()
