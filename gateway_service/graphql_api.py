"""GraphQL at /graphql (strawberry): read queries over workflows, team runs, artifacts, reviews and usage, with
nested selection (a workflow with its artifacts and its review's items in one request), paged, scoped to the
caller's tenant through the forwarded credential, and limited in depth, aliases and size."""

from __future__ import annotations

from typing import Any, cast

import grpc
import strawberry
from fastapi import Request
from google.protobuf.json_format import MessageToDict
from graphql import GraphQLError
from marketing.admin.v1 import admin_pb2
from marketing.supervisor.v1 import review_pb2, supervisor_pb2
from marketing.team.v1 import team_pb2
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.fastapi import GraphQLRouter
from strawberry.scalars import JSON
from strawberry.types import Info

from common.config import Settings
from gateway_service.errors import HTTP_STATUS
from gateway_service.grpc_client import Supervisor

MAX_PAGE = 100
MAX_CALLS = 50
"""The cost limit: supervisor calls one query may make (nested reviews and workflows each cost one)."""


async def _call(info: Info[Any, None], service: str, method: str, request: Any) -> Any:
    """A supervisor call with the caller's credential; a gRPC error becomes a GraphQL error with its code."""
    context = info.context
    context["calls"] = context.get("calls", 0) + 1
    if context["calls"] > MAX_CALLS:
        raise GraphQLError(
            f"the query needs more than {MAX_CALLS} backend calls; select less",
            extensions={"code": "TOO_COSTLY"},
        )
    try:
        return await context["supervisor"].call(service, method, request, context["credential"])
    except grpc.aio.AioRpcError as exc:
        code = exc.code()
        message = exc.details() if HTTP_STATUS.get(code, 502) < 500 else "the supervisor failed to answer"
        raise GraphQLError(message or code.name, extensions={"code": code.name}) from None


@strawberry.type
class Artifact:
    id: str
    team: str
    agent: str
    kind: str
    title: str
    content: str
    mime_type: str


@strawberry.type
class TeamRun:
    team: str
    status: str
    summary: str
    error: str
    attempts: int


@strawberry.type
class Finding:
    rule: str
    message: str
    severity: str


@strawberry.type
class ReviewItem:
    artifact_id: str
    platform: str
    title: str
    text: str
    max_length: int
    flagged: bool
    approved_text: str
    findings: list[Finding]


@strawberry.type
class Review:
    id: str
    workflow_id: str
    team: str
    round: int
    status: str
    comments: str
    items: list[ReviewItem]

    @strawberry.field
    async def workflow(self, info: Info[Any, None]) -> Workflow:
        response = await _call(
            info, "supervisor", "GetWorkflow", supervisor_pb2.GetWorkflowRequest(workflow_id=self.workflow_id)
        )
        return workflow_of(response.workflow)


@strawberry.type
class Workflow:
    id: str
    task: str
    status: str
    summary: str
    create_time: str | None
    review_id: str
    failed_teams: list[str]
    team_runs: list[TeamRun]
    artifacts: list[Artifact]
    usage: JSON

    @strawberry.field
    async def review(self, info: Info[Any, None]) -> Review | None:
        if not self.review_id:
            return None
        response = await _call(
            info, "review", "GetReview", review_pb2.GetReviewRequest(review_id=self.review_id)
        )
        return review_of(response.review)


@strawberry.type
class WorkflowPage:
    items: list[Workflow]
    next_page_token: str


@strawberry.type
class ReviewPage:
    items: list[Review]
    next_page_token: str


def workflow_of(message: supervisor_pb2.Workflow) -> Workflow:
    """The GraphQL workflow of a proto workflow."""
    return Workflow(
        id=message.id,
        task=message.task,
        status=supervisor_pb2.WorkflowStatus.Name(message.status),
        summary=message.summary,
        create_time=message.create_time.ToJsonString() if message.HasField("create_time") else None,
        review_id=message.review_id,
        failed_teams=list(message.failed_teams),
        team_runs=[
            TeamRun(
                team=r.team,
                status=supervisor_pb2.TeamRunStatus.Name(r.status),
                summary=r.summary,
                error=r.error,
                attempts=r.attempts,
            )
            for r in message.team_runs
        ],
        artifacts=[
            Artifact(
                id=a.id,
                team=a.team,
                agent=a.agent,
                kind=team_pb2.ArtifactKind.Name(a.kind),
                title=a.title,
                content=a.content,
                mime_type=a.mime_type,
            )
            for a in message.artifacts
        ],
        usage=cast(JSON, MessageToDict(message.usage, preserving_proto_field_name=True)),
    )


