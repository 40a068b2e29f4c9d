"""Poll throughput with 1, 2 and 4 `veille run --role poller` processes on one PostgreSQL.

Prints one JSON object. The harness starts a throwaway PostgreSQL (tests.support.postgres) and
bench/poll.py's synthetic feed server in a process of its own (1,000 feeds of 10 items by
default, smaller than poll.py's 50 items, so one run takes seconds rather than minutes). For each
process count: a fresh database, the feeds synced and made not due, N pollers started (tagging
on, as the service runs: each feed's new items tagged and their alerts queued before its check
is saved; `--no-tagging` for the poll alone), and once every process is up, every feed is made
due at once; the clock stops when the last feed's check is saved. Then the pollers get SIGTERM.
Items/s is items stored (and tagged) over that time.

The ratio to the one-process run is what to read: this machine is shared and noisy, and the
feed server and PostgreSQL run on the same cores as the pollers.

    .venv/bin/python bench/scale.py            # 1,000 feeds, 1/2/4 pollers, tagging on
    .venv/bin/python bench/scale.py --feeds 5000 --no-tagging --processes 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.poll import feed_server, start_veille, write_feeds  # noqa: E402 - after the path is set
from bot.config import load_feeds  # noqa: E402
from bot.store.repo import Store  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402


def _sql(store: Store, sql: str) -> Any:
    """Run one statement; its first column of its first row, if it returns rows."""
    from sqlalchemy import text

    with store.engine.begin() as conn:
        result = conn.execute(text(sql))
        return result.scalar() if result.returns_rows else None


def _wait_started(logs: list[Path], procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for log, proc in zip(logs, procs, strict=True):
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"poller exited with {proc.returncode}:\n{tail}")
        if all("service started" in log.read_text(errors="replace") for log in logs):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"pollers not started within {timeout:.0f} s")
        time.sleep(0.2)


def run_once(
    pg: PostgresServer,
    processes: int,
    feeds_file: Path,
    feeds: int,
    tmp: Path,
    env: dict[str, str],
    timeout: float,
) -> dict[str, Any]:
    """Start `processes` pollers on a fresh database; seconds until every feed was checked once."""
    db_url = pg.new_database(f"scale_{processes}_{os.getpid()}")
    store = Store.open(db_url)
    from datetime import UTC, datetime

    store.sync_feeds(load_feeds(feeds_file).feeds, datetime.now(UTC))
    # Not due until every poller is up: start-up (imports, feed sync) is not polling.
    _sql(store, "UPDATE feeds SET next_check_at = now() + interval '1 day'")
    env = {**env, "VEILLE_DATABASE_URL": db_url}
    logs = [tmp / f"poller-{processes}-{i}.log" for i in range(processes)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for log in logs:
            procs.append(
                start_veille(
                    ["--role", "poller", "--feeds", str(feeds_file), "--log-level", "INFO"],
                    env,
                    log,
                )
            )
        _wait_started(logs, procs, 180)
        _sql(store, "UPDATE feeds SET next_check_at = now()")
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        while _sql(store, "SELECT count(*) FROM feeds WHERE last_checked_at IS NOT NULL") < feeds:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{processes} poller(s) did not check {feeds} feeds in {timeout:.0f} s"
                )
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        failed = _sql(store, "SELECT count(*) FROM feeds WHERE status <> 'ok'")
        items = _sql(store, "SELECT count(*) FROM items")
        untagged = _sql(store, "SELECT count(*) FROM items WHERE tagged_at IS NULL")
        owners = _sql(store, "SELECT count(DISTINCT lease_owner) FROM feeds")  # 0: all released
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in procs:
            try:
                codes.append(proc.wait(60))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait(10))
        store.close()
        pg.drop_database(f"scale_{processes}_{os.getpid()}")
    return {
        "processes": processes,
        "seconds": round(seconds, 2),
        "feeds_per_second": round(feeds / seconds, 1),
        "items_per_second": round(items / seconds, 1),
        "items_stored": items,
        "items_untagged": untagged,
        "feeds_failed": failed,
        "leases_left": owners,
        "exit_codes": codes,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the bench and print JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=10, help="items per feed")
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--timeout", type=float, default=600, help="seconds allowed per run")
    ap.add_argument("--no-tagging", action="store_true", help="poll without tagging")
    args = ap.parse_args(argv)
    tagging = not args.no_tagging
    models = ROOT / "state" / "models"
    if tagging:  # trained beforehand: a first start's training is not polling
        from classifiers.train import load_or_train

        load_or_train(models)

    runs = []
    with (
        feed_server(args.feeds, args.items, timeout=300) as (port, corpus_bytes),
        tempfile.TemporaryDirectory(prefix="veille-scale-") as tmp_name,
        PostgresServer() as pg,
    ):
        tmp = Path(tmp_name)
        feeds_file = tmp / "feeds.yaml"
        write_feeds(feeds_file, port, args.feeds)
        (tmp / "state").mkdir()
        if tagging:
            (tmp / "state" / "models").symlink_to(models)
        env = {
            **os.environ,
            "VEILLE_STATE_DIR": str(tmp / "state"),
            "VEILLE_TAGGING": "on" if tagging else "off",
            "VEILLE_POLL_TICK_SECONDS": "1",
            "VEILLE_PARSE_WORKERS": "1",
            "VEILLE_CONCURRENCY": "64",
            "VEILLE_PER_HOST": "16",
        }
        for name in ("TELEGRAM_BOT_TOKEN", "VEILLE_METRICS_PORT", "VEILLE_DATABASE_URL"):
            env.pop(name, None)
        for n in args.processes:
            runs.append(run_once(pg, n, feeds_file, args.feeds, tmp, env, args.timeout))

    base = next((r["seconds"] for r in runs if r["processes"] == 1), None)
    cpus = os.cpu_count() or 1
    out: dict[str, Any] = {
        "feeds": args.feeds,
        "items_per_feed": args.items,
        "corpus_mb": round(corpus_bytes / 1e6, 1),
        "tagging": tagging,
        "runs": runs,
    }
    for r in runs:
        if base and r["processes"] != 1:
            out[f"speedup_{r['processes']}"] = round(base / r["seconds"], 2)
    out.update(
        {
            "cpu_count": cpus,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "note": (
                f"{cpus} cores shared by the pollers, the feed server (one process) and "
                f"PostgreSQL: more than {cpus} pollers cannot scale linearly"
            ),
            "per_process": {
                "parse_workers": 1,
                "global_concurrency": 64,
                "per_host_concurrency": 16,
                "poll_batch": 500,
                "tagging": "on" if tagging else "off",
            },
        }
    )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
