"""A short kill campaign in `make test` (bench/chaos.py runs the long one): `veille run` is
killed with -9 and stopped with SIGTERM while it polls and while it sends."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.chaos import Campaign, delivery_phase, poll_phase


@pytest.mark.timeout(900)
def test_kills_during_polls_lose_no_alert_and_leave_no_process(
    trained_models: Path, tmp_path: Path
) -> None:
    with Campaign(tmp_path, trained_models, feeds=40) as camp:
        counts = poll_phase(camp, kills=2, sigterms=1)
    print("polls", counts.as_dict())
    # On a quick machine the poll can end before the second interruption: one is enough.
    assert counts.kills + counts.sigterms >= 1, counts
    assert counts.expected > 0 and counts.lost == 0, counts
    # Telegram has no idempotency key: only a message it accepted in the instant before a
    # kill -9, before the process recorded it, may arrive twice.
    assert counts.duplicated <= sum(counts.under_way_at_kills), counts
    assert counts.queued_twice == 0, counts
    assert counts.orphans == 0, counts
    assert max(counts.stop_seconds) < 15, "a SIGTERM ends the service within seconds"


@pytest.mark.timeout(900)
def test_kills_during_delivery_lose_nothing_resend_little_and_stall_not(
    trained_models: Path, tmp_path: Path
) -> None:
    with Campaign(tmp_path, trained_models, feeds=0) as camp:
        camp.start_service(VEILLE_TAGGING="off")
        camp.wait_log("service started", 300)
        camp.stop_service(signal.SIGTERM)
        counts = delivery_phase(camp, messages=150, chats=30, kills=2)
    print("delivery", counts.as_dict())
    assert counts.lost == 0, counts
    # Telegram has no idempotency key: a kill re-sends the sends under way, and only as many
    # are under way as the rate needs — one on a fast API.
    assert counts.duplicated <= sum(counts.under_way_at_kills), counts
    if max(counts.under_way_at_kills) == 1:
        assert counts.duplicated <= counts.kills, "one send under way: one re-send per kill"
    assert counts.orphans == 0, counts
    assert counts.stall_seconds < 15, counts
