"""Durable execution with real processes: the supervisor killed mid-task resumes it, and no team step runs twice."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2 as S
from marketing.supervisor.v1 import supervisor_pb2_grpc

from common.launcher import ServiceLauncher
from tests.e2e.conftest import launch

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TASK = "Launch campaign for our vector database: research, a blog article and LinkedIn posts"


@pytest.fixture(params=["sqlite", "postgres"])
def database_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A fresh database for one test: an SQLite folder, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield {"DATA_DIR": str(tmp_path / "data")}
        return
    name = f"test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(ADMIN_URL)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    yield {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{name}"}
    asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def durable_stack(tmp_path: Path, database_env: dict[str, str]) -> Iterator[ServiceLauncher]:
    launcher = launch(
        tmp_path / "logs",
        OFFLINE_LLM_LATENCY_MS="150",
        WORKFLOW_HEARTBEAT_S="0.5",
        SHUTDOWN_GRACE_S="1",
        **database_env,
    )
    yield launcher
    launcher.stop_all()


def agent_completions(log_path: Path, workflow_id: str) -> list[str]:
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    return [
        line["agent"]
        for line in lines
        if line.get("event") == "agent_completed" and line.get("workflow_id") == workflow_id
    ]


def test_a_supervisor_killed_mid_task_resumes_it_without_rerunning_team_steps(
    durable_stack: ServiceLauncher,
) -> None:
    supervisor = durable_stack.processes["supervisor"]
    workflow_id = ""
    with grpc.insecure_channel(supervisor.address) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            for event in stub.StreamTask(S.StreamTaskRequest(task=TASK), timeout=60):
                workflow_id = event.workflow_id
                if event.HasField("agent_step") and event.agent_step.team == "content":
                    durable_stack.stop(
                        "supervisor", signal.SIGKILL
                    )  # mid-task, inside the content team's call
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert workflow_id

    durable_stack.start("supervisor")
    durable_stack.wait_serving(["supervisor"], timeout_s=60)
    with grpc.insecure_channel(durable_stack.processes["supervisor"].address) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        deadline = time.monotonic() + 60
        while True:
            answer = stub.GetWorkflow(S.GetWorkflowRequest(workflow_id=workflow_id), timeout=5)
            if answer.workflow.status != S.WORKFLOW_STATUS_RUNNING or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        listed = stub.ListWorkflows(S.ListWorkflowsRequest(page_size=10), timeout=5)

    workflow = answer.workflow
    assert workflow.status == S.WORKFLOW_STATUS_COMPLETED, workflow.summary
    assert [r.team for r in workflow.team_runs] == ["research", "content", "social"]
    assert workflow_id in [w.id for w in listed.workflows]
    executions = [(e.team, e.step_index) for e in answer.agent_executions]
    assert len(executions) == len(set(executions)), "every agent execution is recorded exactly once"
    assert sorted(executions) == sorted((r.team, s.index) for r in workflow.team_runs for s in r.steps)
    # No team step ran twice: each worker completed once, across the interrupted and the resumed call.
    for team, workers in {"research": ["searcher", "analyst"], "content": ["writer", "seo_analyst"]}.items():
        completed = agent_completions(durable_stack.processes[team].log_path, workflow_id)
        assert sorted(completed) == sorted(workers), (team, completed)
