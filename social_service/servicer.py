"""``marketing.social.v1.SocialService``: post fitting for other internal services, and the scheduled posts.

Every RPC acts for the caller's tenant (the principal the team identity interceptor bound): its lists hold only
that tenant's posts, and another tenant's post id is ``NOT_FOUND``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import timestamp_pb2
from marketing.social.v1 import social_pb2, social_pb2_grpc

from common.agents.team_service import caller_tenant
from common.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from common.storage import BadPageToken
from common.validation import check_range, check_text, raise_if_invalid
from social_service.platforms import Platform, fit_post
from social_service.scheduled_posts import ScheduledPost, ScheduledPosts

MAX_TEXT_CHARS = 10_000
MAX_HASHTAGS = 30
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_SCHEDULE_AHEAD = timedelta(days=366)
_PLATFORMS = {social_pb2.PLATFORM_X: Platform.X, social_pb2.PLATFORM_LINKEDIN: Platform.LINKEDIN}
_PROTO_PLATFORMS = {v: k for k, v in _PLATFORMS.items()}
_STATUSES = {
    social_pb2.SCHEDULED_POST_STATUS_SCHEDULED: "scheduled",
    social_pb2.SCHEDULED_POST_STATUS_PUBLISHING: "publishing",
    social_pb2.SCHEDULED_POST_STATUS_PUBLISHED: "published",
    social_pb2.SCHEDULED_POST_STATUS_FAILED: "failed",
    social_pb2.SCHEDULED_POST_STATUS_CANCELLED: "cancelled",
}
_PROTO_STATUSES = {v: k for k, v in _STATUSES.items()}


def _timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def post_to_proto(post: ScheduledPost) -> social_pb2.ScheduledPost:
    """A stored post to protobuf."""
    return social_pb2.ScheduledPost(
        id=post.id,
        workflow_id=post.workflow_id,
        artifact_id=post.artifact_id,
        platform=_PROTO_PLATFORMS[Platform(post.platform)],
        text=post.text,
        scheduled_time=_timestamp(post.scheduled_at),
        status=_PROTO_STATUSES[post.status],
        dry_run=post.dry_run,
        attempts=post.attempts,
        claimed_by=post.claimed_by,
        claim_time=_timestamp(post.claimed_at),
        publish_time=_timestamp(post.published_at),
        external_id=post.external_id,
        external_url=post.external_url,
        error=post.error,
        outcome_unknown=post.outcome_unknown,
        create_time=_timestamp(post.created_at),
        update_time=_timestamp(post.updated_at),
    )


# google.protobuf.Timestamp's valid range.
_MIN_TIMESTAMP_S = -62_135_596_800
_MAX_TIMESTAMP_S = 253_402_300_799


def _post_id(post_id: str) -> list[FieldViolation]:
    try:
        uuid.UUID(post_id)
    except ValueError:
        return [FieldViolation("post_id", "must be a UUID such as 3f2b8c1e-...")]
    return []


class SocialServicer(social_pb2_grpc.SocialServiceServicer):
    """Post fitting, and listing, rescheduling and cancelling scheduled posts."""

    def __init__(self, posts: ScheduledPosts | None = None) -> None:
        self.posts = posts

    def _store(self) -> ScheduledPosts:
        if self.posts is None:
            raise FailedPrecondition("this social service has no records store for scheduled posts")
        return self.posts

    async def _existing(self, tenant: str, post_id: str) -> ScheduledPost:
        post = await self._store().get(tenant, str(uuid.UUID(post_id)))
        if post is None:
            raise NotFound(f"scheduled post {post_id} not found")
        return post

    async def ListScheduledPosts(
        self, request: social_pb2.ListScheduledPostsRequest, context: grpc.aio.ServicerContext
    ) -> social_pb2.ListScheduledPostsResponse:
        problems = check_range("page_size", request.page_size, 0, MAX_PAGE_SIZE)
        problems += check_text("page_token", request.page_token, max_chars=1000, required=False)
        problems += check_text("workflow_id", request.workflow_id, max_chars=128, required=False)
        if request.status != social_pb2.SCHEDULED_POST_STATUS_UNSPECIFIED and request.status not in _STATUSES:
            problems.append(FieldViolation("status", f"unknown ScheduledPostStatus value {request.status}"))
        raise_if_invalid(problems)
        tenant = caller_tenant()
        try:
            posts, token = await self._store().list(
                tenant,
                request.page_size or DEFAULT_PAGE_SIZE,
                request.page_token,
                request.workflow_id,
                _STATUSES.get(request.status, ""),
            )
        except BadPageToken as exc:
            raise InvalidArgument([FieldViolation("page_token", str(exc))]) from None
        return social_pb2.ListScheduledPostsResponse(
            posts=[post_to_proto(p) for p in posts], next_page_token=token
        )

    async def ReschedulePost(
        self, request: social_pb2.ReschedulePostRequest, context: grpc.aio.ServicerContext
    ) -> social_pb2.ReschedulePostResponse:
        problems = _post_id(request.post_id)
        now = datetime.now(UTC)
        at = now
        if not request.HasField("publish_at"):
            problems.append(FieldViolation("publish_at", "is required"))
        elif not 0 <= request.publish_at.nanos < 1_000_000_000:
            problems.append(FieldViolation("publish_at", "nanos must be between 0 and 999999999"))
        elif not _MIN_TIMESTAMP_S <= request.publish_at.seconds <= _MAX_TIMESTAMP_S:
            problems.append(FieldViolation("publish_at", "must be between 0001-01-01 and 9999-12-31"))
        else:
            at = max(
                at, datetime.fromtimestamp(request.publish_at.seconds + request.publish_at.nanos / 1e9, UTC)
            )
            if at > now + MAX_SCHEDULE_AHEAD:
                problems.append(FieldViolation("publish_at", "must be at most 366 days ahead"))
        raise_if_invalid(problems)
        tenant = caller_tenant()
        post = await self._existing(tenant, request.post_id)
        if not post.reschedulable:
            raise FailedPrecondition(_not_reschedulable(post))
        updated = await self._store().reschedule(tenant, post.id, at)
        if updated is None:  # it changed in between
            raise FailedPrecondition(_not_reschedulable(await self._existing(tenant, post.id)))
        return social_pb2.ReschedulePostResponse(post=post_to_proto(updated))

    async def CancelScheduledPost(
        self, request: social_pb2.CancelScheduledPostRequest, context: grpc.aio.ServicerContext
    ) -> social_pb2.CancelScheduledPostResponse:
        raise_if_invalid(_post_id(request.post_id))
        tenant = caller_tenant()
        post = await self._existing(tenant, request.post_id)
        cancelled = await self._store().cancel(tenant, post.id)
        if cancelled is None:
            current = await self._existing(tenant, post.id)
            raise FailedPrecondition(
                f"scheduled post {post.id} is {current.status}; only a scheduled post can be cancelled"
            )
        return social_pb2.CancelScheduledPostResponse(post=post_to_proto(cancelled))

    async def CancelWorkflowPosts(
        self, request: social_pb2.CancelWorkflowPostsRequest, context: grpc.aio.ServicerContext
    ) -> social_pb2.CancelWorkflowPostsResponse:
        raise_if_invalid(check_text("workflow_id", request.workflow_id, max_chars=128))
        cancelled = await self._store().cancel_workflow(caller_tenant(), request.workflow_id)
        return social_pb2.CancelWorkflowPostsResponse(posts=[post_to_proto(p) for p in cancelled])

    async def DraftPost(
        self, request: social_pb2.DraftPostRequest, context: grpc.aio.ServicerContext
    ) -> social_pb2.DraftPostResponse:
        problems = []
        if request.platform not in _PLATFORMS:
            problems.append(FieldViolation("platform", "must be PLATFORM_X or PLATFORM_LINKEDIN"))
        problems += check_text("text", request.text, max_chars=MAX_TEXT_CHARS)
        if len(request.hashtags) > MAX_HASHTAGS:
            problems.append(FieldViolation("hashtags", f"at most {MAX_HASHTAGS} hashtags"))
        for index, tag in enumerate(request.hashtags):
            problems += check_text(f"hashtags[{index}]", tag, max_chars=100)
        raise_if_invalid(problems)
        caller_tenant()  # stateless, but only for an identified caller
        post = fit_post(_PLATFORMS[request.platform], request.text, list(request.hashtags))
        return social_pb2.DraftPostResponse(
            post=social_pb2.Post(
                platform=_PROTO_PLATFORMS[post.platform],
                text=post.text,
                length=post.length,
                limit=post.limit,
                hashtags=list(post.hashtags),
                truncated=post.truncated,
            )
        )


def _not_reschedulable(post: ScheduledPost) -> str:
    if post.outcome_unknown:
        return (
            f"scheduled post {post.id} is {post.status} with an unknown outcome ({post.error}); it may be live, "
            "so it cannot be rescheduled"
        )
    return f"scheduled post {post.id} is {post.status}; only a scheduled or failed-before-send post can be rescheduled"
