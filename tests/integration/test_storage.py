"""The records store: one contract suite, run against PostgreSQL (own schema per test) and SQLite (own file)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from common.config import load_settings
from common.storage import AgentExecution, BadPageToken, Store, open_store
from common.storage.database import PostgresDatabase, migrations

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        opened = await open_store(load_settings(data_dir=tmp_path), "supervisor")
        yield opened
        await opened.close()
        return
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        opened = await open_store(load_settings(database_url=POSTGRES_URL), "supervisor", schema=schema)
        yield opened
        await opened.close()
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def new_workflow(store: Store, task: str = "a task", owner: str = "replica-a") -> str:
    workflow_id = str(uuid.uuid4())
    await store.create_workflow(workflow_id, task, owner, b"snapshot-0")
    return workflow_id


async def test_migrations_apply_from_empty_and_rerun_as_a_no_op(store: Store) -> None:
    versions = [v for v, _, _ in migrations(store.dialect)]
    assert versions and versions == sorted(versions)
    assert await store.db.migrate() == []  # type: ignore[attr-defined]
    tables = {"workflows", "agent_executions", "team_results", "schema_migrations"}
    if store.dialect == "sqlite":
        rows = await store.db.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
        assert tables <= {r["name"] for r in rows}
    else:
        rows = await store.db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        assert tables <= {r["tablename"] for r in rows}


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
