"""PostgreSQL row-level security is the backstop of the tenant filters: as a role without SUPERUSER and BYPASSRLS
(owning the tables, which FORCE binds too), a raw query that forgets its tenant sees nothing, a transaction bound to
a tenant sees that tenant's rows only, and a row of another tenant cannot be written."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from structlog.testing import capture_logs

from common.config import load_settings
from common.storage import AgentExecution, Store, open_store
from common.storage.database import PostgresDatabase
from tests.integration.supervisor_stack import POSTGRES_URL, tenant_role

TENANT_TABLES = ("workflows", "agent_executions", "team_results")


@pytest.fixture
async def role() -> AsyncIterator[tuple[str, str]]:
    """A role bound by row-level security, owning a fresh schema: its DSN and the schema."""
    async with tenant_role() as created:
        yield created


@pytest.fixture
async def store(role: tuple[str, str]) -> AsyncIterator[Store]:
    """The records store, migrated and reached as that role, with a workflow (and its execution and team result)
    of each of two tenants."""
    store = await open_store(load_settings(database_url=role[0]), "supervisor")
    for tenant in ("acme", "globex"):
        workflow_id = str(uuid.uuid4())
        await store.create_workflow(tenant, workflow_id, f"{tenant} task", "replica", b"s")
        execution = AgentExecution(workflow_id, "research", "searcher", 1, "work", "in", "out", 1, True)
        await store.record_executions(tenant, [execution])
        await store.put_team_result(tenant, f"{workflow_id}/research/1", "research", b"r")
    yield store
    await store.close()


async def test_tenant_tables_have_row_level_security_enabled_and_forced(
    store: Store, role: tuple[str, str]
) -> None:
    connection = await asyncpg.connect(role[0])
    try:
        rows = await connection.fetch(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relnamespace = $1::regnamespace AND relname = ANY($2::text[])",
            role[1],
            list(TENANT_TABLES),
        )
        assert {r["relname"]: (r["relrowsecurity"], r["relforcerowsecurity"]) for r in rows} == {
            table: (True, True) for table in TENANT_TABLES
        }
        owner = await connection.fetchval(
            "SELECT tableowner FROM pg_tables WHERE schemaname = $1 AND tablename = 'workflows'", role[1]
        )
        assert owner == role[1], "the role owns the tables, and FORCE binds the owner too"
    finally:
        await connection.close()


async def test_a_raw_query_without_the_tenant_setting_returns_nothing(
    store: Store, role: tuple[str, str]
) -> None:
    connection = await asyncpg.connect(role[0])
    try:
        for table in TENANT_TABLES:
            assert await connection.fetch(f"SELECT * FROM {table}") == [], f"{table} leaks without a tenant"
        assert await connection.execute("UPDATE workflows SET task = 'overwritten'") == "UPDATE 0"
        assert await connection.execute("DELETE FROM team_results") == "DELETE 0"
    finally:
        await connection.close()
    admin = await asyncpg.connect(POSTGRES_URL)  # a superuser bypasses row-level security: the rows are there
    try:
        assert await admin.fetchval(f"SELECT count(*) FROM {role[1]}.workflows") == 2
        assert (
            await admin.fetchval(f"SELECT count(*) FROM {role[1]}.workflows WHERE task = 'overwritten'") == 0
        )
    finally:
        await admin.close()


async def test_the_tenant_setting_shows_only_that_tenants_rows(store: Store, role: tuple[str, str]) -> None:
    connection = await asyncpg.connect(role[0])
    try:
        for tenant in ("acme", "globex"):
            async with connection.transaction():
                await connection.execute("SELECT set_config('marketing.tenant_id', $1, true)", tenant)
                for table in TENANT_TABLES:
                    rows = await connection.fetch(f"SELECT tenant_id FROM {table}")
                    assert [r["tenant_id"] for r in rows] == [tenant], table
        async with connection.transaction():
            await connection.execute("SELECT set_config('marketing.tenant_id', '*', true)")
            assert await connection.fetchval("SELECT count(*) FROM workflows") == 2, "'*': background work"
        assert await connection.fetch("SELECT * FROM workflows") == [], (
            "the setting ends with its transaction"
        )
    finally:
        await connection.close()
    async with store.db.for_tenant("acme") as db:
        assert [r["task"] for r in await db.fetch("SELECT task FROM workflows")] == ["acme task"]


async def test_a_row_of_another_tenant_is_refused_by_with_check(store: Store, role: tuple[str, str]) -> None:
    connection = await asyncpg.connect(role[0])
    now = datetime.now(UTC)
    inserts = [
        (
            "INSERT INTO workflows (id, tenant_id, task, status, created_at, updated_at, heartbeat_at, snapshot) "
            "VALUES ($1, 'globex', 't', 'running', $2, $2, $2, '')",
            (uuid.uuid4(), now),
        ),
        (
            "INSERT INTO team_results (tenant_id, idempotency_key, team, result, created_at) "
            "VALUES ('globex', $1, 'research', '', $2)",
            ("k", now),
        ),
    ]
    try:
        for sql, args in inserts:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                async with connection.transaction():
                    await connection.execute("SELECT set_config('marketing.tenant_id', 'acme', true)")
                    await connection.execute(sql, *args)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            async with connection.transaction():
                await connection.execute("SELECT set_config('marketing.tenant_id', 'acme', true)")
                await connection.execute("UPDATE workflows SET tenant_id = 'globex'")  # moving a row away
    finally:
        await connection.close()
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # the store's own scope is bound the same way
        async with store.db.for_tenant("acme") as db:
            await db.execute(
                "INSERT INTO team_results (tenant_id, idempotency_key, team, result, created_at) "
                "VALUES ('globex', 'k2', 'research', '', $1)",
                now,
            )


async def test_a_role_that_bypasses_row_level_security_is_warned_about(role: tuple[str, str]) -> None:
    with capture_logs() as logs:
        superuser = await PostgresDatabase.connect(POSTGRES_URL, 1, role[1])
        bound = await PostgresDatabase.connect(role[0], 1)
    try:
        assert (superuser.row_security_enforced, bound.row_security_enforced) == (False, True)
        warnings = [e for e in logs if e["event"] == "row_level_security_not_enforced"]
        assert [(e["log_level"], e["role"], e["because"]) for e in warnings] == [
            ("warning", "postgres", "superuser")
        ]
    finally:
        await superuser.close()
        await bound.close()


async def test_for_tenant_needs_a_tenant(store: Store) -> None:
    with pytest.raises(ValueError, match="tenant id is required"):
        async with store.db.for_tenant(""):
            pass
    async with store.db.for_tenant("acme") as db, db.for_tenant("acme") as same:
        assert same is db
        with pytest.raises(ValueError, match="inside a transaction of 'acme'"):
            async with db.for_tenant("globex"):
                pass
