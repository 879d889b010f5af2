"""The four services as processes on native Anthropic (``LLM_PROVIDER=anthropic``), against a loopback server that
speaks the Messages API: a campaign end to end, then the provider overloaded, which opens its breaker in every
service (health and metrics say so) instead of being retried on every call."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2

from common.launcher import ServiceLauncher
from tests.e2e.conftest import launch
from tests.fakes.anthropic_server import FakeAnthropicServer

TASK = "Launch campaign for our vector database: research, a blog article and LinkedIn posts"
SECRET = "sk-ant-test-secret-value"
BREAKER = 'marketing_breaker_state{team="llm:anthropic"}'


@pytest.fixture(scope="module")
def claude() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server


@pytest.fixture(scope="module")
def claude_stack(
    tmp_path_factory: pytest.TempPathFactory, claude: FakeAnthropicServer
) -> Iterator[ServiceLauncher]:
    launcher = launch(
        Path(tmp_path_factory.mktemp("anthropic-logs")),
        LLM_PROVIDER="anthropic",
        ANTHROPIC_BASE_URL=claude.base_url,
        ANTHROPIC_API_KEY=SECRET,
        LLM_MODEL="claude-haiku-4-5",
        LLM_MAX_ATTEMPTS="2",
        LLM_RETRY_MAX_WAIT_S="0.1",
        LLM_BREAKER_FAIL_MAX="1",
        LLM_BREAKER_RESET_TIMEOUT_S="120",
    )
    yield launcher
    launcher.stop_all()


def run(stack: ServiceLauncher) -> supervisor_pb2.Workflow:
    with grpc.insecure_channel(stack.processes["supervisor"].address) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        return stub.RunTask(supervisor_pb2.RunTaskRequest(task=TASK), timeout=120).workflow


def llm_health(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        request = health_pb2.HealthCheckRequest(service="dependency.llm.anthropic")
        return health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status


def breaker_state(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        lines = response.read().decode().splitlines()
    return float(next(line for line in lines if line.startswith(BREAKER)).rsplit(" ", 1)[1])


def test_a_campaign_runs_on_claude(claude_stack: ServiceLauncher, claude: FakeAnthropicServer) -> None:
    workflow = run(claude_stack)
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, list(workflow.warnings)
    assert all(s.decision_source == team_pb2.DECISION_SOURCE_MODEL for s in workflow.routing_steps)
    assert {a.team for a in workflow.artifacts} == {"research", "content", "social"}
    assert [(m.model, m.priced) for m in workflow.usage.models] == [("claude-haiku-4-5", True)]
    assert workflow.usage.cost_usd > 0
    assert workflow.usage.model_calls == len(claude.requests)
    for process in claude_stack.processes.values():
        assert llm_health(process.address) == health_pb2.HealthCheckResponse.SERVING, process.name
        assert breaker_state(process.metrics_url) == 0
    logs = "".join(p.log_path.read_text() for p in claude_stack.processes.values())
    assert SECRET not in logs, "API keys never reach the logs"


def test_an_overloaded_provider_opens_its_breaker_in_every_service(
    claude_stack: ServiceLauncher, claude: FakeAnthropicServer
) -> None:
    claude.mode = "overloaded"
    before = len(claude.requests)
    try:
        workflow = run(claude_stack)
    finally:
        claude.mode = "ok"
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_DEGRADED
    assert all(s.decision_source == team_pb2.DECISION_SOURCE_KEYWORD_FALLBACK for s in workflow.routing_steps)
    assert not workflow.artifacts, "no template text is passed off as model output"
    assert any("circuit breaker llm:anthropic is open" in w for w in workflow.warnings)
    calls = len(claude.requests) - before
    assert calls <= 2 * len(claude_stack.processes), (
        "one failed call (two attempts) per service, then skipped"
    )
    for process in claude_stack.processes.values():
        assert llm_health(process.address) == health_pb2.HealthCheckResponse.NOT_SERVING, process.name
        assert breaker_state(process.metrics_url) == 2
