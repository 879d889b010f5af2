"""A supervisor wired like ``supervisor_service.__main__.build`` with the tenant hooks injected (the tenant's
profile, the audit log, the tenants' retention), a recording fake team, and the test backends of the records.

The records backend is SQLite under the settings' data dir, or PostgreSQL in a schema of its own owned by a role of
its own (``NOSUPERUSER NOBYPASSRLS``, so row-level security binds every query the services make).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2, team_pb2_grpc

from common.agents.team_entry import TEAM_SERVICE_NAME
from common.auth.principal import SUBJECT_METADATA, TENANT_METADATA
from common.config import Settings
from common.server import RunningServer, ServiceParts, ServiceRegistration, start_server
from common.storage import open_checkpointer, open_store
from common.team_client import TeamClient
from common.teams import TEAMS, TeamRegistry
from supervisor_service.graph import build_supervisor_graph
from supervisor_service.retention import (
    AuditLog,
    Eraser,
    RetentionPurge,
    TenantRetention,
    no_audit,
    no_tenants,
)
from supervisor_service.servicer import SupervisorServicer
from supervisor_service.workflows import ProfileSource, WorkflowRunner, empty_profile
from tests.conftest import TestPrincipalInterceptor, extra_server_interceptors, start_service, test_settings

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgres"]


@asynccontextmanager
async def tenant_role(prefix: str = "rls") -> AsyncIterator[tuple[str, str]]:
    """A login role without SUPERUSER and BYPASSRLS that owns a new schema (its search path); yields its DSN and
    the schema, and drops both afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f"CREATE ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS")
    await admin.execute(f"CREATE SCHEMA {name} AUTHORIZATION {name}")
    await admin.execute(f"ALTER ROLE {name} SET search_path = {name}")
    try:
        yield f"postgresql://{name}@127.0.0.1:5432/test", name
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await admin.execute(f"DROP SCHEMA {name} CASCADE")
        await admin.execute(f"DROP ROLE {name}")
        await admin.close()


@asynccontextmanager
async def backend_settings(backend: str, **overrides: Any) -> AsyncIterator[Settings]:
    """Test settings on a records backend: ``sqlite`` (files under a fresh data dir) or ``postgres`` (a schema of
    its own, reached as a role bound by row-level security)."""
    if backend == "sqlite":
        yield test_settings(**overrides)
        return
    async with tenant_role("stack") as (dsn, _):
        yield test_settings(database_url=dsn, **overrides)


