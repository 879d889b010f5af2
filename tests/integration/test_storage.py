"""The records store: one contract suite, run against PostgreSQL (own schema per test) and SQLite (own file)."""

from __future__ import annotations

import asyncio
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from common.config import load_settings
from common.errors import ConfigError
from common.storage import AgentExecution, BadPageToken, Store, open_store
from common.storage.database import PostgresDatabase, SqliteDatabase, migrations
from common.storage.migrate import migrate_all, own_migrations
from common.teams import TEAMS
from social_service.scheduled_posts import MIGRATIONS as SOCIAL_MIGRATIONS

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

Opener = Callable[..., Awaitable[Store]]


@pytest.fixture(params=["sqlite", "postgres"])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens services' stores on one backend: SQLite files under ``tmp_path``, or one PostgreSQL schema that the
    services share (as they share the database in production); closes them after the test."""
    opened: list[Store] = []
    schema = f"test_{uuid.uuid4().hex[:12]}"

    async def open_for(service: str, packages: Sequence[str] = ()) -> Store:
        if request.param == "sqlite":
            store = await open_store(load_settings(data_dir=tmp_path), service, migrations=packages)
        else:
            settings = load_settings(database_url=POSTGRES_URL)
            store = await open_store(settings, service, schema=schema, migrations=packages)
        opened.append(store)
        return store

    admin = await asyncpg.connect(POSTGRES_URL) if request.param == "postgres" else None
    if admin is not None:
        await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield open_for
    finally:
        for store in opened:
            await store.close()
        if admin is not None:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
            await admin.close()


@pytest.fixture
async def store(opener: Opener) -> Store:
    return await opener("supervisor")


async def tables(store: Store) -> set[str]:
    """The tables of a store's database (its schema on PostgreSQL)."""
    if store.dialect == "sqlite":
        rows = await store.db.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r["name"] for r in rows}
    rows = await store.db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {r["tablename"] for r in rows}


def migrations_package(root: Path, versions: Sequence[str]) -> str:
    """A service package on ``root`` (put on sys.path) shipping a migration per version number, for both
    dialects; returns its name."""
    name = f"service_{uuid.uuid4().hex[:8]}"
    for dialect in ("postgres", "sqlite"):
        folder = root / name / "migrations" / dialect
        folder.mkdir(parents=True)
        for version in versions:
            (folder / f"{version}_{name}.sql").write_text(
                f"CREATE TABLE {name}_{version} (id TEXT PRIMARY KEY);"
            )
    (root / name / "__init__.py").write_text("")
    return name


TENANT = "acme"
OTHER = "globex"


async def new_workflow(
    store: Store, task: str = "a task", owner: str = "replica-a", tenant: str = TENANT
) -> str:
    workflow_id = str(uuid.uuid4())
    await store.create_workflow(tenant, workflow_id, task, owner, b"snapshot-0")
    return workflow_id


async def test_migrations_apply_from_empty_and_rerun_as_a_no_op(store: Store) -> None:
    versions = [v for v, _, _ in migrations(store.dialect)]
    assert versions and versions == sorted(versions)
    assert await store.db.migrate() == []  # type: ignore[attr-defined]
    assert {"workflows", "agent_executions", "team_results", "schema_migrations"} <= await tables(store)


async def test_a_service_applies_its_own_migrations_after_commons(opener: Opener) -> None:
    supervisor = await opener("supervisor")
    dialect = supervisor.dialect
    common = [name for _, name, _ in migrations(dialect)]
    with_social = [name for _, name, _ in migrations(dialect, (SOCIAL_MIGRATIONS,))]
    assert with_social[: len(common)] == common, "common's first"
    assert with_social[len(common)] == "002_scheduled_posts.sql", "then the service's own, in version order"
    assert "scheduled_posts" not in await tables(supervisor), "only the social service's database has it"
    social = await opener("social", (SOCIAL_MIGRATIONS,))
    assert {"workflows", "scheduled_posts"} <= await tables(social)
    # Databases deployed before the move recorded 002_scheduled_posts.sql as version 2 too: nothing to redo.
    rows = await social.db.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    assert (2, "002_scheduled_posts.sql") in [(r["version"], r["name"]) for r in rows]
    assert sorted((r["version"], r["name"]) for r in rows) == sorted(
        (v, n) for v, n, _ in migrations(dialect, (SOCIAL_MIGRATIONS,))
    )
    assert await social.db.migrate((SOCIAL_MIGRATIONS,)) == []  # type: ignore[attr-defined]
    assert await supervisor.db.migrate() == []  # type: ignore[attr-defined]


