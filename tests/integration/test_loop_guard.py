"""The loop and stall guard (issue 16), driven through the real OpenAI client against the loopback fake model: a
router that picks an option it already tried, and a worker that repeats the same tool call, are stopped early with
a clear warning (not only by the step caps)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2

from common.config import Settings
from tests.conftest import in_process_stack, test_settings
from tests.fakes.openai_server import FakeOpenAIServer, Reply, brain, conversation_text, fill_schema

CAMPAIGN = "Launch campaign for our vector database: research, a blog article and LinkedIn posts"


def _settings(server: FakeOpenAIServer) -> Settings:
    return test_settings(
        llm_provider="openai",
        openai_base_url=server.base_url,
        openai_api_key="test-key",
        llm_model="fake-model",
        llm_timeout_s=5.0,
        llm_max_attempts=1,
    )


def supervisor_loops_on_research(request: dict) -> Reply:
    """The supervisor's router always answers "research"; everything else as the default fake model."""
    if "supervisor of a marketing agency" in conversation_text(request):
        return Reply(content=json.dumps({"next": "research", "reasoning": "research again, it is important"}))
    return brain(request)


def workers_repeat_their_first_tool_call(request: dict) -> Reply:
    """Every worker that may call tools calls its first tool again and again, with the same arguments."""
    tools = request.get("tools") or []
    routing = request.get("response_format") is not None or any(
        t["function"]["name"] == "RouteDecision" for t in tools
    )
    if tools and not routing and request.get("tool_choice") != "none":
        function = tools[0]["function"]
        return Reply(tool_calls=[(function["name"], fill_schema(function.get("parameters") or {}))])
    return brain(request)


@pytest.fixture
def looping_model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(model_name="fake-model", answer=supervisor_loops_on_research) as server:
        yield server


@pytest.fixture
def stalling_model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(model_name="fake-model", answer=workers_repeat_their_first_tool_call) as server:
        yield server


async def test_a_routing_loop_is_stopped_by_the_guard(looping_model: FakeOpenAIServer) -> None:
    async with in_process_stack(_settings(looping_model)) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        workflow = (await stub.RunTask(supervisor_pb2.RunTaskRequest(task=CAMPAIGN), timeout=60)).workflow
    assert [s.next for s in workflow.routing_steps] == ["research", "FINISH"]
    guard = workflow.routing_steps[-1]
    assert guard.decision_source == team_pb2.DECISION_SOURCE_LOOP_GUARD
    assert "loop guard" in guard.reasoning and "'research'" in guard.reasoning
    assert [r.team for r in workflow.team_runs] == ["research"], "research ran once, nothing looped"
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_DEGRADED
    assert any("stopped by the loop guard" in w for w in workflow.warnings)
    supervisor_calls = [
        r for r in looping_model.requests if "supervisor of a marketing agency" in conversation_text(r)
    ]
    assert len(supervisor_calls) == 2, "stopped at the first repeat, long before the step cap"


async def test_a_worker_repeating_a_tool_call_is_stopped_by_the_guard(
    stalling_model: FakeOpenAIServer,
) -> None:
    settings = _settings(stalling_model)
    async with in_process_stack(settings) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        request = supervisor_pb2.RunTaskRequest(
            task="Research the vector database market and its competitors"
        )
        workflow = (await stub.RunTask(request, timeout=60)).workflow
    stalled = [s for r in workflow.team_runs for s in r.steps if "stall guard" in s.summary]
    assert stalled, [s.summary for r in workflow.team_runs for s in r.steps]
    assert all("repeated the tool call" in s.summary for s in stalled)
    assert any("stall guard" in w for w in workflow.warnings)
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_DEGRADED
