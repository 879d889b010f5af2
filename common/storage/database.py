"""A thin async database interface over asyncpg (PostgreSQL) and aiosqlite (SQLite), with versioned migrations.

SQL is written once with ``$1`` placeholders; SQLite runs it with ``?1``. Timestamps are timezone-aware datetimes
on the Python side (TIMESTAMPTZ in PostgreSQL, ISO 8601 text in SQLite).

Tenant data is read and written through ``database.for_tenant(tenant_id)``: on PostgreSQL a transaction that first
sets ``marketing.tenant_id``, which the row-level security policies of the tenant tables compare every row with (a
query that forgets its ``tenant_id`` filter returns nothing); ``"*"`` is the service's own cross-tenant background
work (orphan claims, the retention purge). On SQLite the same API exists and only the queries' own filters apply.

Migrations are ``NNN_name.sql`` files: common's (``common/storage/migrations/<dialect>/``, the records every service
keeps) and a service's own (``<service package>/migrations/<dialect>/``, for example the social service's
``scheduled_posts``), applied after common's. Their versions are unique across packages, since one PostgreSQL
database records them all in ``schema_migrations``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from common.errors import ConfigError
from common.logging import get_logger

log = get_logger(__name__)

MIGRATION_LOCK_KEY = 7_310_042_611  # pg_advisory_lock key shared by every replica
COMMON_MIGRATIONS = "common.storage"  # the package whose migrations/ every store applies first
_PLACEHOLDER = re.compile(r"\$(\d+)")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

TENANT_SETTING = "marketing.tenant_id"
"""The PostgreSQL setting that the row-level security policies of the tenant tables compare ``tenant_id`` with."""
ALL_TENANTS = "*"
"""``for_tenant(ALL_TENANTS)``: the service's own background work across tenants (orphan claims, purges)."""


class Database(Protocol):
    """What the stores need from a database."""

    dialect: str

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return the number of rows it changed."""
        ...

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Run a query; return its rows as dicts."""
        ...

    def for_tenant(self, tenant_id: str) -> AbstractAsyncContextManager[Database]:
        """The database as one tenant sees it (``"*"``: every tenant, for background work).

        On PostgreSQL the block is one transaction whose ``marketing.tenant_id`` setting makes row-level security
        show and accept only that tenant's rows; on SQLite only the queries' own filters apply.

        Raises:
            ValueError: The tenant id is empty.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def check_tenant(tenant_id: str) -> str:
    """The tenant id of a ``for_tenant`` block.

    Raises:
        ValueError: It is empty (a query for nobody is a bug, never a default).
    """
    if not isinstance(tenant_id, str) or not tenant_id:
        raise ValueError("a tenant id is required to read or write tenant data")
    return tenant_id


class Migration(NamedTuple):
    """One migration file: ``NNN_name.sql`` of a package's ``migrations/<dialect>/`` folder."""

    version: int
    name: str
    sql: str


def has_migrations(package: str) -> bool:
    """Whether a package ships migrations of its own tables (a ``migrations/`` folder)."""
    return (resources.files(package) / "migrations").is_dir()


def _package_migrations(package: str, dialect: str) -> list[Migration]:
    folder = resources.files(package) / "migrations" / dialect
    if not folder.is_dir():
        raise ConfigError(f"{package} has no {dialect} migrations (a migrations/{dialect}/ folder)")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = entry.name.split("_", 1)[0]
            if not version.isdigit():
                raise ConfigError(f"migration {package}:{entry.name} must be named NNN_name.sql")
            found.append(Migration(int(version), entry.name, entry.read_text()))
    return sorted(found)


def migrations(dialect: str, packages: Sequence[str] = ()) -> list[Migration]:
    """The packaged migrations of a dialect: common's (``common/storage/migrations/``), then those of each
    service package in ``packages`` (its own ``migrations/`` folder), each package's in version order.

    Raises:
        ConfigError: Two migrations share a version (versions are unique across packages, since one database
            records them all), or a package has no migrations for the dialect.
    """
    found: list[Migration] = []
    owners: dict[int, str] = {}
    for package in dict.fromkeys((COMMON_MIGRATIONS, *packages)):
        for migration in _package_migrations(package, dialect):
            if migration.version in owners:
                raise ConfigError(
                    f"migration version {migration.version} is used twice, by {owners[migration.version]} and "
                    f"{package}:{migration.name}; give one of them an unused number"
                )
            owners[migration.version] = f"{package}:{migration.name}"
            found.append(migration)
    return found


