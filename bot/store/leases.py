"""Lease owners: who holds a feed or an outbox message, and taking back a dead process's leases.

An owner is named `<role>@<host>:<pid>`. A process restarted on the same host (a crash, a
`docker restart`) takes back at start the leases its role's dead processes held there, rather
than waiting for them to expire.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from sqlalchemy import Engine, select, update


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
