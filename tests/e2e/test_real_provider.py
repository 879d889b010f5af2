"""The four services as processes on a real OpenAI-compatible provider (a loopback server), primary and backup."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2

from common.launcher import ServiceLauncher
from tests.e2e.conftest import launch
from tests.fakes.openai_server import FakeOpenAIServer

TASK = "Launch campaign for our vector database: research, a blog article and LinkedIn posts"


@pytest.fixture(scope="module")
def providers() -> Iterator[tuple[FakeOpenAIServer, FakeOpenAIServer]]:
    with FakeOpenAIServer() as primary, FakeOpenAIServer() as backup:
        yield primary, backup


@pytest.fixture(scope="module")
def provider_stack(tmp_path_factory: pytest.TempPathFactory, providers) -> Iterator[ServiceLauncher]:
    primary, backup = providers
    launcher = launch(
        Path(tmp_path_factory.mktemp("provider-logs")),
        LLM_PROVIDER="openai",
        OPENAI_BASE_URL=primary.base_url,
        OPENAI_API_KEY="sk-test-secret-value",
        LLM_MODEL="primary-model",
        LLM_MAX_ATTEMPTS="2",
        LLM_RETRY_MAX_WAIT_S="0.2",
        LLM_BACKUP_PROVIDER="openai",
        LLM_BACKUP_BASE_URL=backup.base_url,
        LLM_BACKUP_MODEL="backup-model",
        LLM_PRICES=json.dumps(
            {"primary-model": {"input": 2, "output": 4}, "backup-model": {"input": 1, "output": 1}}
        ),
    )
    yield launcher
    launcher.stop_all()


def run(stack: ServiceLauncher) -> supervisor_pb2.Workflow:
    with grpc.insecure_channel(stack.processes["supervisor"].address) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        return stub.RunTask(supervisor_pb2.RunTaskRequest(task=TASK), timeout=120).workflow


def test_campaign_on_the_primary_provider(provider_stack: ServiceLauncher, providers) -> None:
    primary, backup = providers
    primary.mode = backup.mode = "ok"
    before = len(backup.requests)
    workflow = run(provider_stack)
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, list(workflow.warnings)
    assert all(s.decision_source == team_pb2.DECISION_SOURCE_MODEL for s in workflow.routing_steps)
    assert {a.team for a in workflow.artifacts} == {"research", "content", "social"}
    assert [m.model for m in workflow.usage.models] == ["primary-model"]
    assert workflow.usage.cost_usd > 0
    assert len(backup.requests) == before, "the backup is not called while the primary answers"
    logs = "".join(p.log_path.read_text() for p in provider_stack.processes.values())
    assert "sk-test-secret-value" not in logs, "API keys never reach the logs"


def test_primary_down_the_backup_answers(provider_stack: ServiceLauncher, providers) -> None:
    primary, backup = providers
    primary.mode, backup.mode = "down", "ok"
    workflow = run(provider_stack)
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, list(workflow.warnings)
    assert [m.model for m in workflow.usage.models] == ["backup-model"]
    assert workflow.usage.cost_usd == pytest.approx(
        (workflow.usage.input_tokens + workflow.usage.output_tokens) / 1_000_000
    )


def test_both_down_is_degraded_and_says_why(provider_stack: ServiceLauncher, providers) -> None:
    primary, backup = providers
    primary.mode = backup.mode = "down"
    workflow = run(provider_stack)
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_DEGRADED
    assert all(s.decision_source == team_pb2.DECISION_SOURCE_KEYWORD_FALLBACK for s in workflow.routing_steps)
    assert not workflow.artifacts
    assert any("no model provider could answer" in w for w in workflow.warnings)
    primary.mode = backup.mode = "ok"
