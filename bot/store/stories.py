"""Stories in the database: new items are assigned to a story after they are stored.

The decision is bot/stories.py's; this module only fetches candidates and writes the result.
Candidates come from the story_keys index (band key, then a time range around the items), so
the cost per item depends on the stories near it in time, not on how many items are stored.
Several pollers may cluster at once: the assignment transaction takes a lock first (an advisory
lock on PostgreSQL, the write lock on SQLite), so two processes never both create a story for
the same news.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from bot import stories as core
from bot.errors import StoreError
from bot.store.repo import Store
from bot.store.schema import feeds, item_labels, items, outbox, stories

# Not the migration lock's key (bot.store.db.PG_LOCK_KEY): clustering must not wait on a sync.
PG_STORY_LOCK_KEY = 0x7665_696C_6C73  # "veills"
CHUNK = 500


@dataclass
class AssignReport:
    """What one assignment did: item -> story, and which stories are new or grew."""

    assigned: dict[int, int] = field(default_factory=dict)
    created: set[int] = field(default_factory=set)
    joined: set[int] = field(default_factory=set)  # existing stories that gained a member
    merged: dict[int, int] = field(default_factory=dict)  # stored story -> the one it joined


@dataclass
class _Pending:
    """A story touched by this assignment (id < 0 until inserted)."""

    state: core.StoryState
    last_seen: datetime
    size: int
    representative: core.Member | None
    new: bool
    keys: list[int] = field(default_factory=list)
    kept_changed: bool = False
    merged: bool = False  # took another story's members in this assignment
    absorbed_into: int | None = None  # merged into that story in this assignment


@dataclass(frozen=True)
class StoryMember:
    """One item of a story, for listings and /why."""

    item_id: int
    feed_name: str
    title: str
    link: str | None
    published_at: datetime


class StoryStore:
    """Queries on stories."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    def assign(self, item_ids: Sequence[int], now: datetime) -> AssignReport:
        """Put each of these items (those without a story yet) into a story."""
        rows = self.load(item_ids)
        prepared = core.prepare_batch(texts(rows))
        return self.assign_prepared(rows, prepared, now)

    def load(self, item_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The items among these without a story, earliest first, as assign_prepared wants them."""
        try:
            return self._load_items(item_ids) if item_ids else []
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read items for stories: {exc}") from exc

    def assign_prepared(
        self,
        rows: Sequence[dict[str, Any]],
        prepared: Sequence[tuple[core.Fingerprint, list[int]]],
        now: datetime,
    ) -> AssignReport:
        """assign() with load()'s rows and their core.prepare_batch() results."""
        report = AssignReport()
        if not rows:
            return report
        fps = [fp for fp, _ in prepared]
        keys = [k for _, k in prepared]
        try:
            with self.engine.begin() as conn:
                self._lock(conn)
                taken = self._already_assigned(conn, [r["id"] for r in rows])
                work = [
                    (r, fp, k)
                    for r, fp, k in zip(rows, fps, keys, strict=True)
                    if r["id"] not in taken
                ]
                if work:
                    self._assign(conn, work, now, report)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot assign stories: {exc}") from exc
        return report

    # ---- assignment ------------------------------------------------------------------------

    def _load_items(self, item_ids: Sequence[int]) -> list[dict[str, Any]]:
        lead = func.substr(func.coalesce(items.c.summary, ""), 1, 600)
        q = select(
            items.c.id,
            items.c.title,
            lead.label("summary"),
            func.substr(func.coalesce(items.c.content, ""), 1, 600).label("content"),
            func.length(items.c.content).label("content_len"),
            func.length(items.c.summary).label("summary_len"),
            items.c.published_at,
        ).where(items.c.story_id.is_(None))
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(item_ids)), CHUNK):
                for r in conn.execute(q.where(items.c.id.in_(chunk))):
                    out.append(
                        {
                            "id": r.id,
                            "title": r.title or "",
                            "lead": r.summary or r.content or "",
                            "length": max(r.content_len or 0, r.summary_len or 0),
                            "published": r.published_at,
                            "regions": [],
                        }
                    )
            # The tagger's regions (tagged before clustering, in the same per-feed step).
            regions = select(item_labels.c.item_id, item_labels.c.value).where(
                item_labels.c.kind == "region"
            )
            by_id = {r["id"]: r for r in out}
            for chunk in _chunks(sorted(by_id), CHUNK):
                for item_id, region in conn.execute(
                    regions.where(item_labels.c.item_id.in_(chunk))
                ):
                    by_id[item_id]["regions"].append(region)
        out.sort(key=lambda r: (r["published"], r["id"]))
        return out

    def _lock(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_STORY_LOCK_KEY})
        else:
            # A write as the transaction's first statement takes SQLite's write lock now (waiting
            # busy_timeout for another writer), before the candidates are read.
            conn.execute(update(stories).where(stories.c.id == -1).values(size=0))

    def _already_assigned(self, conn: Connection, ids: Sequence[int]) -> set[int]:
        done: set[int] = set()
        for chunk in _chunks(list(ids), CHUNK):
            q = select(items.c.id).where(items.c.id.in_(chunk), items.c.story_id.is_not(None))
            done.update(conn.execute(q).scalars())
        return done

    def _assign(
        self,
        conn: Connection,
        work: list[tuple[dict[str, Any], core.Fingerprint, list[int]]],
        now: datetime,
        report: AssignReport,
    ) -> None:
        earliest = work[0][0]["published"] - core.WINDOW
        latest = work[-1][0]["published"] + core.WINDOW
        index, pending = self._candidates(
            conn, {k for _, _, ks in work for k in ks}, earliest, latest
        )
        next_temp = -1
        members: list[tuple[int, int]] = []  # (item id, story id, maybe temporary)
        merged: dict[int, int] = {}  # absorbed story -> survivor (either maybe temporary)
        for row, fp, keys in work:
            states = [pending[s].state for s in core.rank_candidates(keys, index)]
            found = core.matches(fp, row["published"], states)
            member = core.Member(row["id"], row["published"], row["length"])
            story_id: int | None = None
            if found:
                story_id, absorbed = core.merge_plan(found, {s.id: s for s in states})
                for other in absorbed:
                    _fold(pending, index, members, merged, story_id, other)
            if story_id is None:
                story_id, next_temp = next_temp, next_temp - 1
                pending[story_id] = _Pending(
                    state=core.StoryState(story_id, row["published"]),
                    last_seen=row["published"],
                    size=0,
                    representative=None,
                    new=True,
                )
            p = pending[story_id]
            p.size += 1
            p.last_seen = max(p.last_seen, row["published"])
            candidates = [member] if p.representative is None else [p.representative, member]
            best = core.representative(candidates)
            p.representative = member if best == member.id else p.representative
            if core.remember(p.state, fp):
                p.kept_changed = True
                p.keys.extend(keys)
                for key in keys:
                    index.setdefault(key, set()).add(story_id)
            members.append((row["id"], story_id))
        self._write(conn, pending, members, now, report)
        self._merge(conn, pending, merged, report)

    def _candidates(
        self, conn: Connection, keys: set[int], earliest: datetime, latest: datetime
    ) -> tuple[dict[int, set[int]], dict[int, _Pending]]:
        index: dict[int, set[int]] = {}
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        low, high = _minute(earliest), _minute(latest)
        for chunk in _chunks(sorted(keys), CHUNK):
            # Plain SQL: an expanding IN of hundreds of integers costs more to compile than to run.
            marks = ", ".join([mark] * len(chunk))
            rows = conn.exec_driver_sql(
                f'SELECT "key", story_id FROM story_keys WHERE "key" IN ({marks}) '
                f"AND minute >= {mark} AND minute <= {mark}",
                (*chunk, low, high),
            )
            for key, story_id in rows:
                index.setdefault(key, set()).add(story_id)
        ids = sorted({s for group in index.values() for s in group})
        pending: dict[int, _Pending] = {}
        for chunk in _chunks(ids, CHUNK):
            q = (
                select(
                    stories,
                    items.c.published_at.label("rep_published"),
                    func.max(
                        func.coalesce(func.length(items.c.content), 0),
                        func.coalesce(func.length(items.c.summary), 0),
                    ).label("rep_length")
                    if conn.dialect.name == "sqlite"
                    else func.greatest(
                        func.coalesce(func.length(items.c.content), 0),
                        func.coalesce(func.length(items.c.summary), 0),
                    ).label("rep_length"),
                )
                .outerjoin(items, items.c.id == stories.c.representative_id)
                .where(stories.c.id.in_(chunk))
            )
            for r in conn.execute(q):
                rep = (
                    core.Member(r.representative_id, r.rep_published, r.rep_length or 0)
                    if r.representative_id is not None and r.rep_published is not None
                    else None
                )
                pending[r.id] = _Pending(
                    state=core.StoryState(
                        r.id,
                        r.first_seen,
                        [core.Fingerprint.from_json(f) for f in r.fingerprints],
                    ),
                    last_seen=r.last_seen,
                    size=r.size,
                    representative=rep,
                    new=False,
                )
        return index, pending

    def _write(
        self,
        conn: Connection,
        pending: dict[int, _Pending],
        members: list[tuple[int, int]],
        now: datetime,
        report: AssignReport,
    ) -> None:
        touched = {story_id for _, story_id in members} | {
            s for s, p in pending.items() if p.absorbed_into is None and p.merged
        }
        fresh = [pending[s] for s in sorted(touched, reverse=True) if pending[s].new]
        real: dict[int, int] = {}
        if fresh:
            stmt = stories.insert().returning(stories.c.id, sort_by_parameter_order=True)
            rows = [
                {
                    "first_seen": p.state.first_seen,
                    "last_seen": p.last_seen,
                    "size": p.size,
                    "representative_id": p.representative.id if p.representative else None,
                    "fingerprints": [f.to_json() for f in p.state.fingerprints],
                    "created_at": now,
                }
                for p in fresh
            ]
            for p, new_id in zip(fresh, conn.execute(stmt, rows).scalars(), strict=True):
                real[p.state.id] = int(new_id)
                report.created.add(int(new_id))
        for story_id in touched:
            real.setdefault(story_id, story_id)
        grown = [pending[s] for s in touched if not pending[s].new]
        if grown:
            conn.execute(
                update(stories)
                .where(stories.c.id == bindparam("b_id"))
                .values(
                    size=bindparam("b_size"),
                    first_seen=bindparam("b_first"),
                    last_seen=bindparam("b_last"),
                    representative_id=bindparam("b_rep"),
                    fingerprints=bindparam("b_fps"),
                ),
                [
                    {
                        "b_id": p.state.id,
                        "b_size": p.size,
                        "b_first": p.state.first_seen,
                        "b_last": p.last_seen,
                        "b_rep": p.representative.id if p.representative else None,
                        "b_fps": [f.to_json() for f in p.state.fingerprints],
                    }
                    for p in grown
                ],
            )
            report.joined.update(p.state.id for p in grown)
        # Plain DBAPI executemany: thousands of small rows, where SQLAlchemy's per-row parameter
        # processing would cost more than the database's work.
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        key_rows = [
            (key, _minute(p.state.first_seen), real[s])
            for s in touched
            for p in (pending[s],)
            for key in set(p.keys)
        ]
        if key_rows:
            conn.exec_driver_sql(
                f'INSERT INTO story_keys ("key", minute, story_id) VALUES ({mark}, {mark}, {mark}) '
                "ON CONFLICT DO NOTHING",
                key_rows,
            )
        conn.exec_driver_sql(
            f"UPDATE items SET story_id = {mark} WHERE id = {mark}",
            [(real[s], item_id) for item_id, s in members],
        )
        report.assigned.update({item_id: real[s] for item_id, s in members})

    def _merge(
        self,
        conn: Connection,
        pending: dict[int, _Pending],
        merged: dict[int, int],
        report: AssignReport,
    ) -> None:
        """Stored stories absorbed by another: their members, band keys and alerts move to the
        survivor, their row is emptied (in the assignment's transaction, under its lock)."""
        # A stored story is only ever absorbed by an older stored one (core.created_order).
        gone = sorted((s, core.survivor_of(merged, s)) for s in merged if s > 0)
        if not gone:
            return
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        by_survivor: dict[int, list[int]] = {}
        for absorbed, survivor in gone:
            report.merged[absorbed] = survivor
            by_survivor.setdefault(survivor, []).append(absorbed)
            conn.exec_driver_sql(
                f"UPDATE items SET story_id = {mark} WHERE story_id = {mark}", (survivor, absorbed)
            )
        # The survivor's band keys, its own and the absorbed ones', under its (maybe earlier)
        # start: the candidate lookup reads keys by minute around an item's time.
        for survivor, absorbed_ids in by_survivor.items():
            every = [survivor, *absorbed_ids]
            marks = ", ".join([mark] * len(every))
            minute = _minute(pending[survivor].state.first_seen)
            conn.exec_driver_sql(
                f'INSERT INTO story_keys ("key", minute, story_id) SELECT DISTINCT "key", '
                f"{mark}, {mark} FROM story_keys WHERE story_id IN ({marks}) ON CONFLICT DO NOTHING",
                (minute, survivor, *every),
            )
            conn.exec_driver_sql(
                f"DELETE FROM story_keys WHERE story_id IN ({marks}) AND NOT "
                f"(story_id = {mark} AND minute = {mark})",
                (*every, survivor, minute),
            )
            _move_alerts(conn, survivor, absorbed_ids)
            # The absorbed row stays, emptied: SQLite would give a deleted highest id to the next
            # story, and outbox rows and dedup keys (alert:<chat>:s<id>) still name it.
            conn.execute(
                update(stories)
                .where(stories.c.id.in_(absorbed_ids))
                .values(size=0, representative_id=None, fingerprints=[])
            )

    # ---- reading ---------------------------------------------------------------------------

    def members(self, story_ids: Sequence[int]) -> dict[int, list[StoryMember]]:
        """The items of each story, earliest first."""
        out: dict[int, list[StoryMember]] = {s: [] for s in story_ids}
        q = (
            select(
                items.c.story_id,
                items.c.id,
                feeds.c.name,
                items.c.title,
                func.coalesce(items.c.canonical_link, items.c.link).label("link"),
                items.c.published_at,
            )
            .join(feeds, feeds.c.id == items.c.feed_id)
            .order_by(items.c.published_at, items.c.id)
        )
        with self.engine.connect() as conn:
            for chunk in _chunks(list(story_ids), CHUNK):
                for r in conn.execute(q.where(items.c.story_id.in_(chunk))):
                    out[r.story_id].append(
                        StoryMember(r.id, r.name, r.title, r.link, r.published_at)
                    )
        return out

    def story_of(self, item_ids: Sequence[int]) -> dict[int, int]:
        """item id -> story id, for the items that have one."""
        out: dict[int, int] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(item_ids), CHUNK):
                q = select(items.c.id, items.c.story_id).where(
                    items.c.id.in_(chunk), items.c.story_id.is_not(None)
                )
                out.update({int(i): int(s) for i, s in conn.execute(q)})
        return out

    def unassigned_ids(self, limit: int = 5000) -> list[int]:
        """Items stored without a story yet (older than clustering, or a poller died)."""
        q = select(items.c.id).where(items.c.story_id.is_(None)).order_by(items.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [int(i) for i in conn.execute(q).scalars()]


def _fold(
    pending: dict[int, _Pending],
    index: dict[int, set[int]],
    members: list[tuple[int, int]],
    merged: dict[int, int],
    into: int,
    other: int,
) -> None:
    """Merge story `other` into `into` in this assignment's working state (see core.merge_plan)."""
    p, q = pending[into], pending[other]
    core.absorb(p.state, q.state)
    p.size += q.size
    p.last_seen = max(p.last_seen, q.last_seen)
    reps = [m for m in (p.representative, q.representative) if m is not None]
    if reps:
        best = core.representative(reps)
        p.representative = next(m for m in reps if m.id == best)
    p.keys.extend(q.keys)
    p.kept_changed = p.merged = True
    q.absorbed_into = into
    merged[other] = into
    for bucket in index.values():
        if other in bucket:
            bucket.discard(other)
            bucket.add(into)
    members[:] = [(item, into if story == other else story) for item, story in members]


def _move_alerts(conn: Connection, survivor: int, absorbed: Sequence[int]) -> None:
    """A chat's alert of an absorbed story becomes the survivor's when the chat has none of
    the survivor's (so a later member edits it, never sends a second alert); where the chat
    has both, the absorbed story's message is left as it was sent (see bot/story_alerts.py)."""
    rows = conn.execute(
        select(outbox.c.chat_id, outbox.c.story_id)
        .where(outbox.c.story_id.in_([survivor, *absorbed]), outbox.c.kind == "alert")
        .order_by(outbox.c.id)
    ).all()
    told = {chat for chat, story in rows if story == survivor}
    for story_id in absorbed:  # the oldest absorbed story's alert first
        for chat in sorted({chat for chat, story in rows if story == story_id} - told):
            conn.execute(
                update(outbox)
                .where(outbox.c.story_id == story_id, outbox.c.chat_id == chat)
                .values(story_id=survivor)
            )
            told.add(chat)


def texts(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, list[str], datetime]]:
    """What core.prepare_batch reads of load()'s rows."""
    return [(r["title"], r["lead"], r["regions"], r["published"]) for r in rows]


def _minute(when: datetime) -> int:
    return int(when.timestamp()) // 60


def _chunks(values: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
