"""The records store: one contract suite, run against PostgreSQL (own schema per test) and SQLite (own file)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg
import pytest

from common.config import load_settings
from common.errors import ConfigError
from common.storage import AgentExecution, BadPageToken, Store, open_store
from common.storage.database import PostgresDatabase, migrations
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


async def new_workflow(store: Store, task: str = "a task", owner: str = "replica-a") -> str:
    workflow_id = str(uuid.uuid4())
    await store.create_workflow(workflow_id, task, owner, b"snapshot-0")
    return workflow_id


async def test_migrations_apply_from_empty_and_rerun_as_a_no_op(store: Store) -> None:
    versions = [v for v, _, _ in migrations(store.dialect)]
    assert versions and versions == sorted(versions)
    assert await store.db.migrate() == []  # type: ignore[attr-defined]
    assert {"workflows", "agent_executions", "team_results", "schema_migrations"} <= await tables(store)


async def test_a_service_applies_its_own_migrations_after_commons(opener: Opener) -> None:
    supervisor = await opener("supervisor")
    dialect = supervisor.dialect
    assert [name for _, name, _ in migrations(dialect, (SOCIAL_MIGRATIONS,))] == [
        *(name for _, name, _ in migrations(dialect)),
        "002_scheduled_posts.sql",
    ]
    assert "scheduled_posts" not in await tables(supervisor), "only the social service's database has it"
    social = await opener("social", (SOCIAL_MIGRATIONS,))
    assert {"workflows", "scheduled_posts"} <= await tables(social)
    # Databases deployed before the move recorded 002_scheduled_posts.sql as version 2 too: nothing to redo.
    rows = await social.db.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["name"]) for r in rows] == [
        (1, "001_initial.sql"),
        (2, "002_scheduled_posts.sql"),
    ]
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
        "supervisor": (),
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
        assert [r["version"] for r in versions] == [1, 2], "one shared database: every service's migrations"
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def test_create_save_get_and_terminal_states_are_final(store: Store) -> None:
    workflow_id = await new_workflow(store)
    record = await store.get_workflow(workflow_id)
    assert record is not None and (record.status, record.snapshot, record.completed_at) == (
        "running",
        b"snapshot-0",
        None,
    )
    await store.save_workflow(workflow_id, "running", b"snapshot-1")
    await store.save_workflow(workflow_id, "completed", b"snapshot-2", 10, 20, 0.5)
    record = await store.get_workflow(workflow_id)
    assert (record.status, record.snapshot, record.input_tokens, record.output_tokens) == (
        "completed",
        b"snapshot-2",
        10,
        20,
    )
    assert record.cost_usd == pytest.approx(0.5) and record.completed_at is not None
    await store.save_workflow(workflow_id, "cancelled", b"late")
    assert (await store.get_workflow(workflow_id)).status == "completed", (
        "a finished workflow is never rewritten"
    )
    assert await store.get_workflow(str(uuid.uuid4())) is None


async def test_pagination_newest_first_with_a_status_filter(store: Store) -> None:
    ids = []
    for n in range(7):
        ids.append(await new_workflow(store, f"task {n}"))
        await asyncio.sleep(0.002)
    for workflow_id in ids[::2]:
        await store.save_workflow(workflow_id, "completed", b"done")
    seen, token = [], ""
    while True:
        page, token = await store.list_workflows(3, token)
        seen += [r.id for r in page]
        if not token:
            break
    assert seen == ids[::-1], "every workflow once, newest first"
    completed, token = await store.list_workflows(2, "", "completed")
    rest, last = await store.list_workflows(2, token, "completed")
    assert [r.id for r in completed + rest] == ids[::2][::-1] and last == ""
    with pytest.raises(BadPageToken):
        await store.list_workflows(2, token, "")  # issued for another filter
    for garbage in ("not-a-token", "e30", "!!!!", "eyJ0IjogMX0"):
        with pytest.raises(BadPageToken):
            await store.list_workflows(2, garbage)


async def test_agent_executions_are_recorded_once(store: Store) -> None:
    workflow_id = await new_workflow(store)
    rows = [
        AgentExecution(workflow_id, "research", "team_lead", 1, "routing", "in", "searcher: why", 3, True),
        AgentExecution(
            workflow_id, "research", "searcher", 2, "work", "in", "found", 9, True, input_tokens=5
        ),
        AgentExecution(workflow_id, "research", "analyst", 4, "work", "in", "", 9, False, "boom"),
    ]
    await store.record_executions(rows)
    await store.record_executions(rows)  # a replay after a crash
    stored = await store.agent_executions(workflow_id)
    assert stored == rows


async def test_team_results_first_write_wins(store: Store) -> None:
    assert await store.get_team_result("wf/research/1") is None
    await store.put_team_result("wf/research/1", "research", b"first")
    await store.put_team_result("wf/research/1", "research", b"second")
    assert await store.get_team_result("wf/research/1") == b"first"


async def test_an_orphan_is_claimed_by_exactly_one_replica(store: Store) -> None:
    orphan = await new_workflow(store, owner="dead-replica")
    alive = await new_workflow(store, owner="live-replica")
    await asyncio.sleep(0.3)
    await store.heartbeat("live-replica")
    claims = await asyncio.gather(*(store.claim_orphans(f"replica-{n}", 0.2) for n in range(4)))
    claimed = [workflow_id for claim in claims for workflow_id in claim]
    assert claimed == [orphan], "only the stale workflow, and only once"
    assert alive not in claimed
    winner = next(f"replica-{n}" for n, c in enumerate(claims) if c)
    assert (await store.get_workflow(orphan)).owner == winner
    assert await store.claim(orphan, winner, 60) is True, "the owner may re-claim its own workflow"
    assert await store.claim(alive, "someone-else", 60) is False


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
