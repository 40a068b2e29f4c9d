"""A command context over a fresh SQLite store with a few tagged items (for the command tests)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.commands.reply import Ctx
from bot.config import load_settings
from bot.store.chats import ChatStore
from bot.store.repo import Store
from tests.conftest_bot import Spec, add_items, gazetteer

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
CHAT = 4242

SPECS = [
    Spec(
        f"Lille : la métropole lance un appel à projets IA numéro {n}",
        NOW - timedelta(days=1, hours=n),
        regions=("Hauts-de-France",),
        types=("funding",),
        summary="Un jumeau numérique pour la métropole lilloise",
    )
    for n in range(10)
] + [
    Spec(
        "Rennes accueille un campus de recherche en intelligence artificielle",
        NOW - timedelta(days=2),
        regions=("Bretagne",),
        types=("research",),
    ),
    Spec(
        "La stratégie nationale pour l'IA entre dans une nouvelle phase",
        NOW - timedelta(days=3),
        types=("strategy",),
        national=True,
    ),
]


def make_ctx(tmp_path: Path, *, lang: str = "fr", is_admin: bool = False, **env: str) -> Ctx:
    """A Ctx for chat CHAT over a new database holding SPECS."""
    settings = load_settings({"VEILLE_STATE_DIR": str(tmp_path / "state"), **env})
    store = Store.open(settings.db_url)
    add_items(store, SPECS, NOW)
    chats = ChatStore(store)
    chats.ensure_chat(CHAT, type="private", title="test", language=lang, now=NOW)
    return Ctx(settings, store, chats, gazetteer(), NOW, CHAT, lang=lang, is_admin=is_admin)


def as_admin(ctx: Ctx) -> Ctx:
    """The same context, asked from an admin chat."""
    return replace(ctx, is_admin=True)
