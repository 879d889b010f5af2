"""A supervisor with its task intake (``supervisor_service.__main__.build``) over fast in-process fake teams, on
either queue backend: the records database (SQLite, or PostgreSQL as a role bound by row-level security) or
RabbitMQ in a virtual host of its own."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2

from common.config import Settings
from common.server import RunningServer
from common.teams import TEAMS
from tests.conftest import (
    Metadata,
    TestPrincipalInterceptor,
    extra_server_interceptors,
    start_supervisor,
    tenant_api_key,
)
from tests.integration.supervisor_stack import RecordingTeam, backend_settings, start_recording_team

BACKENDS = ["embedded", "rabbitmq"]
RABBIT = "amqp://guest:guest@127.0.0.1:5672/"
ONE_TEAM_TASK = "Write a blog article about vector databases"  # keyword routing: the content team only


async def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl; raise on failure."""
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, (args, out.decode(), err.decode())


@asynccontextmanager
async def rabbit_vhost() -> AsyncIterator[str]:
    """A RabbitMQ virtual host of this test's own (guest may use it); yields its amqp URL, deletes it after."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    await rabbitmqctl("add_vhost", name)
    await rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    try:
        yield RABBIT + name
    finally:
        await rabbitmqctl("delete_vhost", name)


@asynccontextmanager
async def queue_settings(backend: str, records: str = "sqlite", **overrides: Any) -> AsyncIterator[Settings]:
    """Test settings on a queue backend (``embedded``, ``rabbitmq`` or ``rabbitmq-quorum``) and a records
    backend."""
    values: dict[str, Any] = {
        "auth_disabled": False,
        "workflow_heartbeat_s": 0.5,
        "queue_poll_s": 0.05,
        "queue_retry_delay_s": 0.05,
    }
    values.update(overrides)
    if backend == "rabbitmq-quorum":  # RabbitMQ 4.x's queue type (3.10 has it without priorities)
        backend, values["broker_queue_type"] = "rabbitmq", "quorum"
    if backend == "rabbitmq":
        async with rabbit_vhost() as url, backend_settings(records, broker_url=url, **values) as settings:
            yield settings
        return
    async with backend_settings(records, **values) as settings:
        yield settings


@dataclass
class TimedTeam(RecordingTeam):
    """A fake team that takes ``delay_s`` per brief (waits for ``gate`` first when set) and records when each
    workflow's brief arrived, and how many briefs run at once per tenant."""

    delay_s: float = 0.0
    gate: asyncio.Event | None = None
    started: list[tuple[str, str, float]] = field(
        default_factory=list
    )  # (workflow id, tenant, monotonic time)
    running: dict[str, int] = field(default_factory=dict)
    most_running: dict[str, int] = field(default_factory=dict)

    async def StreamBrief(
        self, request: team_pb2.StreamBriefRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        tenant = self._identity(context)[0]
        self.started.append((request.brief.workflow_id, tenant, time.monotonic()))
        self.running[tenant] = self.running.get(tenant, 0) + 1
        self.most_running[tenant] = max(self.most_running.get(tenant, 0), self.running[tenant])
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        finally:
            self.running[tenant] -= 1
        async for response in super().StreamBrief(request, context):
            yield response

    def order(self) -> list[str]:
        """Workflow ids in the order their briefs arrived."""
        return [workflow_id for workflow_id, _, _ in self.started]


@dataclass
class QueueStack:
    """The supervisor, its teams and a stub."""

    supervisor: RunningServer
    teams: dict[str, TimedTeam]
    servers: list[RunningServer]
    channel: grpc.aio.Channel
    stub: supervisor_pb2_grpc.SupervisorServiceStub
    settings: Settings
    keys: dict[str, Metadata] = field(default_factory=dict)

    async def tenant(self, tenant_id: str) -> Metadata:
        """Call metadata of a caller of the tenant with every scope (an API key, created on first use)."""
        if tenant_id not in self.keys:
            self.keys[tenant_id] = await tenant_api_key(self.settings, tenant_id)
        return self.keys[tenant_id]


@asynccontextmanager
async def queue_stack(settings: Settings, **team_options: Any) -> AsyncIterator[QueueStack]:
    """Fake teams of the registry (``TimedTeam(**team_options)``) and a supervisor with its intake, callers
    authenticated with API keys (``await stack.tenant("acme")``)."""
    teams = {name: TimedTeam(name, **team_options) for name in TEAMS.names}
    servers = [await start_recording_team(settings, team) for team in teams.values()]
    addresses = {name: f"127.0.0.1:{server.port}" for name, server in zip(teams, servers, strict=True)}
    with extra_server_interceptors([TestPrincipalInterceptor()]):  # binds the teams' callers
        supervisor, _ = await start_supervisor(settings, addresses)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{supervisor.port}")
    try:
        yield QueueStack(
            supervisor, teams, servers, channel, supervisor_pb2_grpc.SupervisorServiceStub(channel), settings
        )
    finally:
        await channel.close()
        await supervisor.stop(0)
        for server in servers:
            await server.stop(0)


async def wait_finished(
    stub: supervisor_pb2_grpc.SupervisorServiceStub,
    metadata: Any,
    workflow_ids: list[str],
    timeout_s: float = 60.0,
) -> dict[str, supervisor_pb2.Workflow]:
    """Poll until every workflow left QUEUED and RUNNING; returns them."""
    pending = set(workflow_ids)
    finished: dict[str, supervisor_pb2.Workflow] = {}
    deadline = time.monotonic() + timeout_s
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} workflows did not finish"
        for workflow_id in list(pending):
            answer = await stub.GetWorkflow(
                supervisor_pb2.GetWorkflowRequest(workflow_id=workflow_id), metadata=metadata, timeout=10
            )
            if answer.workflow.status not in (
                supervisor_pb2.WORKFLOW_STATUS_QUEUED,
                supervisor_pb2.WORKFLOW_STATUS_RUNNING,
            ):
                finished[workflow_id] = answer.workflow
                pending.discard(workflow_id)
        if pending:
            await asyncio.sleep(0.1)
    return finished


async def until(condition: Callable[[], bool], timeout_s: float = 20.0, every_s: float = 0.05) -> None:
    """Wait until ``condition()`` holds (AssertionError after ``timeout_s``)."""
    for _ in range(int(timeout_s / every_s)):
        if condition():
            return
        await asyncio.sleep(every_s)
    assert condition(), f"still false after {timeout_s} s"