def pending(dialect: str, packages: Sequence[str], applied: Mapping[int, str]) -> list[Migration]:
    """The migrations of ``migrations(dialect, packages)`` that the database has not applied yet.

    Args:
        dialect: ``postgres`` or ``sqlite``.
        packages: The service packages whose migrations to apply after common's.
        applied: ``schema_migrations``: the name recorded for each applied version.

    Raises:
        ConfigError: The database recorded one of these versions under another name (another package's
            migration took the number).
    """
    todo = []
    for migration in migrations(dialect, packages):
        recorded = applied.get(migration.version)
        if recorded is None:
            todo.append(migration)
        elif recorded != migration.name:
            raise ConfigError(
                f"migration {migration.name} has version {migration.version}, which the database already "
                f"recorded for {recorded}; versions must be unique across packages"
            )
    return todo


async def advisory_lock(connection: Any, key: int, poll_s: float = 0.05) -> None:
    """Take a session advisory lock by polling ``pg_try_advisory_lock``.

    A blocking ``pg_advisory_lock`` keeps a statement (and its snapshot) open while it waits, which deadlocks with
    a ``CREATE INDEX CONCURRENTLY`` run by the lock's holder (LangGraph's checkpoint migrations do that).
    """
    while True:
        if await connection.fetchval("SELECT pg_try_advisory_lock($1)", key):
            return
        await asyncio.sleep(poll_s)


def _changed(status: str) -> int:
    """The row count of an asyncpg command status (``UPDATE 3``)."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class PostgresTenantScope:
    """One connection of the pool inside a transaction bound to one tenant (``marketing.tenant_id``)."""

    dialect = "postgres"

    def __init__(self, connection: Any, tenant_id: str) -> None:
        self.connection = connection
        self.tenant_id = tenant_id

    async def execute(self, sql: str, *args: Any) -> int:
        return _changed(await self.connection.execute(sql, *args))

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in await self.connection.fetch(sql, *args)]

    @asynccontextmanager
    async def for_tenant(self, tenant_id: str) -> AsyncIterator[Database]:
        """This scope again (one transaction serves one tenant).

        Raises:
            ValueError: Another tenant is asked for inside this tenant's transaction.
        """
        if tenant_id != self.tenant_id:
            raise ValueError(f"tenant {tenant_id!r} asked for inside a transaction of {self.tenant_id!r}")
        yield self

    async def close(self) -> None:
        """Nothing to do: the connection returns to the pool when the ``for_tenant`` block ends."""


class PostgresDatabase:
    """asyncpg connection pool."""

    dialect = "postgres"

    def __init__(self, pool: Any, row_security_enforced: bool = True) -> None:
        self.pool = pool
        self.row_security_enforced = row_security_enforced

    @classmethod
    async def connect(cls, dsn: str, pool_size: int, schema: str | None = None) -> PostgresDatabase:
        """Open a pool; ``schema`` (a plain identifier) becomes the search path. Logs a warning when the role
        bypasses row-level security (a superuser, or BYPASSRLS): the queries' own tenant filters still apply,
        but the backstop does not."""
        import asyncpg

        settings = {}
        if schema:
            if not _IDENTIFIER.match(schema):
                raise ValueError(f"invalid schema name {schema!r}")
            settings["search_path"] = schema
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=pool_size, server_settings=settings)
        try:
            role = await pool.fetchrow(
                "SELECT current_user AS name, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
        except BaseException:
            await pool.close()
            raise
        bypass = [name for name in ("rolsuper", "rolbypassrls") if role is not None and role[name]]
        if bypass:
            log.warning(
                "row_level_security_not_enforced",
                role=role["name"] if role is not None else "?",
                because="superuser" if "rolsuper" in bypass else "BYPASSRLS",
                hint="connect as a role with NOSUPERUSER NOBYPASSRLS that owns the tables",
            )
        return cls(pool, row_security_enforced=not bypass)

    async def execute(self, sql: str, *args: Any) -> int:
        return _changed(await self.pool.execute(sql, *args))

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in await self.pool.fetch(sql, *args)]

    @asynccontextmanager
    async def for_tenant(self, tenant_id: str) -> AsyncIterator[Database]:
        """A transaction on one connection whose row-level security shows only ``tenant_id``'s rows (``"*"``:
        every tenant's) and accepts only rows of that tenant."""
        check_tenant(tenant_id)
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute(f"SELECT set_config('{TENANT_SETTING}', $1, true)", tenant_id)
            yield PostgresTenantScope(connection, tenant_id)

    async def migrate(self, packages: Sequence[str] = ()) -> list[int]:
        """Apply pending migrations, common's then those of ``packages``; safe when several replicas and services
        start at once (advisory lock)."""
        applied_now = []
        async with self.pool.acquire() as connection:
            await advisory_lock(connection, MIGRATION_LOCK_KEY)
            try:
                await connection.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                rows = await connection.fetch("SELECT version, name FROM schema_migrations")
                for version, name, sql in pending(
                    self.dialect, packages, {r["version"]: r["name"] for r in rows}
                ):
                    async with connection.transaction():
                        await connection.execute(sql)
                        await connection.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                        )
                    applied_now.append(version)
            finally:
                await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
        return applied_now

    async def close(self) -> None:
        await self.pool.close()


