"""Approvals of scheduled posts: the social team's side of human review (``common.agents.review_gate``).

While a workflow waits for a review, its posts are scheduled *held* (``approval_required``): the publisher loop does
not claim them. An approval writes the approved text (a reviewer's edit replaces the draft), its SHA-256 digest and
the reviewer into the post's row; the publisher then publishes the post only while ``sha256(text)`` equals the
digest, so a text changed after the approval is never published. A change request or a rejection cancels the held
posts; a held post still unapproved at its publishing time is cancelled (the review expired).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from common.agents.review_gate import ReviewGate, ReviewStage, digest
from common.agents.team_graph import TeamDefinition
from common.audit import SYSTEM_ACTOR, event_id
from common.logging import get_logger
from common.storage.database import ALL_TENANTS
from social_service.platforms import RULES
from social_service.scheduled_posts import (
    APPROVED_ACTION,
    CANCELLED,
    DISCARDED_ACTION,
    EXPIRED_ACTION,
    SCHEDULED,
    ScheduledPost,
    ScheduledPosts,
    _post,
    audit_details,
)

log = get_logger(__name__)

NOT_APPROVED_ERROR = "not approved: the reviewer sent the draft back or rejected it"
EXPIRED_ERROR = "not approved before its publishing time: the review expired, nothing was sent"
MISMATCH_ERROR = "its text does not match the approved text (changed after the approval): nothing was sent"


def matches_approval(post: ScheduledPost) -> bool:
    """Whether a post may be published: it needs no approval, or its exact text is the approved one."""
    return not post.approval_required or (
        bool(post.approval_digest) and digest(post.text) == post.approval_digest
    )


class PostApprovals:
    """The approval hooks over ``scheduled_posts``."""

    def __init__(self, posts: ScheduledPosts) -> None:
        self.db = posts.db
        self.audit = posts.audit

    async def approve(self, tenant_id: str, workflow_id: str, decision: Mapping[str, Any]) -> None:
        """Write each approved text and its digest into the workflow's held posts (idempotent: a resumed gate
        approves again with the same texts). A text whose digest does not match is not approved."""
        texts: Mapping[str, str] = decision.get("approved_texts", {})
        digests: Mapping[str, str] = decision.get("approved_digests", {})
        now = datetime.now(UTC)
        async with self.db.for_tenant(tenant_id) as db:
            for artifact_id, text in texts.items():
                if digest(text) != digests.get(artifact_id):
                    log.warning("post_approval_refused", artifact_id=artifact_id, reason="digest mismatch")
                    continue
                rows = await db.fetch(
                    "UPDATE scheduled_posts SET text = $4, approval_digest = $5, approved_by = $6, approved_at = $7, "
                    "review_id = $8, updated_at = $7 WHERE tenant_id = $1 AND workflow_id = $2 AND artifact_id = $3 "
                    "AND status = $9 AND approval_required = $10 RETURNING *",
                    tenant_id, workflow_id, artifact_id, text, digests[artifact_id], decision.get("reviewer", ""),
                    now, decision.get("review_id", ""), SCHEDULED, True,
                )  # fmt: skip
                for post in map(_post, rows):  # once per approval of a post (a resumed gate approves again)
                    await self.audit.record_in(
                        db, tenant_id, APPROVED_ACTION, f"posts/{post.id}", audit_details(post),
                        actor=str(decision.get("reviewer", "")) or SYSTEM_ACTOR,
                        event=event_id(post.id, "approve", post.review_id, post.approval_digest), at=now,
                    )  # fmt: skip
        log.info(
            "posts_approved", workflow_id=workflow_id, posts=len(texts), reviewer=decision.get("reviewer")
        )

    async def discard(self, tenant_id: str, workflow_id: str, artifact_ids: Sequence[str]) -> None:
        """Cancel the workflow's held posts of drafts that were not approved."""
        async with self.db.for_tenant(tenant_id) as db:
            for artifact_id in artifact_ids:
                rows = await db.fetch(
                    "UPDATE scheduled_posts SET status = $4, error = $5, updated_at = $6 WHERE tenant_id = $1 "
                    "AND workflow_id = $2 AND artifact_id = $3 AND status = $7 AND approval_required = $8 "
                    "RETURNING *",
                    tenant_id, workflow_id, artifact_id, CANCELLED, NOT_APPROVED_ERROR, datetime.now(UTC),
                    SCHEDULED, True,
                )  # fmt: skip
                for post in map(_post, rows):
                    await self.audit.record_in(
                        db, tenant_id, DISCARDED_ACTION, f"posts/{post.id}",
                        audit_details(post, error=NOT_APPROVED_ERROR), event=event_id(post.id, "discard"),
                    )  # fmt: skip

    async def scheduled(self, tenant_id: str, workflow_id: str) -> dict[str, datetime]:
        """When each of the workflow's held posts would be published, by artifact id."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT * FROM scheduled_posts WHERE tenant_id = $1 AND workflow_id = $2 AND status = $3",
                tenant_id, workflow_id, SCHEDULED,
            )  # fmt: skip
        return {post.artifact_id: post.scheduled_at for post in map(_post, rows)}

    async def expire_unapproved(self, now: datetime) -> list[ScheduledPost]:
        """Cancel held posts (of every tenant) still unapproved at their publishing time."""
        async with self.db.for_tenant(ALL_TENANTS) as db:
            rows = await db.fetch(
                "UPDATE scheduled_posts SET status = $1, error = $2, updated_at = $3 WHERE status = $4 "
                "AND approval_required = $5 AND approval_digest = '' AND scheduled_at <= $6 RETURNING *",
                CANCELLED, EXPIRED_ERROR, datetime.now(UTC), SCHEDULED, True, now.astimezone(UTC),
            )  # fmt: skip
            posts = [_post(r) for r in rows]
            for post in posts:
                await self.audit.record_in(
                    db, post.tenant_id, EXPIRED_ACTION, f"posts/{post.id}",
                    audit_details(post, error=EXPIRED_ERROR), event=event_id(post.id, "expired"),
                )  # fmt: skip
        for post in posts:
            log.warning(
                "post_review_expired", tenant_id=post.tenant_id, post_id=post.id, workflow_id=post.workflow_id
            )
        return posts


def with_review(team: TeamDefinition, posts: ScheduledPosts, live: bool) -> TeamDefinition:
    """The team with its review gate: social posts are approved before they are published (by default when
    publishing is ``live``; under an explicit policy in dry-run too), through the scheduled posts' approvals."""
    approvals = PostApprovals(posts)
    gate = ReviewGate(
        stage=ReviewStage.PUBLISHING,
        artifact_kinds=("social_post",),
        live=live,
        approve=approvals.approve,
        discard=approvals.discard,
        scheduled=approvals.scheduled,
        max_lengths={platform.value: rules.limit for platform, rules in RULES.items()},
    )
    return replace(team, review=gate)
