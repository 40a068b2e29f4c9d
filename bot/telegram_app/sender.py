"""The sender loop: drain the outbox whenever woken, and at least every second.

A sender that does not lead (another process sends) checks every second whether it may take
over."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.delivery import Sender

log = logging.getLogger(__name__)


async def sender_loop(sender: Sender) -> None:
    """Drain the outbox whenever woken, and at least every second, until the sender stops;
    then hand the lead to another process."""
    try:
        while not sender.stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sender.wake.wait(), timeout=1.0)
            sender.wake.clear()
            try:
                await sender.drain()
            except Exception:  # keep the loop alive; the outbox keeps the messages
                log.exception("outbox drain failed")
    finally:
        await asyncio.to_thread(sender.leadership.release)
