"""Prometheus metrics (/metrics) and a health check (/healthz) on an optional port.

Counters live in this process; the gauges (feeds by status, items stored, outbox depth) are
read from the database at scrape time, so every process reports the shared truth.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.store.repo import Store

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
POLL_SECONDS = Histogram(
    "veille_poll_duration_seconds",
    "Duration of one poll round",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
ITEMS_NEW = Counter("veille_items_new", "New items stored by this process", registry=REGISTRY)
MESSAGES_SENT = Counter("veille_messages_sent", "Messages accepted by Telegram", registry=REGISTRY)
TELEGRAM_429 = Counter(
    "veille_telegram_429", "429 Too Many Requests answers received", registry=REGISTRY
)
OUTBOX_RETRIES = Counter(
    "veille_outbox_retries",
    "Sends to retry later, by reason (429, unreachable, timeout, error)",
    ["reason"],
    registry=REGISTRY,
)
OUTBOX_RESENT = Counter(
    "veille_outbox_resent",
    "Messages sent again after a timeout that may have delivered them",
    registry=REGISTRY,
)
OUTBOX_DEAD = Counter(
    "veille_outbox_dead", "Messages given up, by reason", ["reason"], registry=REGISTRY
)
TELEGRAM_UNREACHABLE = Gauge(
    "veille_telegram_unreachable",
    "1 while sends fail with network errors or 5xx (the outbox keeps retrying)",
    registry=REGISTRY,
)
FEEDS_POLLED = Counter(
    "veille_feeds_polled", "Feed checks by outcome", ["outcome"], registry=REGISTRY
)


class StoreCollector(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Any]:
        feeds_gauge = GaugeMetricFamily("veille_feeds", "Feeds by health status", labels=["status"])
        outbox_gauge = GaugeMetricFamily(
            "veille_outbox", "Outbox messages by status", labels=["status"]
        )
        by_feed, by_outbox, stored = self.store.health_counts()
        for status, n in by_feed.items():
            feeds_gauge.add_metric([status], n)
        for status, n in by_outbox.items():
            outbox_gauge.add_metric([status], n)
        yield feeds_gauge
        yield outbox_gauge
        yield GaugeMetricFamily("veille_items_stored", "Items in the database", value=stored)


class MetricsServer:
    """/metrics and /healthz on host:port (VEILLE_METRICS_HOST), inside the service's event loop."""

    def __init__(self, store: Store, port: int, host: str = "127.0.0.1") -> None:
        self.store = store
        self.port = port
        self.host = host
        self._collector = StoreCollector(store)
        REGISTRY.register(self._collector)
        self._runner: web.AppRunner | None = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        return web.Response(
            body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        )

    async def _health(self, request: web.Request) -> web.Response:
        try:
            await asyncio.to_thread(self.store.count_items)
        except Exception as exc:
            return web.Response(status=503, text=f"database unavailable: {type(exc).__name__}")
        return web.Response(text="ok")

    async def start(self) -> None:
        """Start serving."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("metrics listening host=%s port=%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop serving and unregister the collector."""
        if self._runner is not None:
            await self._runner.cleanup()
        REGISTRY.unregister(self._collector)
