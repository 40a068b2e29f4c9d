"""A real, throwaway PostgreSQL server on 127.0.0.1 for tests and benchmarks.

    with PostgresServer() as pg:
        url = pg.new_database("t1")   # postgresql+psycopg://postgres@127.0.0.1:PORT/t1

The cluster lives in a temporary folder (initdb, then pg_ctl start on a free port) and is
deleted on stop. initdb refuses to run as root, so under root the cluster belongs to the
`postgres` OS user and the binaries run as that user. Durability is switched off (fsync,
synchronous_commit, full_page_writes): the data dies with the test run anyway.

`python -m tests.support.postgres` starts one, prints its URL and runs until interrupted.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

OS_USER = "postgres"  # who owns the cluster when we run as root (Debian's package creates it)
SUPERUSER = "postgres"  # the database role initdb creates
# Not UTC on purpose: the store must not depend on the server's time zone.
SERVER_TIMEZONE = "Europe/Paris"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries, or the server would not start."""


@dataclass(frozen=True)
class Binaries:
    """Where initdb and pg_ctl are."""

    initdb: Path
    pg_ctl: Path


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.parent.name)) or (0,)


def find_binaries(environ: Mapping[str, str] | None = None) -> Binaries | None:
    """initdb and pg_ctl from PATH, else the newest /usr/lib/postgresql/*/bin; None if absent."""
    environ = os.environ if environ is None else environ
    path = environ.get("PATH", os.defpath)
    initdb, pg_ctl = shutil.which("initdb", path=path), shutil.which("pg_ctl", path=path)
    if initdb and pg_ctl:
        return Binaries(Path(initdb), Path(pg_ctl))
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version_key)
    for found in reversed(candidates):
        if (found.parent / "pg_ctl").exists():
            return Binaries(found, found.parent / "pg_ctl")
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1 only."""

    def __init__(self, *, database: str = "veille", max_connections: int = 200) -> None:
        self.database = database
        self.max_connections = max_connections
        self.port = 0
        self._dir: Path | None = None
        self._bins: Binaries | None = None
        self._as_user: dict[str, Any] = {}
        self._running = False

    # ---- URLs ------------------------------------------------------------------------------

    def url_for(self, database: str) -> str:
        """The SQLAlchemy URL of one database of this server."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the database created at start."""
        return self.url_for(self.database)

    def new_database(self, name: str) -> str:
        """Create an empty database and return its URL (one per test keeps tests apart)."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"unsafe database name {name!r}")
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing its connections first."""
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _conninfo(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    # ---- life cycle ------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """initdb into a temporary folder, start the server, create the database."""
        if self._running:
            return self
        self._bins = find_binaries()
        if self._bins is None:
            raise PostgresUnavailable(
                "PostgreSQL binaries not found: no initdb/pg_ctl on PATH nor in "
                "/usr/lib/postgresql/*/bin. Install them (Debian: apt-get install postgresql)."
            )
        self._dir = Path(tempfile.mkdtemp(prefix="veille-pg-"))
        try:
            self._prepare_user()
            self._initdb()
            for attempt in range(3):  # the free port can be taken between probe and bind
                self.port = free_port()
                try:
                    self._pg_ctl(
                        "start",
                        "-w",
                        "-t",
                        "60",
                        "-l",
                        str(self._dir / "server.log"),
                        "-o",
                        f"-p {self.port}",
                    )
                    break
                except PostgresUnavailable:
                    if attempt == 2:
                        raise
            self._running = True
            atexit.register(self.stop)
            with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.database}"')
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (immediately: nothing here is worth a checkpoint) and delete it."""
        if self._running:
            self._running = False
            with contextlib.suppress(PostgresUnavailable):
                self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "30")
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- helpers ---------------------------------------------------------------------------

    @property
    def _data(self) -> Path:
        assert self._dir is not None
        return self._dir / "data"

    def _prepare_user(self) -> None:
        assert self._dir is not None
        if os.geteuid() != 0:
            self._as_user = {}
            return
        try:
            entry = pwd.getpwnam(OS_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root, and initdb refuses root: an OS user {OS_USER!r} is needed "
                "(the Debian postgresql package creates it)"
            ) from None
        os.chown(self._dir, entry.pw_uid, entry.pw_gid)
        self._as_user = {
            "user": entry.pw_uid,
            "group": entry.pw_gid,
            "extra_groups": [],
            "env": {**os.environ, "HOME": str(self._dir), "USER": OS_USER, "LOGNAME": OS_USER},
        }

    def _run(self, *args: str) -> None:
        assert self._dir is not None
        try:
            subprocess.run(
                args,
                cwd=self._dir,
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
                **self._as_user,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            out = getattr(exc, "stderr", "") or getattr(exc, "stdout", "") or ""
            log = self._dir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"{Path(args[0]).name} {args[1]} failed: {exc}\n{out}\n{tail}"
            ) from exc

    def _initdb(self) -> None:
        assert self._bins is not None and self._dir is not None
        args = (
            str(self._bins.initdb),
            "-D",
            str(self._data),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        try:  # a UTF-8 ctype, so lower() and the text-search parser know accented letters
            self._run(*args, "--locale=C.UTF-8")
        except PostgresUnavailable:
            self._run(*args, "--locale=C")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self._dir}'",
            "max_connections": str(self.max_connections),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "timezone": f"'{SERVER_TIMEZONE}'",
            "log_min_messages": "warning",
        }
        conf = "".join(f"{k} = {v}\n" for k, v in settings.items())
        with (self._data / "postgresql.conf").open("a") as fh:
            fh.write("\n# tests/support/postgres.py\n" + conf)

    def _pg_ctl(self, *args: str) -> None:
        assert self._bins is not None
        self._run(str(self._bins.pg_ctl), *args, "-D", str(self._data))


def main() -> int:
    """Start a server, print its URL, run until SIGINT/SIGTERM."""
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    print(server.url, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
