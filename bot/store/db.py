"""Engines and migrations: SQLite (WAL) by default, PostgreSQL or any SQLAlchemy URL by setting."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import StoreError
from bot.query.stems import register_sqlite

MIGRATIONS = Path(__file__).parent / "migrations"
# One key for every Veille process on a database: migrations and feed syncs go one at a time.
PG_LOCK_KEY = 0x7665_696C_6C65  # "veille"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
    register_sqlite(dbapi_conn)  # the full-text triggers call veille_stems()


def make_engine(url: str) -> Engine:
    """An engine for url; the SQLite file's folder is created when missing."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(
                url,
                pool_size=10,
                max_overflow=10,
                pool_pre_ping=True,
                connect_args=_pg_connect_args(url),
            )
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot open database {redact(url)}: {exc}") from exc
    return engine


def _pg_connect_args(url: str) -> dict[str, Any]:
    # Sessions in UTC whatever the server's TimeZone: timestamptz values then come back in UTC
    # (as on SQLite), and a naive datetime means UTC on both backends. A URL that sets
    # its own ?options= keeps them.
    if not url.startswith("postgresql") or "options=" in url:
        return {}
    return {"options": "-c timezone=UTC"}


def redact(url: str) -> str:
    """The URL with its password hidden, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            one_at_a_time(conn)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise StoreError(f"database migration failed on {redact(str(engine.url))}: {exc}") from exc


def one_at_a_time(conn: Connection) -> None:
    """On PostgreSQL, wait until no other process is migrating or syncing feeds (the lock is
    the transaction's): roles started together on a fresh database would race otherwise."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})


class RawWriter:
    """Bulk writes on a Connection's own DBAPI cursor, inside its transaction: one executemany
    per table, values converted by the columns' own SQLAlchemy types (so they read back exactly
    as Core-written ones). SQLAlchemy's per-row work costs more than SQLite's own."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect
        self.mark = "?" if self.dialect.paramstyle == "qmark" else "%s"

    def insert(
        self,
        table: Table,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        conflict: Sequence[str] = (),
    ) -> None:
        """INSERT rows (values in `columns` order); with `conflict`, rows that would repeat that
        unique key are skipped (ON CONFLICT DO NOTHING, on SQLite and PostgreSQL alike)."""
        if not rows:
            return
        params = self._converted(table, columns, rows)
        sql = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join([self.mark] * len(columns))})"
        )
        if conflict:
            sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        cursor = self.conn.connection.cursor()
        try:
            cursor.executemany(sql, params)
        except self.dialect.loaded_dbapi.Error as exc:
            raise StoreError(f"cannot write {table.name}: {exc}") from exc
        finally:
            cursor.close()

    def _converted(
        self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> list[tuple[Any, ...]]:
        """The rows with each value converted by its column's bind processor, column by column
        (most columns have none)."""
        values: list[Sequence[Any]] = list(zip(*rows, strict=True))
        if len(values) != len(columns):
            raise ValueError(f"rows of {len(values)} values for {len(columns)} columns")
        for n, name in enumerate(columns):
            proc = table.c[name].type.dialect_impl(self.dialect).bind_processor(self.dialect)
            if proc is None:
                continue
            # By identity: rows often share one object (the batch's `now`), converted once.
            done: dict[int, Any] = {id(v): None if v is None else proc(v) for v in values[n]}
            values[n] = [done[id(v)] for v in values[n]]
        return list(zip(*values, strict=True))


def insert_for(dialect: str, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT for the dialect (PostgreSQL or SQLite)."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
