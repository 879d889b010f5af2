"""``marketing.supervisor.v1.SupervisorService``: validates requests; the runner runs, saves and resumes workflows."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping

import grpc
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2

from common.agents.convert import duration_ms
from common.config import Settings
from common.errors import FieldViolation, InvalidArgument
from common.storage import AgentExecution, BadPageToken
from common.team_client import TeamClient
from common.validation import MAX_TASK_CHARS, check_range, check_text, raise_if_invalid
from supervisor_service.cancellation import CANCEL_EFFECTS_TIMEOUT_S, cancel_team_effects, teams_used
from supervisor_service.workflows import WorkflowRunner, status_name

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# Time kept back from the caller's deadline to assemble and send the answer.
RESPONSE_RESERVE_S = 0.5
LIST_TOOLS_TIMEOUT_S = 5.0


def validate_task(task: str) -> None:
    """Reject a blank, oversized or control-character task with ``INVALID_ARGUMENT``."""
    raise_if_invalid(check_text("task", task, max_chars=MAX_TASK_CHARS))


class SupervisorServicer(supervisor_pb2_grpc.SupervisorServiceServicer):
    """Validates requests and hands workflows to the runner."""

    def __init__(
        self, runner: WorkflowRunner, settings: Settings, clients: Mapping[str, TeamClient] | None = None
    ) -> None:
        self.runner = runner
        self.settings = settings
        self.clients = dict(clients or {})

    def _deadline(self, context: grpc.aio.ServicerContext) -> float:
        budget = self.settings.task_timeout_s
        remaining = context.time_remaining()
        if remaining is not None:
            budget = min(budget, remaining - min(RESPONSE_RESERVE_S, remaining * 0.1))
        return time.time() + budget

    async def RunTask(
        self, request: supervisor_pb2.RunTaskRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.RunTaskResponse:
        validate_task(request.task)
        workflow = None
        async for event in self.runner.run(request.task, self._deadline(context), stream_text=False):
            if event.HasField("done"):
                workflow = event.done
        return supervisor_pb2.RunTaskResponse(workflow=workflow)

    async def StreamTask(
        self, request: supervisor_pb2.StreamTaskRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[supervisor_pb2.StreamTaskResponse]:
        validate_task(request.task)
        async for event in self.runner.run(request.task, self._deadline(context), stream_text=True):
            yield event

    async def GetWorkflow(
        self, request: supervisor_pb2.GetWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.GetWorkflowResponse:
        workflow, executions = await self.runner.get(validate_workflow_id(request.workflow_id))
        return supervisor_pb2.GetWorkflowResponse(
            workflow=workflow, agent_executions=[execution_to_proto(e) for e in executions]
        )

    async def ListWorkflows(
        self, request: supervisor_pb2.ListWorkflowsRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.ListWorkflowsResponse:
        problems = check_range("page_size", request.page_size, 0, MAX_PAGE_SIZE)
        problems += check_text("page_token", request.page_token, max_chars=1000, required=False)
        if request.status not in supervisor_pb2.WorkflowStatus.values():
            problems.append(FieldViolation("status", f"unknown WorkflowStatus value {request.status}"))
        raise_if_invalid(problems)
        status = (
            ""
            if request.status == supervisor_pb2.WORKFLOW_STATUS_UNSPECIFIED
            else status_name(request.status)
        )
        try:
            workflows, token = await self.runner.list(
                request.page_size or DEFAULT_PAGE_SIZE, request.page_token, status
            )
        except BadPageToken as exc:
            raise InvalidArgument([FieldViolation("page_token", str(exc))]) from None
        return supervisor_pb2.ListWorkflowsResponse(workflows=workflows, next_page_token=token)

    async def ResumeWorkflow(
        self, request: supervisor_pb2.ResumeWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.ResumeWorkflowResponse:
        workflow = await self.runner.resume(validate_workflow_id(request.workflow_id))
        return supervisor_pb2.ResumeWorkflowResponse(workflow=workflow)

    async def CancelWorkflow(
        self, request: supervisor_pb2.CancelWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.CancelWorkflowResponse:
        workflow = await self.runner.cancel(validate_workflow_id(request.workflow_id))
        response = supervisor_pb2.CancelWorkflowResponse(workflow=workflow)
        if workflow.status == supervisor_pb2.WORKFLOW_STATUS_CANCELLED:  # a cancelled workflow leaves nothing
            remaining = context.time_remaining()
            timeout = (
                CANCEL_EFFECTS_TIMEOUT_S if remaining is None else min(CANCEL_EFFECTS_TIMEOUT_S, remaining)
            )
            undone = await cancel_team_effects(self.clients, teams_used(workflow), workflow.id, timeout)
            response.cancelled_post_ids.extend(undone.ids)
            response.scheduled_posts_error = "; ".join(undone.errors)
        return response

    async def ListTools(
        self, request: supervisor_pb2.ListToolsRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.ListToolsResponse:
        if request.team and request.team not in self.clients:
            known = ", ".join(sorted(self.clients))
            raise InvalidArgument([FieldViolation("team", f"unknown team {request.team!r}; known: {known}")])
        teams = [request.team] if request.team else list(self.clients)
        remaining = context.time_remaining()
        timeout = min(LIST_TOOLS_TIMEOUT_S, remaining) if remaining is not None else LIST_TOOLS_TIMEOUT_S
        answers = await asyncio.gather(
            *(self.clients[team].list_tools(timeout) for team in teams), return_exceptions=True
        )
        response = supervisor_pb2.ListToolsResponse()
        for team, answer in zip(teams, answers, strict=True):
            if isinstance(answer, grpc.aio.AioRpcError):
                response.unavailable_teams.add(
                    team=team, code=answer.code().name, message=answer.details() or ""
                )
            elif isinstance(answer, BaseException):
                raise answer
            else:
                response.tools.extend(answer)
        return response


def validate_workflow_id(workflow_id: str) -> str:
    """The id in canonical form, or INVALID_ARGUMENT."""
    try:
        return str(uuid.UUID(workflow_id))
    except (ValueError, AttributeError):
        raise InvalidArgument(
            [FieldViolation("workflow_id", "must be a UUID such as 3f2b8c1e-...")]
        ) from None


def execution_to_proto(execution: AgentExecution) -> supervisor_pb2.AgentExecution:
    """Agent-execution row to protobuf."""
    return supervisor_pb2.AgentExecution(
        team=execution.team,
        agent=execution.agent,
        step_index=execution.step_index,
        kind=execution.kind,
        input=execution.input,
        output=execution.output,
        duration=duration_ms(execution.duration_ms),
        success=execution.success,
        error=execution.error,
        usage=team_pb2.Usage(
            model_calls=0,
            input_tokens=execution.input_tokens,
            output_tokens=execution.output_tokens,
            cost_usd=execution.cost_usd,
        ),
    )
