"""The parse/tag worker processes: feed bytes in, items and their tags out.

A job is unpickled in a worker by importing the module of its function, so the functions the
pool runs live here, in a module that imports neither SQLAlchemy nor pydantic (nor the poller):
a worker starts in a fraction of a second, loads the tagger once, on its first tagging job, and
keeps it. The pool starts its workers when work arrives, at most one per core, and ends them once
they have been idle a while (`WorkerPool`): a service at rest holds no worker at all.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from bot.feeds.extract import without_headline
from bot.feeds.parser import ParsedFeed, parse_feed
from bot.query.stems import index_text

if TYPE_CHECKING:
    from classifiers.tagger import Tagger

IDLE_SECONDS = 120.0  # a pool with no job for this long ends its workers
TAG_BATCH = 200  # items per tagger call (vectorised predict)

TagResult = dict[str, Any]  # the tagger's TAXONOMY fields, scores, evidence and model_version

_TAGGERS: dict[str, Tagger] = {}


def _tagger(models_dir: str) -> Tagger:
    tagger = _TAGGERS.get(models_dir)
    if tagger is None:
        from classifiers.tagger import Tagger  # numpy and the gazetteer: tagging workers only

        tagger = _TAGGERS[models_dir] = Tagger.load(Path(models_dir))
    return tagger


def stored_model_version(models_dir: str) -> str:
    """The version of the stored model; ModelMissing or ModelMismatch when it is unusable."""
    from classifiers import persistence

    return persistence.read_info(Path(models_dir)).version


def tag_texts(models_dir: str, texts: Sequence[tuple[str, str, str | None]]) -> list[TagResult]:
    """Tag (title, text, region hint) triples with the stored model, in batches."""
    tagger = _tagger(models_dir)
    out: list[TagResult] = []
    for start in range(0, len(texts), TAG_BATCH):
        results = tagger.tag_batch(texts[start : start + TAG_BATCH])
        out.extend(res.to_dict() | {"model_version": tagger.version} for res in results)
    return out


def tag_rows(models_dir: str, rows: Sequence[dict[str, Any]]) -> list[tuple[int, TagResult]]:
    """Tag stored item rows (id, title, summary, content, article_text, region_hint). An item
    whose article page was read is tagged on the article's text."""
    texts = [
        (
            r["title"],
            without_headline(r["article_text"], r["title"])
            if r.get("article_text")
            else r["content"] or r["summary"] or "",
            r["region_hint"],
        )
        for r in rows
    ]
    return list(zip((r["id"] for r in rows), tag_texts(models_dir, texts), strict=True))


class Parsed(NamedTuple):
    """What a worker makes of one feed document (see parse_and_tag)."""

    feed: ParsedFeed
    tags: dict[str, TagResult]  # by dedup key
    stems: dict[str, str]  # SQLite's full-text stems, by dedup key


def parse_and_tag(
    body: bytes,
    now: datetime,
    content_type: str | None,
    language: str | None,
    region_hint: str | None = None,
    models_dir: str | None = None,
    known: Collection[str] = (),
    index: bool = False,
) -> Parsed:
    """Parse a feed document and, for its items not in `known` (dedup keys already stored):
    with a models_dir, tag them on the same text the store will hold; with `index`, compute
    their full-text stems (SQLite's index), so that the single writer only stores."""
    parsed = parse_feed(body, now=now, content_type=content_type, language=language)
    fresh = [p for p in parsed.items if p.dedup_key not in known]
    stems = {p.dedup_key: index_text(p.title, p.summary, p.content) for p in fresh} if index else {}
    if models_dir is None:
        return Parsed(parsed, {}, stems)
    texts = [(p.title, p.content or p.summary or "", region_hint) for p in fresh]
    try:
        results = tag_texts(models_dir, texts) if texts else []
    except Exception:  # an unusable model: the items are stored untagged, the poller tags them
        return Parsed(parsed, {}, stems)
    return Parsed(parsed, {p.dedup_key: res for p, res in zip(fresh, results, strict=True)}, stems)


def start_worker(parent_pid: int, models_dir: str | None) -> None:
    """Worker initializer: watch the service process; with a models_dir, load the tagger now
    (while the first fetches are in flight) rather than on the first job."""
    watch_parent(parent_pid)
    if models_dir is not None:
        with contextlib.suppress(Exception):  # unusable: each tagging job says so in turn
            _tagger(models_dir)


