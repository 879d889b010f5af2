"""Native Anthropic (``LLM_PROVIDER=anthropic``) through the real ``ChatAnthropic`` client, against a loopback server
that speaks the Messages API: whole campaigns, streaming, prompt-cache pricing, routers on another provider, and
Claude as the backup of an OpenAI-compatible primary."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2

from common.config import Settings
from common.llm.usage import PriceTable, Tokens
from tests.conftest import in_process_stack, test_settings
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer

TASK = "Launch campaign for our vector database: research, a blog article and LinkedIn posts"
CLAUDE = "claude-sonnet-4-5"


@pytest.fixture
def claude() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server


def claude_settings(server: FakeAnthropicServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "llm_provider": "anthropic", "anthropic_base_url": server.base_url, "anthropic_api_key": "sk-ant-test",
        "llm_model": CLAUDE, "llm_timeout_s": 5.0, "llm_max_attempts": 2, "llm_retry_max_wait_s": 0.2,
    }  # fmt: skip
    return test_settings(**(values | overrides))


def api_key_of(request: dict) -> str:
    """The key a request carried: ``x-api-key``, or ``Authorization: Bearer`` (as the anthropic SDK 2.x sends it)."""
    headers = request["_headers"]
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")


async def run(settings: Settings, task: str = TASK) -> supervisor_pb2.Workflow:
    async with in_process_stack(settings) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        return (await stub.RunTask(supervisor_pb2.RunTaskRequest(task=task), timeout=60)).workflow


async def test_a_campaign_runs_on_claude_and_its_cached_prompt_tokens_are_priced(
    claude: FakeAnthropicServer,
) -> None:
    claude.prompt_cache = True
    workflow = await run(claude_settings(claude))

    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, list(workflow.warnings)
    assert [s.next for s in workflow.routing_steps] == ["research", "content", "social", "FINISH"]
    assert all(s.decision_source == team_pb2.DECISION_SOURCE_MODEL for s in workflow.routing_steps)
    [model] = workflow.usage.models
    assert (model.model, model.priced, model.calls) == (CLAUDE, True, len(claude.requests))
    assert model.cache_read_tokens > 0 and model.cache_write_tokens > 0, (
        "repeated system prompts hit the cache"
    )
    tokens = Tokens(
        model.input_tokens, model.output_tokens, model.cache_read_tokens, model.cache_write_tokens
    )
    expected, _ = PriceTable().cost_of(CLAUDE, tokens)
    assert workflow.usage.cost_usd == pytest.approx(expected)
    uncached = (model.input_tokens * 3 + model.output_tokens * 15) / 1_000_000
    assert 0 < workflow.usage.cost_usd < uncached, "cache reads cost a tenth of the input price"
    assert_messages_api(claude.requests)


def assert_messages_api(requests: list[dict]) -> None:
    """Claude got the Messages API it expects: its key, an API version, tools, structured output."""
    for request in requests:
        assert api_key_of(request) == "sk-ant-test" and request["_headers"]["anthropic-version"]
        assert request["model"] == CLAUDE and request["max_tokens"] > 0 and not request.get("stream")
        assert "temperature" not in request, "sent only when LLM_TEMPERATURE is set"
    routing = [r for r in requests if "output_config" in r]
    assert routing and all(r["output_config"]["format"]["type"] == "json_schema" for r in routing)
    with_tools = [r for r in requests if r.get("tools")]
    assert with_tools and all({"name", "input_schema"} <= set(t) for r in with_tools for t in r["tools"])
    tool_results = [r for r in requests if "tool_result" in str(r["messages"])]
    assert tool_results, "tool results went back to the model as tool_result blocks"


async def test_stream_task_streams_claude_tokens(claude: FakeAnthropicServer) -> None:
    async with in_process_stack(claude_settings(claude)) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        request = supervisor_pb2.StreamTaskRequest(task="Write a blog article about vector search")
        events = [e async for e in stub.StreamTask(request, timeout=60)]
    deltas = [e.text_delta for e in events if e.HasField("text_delta") and e.text_delta.agent == "writer"]
    article = next(a for a in events[-1].done.artifacts if a.agent == "writer")
    assert len(deltas) >= 3
    assert "".join(d.text for d in deltas).strip() == article.content.strip()
    assert any(r.get("stream") for r in claude.requests), "the writer's call was streamed from the provider"
    assert not any(e.HasField("text_withdrawn") for e in events)


async def test_routers_on_openai_while_workers_write_with_claude(claude: FakeAnthropicServer) -> None:
    with FakeOpenAIServer() as openai:
        settings = claude_settings(
            claude, llm_router_provider="openai", llm_router_model="gpt-4o-mini",
            openai_base_url=openai.base_url, openai_api_key="sk-openai",
        )  # fmt: skip
        workflow = await run(settings)

    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, list(workflow.warnings)
    assert all(s.decision_source == team_pb2.DECISION_SOURCE_MODEL for s in workflow.routing_steps)
    assert openai.requests and all(r["response_format"]["type"] == "json_schema" for r in openai.requests)
    assert claude.requests and not any("output_config" in r for r in claude.requests), "no routing on Claude"
    assert [m.model for m in workflow.routing_usage.models] == ["gpt-4o-mini"]
    assert {m.model for m in workflow.usage.models} == {"gpt-4o-mini", CLAUDE}
    assert all(m.priced for m in workflow.usage.models)


async def test_claude_backs_up_an_openai_compatible_primary(claude: FakeAnthropicServer) -> None:
    with FakeOpenAIServer() as primary:
        primary.mode = "down"
        settings = test_settings(
            llm_provider="openai", openai_base_url=primary.base_url, openai_api_key="k", llm_model="gpt-4o-mini",
            llm_backup_provider="anthropic", anthropic_base_url=claude.base_url, anthropic_api_key="sk-ant",
            llm_backup_model=CLAUDE, llm_max_attempts=1, llm_retry_max_wait_s=0.05,
        )  # fmt: skip
        assert set(settings.llm_endpoints()) == {"openai", "anthropic"}, (
            "the backup uses ANTHROPIC_* settings"
        )
        workflow = await run(settings, "Write a blog article")

    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, list(workflow.warnings)
    assert [m.model for m in workflow.usage.models] == [CLAUDE]
    assert all(api_key_of(r) == "sk-ant" for r in claude.requests)
