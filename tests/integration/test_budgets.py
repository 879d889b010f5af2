"""Per-task budgets through the real stack (issue 16): checked before every model call in every service, a stopped
workflow keeps its artifacts and resumes with a larger budget from its checkpoints, every agent step recorded once."""

from __future__ import annotations

import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2

from tests.conftest import bad_request_fields, in_process_stack, test_settings

CAMPAIGN = (
    "Launch campaign for our open-source vector database: research competitors, write a blog article, "
    "and prepare LinkedIn and X posts"
)


async def _run(stub: supervisor_pb2_grpc.SupervisorServiceStub, **budget: float) -> supervisor_pb2.Workflow:
    request = supervisor_pb2.RunTaskRequest(task=CAMPAIGN)
    if budget:
        request.budget.CopyFrom(team_pb2.Budget(**budget))
    return (await stub.RunTask(request, timeout=60)).workflow


def _calls(workflow: supervisor_pb2.Workflow, team: str) -> int:
    return sum(r.usage.model_calls for r in workflow.team_runs if r.team == team)


async def test_budget_runs_out_in_the_content_team_and_a_larger_budget_resumes_it() -> None:
    async with in_process_stack(test_settings()) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        free = await _run(stub)
        assert free.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
        # The router's first two decisions, all of research, then the content team's first routing decision and
        # its first worker's first call: the next content model call is refused.
        allowed = 2 + _calls(free, "research") + 2
        assert _calls(free, "content") > 3, "the content team must have work left after the stop"

        stopped = await _run(stub, max_model_calls=allowed)
        assert stopped.status == supervisor_pb2.WORKFLOW_STATUS_BUDGET_EXCEEDED
        assert stopped.budget.max_model_calls == allowed
        assert stopped.budget_exceeded.limit == "max_model_calls"
        assert stopped.budget_exceeded.agent.startswith("content/")
        teams = {a.team for a in stopped.artifacts}
        assert "research" in teams and "social" not in teams
        assert [r.team for r in stopped.team_runs] == ["research", "content"]
        assert stopped.usage.model_calls == allowed  # not one call over the budget
        assert sum(m.calls for m in stopped.usage.models) == allowed  # per model too (GetUsage by model)
        assert any("budget exceeded (max_model_calls)" in w for w in stopped.warnings)
        partial_steps = [(s.index, s.agent, s.duration.ToMilliseconds()) for s in stopped.team_runs[1].steps]
        assert partial_steps, "the content team's finished steps come back with the stop"
        answer = await stub.GetWorkflow(supervisor_pb2.GetWorkflowRequest(workflow_id=stopped.id), timeout=10)
        recorded = {(e.team, e.step_index) for e in answer.agent_executions}
        assert {("content", index) for index, _, _ in partial_steps} <= recorded, (
            "the stopped team's steps too"
        )

        resumed = (
            await stub.ResumeWorkflow(
                supervisor_pb2.ResumeWorkflowRequest(
                    workflow_id=stopped.id, budget=team_pb2.Budget(max_model_calls=1000)
                ),
                timeout=60,
            )
        ).workflow
        assert resumed.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, resumed.warnings
        assert resumed.budget.max_model_calls == 1000
        assert [r.team for r in resumed.team_runs] == ["research", "content", "social"]
        assert {a.team for a in resumed.artifacts} == {"research", "content", "social"}
        # The content steps finished before the stop are the same records (same duration), not redone.
        content = resumed.team_runs[1]
        assert [(s.index, s.agent, s.duration.ToMilliseconds()) for s in content.steps][
            : len(partial_steps)
        ] == (partial_steps)
        assert [s.index for s in content.steps] == list(range(1, len(content.steps) + 1))
        assert resumed.usage.model_calls == free.usage.model_calls  # nothing was called twice

        answer = await stub.GetWorkflow(supervisor_pb2.GetWorkflowRequest(workflow_id=stopped.id), timeout=10)
        keys = [(e.team, e.step_index) for e in answer.agent_executions]
        assert len(keys) == len(set(keys)), "every agent step is recorded once"
        assert len(keys) == sum(len(r.steps) for r in resumed.team_runs)


async def test_a_workflow_already_out_of_budget_stops_before_the_routers_first_call() -> None:
    async with in_process_stack(test_settings()) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        workflow = await _run(stub, max_model_calls=1)
        assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_BUDGET_EXCEEDED
        assert workflow.budget_exceeded.limit == "max_model_calls"
        # The router's decision was the one call; the research team lead's first call is refused.
        assert workflow.usage.model_calls == 1
        assert workflow.budget_exceeded.agent == "research/team_lead"


async def test_token_budget_counts_every_service() -> None:
    async with in_process_stack(test_settings()) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        workflow = await _run(stub, max_tokens=500)
        assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_BUDGET_EXCEEDED
        assert workflow.budget_exceeded.limit == "max_tokens"
        used = workflow.usage.input_tokens + workflow.usage.output_tokens
        largest_call = max(
            (m.input_tokens + m.output_tokens) / max(m.calls, 1)
            for r in workflow.team_runs
            for s in r.steps
            for m in s.usage.models
        )
        assert used < 500 + 2 * largest_call + 1  # overshoot of at most the call in flight


@pytest.mark.parametrize("field", ["max_cost_usd", "max_tokens", "max_model_calls"])
async def test_a_negative_budget_is_invalid_argument(field: str) -> None:
    async with in_process_stack(test_settings()) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RunTask(
                supervisor_pb2.RunTaskRequest(task=CAMPAIGN, budget=team_pb2.Budget(**{field: -1})),
                timeout=10,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"budget.{field}" in bad_request_fields(caught.value)
