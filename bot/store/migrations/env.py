"""Alembic environment: runs against the connection handed in by bot.store.db.migrate()."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, event, pool

from bot.query.stems import register_sqlite
from bot.store.schema import metadata

config = context.config
target_metadata = metadata
# Full-text objects made by raw SQL in migrations 0001/0005 (SQLite FTS5) and 0003 (PostgreSQL).
UNMODELLED = ("search_tsv", "ix_items_search_tsv", "items_fts")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Keep autogenerate from dropping what the metadata leaves out on purpose."""
    return not (reflected and compare_to is None and (name or "").startswith(UNMODELLED))


def run_migrations() -> None:
    """Run migrations on the given connection, or on sqlalchemy.url for the alembic CLI."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=include_object,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    if engine.dialect.name == "sqlite":  # migration 0005's triggers call veille_stems()
        event.listen(engine, "connect", lambda dbapi_conn, _record: register_sqlite(dbapi_conn))
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            include_object=include_object,
            render_as_batch=conn.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
