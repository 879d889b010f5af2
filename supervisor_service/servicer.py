"""``marketing.supervisor.v1.SupervisorService``: validates requests; the runner runs, saves and resumes workflows.

Every RPC acts for the caller's tenant, from the principal the authentication interceptor bound (with
``AUTH_DISABLED=true`` and no interceptor, the default tenant); a workflow id of another tenant is NOT_FOUND.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING

import grpc
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2
from marketing.tenant.v1 import tenant_pb2

from common.agents.convert import duration_ms
from common.auth.principal import ANONYMOUS, Principal, acting_as, current_principal
from common.config import Settings
from common.errors import FieldViolation, InvalidArgument, Unauthenticated
from common.storage import AgentExecution, BadPageToken
from common.team_client import TeamClient
from common.validation import MAX_TASK_CHARS, check_range, check_text, raise_if_invalid
from supervisor_service.budgets import Admission
from supervisor_service.cancellation import CANCEL_EFFECTS_TIMEOUT_S, cancel_team_effects, teams_used
from supervisor_service.limits import check_budget, unlimited_source
from supervisor_service.queue.rpcs import QueueRpcs
from supervisor_service.retention import Eraser
from supervisor_service.workflows import WorkflowRunner, status_name

if TYPE_CHECKING:
    from supervisor_service.queue import TaskIntake

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# Time kept back from the caller's deadline to assemble and send the answer.
RESPONSE_RESERVE_S = 0.5
LIST_TOOLS_TIMEOUT_S = 5.0


def validate_task(task: str, budget: team_pb2.Budget | None = None) -> None:
    """Reject a blank, oversized or control-character task, or a negative budget, with ``INVALID_ARGUMENT``."""
    problems = check_text("task", task, max_chars=MAX_TASK_CHARS)
    if budget is not None:
        problems += check_budget("budget", budget)
    raise_if_invalid(problems)


class SupervisorServicer(supervisor_pb2_grpc.SupervisorServiceServicer):
    """Validates requests and hands workflows to the runner."""

    def __init__(
        self,
        runner: WorkflowRunner,
        settings: Settings,
        clients: Mapping[str, TeamClient] | None = None,
        eraser: Eraser | None = None,
        admission: Admission | None = None,
        intake: TaskIntake | None = None,
    ) -> None:
        """
        Args:
            runner: Runs, saves, resumes and cancels workflows.
            settings: Process settings.
            clients: A client per team of the registry.
            eraser: Erases workflows everywhere (DeleteWorkflow); by default one without an audit log.
            admission: Budgets and quotas of new and resumed tasks; by default no tenant limits (a request's own
                budget still applies).
            intake: The durable task intake (SubmitTask, WatchWorkflow, dead letters); None: those are
                UNIMPLEMENTED.
        """
        self.admission = admission or Admission(unlimited_source(), None, settings)
        self.runner = runner
        self.settings = settings
        self.clients = dict(clients or {})
        self.eraser = eraser or Eraser(runner, self.clients)
        self.intake = intake
        self.queue = QueueRpcs(self)

    def _caller(self) -> Principal:
        """The principal of the call: the one the authentication interceptor bound; ANONYMOUS (the default
        tenant) when none is bound and AUTH_DISABLED=true.

        Raises:
            Unauthenticated: No principal is bound and authentication is on (fail closed).
        """
        principal = current_principal()
        if principal is not None:
            return principal
        if self.settings.auth_disabled:
            return ANONYMOUS
        raise Unauthenticated("this call carries no caller identity", "missing_credentials")

    def _deadline(self, context: grpc.aio.ServicerContext) -> float:
        budget = self.settings.task_timeout_s
        remaining = context.time_remaining()
        if remaining is not None:
            budget = min(budget, remaining - min(RESPONSE_RESERVE_S, remaining * 0.1))
        return time.time() + budget

    async def RunTask(
        self, request: supervisor_pb2.RunTaskRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.RunTaskResponse:
        validate_task(request.task, request.budget)
        workflow = None
        with acting_as(self._caller()) as caller:
            admitted = await self.admission.admit(caller.tenant_id, request.budget)
            try:
                async for event in self.runner.run(
                    caller.tenant_id,
                    request.task,
                    self._deadline(context),
                    False,
                    caller.actor,
                    admitted,
                    approval_policy=policy_name(request.approval_policy),
                ):
                    if event.HasField("done"):
                        workflow = event.done
            finally:
                await self.admission.release(admitted)
        return supervisor_pb2.RunTaskResponse(workflow=workflow)

    async def StreamTask(
        self, request: supervisor_pb2.StreamTaskRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[supervisor_pb2.StreamTaskResponse]:
        validate_task(request.task, request.budget)
        with acting_as(self._caller()) as caller:
            admitted = await self.admission.admit(caller.tenant_id, request.budget)
            try:
                async for event in self.runner.run(
                    caller.tenant_id,
                    request.task,
                    self._deadline(context),
                    True,
                    caller.actor,
                    admitted,
                    approval_policy=policy_name(request.approval_policy),
                ):
                    yield event
            finally:
                await self.admission.release(admitted)

    async def GetWorkflow(
        self, request: supervisor_pb2.GetWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.GetWorkflowResponse:
        workflow_id = validate_workflow_id(request.workflow_id)
        tenant_id = self._caller().tenant_id
        workflow, executions = await self.runner.get(tenant_id, workflow_id)
        if self.intake is not None:
            workflow = await self.intake.describe(tenant_id, workflow)
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
                self._caller().tenant_id, request.page_size or DEFAULT_PAGE_SIZE, request.page_token, status
            )
        except BadPageToken as exc:
            raise InvalidArgument([FieldViolation("page_token", str(exc))]) from None
        return supervisor_pb2.ListWorkflowsResponse(workflows=workflows, next_page_token=token)

    async def ResumeWorkflow(
        self, request: supervisor_pb2.ResumeWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.ResumeWorkflowResponse:
        workflow_id = validate_workflow_id(request.workflow_id)
        raise_if_invalid(check_budget("budget", request.budget))
        new_budget = request.HasField("budget")
        with acting_as(self._caller()) as caller:
            admitted = await self.admission.admit(
                caller.tenant_id, request.budget if new_budget else None, new_task=False
            )
            try:
                workflow = await self.runner.resume(caller.tenant_id, workflow_id, admitted, new_budget)
            finally:
                await self.admission.release(admitted)
        return supervisor_pb2.ResumeWorkflowResponse(workflow=workflow)

    async def CancelWorkflow(
        self, request: supervisor_pb2.CancelWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.CancelWorkflowResponse:
        workflow_id = validate_workflow_id(request.workflow_id)
        with acting_as(self._caller()) as caller:
            if self.intake is not None:
                await self.intake.cancel_queued(caller.tenant_id, workflow_id)
            workflow = await self.runner.cancel(caller.tenant_id, workflow_id)
            response = supervisor_pb2.CancelWorkflowResponse(workflow=workflow)
            # A cancelled workflow leaves nothing behind.
            if workflow.status == supervisor_pb2.WORKFLOW_STATUS_CANCELLED:
                timeout = _bounded(CANCEL_EFFECTS_TIMEOUT_S, context)
                undone = await cancel_team_effects(self.clients, teams_used(workflow), workflow.id, timeout)
                response.cancelled_post_ids.extend(undone.ids)
                response.scheduled_posts_error = "; ".join(undone.errors)
        return response

    async def DeleteWorkflow(
        self, request: supervisor_pb2.DeleteWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.DeleteWorkflowResponse:
        workflow_id = validate_workflow_id(request.workflow_id)
        with acting_as(self._caller()) as caller:
            erased = await self.eraser.delete_workflow(caller, workflow_id)
        return supervisor_pb2.DeleteWorkflowResponse(
            erased_records=erased.records, unreachable_teams=erased.unreachable_teams
        )

    async def SubmitTask(
        self, request: supervisor_pb2.SubmitTaskRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.SubmitTaskResponse:
        return await self.queue.submit(request, context)

    async def WatchWorkflow(
        self, request: supervisor_pb2.WatchWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[supervisor_pb2.WatchWorkflowResponse]:
        async for response in self.queue.watch(request, context):
            yield response

    async def ListDeadLetters(
        self, request: supervisor_pb2.ListDeadLettersRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.ListDeadLettersResponse:
        return await self.queue.list_dead_letters(request, context)

    async def RequeueDeadLetter(
        self, request: supervisor_pb2.RequeueDeadLetterRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.RequeueDeadLetterResponse:
        return await self.queue.requeue_dead_letter(request, context)

    async def ListTools(
        self, request: supervisor_pb2.ListToolsRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.ListToolsResponse:
        if request.team and request.team not in self.clients:
            known = ", ".join(sorted(self.clients))
            raise InvalidArgument([FieldViolation("team", f"unknown team {request.team!r}; known: {known}")])
        teams = [request.team] if request.team else list(self.clients)
        timeout = _bounded(LIST_TOOLS_TIMEOUT_S, context)
        with acting_as(self._caller()):
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


def _bounded(timeout_s: float, context: grpc.aio.ServicerContext) -> float:
    """A timeout that ends no later than the call's deadline."""
    remaining = context.time_remaining()
    return timeout_s if remaining is None else min(timeout_s, remaining)


def policy_name(policy: int) -> str:
    """A task's ApprovalPolicy by name ("" when unset: the tenant's applies).

    Raises:
        InvalidArgument: Not an ApprovalPolicy.
    """
    if policy not in tenant_pb2.ApprovalPolicy.values():
        raise_if_invalid([FieldViolation("approval_policy", "is not an ApprovalPolicy")])
    return tenant_pb2.ApprovalPolicy.Name(policy) if policy else ""


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
