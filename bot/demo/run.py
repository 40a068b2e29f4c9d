"""`veille demo`: offline, end to end, in the terminal."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from bot.commands.routes import terminal_answer
from bot.config import FeedConfig, Settings
from bot.demo.server import FEED_FILES, DemoServer
from bot.digest import select_digest
from bot.i18n import type_label
from bot.render import digest_html
from bot.service import Runtime
from bot.store.rows import Filters
from classifiers.text import visible_text


async def _poll(rt: Runtime, console: Console) -> None:
    server = DemoServer(rt.clock())
    base = await server.start()
    try:
        configs = [
            FeedConfig(id=fid, name=name, url=f"{base}/{file}", language="fr")
            for file, (fid, name) in FEED_FILES.items()
        ]
        rt.store.sync_feeds(configs, rt.clock(), source="demo")
        rt.store.force_due(rt.clock())
        async with rt.poller() as poller:
            report = await poller.poll_due()
        console.print(
            f"polled [bold]{report.feeds}[/] sample feeds on {base}: "
            f"[bold]{report.new_items}[/] new items stored, {report.tagged} tagged"
            + (f", [red]{report.failed} failed[/]" if report.failed else "")
        )
    finally:
        rt.store.sync_feeds([], rt.clock(), source="demo")  # the loopback server is gone
        await server.stop()


def run_demo(settings: Settings, console: Console) -> int:
    """Serve, poll, tag, then print the items, a weekly digest and /region Hauts-de-France."""
    rt = Runtime.open(settings, with_feeds=False)
    try:
        console.print(Rule("Veille — démo hors ligne"))
        console.print(f"database: {settings.db_url}")
        with console.status("loading the tagger (trained on first run)…"):
            tagger = rt.tagger()
        console.print(f"tagger model {tagger.version}")
        asyncio.run(_poll(rt, console))
        now = rt.clock()
        week = rt.store.recent_items(since=now - timedelta(days=7), limit=500, topic_only=False)
        table = Table(title="Tagged items of the week", show_lines=False)
        table.add_column("date", no_wrap=True, min_width=5)
        table.add_column(
            "title", overflow="ellipsis", no_wrap=True, max_width=max(30, console.width // 2 - 8)
        )
        table.add_column("regions", overflow="fold")
        table.add_column("types", overflow="fold")
        table.add_column("AI", no_wrap=True, min_width=2)
        for i in week[:60]:
            table.add_row(
                f"{i.published_at:%d/%m}",
                i.title[:70],
                ", ".join(i.regions) or ("national" if i.national else "-"),
                ", ".join(type_label(t, "fr") for t in i.types),
                "✓" if i.topic_ai else "✗",
            )
        console.print(table)
        digest = select_digest(
            rt.store, Filters(), now - timedelta(days=7), now + timedelta(seconds=1)
        )
        console.print(Rule("Weekly digest (as sent to Telegram, shown as text)"))
        for n, chunk in enumerate(digest_html(digest, "fr"), 1):
            console.print(f"[dim]— message {n} ({len(chunk)} chars) —[/]")
            console.print(visible_text(chunk), markup=False, highlight=False)
        console.print(Rule("/region Hauts-de-France"))
        reply = terminal_answer(
            rt.settings, rt.store, rt.gazetteer, rt.clock(), "/region Hauts-de-France", chat_id=-1
        )
        for message in reply.messages:
            console.print(visible_text(message), markup=False, highlight=False)
        for row in reply.buttons:
            console.print("  ".join(f"[{b.text}]" for b in row), markup=False)
        console.print(Rule())
        console.print("The items stay in the database: `veille run` now serves them.")
        return 0
    finally:
        rt.close()
