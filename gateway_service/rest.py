"""REST resources under /v1/: each operation is one supervisor RPC, its answer the message as proto JSON
(``json_format.MessageToDict``, proto field names, enum value names)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from marketing.admin.v1 import admin_pb2
from marketing.supervisor.v1 import review_pb2, supervisor_pb2

from gateway_service.errors import PROBLEM_RESPONSES
from gateway_service.grpc_client import Supervisor
from gateway_service.models import (
    ApproveReviewBody,
    RejectReviewBody,
    ResumeWorkflowBody,
    ReviewStatus,
    SubmitTaskBody,
    WorkflowStatus,
)
from gateway_service.session import COOKIE

bearer = HTTPBearer(auto_error=False, description="A tenant's API key (mka_...) or an OAuth2 access token")
JsonObject = dict[str, Any]
router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


def to_json(message: Message) -> JsonObject:
    """A message as proto JSON with the proto's field names, fields at their defaults included."""
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


async def credential(
    request: Request, header: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str | None:
    """The caller's bearer credential, else, for reads only, the console session's (the console's live updates
    over EventSource, which cannot set headers); a cookie never authorizes a change."""
    if header is not None:
        return header.credentials
    if request.method != "GET":
        return None
    session = request.app.state.sealer.open(request.cookies.get(COOKIE))
    return session.credential if session is not None else None


Credential = Annotated[str | None, Depends(credential)]


def supervisor(request: Request) -> Supervisor:
    """The app's supervisor client."""
    client: Supervisor = request.app.state.supervisor
    return client


Client = Annotated[Supervisor, Depends(supervisor)]
PageSize = Annotated[int, Query(ge=0, le=1000, description="at most this many (0: the server's default)")]
PageToken = Annotated[str, Query(max_length=2000, description="next_page_token of the previous page")]


@router.post("/tasks", summary="Submit a task (SubmitTask); ?wait=true waits for its result", status_code=200)
async def submit_task(
    body: SubmitTaskBody,
    client: Client,
    token: Credential,
    wait: Annotated[
        bool, Query(description="wait until the workflow stops (done or awaiting review)")
    ] = False,
) -> JsonObject:
    """Queue a task; answers at once with the queued workflow, or with ``wait=true`` when it stops."""
    response = await client.call(
        "supervisor", "SubmitTask", body.to_proto(supervisor_pb2.SubmitTaskRequest), token
    )
    if not wait:
        return to_json(response)
    workflow_id = response.workflow.id
    watch = client.stream(
        "supervisor",
        "WatchWorkflow",
        supervisor_pb2.WatchWorkflowRequest(workflow_id=workflow_id),
        token,
        client.wait_timeout_s,
    )
    try:
        async with asyncio.timeout(client.wait_timeout_s):
            async for item in watch:
                if item.event.WhichOneof("event") == "done":
                    break
    except TimeoutError:
        pass  # answer with the workflow as it is now
    current = await client.call(
        "supervisor", "GetWorkflow", supervisor_pb2.GetWorkflowRequest(workflow_id=workflow_id), token
    )
    return {"workflow": to_json(current.workflow), "created": response.created}


@router.get("/workflows", summary="List the tenant's workflows (ListWorkflows)")
async def list_workflows(
    client: Client,
    token: Credential,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    status: WorkflowStatus | None = None,
) -> JsonObject:
    """A page of workflows, newest first."""
    request = supervisor_pb2.ListWorkflowsRequest(
        page_size=page_size, page_token=page_token, status=status.value if status else None
    )
    return to_json(await client.call("supervisor", "ListWorkflows", request, token))


@router.get("/workflows/{workflow_id}", summary="One workflow with its agent executions (GetWorkflow)")
async def get_workflow(workflow_id: str, client: Client, token: Credential) -> JsonObject:
    """The workflow: status, routing steps, team runs, artifacts, usage."""
    request = supervisor_pb2.GetWorkflowRequest(workflow_id=workflow_id)
    return to_json(await client.call("supervisor", "GetWorkflow", request, token))


@router.post("/workflows/{workflow_id}:cancel", summary="Cancel a workflow (CancelWorkflow)")
async def cancel_workflow(workflow_id: str, client: Client, token: Credential) -> JsonObject:
    """Cancel a running or queued workflow and its scheduled posts."""
    request = supervisor_pb2.CancelWorkflowRequest(workflow_id=workflow_id)
    return to_json(await client.call("supervisor", "CancelWorkflow", request, token))


@router.post("/workflows/{workflow_id}:resume", summary="Resume a workflow (ResumeWorkflow)")
async def resume_workflow(
    workflow_id: str, client: Client, token: Credential, body: ResumeWorkflowBody | None = None
) -> JsonObject:
    """Continue a stopped workflow, optionally with a larger budget."""
    request = (body or ResumeWorkflowBody()).to_proto(
        supervisor_pb2.ResumeWorkflowRequest, workflow_id=workflow_id
    )
    return to_json(
        await client.call("supervisor", "ResumeWorkflow", request, token, timeout_s=client.wait_timeout_s)
    )


def sse_frame(cursor: str, event: Message) -> str:
    """One Server-Sent Event: the cursor as its id, the event kind as its type, the event as JSON data."""
    kind = event.WhichOneof("event") or "message"
    return f"id: {cursor}\nevent: {kind}\ndata: {json.dumps(to_json(event))}\n\n"


@router.get(
    "/workflows/{workflow_id}/events",
    summary="Follow a workflow's events as Server-Sent Events (WatchWorkflow); resumable with Last-Event-ID",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def workflow_events(
    workflow_id: str,
    client: Client,
    token: Credential,
    last_event_id: Annotated[str | None, Header(max_length=100)] = None,
    after: Annotated[
        str, Query(max_length=100, description="a cursor, for clients that cannot set headers")
    ] = "",
) -> StreamingResponse:
    """The stored events after ``Last-Event-ID`` (a cursor), then live ones, ending after ``done`` (a workflow
    that stops for a review and then goes on has two: follow on with the first one's id)."""
    cursor = last_event_id or after
    request = supervisor_pb2.WatchWorkflowRequest(workflow_id=workflow_id, cursor=cursor)
    exists = supervisor_pb2.GetWorkflowRequest(workflow_id=workflow_id)
    await client.call(
        "supervisor", "GetWorkflow", exists, token
    )  # NOT_FOUND, UNAUTHENTICATED... before the 200
    stream = client.stream("supervisor", "WatchWorkflow", request, token, client.wait_timeout_s)

    async def frames() -> AsyncIterator[str]:
        yield ": following the workflow\n\n"  # headers and a first byte at once, whatever the wait
        try:
            async for item in stream:
                yield sse_frame(item.cursor, item.event)
        except grpc.aio.AioRpcError as exc:  # the deadline (GATEWAY_WAIT_TIMEOUT_S) included: reconnect
            yield f"event: error\ndata: {json.dumps({'grpc_code': exc.code().name})}\n\n"

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)


@router.get("/reviews", summary="List the tenant's reviews (ListReviews)")
async def list_reviews(
    client: Client,
    token: Credential,
    status: ReviewStatus | None = None,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> JsonObject:
    """A page of reviews (``status=REVIEW_STATUS_PENDING``: the queue)."""
    request = review_pb2.ListReviewsRequest(
        status=status.value if status else None, page_size=page_size, page_token=page_token
    )
    return to_json(await client.call("review", "ListReviews", request, token))


@router.get("/reviews/{review_id}", summary="One review with its items and findings (GetReview)")
async def get_review(review_id: str, client: Client, token: Credential) -> JsonObject:
    """The review: items, texts, limits, findings, approvals."""
    return to_json(
        await client.call("review", "GetReview", review_pb2.GetReviewRequest(review_id=review_id), token)
    )


@router.post(
    "/reviews/{review_id}:approve", summary="Approve a review, optionally with edits (ApproveReview)"
)
async def approve_review(
    review_id: str, client: Client, token: Credential, body: ApproveReviewBody | None = None
) -> JsonObject:
    """Approve; each edited text is checked again against its platform's limit and the brand rules."""
    request = (body or ApproveReviewBody()).to_proto(review_pb2.ApproveReviewRequest, review_id=review_id)
    return to_json(await client.call("review", "ApproveReview", request, token))


@router.post("/reviews/{review_id}:reject", summary="Reject a review with comments (RejectReview)")
async def reject_review(
    review_id: str, client: Client, token: Credential, body: RejectReviewBody | None = None
) -> JsonObject:
    """Reject: the team drafts again with the comments (or, with ``final``, nothing is published)."""
    request = (body or RejectReviewBody()).to_proto(review_pb2.RejectReviewRequest, review_id=review_id)
    return to_json(await client.call("review", "RejectReview", request, token))


@router.get("/usage", summary="Usage for billing (AdminService/GetUsage; scope marketing.admin)")
async def get_usage(
    client: Client,
    token: Credential,
    tenant_id: Annotated[
        str, Query(max_length=63, description="the tenant (the caller's own, unless platform admin)")
    ],
) -> JsonObject:
    """The tenant's usage this month."""
    return to_json(
        await client.call("admin", "GetUsage", admin_pb2.GetUsageRequest(tenant_id=tenant_id), token)
    )


@router.get("/tools", summary="The tools of every team (ListTools)")
async def list_tools(
    client: Client, token: Credential, team: Annotated[str, Query(max_length=100)] = ""
) -> JsonObject:
    """Each team's tools, and the teams that did not answer."""
    return to_json(
        await client.call("supervisor", "ListTools", supervisor_pb2.ListToolsRequest(team=team), token)
    )