@dataclass
class RecordingTeam(team_pb2_grpc.TeamServiceServicer):
    """A TeamService that answers every brief at once and records what reaches it, with the caller's tenant and
    subject (from the metadata the supervisor sends)."""

    name: str
    hang: bool = False
    briefs: list[tuple[str, str, team_pb2.Brief]] = field(default_factory=list)
    erased: list[tuple[str, str, str]] = field(default_factory=list)  # (tenant, subject, workflow id)
    erased_tenants: list[str] = field(default_factory=list)

    @staticmethod
    def _identity(context: grpc.aio.ServicerContext) -> tuple[str, str]:
        metadata = {key: str(value) for key, value in context.invocation_metadata() or ()}
        return metadata.get(TENANT_METADATA, ""), metadata.get(SUBJECT_METADATA, "")

    async def StreamBrief(
        self, request: team_pb2.StreamBriefRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        self.briefs.append((*self._identity(context), request.brief))
        if self.hang:
            await asyncio.sleep(3600)
        yield team_pb2.StreamBriefResponse(result=team_pb2.BriefResult(team=self.name, summary="done"))

    async def EraseWorkflow(
        self, request: team_pb2.EraseWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> team_pb2.EraseWorkflowResponse:
        self.erased.append((*self._identity(context), request.workflow_id))
        return team_pb2.EraseWorkflowResponse(team=self.name, erased_records=1)

    async def EraseTenant(
        self, request: team_pb2.EraseTenantRequest, context: grpc.aio.ServicerContext
    ) -> team_pb2.EraseTenantResponse:
        self.erased_tenants.append(self._identity(context)[0])
        return team_pb2.EraseTenantResponse(team=self.name, erased_records=1)

    async def CancelWorkflow(
        self, request: team_pb2.CancelWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> team_pb2.CancelWorkflowResponse:
        return team_pb2.CancelWorkflowResponse(team=self.name)


async def start_recording_team(settings: Settings, team: RecordingTeam) -> RunningServer:
    """Serve a recording team on a free loopback port."""
    registration = ServiceRegistration(
        TEAM_SERVICE_NAME, lambda server: team_pb2_grpc.add_TeamServiceServicer_to_server(team, server)
    )
    return await start_server(team.name, [registration], settings, port=0, host="127.0.0.1")


@dataclass
class TenantSupervisor:
    """An in-process supervisor and the parts the tests look into."""

    server: RunningServer
    runner: WorkflowRunner
    eraser: Eraser
    purge: RetentionPurge
    clients: dict[str, TeamClient]

    def stub(self, channel: grpc.aio.Channel) -> supervisor_pb2_grpc.SupervisorServiceStub:
        """A stub of the supervisor on a channel opened to ``self.server``."""
        return supervisor_pb2_grpc.SupervisorServiceStub(channel)


async def start_tenant_supervisor(
    settings: Settings,
    addresses: Mapping[str, str],
    *,
    profile_of: ProfileSource = empty_profile,
    audit: AuditLog = no_audit,
    tenants: TenantRetention = no_tenants,
    registry: TeamRegistry = TEAMS,
) -> TenantSupervisor:
    """A supervisor (with ``TestPrincipalInterceptor``) wired to the given team addresses and tenant hooks."""
    parts: dict[str, Any] = {}

    async def build(settings: Settings) -> ServiceParts:
        resources = AsyncExitStack()
        clients = {team: TeamClient(team, addresses[team], settings) for team in registry.names}
        for client in clients.values():
            resources.push_async_callback(client.close)
        store = await open_store(settings, "supervisor")
        resources.push_async_callback(store.close)
        checkpointer = await resources.enter_async_context(open_checkpointer(settings, "supervisor"))
        graph = build_supervisor_graph(settings, clients, checkpointer, registry)
        runner = WorkflowRunner(graph, store, settings, profile_of=profile_of)
        eraser = Eraser(runner, clients, audit)
        purge = RetentionPurge(eraser, tenants, settings.retention_purge_interval_s)
        servicer = SupervisorServicer(runner, settings, clients, eraser)
        parts.update(runner=runner, eraser=eraser, purge=purge, clients=clients)
        registration = ServiceRegistration(
            "marketing.supervisor.v1.SupervisorService",
            lambda server: supervisor_pb2_grpc.add_SupervisorServiceServicer_to_server(servicer, server),
        )
        runner.start()
        return ServiceParts(
            [registration], on_stop=[resources.aclose], before_stop=[purge.stop, runner.prepare_stop]
        )

    with extra_server_interceptors([TestPrincipalInterceptor()]):
        server = await start_service("supervisor", build, settings)
    return TenantSupervisor(server, **parts)


async def records_mentioning(settings: Settings, needle: str) -> dict[str, int]:
    """Rows of every table of every database of the stack (each SQLite file under the data dir, or the whole
    PostgreSQL schema, read as a superuser so that row-level security hides nothing) whose text or binary columns
    contain ``needle``; tables without any are left out."""
    if settings.database_url:
        return await _postgres_rows_mentioning(settings.database_url, needle)
    found: dict[str, int] = {}
    import aiosqlite

    for path in sorted(await asyncio.to_thread(lambda: list(Path(settings.data_dir).glob("*.sqlite")))):
        async with aiosqlite.connect(path) as db:
            tables = [
                row[0]
                for row in await db.execute_fetchall("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in tables:
                columns = [row[1] for row in await db.execute_fetchall(f"PRAGMA table_info({table})")]
                where = " OR ".join(f"instr(CAST({c} AS BLOB), CAST(?1 AS BLOB)) > 0" for c in columns)
                rows = await db.execute_fetchall(f"SELECT count(*) FROM {table} WHERE {where}", (needle,))
                if rows[0][0]:
                    found[f"{path.stem}.{table}"] = rows[0][0]
    return found


async def _postgres_rows_mentioning(dsn: str, needle: str) -> dict[str, int]:
    schema = dsn.rsplit("@", 1)[0].rsplit("/", 1)[-1]  # the role's name, which names its schema
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        columns = await admin.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1 "
            "ORDER BY table_name, ordinal_position",
            schema,
        )
        tests: dict[str, list[str]] = {}
        for table, column, data_type in columns:
            tests.setdefault(table, []).append(
                f"position(convert_to($1, 'UTF8') IN {column}) > 0"
                if data_type == "bytea"
                else f"position($1 IN {column}::text) > 0"
            )
        found: dict[str, int] = {}
        for table, conditions in tests.items():
            count = await admin.fetchval(
                f"SELECT count(*) FROM {schema}.{table} WHERE {' OR '.join(conditions)}", needle
            )
            if count:
                found[table] = count
        return found
    finally:
        await admin.close()


async def run_task(
    stub: supervisor_pb2_grpc.SupervisorServiceStub, metadata: Sequence[tuple[str, str]], task: str
) -> supervisor_pb2.Workflow:
    """Run a task as the caller the metadata names; returns the finished workflow."""
    response = await stub.RunTask(supervisor_pb2.RunTaskRequest(task=task), metadata=metadata, timeout=30)
    return response.workflow
