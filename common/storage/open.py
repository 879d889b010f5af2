"""Choose the backends from the settings: PostgreSQL when DATABASE_URL says so, else SQLite files under DATA_DIR."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from common.config import Settings
from common.logging import get_logger
from common.storage.database import PostgresDatabase, SqliteDatabase, advisory_lock
from common.storage.store import Store

log = get_logger(__name__)

CHECKPOINT_MIGRATION_LOCK_KEY = 7_310_042_612


def _sqlite_path(settings: Settings, service: str, suffix: str = "") -> Path:
    if settings.database_url and settings.database_url.startswith("sqlite:///"):
        base = Path(settings.database_url.removeprefix("sqlite:///"))
        return base.with_name(f"{base.stem}-{service}{suffix}{base.suffix or '.sqlite'}")
    return settings.data_dir / f"{service}{suffix}.sqlite"


def _is_postgres(settings: Settings) -> bool:
    return bool(settings.database_url and settings.database_url.startswith(("postgresql://", "postgres://")))


async def open_store(
    settings: Settings, service: str, schema: str | None = None, *, migrations: Sequence[str] = ()
) -> Store:
    """Connect to the records database and apply pending migrations: common's, then the service's own.

    Args:
        settings: ``DATABASE_URL`` (PostgreSQL) or ``DATA_DIR`` (SQLite file ``<service>.sqlite``).
        service: Which service's records (names the SQLite file; PostgreSQL is shared).
        schema: PostgreSQL schema to use instead of the default search path (tests).
        migrations: Packages whose ``migrations/`` folder creates the service's own tables
            (``("social_service",)``).

    Raises:
        ConfigError: Two migrations share a version, or the database recorded a version under another name.
    """
    if _is_postgres(settings):
        database: Any = await PostgresDatabase.connect(
            settings.database_url or "", settings.database_pool_size, schema
        )
    else:
        database = await SqliteDatabase.connect(_sqlite_path(settings, service))
    try:
        applied = await database.migrate(migrations)
    except BaseException:
        await database.close()
        raise
    log.info("database_ready", backend=database.dialect, migrations_applied=applied)
    return Store(database)


@asynccontextmanager
async def open_checkpointer(
    settings: Settings, service: str, schema: str | None = None
) -> AsyncIterator[Any]:
    """LangGraph's own checkpointer: AsyncPostgresSaver on PostgreSQL, AsyncSqliteSaver otherwise."""
    if _is_postgres(settings):
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        conninfo = settings.database_url or ""
        if schema:
            separator = "&" if "?" in conninfo else "?"
            conninfo += f"{separator}options=-csearch_path%3D{schema}"
        async with AsyncPostgresSaver.from_conn_string(conninfo) as saver:
            # setup() runs LangGraph's own migrations without a lock: serialise replicas and services on one.
            import asyncpg

            lock = await asyncpg.connect(settings.database_url)
            try:
                await advisory_lock(lock, CHECKPOINT_MIGRATION_LOCK_KEY)
                await saver.setup()
            finally:
                await lock.execute("SELECT pg_advisory_unlock($1)", CHECKPOINT_MIGRATION_LOCK_KEY)
                await lock.close()
            yield saver
    else:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = _sqlite_path(settings, service, "-checkpoints")
        path.parent.mkdir(parents=True, exist_ok=True)
        async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
            await saver.setup()
            yield saver
