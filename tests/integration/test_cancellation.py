"""A client that cancels StreamTask mid-stream: the team's brief stops, every slot and gauge returns to zero."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from prometheus_client import REGISTRY

from common.config import Settings
from common.server import RunningServer
from tests.conftest import start_service, start_supervisor, test_settings

LATENCY_MS = 300
CAMPAIGN = "Launch campaign for our vector database: research, a blog article, LinkedIn and X posts"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def model_calls() -> float:
    """Every chat-model call this process has finished so far (supervisor router and teams)."""
    return sum(
        s.value
        for metric in REGISTRY.collect()
        if metric.name == "marketing_model_call_seconds"
        for s in metric.samples
        if s.name == "marketing_model_call_seconds_count"
    )


async def eventually(probe: Callable[[], float], expected: float, timeout_s: float = 3.0) -> float:
    """Wait until ``probe()`` equals ``expected``; returns how long it took."""
    started = time.monotonic()
    while (value := probe()) != expected:
        assert time.monotonic() - started < timeout_s, f"still {value}, expected {expected}"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture(scope="module")
async def slow_stack() -> AsyncIterator[tuple[Settings, dict[str, RunningServer]]]:
    """Teams and a supervisor with a slow offline model and caps of one brief and one workflow."""
    from content_service.__main__ import build as build_content
    from research_service.__main__ import build as build_research
    from social_service.__main__ import build as build_social

    settings = test_settings(
        offline_llm_latency_ms=LATENCY_MS, max_concurrent_briefs=1, max_concurrent_workflows=1
    )
    servers = {
        "research": await start_service("research", build_research, settings),
        "content": await start_service("content", build_content, settings),
        "social": await start_service("social", build_social, settings),
    }
    supervisor, _ = await start_supervisor(
        settings, {team: f"127.0.0.1:{s.port}" for team, s in servers.items()}
    )
    servers["supervisor"] = supervisor
    yield settings, servers
    for server in servers.values():
        await server.stop(0)


async def test_cancelling_stream_task_stops_the_team_and_frees_every_slot(slow_stack, channel_to) -> None:
    _, servers = slow_stack
    stub = supervisor_pb2_grpc.SupervisorServiceStub(channel_to(servers["supervisor"]))
    research_briefs = sample("marketing_artifacts_total", team="research", kind="research_brief")
    articles = sample("marketing_artifacts_total", team="content", kind="article")

    call = stub.StreamTask(supervisor_pb2.StreamTaskRequest(task=CAMPAIGN), timeout=60)
    async for event in call:
        if event.HasField("agent_step") and event.agent_step.team == "research":
            break  # the research team's lead has routed; its workers have several model calls still to make
    assert sample("marketing_briefs_in_flight", team="research") == 1
    assert sample("marketing_workflows_in_flight") == 1
    assert call.cancel()
    assert await call.code() == grpc.StatusCode.CANCELLED

    # The cancellation reaches the team at once: its brief stops within the model's current call.
    took = await eventually(lambda: sample("marketing_briefs_in_flight", team="research"), 0)
    assert took < 2 * LATENCY_MS / 1000, f"the research brief took {took:.2f}s to stop"
    await eventually(lambda: sample("marketing_workflows_in_flight"), 0)
    # No model call happens once the cancellation has settled; the brief never reached its analyst, and no later
    # team was started.
    settled = model_calls()
    await asyncio.sleep(5 * LATENCY_MS / 1000)
    assert model_calls() == settled
    assert sample("marketing_artifacts_total", team="research", kind="research_brief") == research_briefs
    assert sample("marketing_artifacts_total", team="content", kind="article") == articles

    # With caps of one, a new workflow is admitted by the supervisor and its brief by the team: both slots were
    # released by the cancellation.
    workflow = (
        await stub.RunTask(
            supervisor_pb2.RunTaskRequest(task="Research the vector database market"), timeout=30
        )
    ).workflow
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, workflow.summary
    assert [run.team for run in workflow.team_runs] == ["research"]
    assert sample("marketing_artifacts_total", team="research", kind="research_brief") == research_briefs + 1


async def test_a_deadline_that_expires_mid_stream_frees_every_slot(slow_stack, channel_to) -> None:
    _, servers = slow_stack
    stub = supervisor_pb2_grpc.SupervisorServiceStub(channel_to(servers["supervisor"]))
    started = time.monotonic()
    try:
        events = [
            e async for e in stub.StreamTask(supervisor_pb2.StreamTaskRequest(task=CAMPAIGN), timeout=1)
        ]
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    else:  # the supervisor kept within the deadline and answered with what it had
        assert events[-1].done.status != supervisor_pb2.WORKFLOW_STATUS_COMPLETED
    assert time.monotonic() - started < 3, "the caller's deadline bounds the workflow"
    await eventually(lambda: sample("marketing_workflows_in_flight"), 0)
    for team in ("research", "content", "social"):
        await eventually(lambda team=team: sample("marketing_briefs_in_flight", team=team), 0)
    workflow = (
        await stub.RunTask(
            supervisor_pb2.RunTaskRequest(task="Research the vector database market"), timeout=30
        )
    ).workflow
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, workflow.summary