async def test_a_version_used_twice_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    clashes_with_common = migrations_package(tmp_path, ["001"])
    clash = f"version 1 is used twice, by common.storage:001_initial.sql and {clashes_with_common}:"
    with pytest.raises(ConfigError, match=re.escape(clash)):
        migrations("sqlite", (clashes_with_common,))
    first, second = migrations_package(tmp_path, ["007"]), migrations_package(tmp_path, ["007"])
    with pytest.raises(
        ConfigError, match=re.escape(f"version 7 is used twice, by {first}:007_{first}.sql and {second}:")
    ):
        migrations("postgres", (first, second))
    with pytest.raises(ConfigError, match="version 7 is used twice"):
        await open_store(load_settings(data_dir=tmp_path), "social", migrations=(first, second))
    with pytest.raises(ConfigError, match="has no sqlite migrations"):
        migrations("sqlite", ("research_service",))


async def test_a_version_the_database_recorded_for_another_migration_fails_clearly(
    opener: Opener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    social = await opener("social", (SOCIAL_MIGRATIONS,))
    monkeypatch.syspath_prepend(str(tmp_path))
    other = migrations_package(tmp_path, ["002"])
    with pytest.raises(ConfigError, match=re.escape("already recorded for 002_scheduled_posts.sql")):
        await social.db.migrate((other,))  # type: ignore[attr-defined]
    assert f"{other}_002" not in await tables(social)


def test_make_migrate_finds_each_services_own_migrations_through_the_team_registry() -> None:
    assert {s.name: own_migrations(s) for s in TEAMS.services()} == {
        "research": (),
        "content": (),
        "social": ("social_service",),
        "supervisor": ("supervisor_service",),  # tenants, API keys, the audit log
    }


async def test_make_migrate_migrates_every_services_store(tmp_path: Path) -> None:
    await migrate_all(load_settings(data_dir=tmp_path))
    for service in TEAMS.services():
        store = await open_store(load_settings(data_dir=tmp_path), service.name)
        try:
            assert ("scheduled_posts" in await tables(store)) == (service.name == "social"), service.name
        finally:
            await store.close()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        await migrate_all(load_settings(database_url=f"{POSTGRES_URL}?search_path={schema}"))
        versions = await admin.fetch(f"SELECT version FROM {schema}.schema_migrations ORDER BY version")
        packages = tuple(p for service in TEAMS.services() for p in own_migrations(service))
        every = sorted(v for v, _, _ in migrations("postgres", packages))
        assert [r["version"] for r in versions] == every, "one shared database: every service's migrations"
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def test_create_save_get_and_terminal_states_are_final(store: Store) -> None:
    workflow_id = await new_workflow(store)
    record = await store.get_workflow(TENANT, workflow_id)
    assert record is not None and (record.status, record.snapshot, record.completed_at, record.tenant_id) == (
        "running",
        b"snapshot-0",
        None,
        TENANT,
    )
    await store.save_workflow(TENANT, workflow_id, "running", b"snapshot-1")
    await store.save_workflow(TENANT, workflow_id, "completed", b"snapshot-2", 10, 20, 0.5)
    record = await store.get_workflow(TENANT, workflow_id)
    assert (record.status, record.snapshot, record.input_tokens, record.output_tokens) == (
        "completed",
        b"snapshot-2",
        10,
        20,
    )
    assert record.cost_usd == pytest.approx(0.5) and record.completed_at is not None
    await store.save_workflow(TENANT, workflow_id, "cancelled", b"late")
    assert (await store.get_workflow(TENANT, workflow_id)).status == "completed", (
        "a finished workflow is never rewritten"
    )
    assert await store.get_workflow(TENANT, str(uuid.uuid4())) is None


async def test_pagination_newest_first_with_a_status_filter(store: Store) -> None:
    ids = []
    for n in range(7):
        ids.append(await new_workflow(store, f"task {n}"))
        await asyncio.sleep(0.002)
    for workflow_id in ids[::2]:
        await store.save_workflow(TENANT, workflow_id, "completed", b"done")
    seen, token = [], ""
    while True:
        page, token = await store.list_workflows(TENANT, 3, token)
        seen += [r.id for r in page]
        if not token:
            break
    assert seen == ids[::-1], "every workflow once, newest first"
    completed, token = await store.list_workflows(TENANT, 2, "", "completed")
    rest, last = await store.list_workflows(TENANT, 2, token, "completed")
    assert [r.id for r in completed + rest] == ids[::2][::-1] and last == ""
    with pytest.raises(BadPageToken):
        await store.list_workflows(TENANT, 2, token, "")  # issued for another filter
    for garbage in ("not-a-token", "e30", "!!!!", "eyJ0IjogMX0"):
        with pytest.raises(BadPageToken):
            await store.list_workflows(TENANT, 2, garbage)


async def test_agent_executions_are_recorded_once(store: Store) -> None:
    workflow_id = await new_workflow(store)
    rows = [
        AgentExecution(workflow_id, "research", "team_lead", 1, "routing", "in", "searcher: why", 3, True),
        AgentExecution(
            workflow_id, "research", "searcher", 2, "work", "in", "found", 9, True, input_tokens=5
        ),
        AgentExecution(workflow_id, "research", "analyst", 4, "work", "in", "", 9, False, "boom"),
    ]
    await store.record_executions(TENANT, rows)
    await store.record_executions(TENANT, rows)  # a replay after a crash
    stored = await store.agent_executions(TENANT, workflow_id)
    assert stored == rows
    assert await store.agent_executions(OTHER, workflow_id) == []


async def test_team_results_first_write_wins_per_tenant(store: Store) -> None:
    assert await store.get_team_result(TENANT, "wf/research/1") is None
    await store.put_team_result(TENANT, "wf/research/1", "research", b"first")
    await store.put_team_result(TENANT, "wf/research/1", "research", b"second")
    assert await store.get_team_result(TENANT, "wf/research/1") == b"first"
    assert await store.get_team_result(OTHER, "wf/research/1") is None, "keyed by (tenant, key)"
    await store.put_team_result(OTHER, "wf/research/1", "research", b"other")
    assert await store.get_team_result(OTHER, "wf/research/1") == b"other"
    await store.put_team_result(TENANT, "wf/content/2", "content", b"c")
    await store.put_team_result(TENANT, "wf2/content/2", "content", b"c")
    assert await store.delete_team_results(TENANT, "wf/") == 2
    assert await store.get_team_result(TENANT, "wf2/content/2") == b"c"
    assert await store.get_team_result(OTHER, "wf/research/1") == b"other"
    assert await store.delete_team_results(TENANT) == 1


async def test_an_orphan_is_claimed_by_exactly_one_replica(store: Store) -> None:
    orphan = await new_workflow(store, owner="dead-replica")
    alive = await new_workflow(store, owner="live-replica")
    await asyncio.sleep(0.3)
    await store.heartbeat("live-replica")
    claims = await asyncio.gather(*(store.claim_orphans(f"replica-{n}", 0.2) for n in range(4)))
    claimed = [workflow for claim in claims for workflow in claim]
    assert claimed == [(TENANT, orphan)], "only the stale workflow, and only once, with its tenant"
    winner = next(f"replica-{n}" for n, c in enumerate(claims) if c)
    assert (await store.get_workflow(TENANT, orphan)).owner == winner
    assert await store.claim(TENANT, orphan, winner, 60) is True, "the owner may re-claim its own workflow"
    assert await store.claim(TENANT, alive, "someone-else", 60) is False
    assert await store.claim(OTHER, orphan, winner, 60) is False, "another tenant's workflow is not claimed"


async def test_concurrent_migrations_on_postgres_are_safe() -> None:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        databases = [await PostgresDatabase.connect(POSTGRES_URL, 2, schema) for _ in range(3)]
        applied = await asyncio.gather(*(db.migrate() for db in databases))
        assert sorted(len(a) for a in applied) == [0, 0, len(migrations("postgres"))]
        for db in databases:
            await db.close()
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def test_tenants_see_and_change_only_their_own_workflows(store: Store) -> None:
    mine = await new_workflow(store, "mine")
    theirs = await new_workflow(store, "theirs", tenant=OTHER)
    assert await store.get_workflow(OTHER, mine) is None
    page, _ = await store.list_workflows(TENANT, 10)
    assert [r.id for r in page] == [mine]
    await store.save_workflow(OTHER, mine, "completed", b"hijacked")
    assert (await store.get_workflow(TENANT, mine)).snapshot == b"snapshot-0", "another tenant cannot save it"
    assert await store.delete_workflow(OTHER, mine) == 0
    assert await store.get_workflow(TENANT, mine) is not None
    assert (await store.get_workflow(OTHER, theirs)).tenant_id == OTHER
    with pytest.raises(ValueError, match="tenant id is required"):
        await store.get_workflow("", mine)


async def rows_of(store: Store, workflow_id: str) -> dict[str, int]:
    """Rows left for a workflow in each records table, whatever their tenant."""
    async with store.db.for_tenant("*") as db:
        return {
            "workflows": len(await db.fetch("SELECT id FROM workflows WHERE id = $1", workflow_id)),
            "agent_executions": len(
                await db.fetch("SELECT id FROM agent_executions WHERE workflow_id = $1", workflow_id)
            ),
            "team_results": len(
                await db.fetch(
                    "SELECT team FROM team_results WHERE substr(idempotency_key, 1, $2) = $1",
                    f"{workflow_id}/",
                    len(workflow_id) + 1,
                )
            ),
        }


async def test_delete_workflow_erases_its_records_and_nothing_else(store: Store) -> None:
    doomed, kept = await new_workflow(store), await new_workflow(store)
    for workflow_id in (doomed, kept):
        await store.record_executions(
            TENANT, [AgentExecution(workflow_id, "research", "searcher", 1, "work", "in", "out", 3, True)]
        )
        await store.put_team_result(TENANT, f"{workflow_id}/research/1", "research", b"result")
    assert await rows_of(store, doomed) == {"workflows": 1, "agent_executions": 1, "team_results": 1}
    assert await store.delete_workflow(TENANT, doomed) == 3
    assert await rows_of(store, doomed) == {"workflows": 0, "agent_executions": 0, "team_results": 0}
    assert await rows_of(store, kept) == {"workflows": 1, "agent_executions": 1, "team_results": 1}
    assert await store.delete_workflow(TENANT, doomed) == 0, "erasing twice is harmless"


async def test_retention_queries_and_tenant_erasure(store: Store) -> None:
    old, new = await new_workflow(store), await new_workflow(store)
    theirs = await new_workflow(store, tenant=OTHER)
    async with store.db.for_tenant(TENANT) as db:
        await db.execute(
            "UPDATE workflows SET created_at = $2 WHERE id = $1", old, datetime.now(UTC) - timedelta(days=40)
        )
    cutoff = datetime.now(UTC) - timedelta(days=30)
    assert await store.workflows_older_than(TENANT, cutoff) == [old]
    assert await store.workflows_older_than(OTHER, cutoff) == []
    assert await store.workflow_ids(TENANT) == [old, new]
    await store.put_team_result(TENANT, "loose-key", "content", b"x")
    assert await store.erase_tenant_records(TENANT) == 3
    assert await store.workflow_ids(TENANT) == [] and await store.get_team_result(TENANT, "loose-key") is None
    assert await store.workflow_ids(OTHER) == [theirs]


async def test_the_tenants_migration_gives_older_records_to_the_default_tenant(store: Store) -> None:
    async with legacy_database(store.dialect) as legacy:
        workflow_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        await legacy.execute(
            "INSERT INTO workflows (id, task, status, created_at, updated_at, heartbeat_at, snapshot) "
            "VALUES ($1, 'old', 'completed', $2, $2, $2, $3)",
            workflow_id, now, b"s",
        )  # fmt: skip
        await legacy.execute(
            "INSERT INTO agent_executions (workflow_id, team, agent, step_index, kind, input, output, "
            "duration_ms, success, recorded_at) VALUES ($1, 'research', 'searcher', 1, 'work', 'i', 'o', 1, "
            "TRUE, $2)",
            workflow_id, now,
        )  # fmt: skip
        await legacy.execute(
            "INSERT INTO team_results (idempotency_key, team, result, created_at) VALUES ($1, 'research', $2, $3)",
            f"{workflow_id}/research/1", b"r", now,
        )  # fmt: skip
        assert 3 in await legacy.migrate()
        migrated = Store(legacy)
        assert (await migrated.get_workflow("default", workflow_id)).task == "old"
        assert len(await migrated.agent_executions("default", workflow_id)) == 1
        assert await migrated.get_team_result("default", f"{workflow_id}/research/1") == b"r"


@asynccontextmanager
async def legacy_database(dialect: str) -> AsyncIterator[PostgresDatabase | SqliteDatabase]:
    """An empty database of the dialect with only the first migration applied (the records of a deployment from
    before tenants)."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL) if dialect == "postgres" else None
    db: PostgresDatabase | SqliteDatabase
    if admin is None:
        db = await SqliteDatabase.connect(Path(tempfile.mkdtemp()) / "legacy.sqlite")
    else:
        await admin.execute(f"CREATE SCHEMA {schema}")
        db = await PostgresDatabase.connect(POSTGRES_URL, 2, schema)
    try:
        first = migrations(dialect)[0]
        await db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        for statement in first.sql.split(";"):
            if statement.strip():
                await db.execute(statement)
        await db.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 1, first.name)
        yield db
    finally:
        await db.close()
        if admin is not None:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
            await admin.close()
