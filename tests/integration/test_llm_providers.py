"""Real providers through the real langchain-openai client, against an OpenAI-compatible server on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2

from common.config import Settings
from common.llm.factory import ModelRole, build_chat_model
from common.llm.offline import OFFLINE_NOTICE
from common.llm.providers import ModelUnavailableError
from tests.conftest import in_process_stack, test_settings
from tests.fakes.openai_server import FakeOpenAIServer, Fault

CAMPAIGN = "Launch campaign for our vector database: research, a blog article and LinkedIn posts"
PRICE = {"input": 1.0, "output": 2.0}  # dollars per million tokens


@pytest.fixture
def primary() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(model_name="fake-primary") as server:
        yield server


@pytest.fixture
def backup() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(model_name="fake-backup") as server:
        yield server


def openai_settings(
    primary: FakeOpenAIServer, backup: FakeOpenAIServer | None = None, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "llm_provider": "openai",
        "openai_base_url": primary.base_url,
        "openai_api_key": "test-key",
        "llm_model": "fake-primary",
        "llm_timeout_s": 5.0,
        "llm_max_attempts": 2,
        "llm_retry_max_wait_s": 2.0,
        "llm_prices": {"fake-primary": PRICE, "fake-backup": PRICE},
    }
    if backup is not None:
        values |= {"llm_backup_provider": "openai", "llm_backup_base_url": backup.base_url,
                   "llm_backup_model": "fake-backup"}  # fmt: skip
    return test_settings(**(values | overrides))


async def run_campaign(settings: Settings, task: str = CAMPAIGN) -> supervisor_pb2.Workflow:
    async with in_process_stack(settings) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        return (await stub.RunTask(supervisor_pb2.RunTaskRequest(task=task), timeout=60)).workflow


def chain(settings: Settings, role: ModelRole = ModelRole.WORKER) -> Any:
    return build_chat_model(settings, role, offline_behaviour=None)  # type: ignore[arg-type]


async def test_the_model_routes_and_every_call_is_counted_and_priced(primary: FakeOpenAIServer) -> None:
    workflow = await run_campaign(openai_settings(primary))
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, list(workflow.warnings)
    assert [s.next for s in workflow.routing_steps] == ["research", "content", "social", "FINISH"]
    assert all(s.decision_source == team_pb2.DECISION_SOURCE_MODEL for s in workflow.routing_steps)
    assert all("fake model" in s.reasoning for s in workflow.routing_steps)
    usage = workflow.usage
    assert usage.model_calls == len(primary.requests), "every chat-completions request is accounted for"
    assert usage.model_calls == workflow.routing_usage.model_calls + sum(
        r.usage.model_calls for r in workflow.team_runs
    )
    assert usage.input_tokens == workflow.routing_usage.input_tokens + sum(
        r.usage.input_tokens for r in workflow.team_runs
    )
    expected_cost = (usage.input_tokens * PRICE["input"] + usage.output_tokens * PRICE["output"]) / 1_000_000
    assert usage.cost_usd == pytest.approx(expected_cost)
    assert [(m.model, m.priced) for m in usage.models] == [("fake-primary", True)]
    assert not any(OFFLINE_NOTICE in a.content for a in workflow.artifacts)
    structured = [r for r in primary.requests if r.get("response_format", {}).get("type") == "json_schema"]
    assert len(structured) == len(workflow.routing_steps) + sum(
        1 for r in workflow.team_runs for s in r.steps if s.kind == team_pb2.AGENT_STEP_KIND_ROUTING
    )


async def test_function_calling_method_for_servers_without_json_schema(primary: FakeOpenAIServer) -> None:
    settings = openai_settings(primary, llm_structured_method="function_calling")
    decision = (
        await chain(settings, ModelRole.ROUTER)
        .with_structured_output(_route_schema())
        .ainvoke([HumanMessage("route this")])
    )
    assert decision.next == "research"
    assert "response_format" not in primary.requests[-1] and primary.requests[-1]["tools"]


def _route_schema() -> Any:
    from common.routing import route_schema

    return route_schema(["research", "content", "FINISH"])


async def test_a_malformed_routing_answer_falls_back_to_keywords(primary: FakeOpenAIServer) -> None:
    primary.mode = "malformed"
    workflow = await run_campaign(openai_settings(primary))
    assert workflow.routing_steps, "routing went on without the model"
    assert all(s.decision_source == team_pb2.DECISION_SOURCE_KEYWORD_FALLBACK for s in workflow.routing_steps)
    assert [s.next for s in workflow.routing_steps] == ["research", "content", "social", "FINISH"]
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_DEGRADED
    assert any("keyword routing" in w for w in workflow.warnings)


async def test_429_with_retry_after_is_waited_out_then_succeeds(primary: FakeOpenAIServer) -> None:
    primary.script(Fault(429, {"Retry-After": "1"}))
    started = time.monotonic()
    answer = await chain(openai_settings(primary)).ainvoke([HumanMessage("hello")])
    assert time.monotonic() - started >= 1.0, "the client waited what Retry-After asked"
    assert answer.content.startswith("# Fake model answer")
    assert len(primary.requests) == 2


async def test_client_errors_are_not_retried(primary: FakeOpenAIServer) -> None:
    primary.script(Fault(400, body={"error": {"message": "bad request", "type": "invalid_request_error"}}))
    with pytest.raises(ModelUnavailableError, match="Error code: 400"):
        await chain(openai_settings(primary, llm_max_attempts=3)).ainvoke([HumanMessage("hello")])
    assert len(primary.requests) == 1


async def test_primary_500_goes_to_the_backup_after_its_retries(
    primary: FakeOpenAIServer, backup: FakeOpenAIServer
) -> None:
    primary.mode = "down"
    answer = await chain(openai_settings(primary, backup, llm_max_attempts=2)).ainvoke(
        [HumanMessage("hello")]
    )
    assert answer.response_metadata["model_name"] == "fake-backup"
    assert (len(primary.requests), len(backup.requests)) == (2, 1)


async def test_primary_timeout_goes_to_the_backup(
    primary: FakeOpenAIServer, backup: FakeOpenAIServer
) -> None:
    primary.script(Fault(200, delay_s=3), Fault(200, delay_s=3))
    settings = openai_settings(primary, backup, llm_timeout_s=0.5, llm_max_attempts=1)
    started = time.monotonic()
    answer = await chain(settings).ainvoke([HumanMessage("hello")])
    assert answer.response_metadata["model_name"] == "fake-backup"
    assert time.monotonic() - started < 3


async def test_both_providers_down_gives_a_degraded_workflow_without_template_text(
    primary: FakeOpenAIServer, backup: FakeOpenAIServer
) -> None:
    primary.mode = backup.mode = "down"
    workflow = await run_campaign(
        openai_settings(primary, backup, llm_max_attempts=1), "Write a blog article"
    )
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_DEGRADED
    assert not workflow.artifacts, "no template text is passed off as model output"
    content = workflow.team_runs[0]
    assert content.status == supervisor_pb2.TEAM_RUN_STATUS_DEGRADED
    errors = [s.error for s in content.steps if s.error]
    assert errors and all("no model provider could answer" in e for e in errors)
    assert all("primary" in e and "backup" in e for e in errors)
    assert any("content/writer failed" in w for w in workflow.warnings)
    assert workflow.usage.model_calls == 0


async def test_stream_task_streams_model_tokens(primary: FakeOpenAIServer) -> None:
    async with in_process_stack(openai_settings(primary)) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        request = supervisor_pb2.StreamTaskRequest(task="Write a blog article about vector search")
        events = [e async for e in stub.StreamTask(request, timeout=60)]
    deltas = [e.text_delta for e in events if e.HasField("text_delta") and e.text_delta.agent == "writer"]
    article = next(a for a in events[-1].done.artifacts if a.agent == "writer")
    assert len(deltas) >= 3
    assert "".join(d.text for d in deltas).strip() == article.content.strip()
    assert any(r.get("stream") for r in primary.requests), "the writer's call was streamed from the provider"


async def test_the_routers_prompt_stays_flat_as_the_task_runs(primary: FakeOpenAIServer) -> None:
    workflow = await run_campaign(openai_settings(primary))
    artifact_chars = sum(len(a.content) for a in workflow.artifacts)
    supervisor_prompts = [
        r["messages"][-1]["content"]
        for r in primary.requests
        if "supervisor of a marketing agency" in str(r["messages"][0]["content"])
    ]
    assert len(supervisor_prompts) == 4
    growth = len(supervisor_prompts[-1]) - len(supervisor_prompts[0])
    assert artifact_chars > 3000
    assert growth < 1500, "one compact line per finished team, not the artifacts"