class SqliteDatabase:
    """One aiosqlite connection (SQLite serialises writers anyway), in WAL mode."""

    dialect = "sqlite"

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @classmethod
    async def connect(cls, path: Path) -> SqliteDatabase:
        """Open (and create) the database file."""
        import aiosqlite

        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = aiosqlite.Row
        await connection.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL survives a process crash; only a power loss may drop the last commits.
        await connection.execute("PRAGMA synchronous=NORMAL")
        await connection.execute("PRAGMA foreign_keys=ON")
        await connection.execute("PRAGMA busy_timeout=5000")
        return cls(connection)

    @staticmethod
    def _sql(sql: str) -> str:
        return _PLACEHOLDER.sub(r"?\1", sql)

    @staticmethod
    def _args(args: Sequence[Any]) -> list[Any]:
        return [a.isoformat() if isinstance(a, datetime) else a for a in args]

    async def execute(self, sql: str, *args: Any) -> int:
        cursor = await self.connection.execute(self._sql(sql), self._args(args))
        return int(cursor.rowcount)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async with self.connection.execute(self._sql(sql), self._args(args)) as cursor:
            return [dict(row) for row in await cursor.fetchall()]

    @asynccontextmanager
    async def for_tenant(self, tenant_id: str) -> AsyncIterator[Database]:
        """This database: SQLite has no row-level security, so only the queries' own tenant filters apply (and
        each statement commits on its own: the one connection is shared by concurrent calls)."""
        check_tenant(tenant_id)
        yield self

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        await self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            await self.connection.execute("ROLLBACK")
            raise
        await self.connection.execute("COMMIT")

    async def migrate(self, packages: Sequence[str] = ()) -> list[int]:
        """Apply pending migrations, common's then those of ``packages``, inside one write transaction (other
        processes wait on the lock)."""
        applied_now = []
        async with self._exclusive():
            await self.connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            )
            rows = await self.fetch("SELECT version, name FROM schema_migrations")
            for version, name, sql in pending(
                self.dialect, packages, {r["version"]: r["name"] for r in rows}
            ):
                for statement in (s.strip() for s in sql.split(";")):
                    if statement and not all(line.startswith("--") for line in statement.splitlines()):
                        await self.connection.execute(statement)
                await self.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
                applied_now.append(version)
        return applied_now

    async def close(self) -> None:
        await self.connection.close()
