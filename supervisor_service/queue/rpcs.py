"""SupervisorService's queue RPCs: request validation and the caller's tenant, then the intake does the work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
from marketing.supervisor.v1 import supervisor_pb2
from marketing.tenant.v1 import tenant_pb2

from common.auth.principal import acting_as
from common.errors import FieldViolation, InvalidArgument, ServiceError
from common.storage import BadPageToken
from common.validation import MAX_TASK_CHARS, check_range, check_text, raise_if_invalid
from common.webhooks import url_problem
from supervisor_service.limits import check_budget

if TYPE_CHECKING:
    from supervisor_service.queue.intake import TaskIntake
    from supervisor_service.servicer import SupervisorServicer

MAX_REQUEST_ID_CHARS = 128
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class Unimplemented(ServiceError):
    """This supervisor was built without the task intake."""

    code = grpc.StatusCode.UNIMPLEMENTED


class QueueRpcs:
    """SubmitTask, WatchWorkflow, ListDeadLetters and RequeueDeadLetter of one servicer."""

    def __init__(self, servicer: SupervisorServicer) -> None:
        self.servicer = servicer

    @property
    def intake(self) -> TaskIntake:
        if self.servicer.intake is None:
            raise Unimplemented("this supervisor runs without the task queue")
        return self.servicer.intake

    def validate_submit(self, request: supervisor_pb2.SubmitTaskRequest) -> None:
        """INVALID_ARGUMENT with every field violation of a SubmitTaskRequest."""
        settings = self.servicer.settings
        problems = check_text("task", request.task, max_chars=MAX_TASK_CHARS)
        if request.priority not in supervisor_pb2.Priority.values():
            problems.append(FieldViolation("priority", f"unknown Priority value {request.priority}"))
        problems += check_budget("budget", request.budget)
        if request.approval_policy not in tenant_pb2.ApprovalPolicy.values():
            problems.append(FieldViolation("approval_policy", "is not an ApprovalPolicy"))
        problems += check_text(
            "request_id", request.request_id, max_chars=MAX_REQUEST_ID_CHARS, required=False
        )
        if request.notify_url:
            if not settings.webhook_secret:
                problems.append(
                    FieldViolation(
                        "notify_url", "webhooks are off here: the operator has not set WEBHOOK_SECRET"
                    )
                )
            elif problem := url_problem(request.notify_url, settings.webhook_allow_private_networks):
                problems.append(FieldViolation("notify_url", problem))
        raise_if_invalid(problems)

    async def submit(
        self, request: supervisor_pb2.SubmitTaskRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.SubmitTaskResponse:
        self.validate_submit(request)
        intake = self.intake
        with acting_as(self.servicer._caller()) as caller:
            workflow, created = await intake.submit(caller, request)
        return supervisor_pb2.SubmitTaskResponse(workflow=workflow, created=created)

    async def watch(
        self, request: supervisor_pb2.WatchWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[supervisor_pb2.WatchWorkflowResponse]:
        from supervisor_service.queue.intake import parse_cursor
        from supervisor_service.servicer import validate_workflow_id

        workflow_id = validate_workflow_id(request.workflow_id)
        cursor = parse_cursor(request.cursor)
        intake = self.intake
        with acting_as(self.servicer._caller()) as caller:
            async for response in intake.watch(caller.tenant_id, workflow_id, cursor):
                yield response

    async def list_dead_letters(
        self, request: supervisor_pb2.ListDeadLettersRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.ListDeadLettersResponse:
        problems = check_range("page_size", request.page_size, 0, MAX_PAGE_SIZE)
        problems += check_text("page_token", request.page_token, max_chars=1000, required=False)
        raise_if_invalid(problems)
        intake = self.intake
        try:
            letters, token = await intake.dead_letters(
                self.servicer._caller(), request.page_size or DEFAULT_PAGE_SIZE, request.page_token
            )
        except BadPageToken as exc:
            raise InvalidArgument([FieldViolation("page_token", str(exc))]) from None
        return supervisor_pb2.ListDeadLettersResponse(dead_letters=letters, next_page_token=token)

    async def requeue_dead_letter(
        self, request: supervisor_pb2.RequeueDeadLetterRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.RequeueDeadLetterResponse:
        from supervisor_service.servicer import validate_workflow_id

        workflow_id = validate_workflow_id(request.workflow_id)
        intake = self.intake
        workflow = await intake.requeue(self.servicer._caller(), workflow_id)
        return supervisor_pb2.RequeueDeadLetterResponse(workflow=workflow)
