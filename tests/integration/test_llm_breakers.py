"""A circuit breaker per model provider: a provider that keeps failing is skipped for a while, in every chat model of
the process, and its state shows in metrics and in each service's health."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from langchain_core.messages import HumanMessage
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from prometheus_client import REGISTRY

from common.config import Settings
from common.llm.factory import ModelRole, build_chat_model
from common.teams import TEAMS
from tests.conftest import start_supervisor, start_teams, test_settings
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer, Fault

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def openai_with_claude_backup(
    primary: FakeOpenAIServer, backup: FakeAnthropicServer, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "llm_provider": "openai", "openai_base_url": primary.base_url, "openai_api_key": "k",
        "llm_model": "gpt-4o-mini", "llm_backup_provider": "anthropic", "llm_backup_base_url": backup.base_url,
        "llm_backup_api_key": "b", "llm_backup_model": "claude-haiku-4-5", "llm_timeout_s": 2.0,
        "llm_max_attempts": 2, "llm_retry_max_wait_s": 0.05, "llm_breaker_fail_max": 2,
        "llm_breaker_reset_timeout_s": 0.5,
    }  # fmt: skip
    return test_settings(**(values | overrides))


def chain(settings: Settings, role: ModelRole = ModelRole.WORKER) -> Any:
    return build_chat_model(settings, role, offline_behaviour=None)  # type: ignore[arg-type]


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value("marketing_breaker_state", {"team": name})


async def test_a_failing_provider_is_skipped_by_every_model_until_a_trial_call_finds_it_back() -> None:
    with FakeOpenAIServer() as primary, FakeAnthropicServer() as backup:
        primary.mode = "down"
        settings = openai_with_claude_backup(primary, backup)
        worker, router = chain(settings), chain(settings, ModelRole.ROUTER)
        breaker = worker.providers[0].breaker
        assert breaker is router.providers[0].breaker, (
            "one breaker per provider, shared by the process's models"
        )
        assert breaker.name == "llm:openai" and worker.providers[1].breaker.name == "llm:backup"

        for _ in range(2):  # each call: two attempts on the primary, then the backup
            answer = await worker.ainvoke([HumanMessage("<task>hello</task>")])
            assert answer.response_metadata["model_name"] == "claude-haiku-4-5"
        assert len(primary.requests) == 4
        assert breaker.state == "open" and gauge("llm:openai") == 2

        started = time.monotonic()
        answer = await router.ainvoke([HumanMessage("<task>hello</task>")])
        assert answer.response_metadata["model_name"] == "claude-haiku-4-5"
        assert len(primary.requests) == 4, "while open, the provider is not called at all"
        assert time.monotonic() - started < 0.5, "no retries, no waiting: straight to the backup"

        primary.mode = "ok"
        await asyncio.sleep(0.6)  # the reset time: the next call is a trial
        answer = await worker.ainvoke([HumanMessage("<task>hello</task>")])
        assert answer.response_metadata["model_name"] == "gpt-4o-mini"
        assert breaker.state == "closed" and gauge("llm:openai") == 0


async def test_errors_that_say_nothing_about_the_provider_do_not_open_its_breaker() -> None:
    with FakeOpenAIServer() as primary, FakeAnthropicServer() as backup:
        settings = openai_with_claude_backup(primary, backup, llm_breaker_fail_max=1)
        primary.script(*[Fault(400, body={"error": {"message": "bad", "type": "invalid_request_error"}})] * 3)
        model = chain(settings)
        for _ in range(3):
            answer = await model.ainvoke([HumanMessage("<task>hello</task>")])
            assert answer.response_metadata["model_name"] == "claude-haiku-4-5"
        assert model.providers[0].breaker.state == "closed"
        assert len(primary.requests) == 3, "a rejected request is neither retried nor counted"


async def test_a_retry_after_beyond_the_cap_goes_to_the_backup_at_once() -> None:
    with FakeOpenAIServer() as primary, FakeAnthropicServer() as backup:
        primary.script(Fault(429, {"retry-after": "30"}))
        started = time.monotonic()
        answer = await chain(openai_with_claude_backup(primary, backup, llm_max_attempts=3)).ainvoke(
            [HumanMessage("<task>hello</task>")]
        )
        assert time.monotonic() - started < 1
        assert answer.response_metadata["model_name"] == "claude-haiku-4-5"
        assert len(primary.requests) == 1, "not retried before the provider is ready"


async def test_an_exhausted_anthropic_rate_limit_is_waited_out_until_its_reset() -> None:
    with FakeAnthropicServer() as primary:
        reset = (datetime.now(UTC) + timedelta(seconds=0.4)).isoformat()
        primary.script(Fault(429, {"anthropic-ratelimit-requests-remaining": "0",
                                   "anthropic-ratelimit-requests-reset": reset}))  # fmt: skip
        settings = test_settings(
            llm_provider="anthropic", anthropic_base_url=primary.base_url, anthropic_api_key="k",
            llm_model="claude-haiku-4-5", llm_max_attempts=2, llm_retry_max_wait_s=2.0,
        )  # fmt: skip
        started = time.monotonic()
        answer = await chain(settings).ainvoke([HumanMessage("<task>hello</task>")])
        assert time.monotonic() - started >= 0.35, "waited for the limit's reset (no retry-after was sent)"
        assert answer.content.startswith("# Fake model answer")
        assert len(primary.requests) == 2


async def health(channel: grpc.aio.Channel, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return (await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)).status


async def test_each_service_reports_its_providers_breakers_in_its_health() -> None:
    with FakeOpenAIServer() as primary, FakeAnthropicServer() as backup:
        primary.mode = "down"
        settings = openai_with_claude_backup(
            primary, backup, llm_breaker_fail_max=1, llm_breaker_reset_timeout_s=60
        )
        teams = await start_teams(settings)
        supervisor, _ = await start_supervisor(settings, {t: f"127.0.0.1:{s.port}" for t, s in teams.items()})
        servers = {TEAMS.supervisor.name: supervisor, **teams}
        try:
            for server in servers.values():
                async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                    assert await health(channel, "dependency.llm.openai") == SERVING
            async with grpc.aio.insecure_channel(f"127.0.0.1:{supervisor.port}") as channel:
                stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
                workflow = (
                    await stub.RunTask(supervisor_pb2.RunTaskRequest(task="Write a blog article"))
                ).workflow
            assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, list(workflow.warnings)
            assert [m.model for m in workflow.usage.models] == ["claude-haiku-4-5"]
            for name, server in servers.items():
                async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                    assert await health(channel, "dependency.llm.openai") == NOT_SERVING, name
                    assert await health(channel, "dependency.llm.backup") == SERVING, name
                    assert await health(channel, "") == SERVING, "the service itself still answers"
            assert gauge("llm:openai") == 2
        finally:
            for server in servers.values():
                await server.stop(0)