def review_of(message: review_pb2.Review) -> Review:
    """The GraphQL review of a proto review."""
    return Review(
        id=message.id,
        workflow_id=message.workflow_id,
        team=message.team,
        round=message.round,
        status=review_pb2.ReviewStatus.Name(message.status),
        comments=message.comments,
        items=[
            ReviewItem(
                artifact_id=view.item.artifact_id,
                platform=view.item.platform,
                title=view.item.title,
                text=view.item.text,
                max_length=view.item.max_length,
                flagged=view.flagged,
                approved_text=view.approved_text,
                findings=[
                    Finding(
                        rule=f.rule, message=f.message, severity=review_pb2.FindingSeverity.Name(f.severity)
                    )
                    for f in view.findings
                ],
            )
            for view in message.items
        ],
    )


def _page_size(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise GraphQLError(f"first must be 1..{MAX_PAGE}", extensions={"code": "INVALID_ARGUMENT"})
    return first


@strawberry.type
class Query:
    @strawberry.field(description="The tenant's workflows, newest first; pass nextPageToken as after.")
    async def workflows(
        self, info: Info[Any, None], first: int = 20, after: str = "", status: str | None = None
    ) -> WorkflowPage:
        if status and status not in supervisor_pb2.WorkflowStatus.keys():
            raise GraphQLError(f"unknown status {status}", extensions={"code": "INVALID_ARGUMENT"})
        status_value = status or None
        request = supervisor_pb2.ListWorkflowsRequest(
            page_size=_page_size(first), page_token=after, status=status_value
        )
        response = await _call(info, "supervisor", "ListWorkflows", request)
        return WorkflowPage(
            items=[workflow_of(w) for w in response.workflows], next_page_token=response.next_page_token
        )

    @strawberry.field
    async def workflow(self, info: Info[Any, None], id: str) -> Workflow:
        request = supervisor_pb2.GetWorkflowRequest(workflow_id=id)
        return workflow_of((await _call(info, "supervisor", "GetWorkflow", request)).workflow)

    @strawberry.field(description="The tenant's reviews; status REVIEW_STATUS_PENDING is the queue.")
    async def reviews(
        self, info: Info[Any, None], first: int = 20, after: str = "", status: str | None = None
    ) -> ReviewPage:
        if status and status not in review_pb2.ReviewStatus.keys():
            raise GraphQLError(f"unknown status {status}", extensions={"code": "INVALID_ARGUMENT"})
        status_value = status or None
        request = review_pb2.ListReviewsRequest(
            page_size=_page_size(first), page_token=after, status=status_value
        )
        response = await _call(info, "review", "ListReviews", request)
        return ReviewPage(
            items=[review_of(r) for r in response.reviews], next_page_token=response.next_page_token
        )

    @strawberry.field
    async def review(self, info: Info[Any, None], id: str) -> Review:
        response = await _call(info, "review", "GetReview", review_pb2.GetReviewRequest(review_id=id))
        return review_of(response.review)

    @strawberry.field(description="Usage this month (AdminService/GetUsage; scope marketing.admin).")
    async def usage(self, info: Info[Any, None], tenant_id: str) -> JSON:
        response = await _call(info, "admin", "GetUsage", admin_pb2.GetUsageRequest(tenant_id=tenant_id))
        return cast(JSON, MessageToDict(response, preserving_proto_field_name=True))


def router(settings: Settings) -> GraphQLRouter[Any, None]:
    """The /graphql router: POST queries only (no GET, so no cross-site reads), depth and size limits.

    No in-browser IDE: strawberry's GraphiQL loads its scripts from a CDN, which a machine without internet cannot
    reach, and no maintained package ships them. Any GraphQL client can POST here, and the schema is introspectable.
    """
    schema = strawberry.Schema(
        query=Query,
        extensions=[
            lambda: QueryDepthLimiter(max_depth=settings.gateway_graphql_max_depth),
            lambda: MaxAliasesLimiter(max_alias_count=15),
            lambda: MaxTokensLimiter(max_token_count=settings.gateway_graphql_max_tokens),
        ],
    )

    async def context(request: Request) -> dict[str, Any]:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        credential = token.strip() if scheme.lower() == "bearer" and token.strip() else None
        supervisor: Supervisor = request.app.state.supervisor
        return {"supervisor": supervisor, "credential": credential}

    return GraphQLRouter(
        schema, context_getter=context, allow_queries_via_get=False, graphql_ide=None, path="/graphql"
    )