def watch_parent(parent_pid: int) -> None:
    """Exit as soon as the service process is gone (kill -9 included).

    A worker's parent is the forkserver, which itself only exits once every worker has (they
    hold its liveness pipe), so a parent-death signal would never fire: the worker watches the
    service process instead, through a pidfd (no pid-reuse race), else by polling. Once the
    workers are gone the forkserver and the resource tracker see their pipes close and exit.
    """
    try:
        pidfd: int | None = os.pidfd_open(parent_pid)
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # no pidfd (old kernel): poll
        pidfd = None

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])
            os._exit(0)
        while True:
            time.sleep(1.0)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass

    threading.Thread(target=watch, name="veille-parent-watch", daemon=True).start()


class WorkerPool(Executor):
    """A process pool that exists only while there is work: started on the first job (workers
    themselves start one per job in flight, up to `workers`), ended after `idle_seconds` with
    nothing submitted. Its workers exit when this process dies, however it dies."""

    def __init__(
        self, workers: int, *, idle_seconds: float = IDLE_SECONDS, models_dir: str | None = None
    ) -> None:
        self.workers = workers
        self.idle_seconds = idle_seconds
        self.models_dir = models_dir
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._running = 0
        self._last_used = time.monotonic()
        self._closed = False
        self._reaper: threading.Timer | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run fn(*args, **kwargs) in a worker process."""
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("forkserver"),
                    initializer=start_worker,
                    initargs=(os.getpid(), self.models_dir),
                )
            self._running += 1
            future = self._pool.submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._lock:
            self._running -= 1
            self._last_used = time.monotonic()
            if self._running == 0 and not self._closed:
                self._arm(self.idle_seconds)

    def _arm(self, delay: float) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        self._reaper = threading.Timer(delay, self._reap)
        self._reaper.daemon = True
        self._reaper.start()

    def _reap(self) -> None:
        with self._lock:
            idle = time.monotonic() - self._last_used
            if self._running or self._pool is None or self._closed:
                return
            if idle < self.idle_seconds:
                self._arm(self.idle_seconds - idle)
                return
            pool, self._pool = self._pool, None
        pool.shutdown(wait=True)

    @property
    def processes(self) -> list[int]:
        """Pids of the live worker processes (none while idle)."""
        pool = self._pool
        procs = (getattr(pool, "_processes", None) or {}) if pool else {}
        return [p.pid for p in list(procs.values()) if p.pid is not None]

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """End the workers (wait: let the jobs in flight finish first)."""
        with self._lock:
            self._closed = True
            if self._reaper is not None:
                self._reaper.cancel()
            pool, self._pool = self._pool, None
        if pool is None:
            return
        if not wait:
            # The service is stopping: end the workers now rather than wait for the job each
            # is running (a tagger loading its model takes seconds).
            for worker in list((getattr(pool, "_processes", None) or {}).values()):
                worker.terminate()
        pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def pool_size(workers: int, *, tagging: bool, cpus: int | None = None) -> int:
    """How many worker processes the pool may run: `workers` when set (VEILLE_PARSE_WORKERS);
    else one per core, less, when tagging, the core the service process keeps for fetching and
    storing. Each tagging worker holds the model and its libraries (~190 MB): on two cores one
    worker and the service process already keep both cores busy."""
    if workers > 0:
        return workers
    cpus = cpus or os.cpu_count() or 1
    return max(1, cpus - 1) if tagging else cpus


def make_parse_pool(
    workers: int = 0, *, idle_seconds: float = IDLE_SECONDS, models_dir: Path | None = None
) -> Executor:
    """The pool for CPU-bound parsing and tagging, sized by pool_size; with a models_dir (tagging
    on), each worker loads the tagger as it starts. One worker that never tags is a thread."""
    count = pool_size(workers, tagging=models_dir is not None)
    if count <= 1 and models_dir is None:
        return ThreadPoolExecutor(max_workers=1)
    return WorkerPool(
        count, idle_seconds=idle_seconds, models_dir=str(models_dir) if models_dir else None
    )


def close_parse_pool(pool: Executor, *, wait: bool = True) -> None:
    """Shut the pool down; wait=False (the service is stopping): end the workers now."""
    pool.shutdown(wait=wait, cancel_futures=True)
