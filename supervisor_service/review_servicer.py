"""``marketing.supervisor.v1.ReviewService``: validates requests; the review desk decides.

Reads (``ListReviews``, ``GetReview``, ``GetReviewSummary``) need ``marketing.tasks.read``: whoever may read a
tenant's workflows may read what waits in them. Decisions need ``marketing.reviews.write``. Every RPC acts for the
caller's tenant: another tenant's review is NOT_FOUND.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from marketing.supervisor.v1 import review_pb2, review_pb2_grpc

from common.auth.principal import ANONYMOUS, Principal, Scope, current_principal
from common.config import Settings
from common.errors import FieldViolation, InvalidArgument, Unauthenticated
from common.moderation import Moderator
from common.server import ServiceRegistration
from common.storage.database import Database
from common.storage.pages import BadPageToken
from common.validation import check_range, check_text, raise_if_invalid
from supervisor_service.review_metrics import summarize
from supervisor_service.review_store import ReviewStore
from supervisor_service.reviews import AuditLog, ProfileSource, ReviewDesk, ReviewNotifier

if TYPE_CHECKING:
    from supervisor_service.workflows import WorkflowRunner

REVIEW_SCOPES = {
    "ListReviews": Scope.TASKS_READ,
    "GetReview": Scope.TASKS_READ,
    "GetReviewSummary": Scope.TASKS_READ,
    "ApproveReview": Scope.REVIEWS_WRITE,
    "RejectReview": Scope.REVIEWS_WRITE,
    "RequestChanges": Scope.REVIEWS_WRITE,
}
"""The scope each ReviewService RPC needs."""

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_COMMENT_CHARS = 5000
MAX_EDIT_CHARS = 10_000
MAX_EDITS = 50


def _review_id(review_id: str) -> list[FieldViolation]:
    return check_text("review_id", review_id, max_chars=64)


class ReviewServicer(review_pb2_grpc.ReviewServiceServicer):
    """The review queue over the desk."""

    def __init__(self, desk: ReviewDesk, settings: Settings) -> None:
        self.desk = desk
        self.settings = settings

    def _caller(self) -> Principal:
        principal = current_principal()
        if principal is not None:
            return principal
        if self.settings.auth_disabled:
            return ANONYMOUS
        raise Unauthenticated("this call carries no caller identity", "missing_credentials")

    async def ListReviews(
        self, request: review_pb2.ListReviewsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> review_pb2.ListReviewsResponse:
        problems = check_range("page_size", request.page_size, 0, MAX_PAGE_SIZE)
        problems += check_text("page_token", request.page_token, max_chars=1000, required=False)
        if request.status not in review_pb2.ReviewStatus.values():
            problems.append(FieldViolation("status", "is not a ReviewStatus"))
        if request.max_age.ToTimedelta().total_seconds() < 0:
            problems.append(FieldViolation("max_age", "must not be negative"))
        raise_if_invalid(problems)
        try:
            reviews, token = await self.desk.list(
                self._caller().tenant_id,
                request.status,
                request.max_age.ToTimedelta().total_seconds(),
                request.page_size or DEFAULT_PAGE_SIZE,
                request.page_token,
            )
        except BadPageToken as exc:  # a token not issued here is the caller's error, not INTERNAL
            raise InvalidArgument([FieldViolation("page_token", str(exc))]) from None
        return review_pb2.ListReviewsResponse(reviews=reviews, next_page_token=token)

    async def GetReview(
        self, request: review_pb2.GetReviewRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> review_pb2.GetReviewResponse:
        raise_if_invalid(_review_id(request.review_id))
        return review_pb2.GetReviewResponse(
            review=await self.desk.get(self._caller().tenant_id, request.review_id)
        )

    async def ApproveReview(
        self, request: review_pb2.ApproveReviewRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> review_pb2.ApproveReviewResponse:
        problems = _review_id(request.review_id)
        if len(request.edits) > MAX_EDITS:
            problems.append(FieldViolation("edits", f"at most {MAX_EDITS}"))
        for i, edit in enumerate(request.edits):
            problems += check_text(f"edits[{i}].artifact_id", edit.artifact_id, max_chars=128)
            problems += check_text(f"edits[{i}].text", edit.text, max_chars=MAX_EDIT_CHARS)
        if len({e.artifact_id for e in request.edits}) != len(request.edits):
            problems.append(FieldViolation("edits", "edit each item at most once"))
        raise_if_invalid(problems)
        edits = {e.artifact_id: e.text for e in request.edits}
        review = await self.desk.approve(self._caller(), request.review_id, edits, request.override_flags)
        return review_pb2.ApproveReviewResponse(review=review)

    async def RejectReview(
        self, request: review_pb2.RejectReviewRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> review_pb2.RejectReviewResponse:
        problems = _review_id(request.review_id)
        problems += check_text("comments", request.comments, max_chars=MAX_COMMENT_CHARS)
        raise_if_invalid(problems)
        review = await self.desk.send_back(
            self._caller(), request.review_id, request.comments, [], request.final
        )
        return review_pb2.RejectReviewResponse(review=review)

    async def RequestChanges(
        self, request: review_pb2.RequestChangesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> review_pb2.RequestChangesResponse:
        problems = _review_id(request.review_id)
        problems += check_text("comments", request.comments, max_chars=MAX_COMMENT_CHARS, required=False)
        if not request.item_comments:
            problems.append(FieldViolation("item_comments", "name at least one item and what to change"))
        for i, comment in enumerate(request.item_comments):
            problems += check_text(f"item_comments[{i}].artifact_id", comment.artifact_id, max_chars=128)
            problems += check_text(
                f"item_comments[{i}].comment", comment.comment, max_chars=MAX_COMMENT_CHARS
            )
        raise_if_invalid(problems)
        review = await self.desk.send_back(
            self._caller(), request.review_id, request.comments, list(request.item_comments), False
        )
        return review_pb2.RequestChangesResponse(review=review)

    async def GetReviewSummary(
        self, request: review_pb2.GetReviewSummaryRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> review_pb2.GetReviewSummaryResponse:
        reviews = await self.desk.store.decided(self._caller().tenant_id)
        return review_pb2.GetReviewSummaryResponse(figures=summarize(reviews))


@dataclass
class Reviews:
    """The review desk, its servicer's registration and what closes them."""

    desk: ReviewDesk
    registration: ServiceRegistration
    close: Callable[[], Awaitable[None]]


def build_reviews(
    settings: Settings,
    database: Database,
    runner: WorkflowRunner,
    profile_of: ProfileSource,
    audit: AuditLog,
    notifier: ReviewNotifier | None = None,
) -> Reviews:
    """Wire the review desk to the runner (pauses open reviews, decisions resume workflows) and serve
    ReviewService. ``notifier`` announces pending reviews (default: nothing)."""
    moderator = Moderator.from_settings(settings)
    desk = ReviewDesk(ReviewStore(database), settings, profile_of, audit, notifier, moderator)
    desk.resume = runner.continue_after_review
    runner.reviews = desk
    servicer = ReviewServicer(desk, settings)
    registration = ServiceRegistration(
        review_pb2.DESCRIPTOR.services_by_name["ReviewService"].full_name,
        lambda server: review_pb2_grpc.add_ReviewServiceServicer_to_server(servicer, server),
    )

    async def close() -> None:
        await desk.stop()
        if moderator is not None:
            await moderator.aclose()

    return Reviews(desk, registration, close)
