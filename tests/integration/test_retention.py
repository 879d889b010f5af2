"""Erasure and retention: DeleteWorkflow erases a workflow everywhere (records, checkpoints, every team's part),
the purge erases each tenant's workflows older than its retention, and DeleteTenant's part erases all of a tenant's;
each is audited, and no other tenant's rows are touched. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc

from common.config import Settings
from tests.conftest import as_tenant, authenticated_stack
from tests.integration.supervisor_stack import (
    BACKENDS,
    RecordingTeam,
    TenantSupervisor,
    backend_settings,
    records_mentioning,
    run_task,
    start_recording_team,
    start_tenant_supervisor,
)

S = supervisor_pb2
ACME, GLOBEX, INITECH = as_tenant("acme"), as_tenant("globex"), as_tenant("initech")
RECORD_TABLES = (
    "workflows",
    "agent_executions",
    "team_results",
)  # counted in erased_records (checkpoints aren't)
RESEARCH_AND_WRITE = "Research the vector database market, then write a blog article about it"


@dataclass
class AuditLog:
    """Records the audit events it is given."""

    events: list[tuple[str, str, str, str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(
        self, tenant_id: str, actor: str, action: str, resource: str, details: Mapping[str, Any]
    ) -> None:
        self.events.append((tenant_id, actor, action, resource, dict(details)))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_delete_workflow_leaves_no_row_behind_in_any_service(backend: str) -> None:
    """The real stack with authentication on: only the audit log remembers the deletion."""
    async with (
        backend_settings(backend, auth_disabled=False) as settings,
        authenticated_stack(settings, ["acme", "globex"]) as (channel, callers),
    ):
        ACME, GLOBEX = callers["acme"], callers["globex"]
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        doomed = await run_task(stub, ACME, RESEARCH_AND_WRITE)
        kept = await run_task(stub, GLOBEX, RESEARCH_AND_WRITE)
        assert [r.team for r in doomed.team_runs] == ["research", "content"]
        before = await records_mentioning(settings, doomed.id)
        for table in ("workflows", "agent_executions", "team_results", "checkpoints", "writes"):
            assert any(name.endswith(table) or table in name for name in before), (table, before)
        erased = await stub.DeleteWorkflow(S.DeleteWorkflowRequest(workflow_id=doomed.id), metadata=ACME)
        records = sum(n for name, n in before.items() if name.endswith(RECORD_TABLES))
        assert list(erased.unreachable_teams) == [] and erased.erased_records >= records
        left = await records_mentioning(settings, doomed.id)
        audit = [name for name in left if name.endswith("audit_events")]
        assert [left[name] for name in audit] == [1], f"one audit event records the deletion: {left}"
        assert {k: v for k, v in left.items() if k not in audit} == {}, "nothing else of the workflow is left"
        assert await records_mentioning(settings, kept.id), "another tenant's workflow is untouched"
        for call in (
            stub.GetWorkflow(S.GetWorkflowRequest(workflow_id=doomed.id), metadata=ACME),
            stub.DeleteWorkflow(S.DeleteWorkflowRequest(workflow_id=doomed.id), metadata=ACME),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@asynccontextmanager
async def recorded_stack(
    settings: Settings, audit: AuditLog, tenants: list[tuple[str, int]] | None = None, hang: bool = False
) -> AsyncIterator[
    tuple[TenantSupervisor, dict[str, RecordingTeam], supervisor_pb2_grpc.SupervisorServiceStub]
]:
    """A supervisor whose research and content teams are recording fakes and whose social team is unreachable."""
    teams = {name: RecordingTeam(name, hang=hang) for name in ("research", "content")}
    servers = {name: await start_recording_team(settings, team) for name, team in teams.items()}
    addresses = {name: f"127.0.0.1:{server.port}" for name, server in servers.items()} | {
        "social": "127.0.0.1:1"
    }

    async def retention() -> list[tuple[str, int]]:
        return tenants or []

    supervisor = await start_tenant_supervisor(settings, addresses, audit=audit, tenants=retention)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{supervisor.server.port}") as channel:
            yield supervisor, teams, supervisor.stub(channel)
    finally:
        await supervisor.server.stop(0)
        for server in servers.values():
            await server.stop(0)


async def test_delete_workflow_asks_every_team_names_the_unreachable_and_is_audited() -> None:
    audit = AuditLog()
    async with backend_settings("sqlite") as settings, recorded_stack(settings, audit) as (_, teams, stub):
        workflow = await run_task(stub, ACME, "Write a blog article about vector search")
        erased = await stub.DeleteWorkflow(S.DeleteWorkflowRequest(workflow_id=workflow.id), metadata=ACME)
        assert list(erased.unreachable_teams) == ["social"], (
            "every team of the registry is asked, used or not"
        )
        for team in teams.values():
            assert team.erased == [("acme", "tester", workflow.id)], (
                "each team erases for the caller's tenant"
            )
        assert audit.events == [
            (
                "acme",
                "api_key:tester",
                "workflow.delete",
                f"workflows/{workflow.id}",
                {"erased_records": erased.erased_records, "unreachable_teams": ["social"]},
            )
        ]


async def test_delete_workflow_cancels_a_running_workflow_first() -> None:
    audit = AuditLog()
    async with (
        backend_settings("sqlite") as settings,
        recorded_stack(settings, audit, hang=True) as (supervisor, teams, stub),
    ):
        stream = stub.StreamTask(S.StreamTaskRequest(task="Write a blog article about search"), metadata=ACME)
        workflow_id = ""
        async for event in stream:
            workflow_id = event.workflow_id
            if event.HasField("team_started"):
                break
        await stub.DeleteWorkflow(S.DeleteWorkflowRequest(workflow_id=workflow_id), metadata=ACME)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stream:
                pass
        assert caught.value.code() == grpc.StatusCode.CANCELLED
        assert workflow_id not in supervisor.runner.running
        assert await supervisor.runner.store.get_workflow("acme", workflow_id) is None
        assert await records_mentioning(settings, workflow_id) == {}
        assert [w for _, _, w in teams["content"].erased] == [workflow_id]


async def age(supervisor: TenantSupervisor, tenant: str, workflow_id: str, days: int) -> None:
    """Make a workflow look ``days`` days old."""
    created = datetime.now(UTC) - timedelta(days=days)
    async with supervisor.runner.store.db.for_tenant(tenant) as db:
        await db.execute("UPDATE workflows SET created_at = $2 WHERE id = $1", workflow_id, created)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_purge_erases_workflows_older_than_each_tenants_retention(backend: str) -> None:
    audit = AuditLog()
    tenants = [("acme", 30), ("globex", 0), ("initech", 7)]
    async with (
        backend_settings(backend) as settings,
        recorded_stack(settings, audit, tenants) as (supervisor, teams, stub),
    ):
        task = "Write a blog article about vector search"
        runs = {name: [await run_task(stub, caller, task) for _ in range(2)] for name, caller in
                (("acme", ACME), ("globex", GLOBEX), ("initech", INITECH))}  # fmt: skip
        for name in runs:
            await age(supervisor, name, runs[name][0].id, 40)  # the first of each is 40 days old
        assert await supervisor.purge.run_once() == {"acme": 1, "initech": 1}, "globex keeps everything (0)"
        for name, (old, new) in runs.items():
            assert (await records_mentioning(settings, old.id) == {}) == (name != "globex"), name
            assert await records_mentioning(settings, new.id), "younger workflows are kept"
        erased = sorted((t, s, w) for t, s, w in teams["content"].erased)
        assert erased == sorted(
            [("acme", "system", runs["acme"][0].id), ("initech", "system", runs["initech"][0].id)]
        )
        assert [(e[0], e[1], e[2], e[4]["count"], e[4]["retention_days"]) for e in audit.events] == [
            ("acme", "system", "workflow.purge", 1, 30),
            ("initech", "system", "workflow.purge", 1, 7),
        ]
        assert await supervisor.purge.run_once() == {}, "nothing is left to purge, and nothing is audited"
        assert len(audit.events) == 2


async def test_the_purge_loop_runs_every_interval_until_stopped() -> None:
    audit = AuditLog()
    async with (
        backend_settings("sqlite", retention_purge_interval_s=0.05) as settings,
        recorded_stack(settings, audit, [("acme", 1)]) as (supervisor, _, stub),
    ):
        workflow = await run_task(stub, ACME, "Write a blog article about vector search")
        supervisor.purge.start()
        await age(supervisor, "acme", workflow.id, 2)
        for _ in range(100):
            if audit.events:
                break
            await asyncio.sleep(0.02)
        await supervisor.purge.stop()
        assert [e[2] for e in audit.events] == ["workflow.purge"]
        assert await supervisor.runner.store.get_workflow("acme", workflow.id) is None


async def test_erase_tenant_workflows_erases_one_tenant_everywhere() -> None:
    audit = AuditLog()
    async with (
        backend_settings("sqlite") as settings,
        recorded_stack(settings, audit) as (supervisor, teams, stub),
    ):
        task = "Write a blog article about vector search"
        gone = [await run_task(stub, ACME, task) for _ in range(2)]
        kept = await run_task(stub, GLOBEX, task)
        assert await supervisor.eraser.erase_tenant_workflows("acme") == 2
        for workflow in gone:
            assert await records_mentioning(settings, workflow.id) == {}
        assert await supervisor.runner.store.workflow_ids("acme") == []
        assert await supervisor.runner.store.workflow_ids("globex") == [kept.id]
        for team in teams.values():
            assert team.erased_tenants == ["acme"], "EraseTenant reached every reachable team, for acme"
        assert sorted(w for t, s, w in teams["content"].erased if (t, s) == ("acme", "system")) == sorted(
            w.id for w in gone
        )
