"""The supervisor's side of scheduled posts: a cancelled workflow publishes nothing."""

from __future__ import annotations

import grpc
from marketing.social.v1 import social_pb2, social_pb2_grpc

from common.logging import get_logger
from common.team_client import TeamClient

log = get_logger(__name__)

CANCEL_POSTS_TIMEOUT_S = 5.0


async def cancel_scheduled_posts(
    social: TeamClient | None, workflow_id: str, timeout_s: float = CANCEL_POSTS_TIMEOUT_S
) -> tuple[list[str], str]:
    """Ask the social service to cancel the workflow's still-scheduled posts.

    Returns:
        The ids of the posts cancelled, and "" or why the social service could not be asked.
    """
    if social is None:
        return [], ""
    request = social_pb2.CancelWorkflowPostsRequest(workflow_id=workflow_id)
    try:
        answer = await social_pb2_grpc.SocialServiceStub(social.channel).CancelWorkflowPosts(
            request, timeout=timeout_s
        )
    except grpc.aio.AioRpcError as exc:
        error = f"social: {exc.code().name}: {exc.details() or ''}".strip()
        log.warning("scheduled_posts_not_cancelled", workflow_id=workflow_id, error=error)
        return [], error
    ids = [post.id for post in answer.posts]
    if ids:
        log.info("scheduled_posts_cancelled", workflow_id=workflow_id, posts=len(ids))
    return ids, ""
