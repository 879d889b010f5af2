"""``marketing.social.v1.SocialService``: the social team's post fitting for other internal services."""

from __future__ import annotations

import grpc
from marketing.social.v1 import social_pb2, social_pb2_grpc

from common.errors import FieldViolation
from common.validation import check_text, raise_if_invalid
from social_service.platforms import Platform, fit_post

MAX_TEXT_CHARS = 10_000
MAX_HASHTAGS = 30
_PLATFORMS = {social_pb2.PLATFORM_X: Platform.X, social_pb2.PLATFORM_LINKEDIN: Platform.LINKEDIN}
_PROTO_PLATFORMS = {v: k for k, v in _PLATFORMS.items()}


class SocialServicer(social_pb2_grpc.SocialServiceServicer):
    """Direct access to post fitting."""

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
