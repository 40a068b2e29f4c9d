"""Hostile input through python-telegram-bot and the loopback Bot API: clear replies, nothing broken.

Reuses the end-to-end bot of test_telegram_e2e (same fixture, same fake Bot API).
"""

from __future__ import annotations

import pytest

from bot.i18n import t
from bot.store.alerts import AlertStore
from tests.test_telegram_e2e import Bot, bot  # noqa: F401  (the fixture)

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning"),
]


def _internal_errors(bot: Bot) -> list[str]:  # noqa: F811
    with bot.server.lock:
        return [m["text"] for m in bot.server.sent if "Internal error" in (m["text"] or "")]


async def test_an_overflowing_why_and_a_huge_keyword_get_clear_replies(bot: Bot) -> None:  # noqa: F811
    (huge,) = await bot.ask(701, "/why 12345678901234567890")
    assert "introuvable" in huge["plain_text"]
    (long,) = await bot.ask(701, "/subscribe mot " + "x" * 4000)
    assert "trop long" in long["plain_text"] and len(long["text"]) < 400
    assert _internal_errors(bot) == [] and bot.failed_calls() == []


@pytest.mark.parametrize("data", ["fx:abc:R", "s:r:99:0", "s:d:<b>anything</b>", "rg:3:0"])
async def test_forged_buttons_are_refused_without_changing_anything(
    bot: Bot,  # noqa: F811
    data: str,
) -> None:
    (latest,) = await bot.ask(702, "/latest")
    with bot.server.lock:
        edits = len(bot.server.edits)
    bot.server.press_button(702, latest["message_id"], data)
    await bot.server.await_until(lambda: bool(bot.server.callback_answers), timeout=15)
    with bot.server.lock:
        (answer,) = bot.server.callback_answers
        assert len(bot.server.edits) == edits
    assert answer["text"] == t("fr", "button_expired") and answer["show_alert"]
    chat = bot.chats.get(702)
    assert chat is not None and AlertStore(bot.rt.store).of_chat(702) == []
    assert _internal_errors(bot) == [] and bot.failed_calls() == []
