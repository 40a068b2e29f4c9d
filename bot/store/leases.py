"""Lease owners: who holds a feed or an outbox message, and taking back a dead process's leases.

An owner is named `<role>@<host>:<pid>`. A process restarted on the same host (a crash, a
`docker restart`) takes back at start the leases its role's dead processes held there, rather
than waiting for them to expire.

Leadership: one process at a time does a job for the whole deployment (sending, whose rate limit
is the bot's). On PostgreSQL the leader holds a session advisory lock on a connection of its
own; when it dies, its connection closes, the lock goes, and the next candidate takes it. SQLite
serves one process: it always leads.
"""

from __future__ import annotations

import logging
import os
import socket
import zlib
from typing import Any

from sqlalchemy import Connection, Engine, select, text, update

log = logging.getLogger(__name__)


def owner_name(role: str, *, pid: int | None = None, host: str | None = None) -> str:
    """This process's lease owner for a role (fits the 64-character owner columns)."""
    host = (host or socket.gethostname())[:40]
    return f"{role}@{host}:{pid if pid is not None else os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def dead_local_owners(owners: set[str], role: str) -> list[str]:
    """The owners among `owners` that were this role's processes on this host and are gone.

    Our own name counts as gone: at start nothing is legitimately leased under it (a previous
    process with the same pid, as in a container where the service is always pid 1).
    """
    mine = owner_name(role)
    prefix = mine.rsplit(":", 1)[0] + ":"
    dead = []
    for owner in owners:
        if not owner.startswith(prefix):
            continue
        pid_text = owner[len(prefix) :]
        if not pid_text.isdigit():
            continue
        if owner == mine or not _pid_alive(int(pid_text)):
            dead.append(owner)
    return dead


def reclaim(engine: Engine, table: Any, role: str, *, released: dict[str, Any]) -> int:
    """Release the leases (rows of table with lease_owner) of this role's dead local processes.

    released: the column values a released row gets (e.g. status back to pending).
    """
    with engine.begin() as conn:
        owners = {
            o
            for o in conn.execute(
                select(table.c.lease_owner).where(table.c.lease_owner.is_not(None)).distinct()
            ).scalars()
        }
        dead = dead_local_owners(owners, role)
        if not dead:
            return 0
        done = conn.execute(
            update(table)
            .where(table.c.lease_owner.in_(dead))
            .values(lease_owner=None, lease_until=None, **released)
        )
        return int(done.rowcount or 0)


class Leadership:
    """One leader among the processes that share a database, for one named job."""

    def __init__(self, engine: Engine, job: str) -> None:
        self.engine = engine
        self.job = job
        # Advisory locks are keyed by a number: a stable one from the job's name.
        self.key = zlib.crc32(f"veille:{job}".encode())
        self._conn: Connection | None = None

    @property
    def shared(self) -> bool:
        """True when other processes may share the database (PostgreSQL)."""
        return self.engine.dialect.name == "postgresql"

    def hold(self) -> bool:
        """True while this process leads: takes the lock when it is free, checks it when held."""
        if not self.shared:
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception as exc:  # the session is gone, and the lock with it
                log.warning("leadership lost job=%s error=%s", self.job, exc)
                self._drop()
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except Exception as exc:
            log.warning("leadership not checked job=%s error=%s", self.job, exc)
            return False
        try:
            won = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
            )
        except Exception as exc:
            log.warning("leadership not checked job=%s error=%s", self.job, exc)
            won = False
        if not won:
            conn.close()
            return False
        self._conn = conn
        log.info("leadership taken job=%s", self.job)
        return True

    def release(self) -> None:
        """Give up the lead (a clean stop): another process takes it at once."""
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        except Exception as exc:  # the session is gone: so is the lock
            log.warning("leadership release failed job=%s error=%s", self.job, exc)
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                # A pooled connection would keep the session, and a lock with it: never reuse it.
                conn.invalidate()
                conn.close()
            except Exception as exc:
                log.debug("leadership connection close failed job=%s error=%s", self.job, exc)
