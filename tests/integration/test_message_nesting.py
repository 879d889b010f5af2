"""The roadmap's message-nesting fix: record what every model receives and show no agent sees another's history."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc

from common.agents.brief import parse_brief
from common.routing import RoutingContext
from tests.conftest import in_process_stack, test_settings
from tests.fakes.recording_model import recording_models

TASK = "Launch campaign for our open-source vector database: research, blog article, LinkedIn and X posts"


@pytest.fixture
async def recorded_run(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[dict[str, Any]], supervisor_pb2.Workflow]:
    with recording_models(monkeypatch) as journal:
        async with in_process_stack(test_settings()) as channel:
            stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
            workflow = (await stub.RunTask(supervisor_pb2.RunTaskRequest(task=TASK), timeout=30)).workflow
    return journal, workflow


async def test_every_prompt_holds_only_its_own_agents_history(recorded_run) -> None:
    journal, workflow = recorded_run
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
    answers_by_model: dict[int, list[AIMessage]] = {}
    for call in journal:
        messages = call["messages"]
        assert isinstance(messages[0], SystemMessage), "every prompt starts with the agent's own instructions"
        assert isinstance(messages[1], HumanMessage)
        assert sum(isinstance(m, HumanMessage) for m in messages) == 1, "exactly one curated user message"
        own_answers = answers_by_model.get(call["model"], [])
        for message in messages[2:]:
            if isinstance(message, AIMessage):
                assert any(message is a for a in own_answers), "an AI message from another agent leaked in"
            else:
                assert isinstance(message, ToolMessage) and message.name in call["tools"]
        answers_by_model.setdefault(call["model"], []).append(call["answer"])
    assert len(answers_by_model) >= 10, "router and worker models of all four services were recorded"


async def test_workers_get_the_task_and_curated_artifacts(recorded_run) -> None:
    journal, workflow = recorded_run
    briefs = [parse_brief(str(c["messages"][1].content)) for c in journal]
    worker_briefs = [b for b in briefs if b is not None]
    assert worker_briefs, "worker prompts are briefs"
    assert all(b.task == TASK for b in worker_briefs)
    produced = {a.id: a for a in workflow.artifacts}
    for brief in worker_briefs:
        for artifact in brief.artifacts:
            assert artifact["id"] in produced, "a brief only carries artifacts that teams produced"
            assert artifact["content"] in produced[artifact["id"]].content or artifact["content"].endswith(
                "…"
            )
        assert "<completed_steps>" not in str(brief), "no routing history in a worker's brief"
    social_briefs = [b for b in worker_briefs if any(a["team"] == "content" for a in b.artifacts)]
    assert social_briefs, "the social team received the content team's artifacts"


async def test_router_context_stays_bounded(recorded_run) -> None:
    journal, workflow = recorded_run
    article = next(a for a in workflow.artifacts if a.agent == "writer")
    routing_prompts = [c for c in journal if RoutingContext.parse(str(c["messages"][1].content)) is not None]
    assert len(routing_prompts) == 4 + 3 * 3, "four supervisor decisions and three per team lead"
    body_line = next(line for line in article.content.splitlines() if len(line) > 80)
    for call in routing_prompts:
        prompt = str(call["messages"][1].content)
        assert body_line not in prompt, "a router never sees an artifact's full text"
        assert len(prompt) < 4000
