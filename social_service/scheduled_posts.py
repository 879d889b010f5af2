"""Scheduled social posts and their state machine (table ``scheduled_posts``, created by the social service's own
migrations: next to the workflow records on PostgreSQL, in the social service's own file on SQLite).

``scheduled`` -> ``publishing`` (claimed by one publisher loop) -> ``published`` | ``failed`` | back to
``scheduled`` (a failure that certainly did not reach the platform); ``scheduled`` -> ``cancelled``. Claims are
single atomic statements (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so each due post is published once however
many publisher loops share the database.

Every post belongs to a tenant. The methods an RPC or a tool calls take the tenant first and filter by it (another
tenant's post id is simply not found), inside ``database.for_tenant(tenant)`` so that PostgreSQL's row-level
security backs the filter up; the publisher loop's methods work across tenants (``for_tenant("*")``).
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.agents.review_gate import digest
from common.audit import TeamAuditLog, event_id
from common.storage.database import ALL_TENANTS, Database
from common.storage.pages import newest_first

MIGRATIONS = "social_service"
"""The package whose ``migrations/`` create ``scheduled_posts`` (``open_store(..., migrations=(MIGRATIONS,))``)."""

AUDIT_SOURCE = "social"
"""The team name the social service's audit events are recorded under (``team_audit_events.source``)."""

# The audit log's publishing actions (each recorded in the transaction of the change it describes).
ATTEMPT = "post.publish_attempt"  # claimed by a publisher: about to be sent (or written to the outbox)
PUBLISHED_ACTION = "post.published"  # with the platform's post id
FAILED_ACTION = "post.publish_failed"  # with the error (and whether the post may be live)
REFUSED_ACTION = "post.publish_refused"  # its text no longer matches the approved digest: nothing was sent
RETRY_ACTION = "post.publish_retry"  # certainly not sent (connection refused, 429): tried again later
EXPIRED_ACTION = "post.expired"  # held for review and still unapproved at its publishing time: cancelled
APPROVED_ACTION = "post.approve"  # a reviewer's approval applied to the post (approved text's digest)
DISCARDED_ACTION = "post.discard"  # the reviewer sent the draft back or rejected it: cancelled

SCHEDULED = "scheduled"
PUBLISHING = "publishing"
PUBLISHED = "published"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (SCHEDULED, PUBLISHING, PUBLISHED, FAILED, CANCELLED)
LEASE_EXPIRED_ERROR = (
    "outcome unknown: the publisher stopped while publishing (its lease expired); check the platform for the "
    "post before scheduling it again"
)


@dataclass(frozen=True)
class NewPost:
    """A post to schedule."""

    workflow_id: str
    artifact_id: str
    platform: str
    text: str
    scheduled_at: datetime
    approval_required: bool = (
        False  # held until a reviewer approves its exact text (social_service.approvals)
    )


@dataclass(frozen=True)
class ScheduledPost:
    """One row of ``scheduled_posts``."""

    id: str
    tenant_id: str
    workflow_id: str
    artifact_id: str
    platform: str
    text: str
    scheduled_at: datetime
    status: str
    dry_run: bool
    attempts: int
    claimed_by: str
    claimed_at: datetime | None
    published_at: datetime | None
    external_id: str
    external_url: str
    error: str
    outcome_unknown: bool
    created_at: datetime
    updated_at: datetime
    approval_required: bool = False
    approval_digest: str = ""
    approved_by: str = ""
    review_id: str = ""

    @property
    def reschedulable(self) -> bool:
        """Scheduled, or failed without any chance that the platform published it."""
        return self.status == SCHEDULED or (self.status == FAILED and not self.outcome_unknown)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    return _utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def _post(row: dict[str, Any]) -> ScheduledPost:
    return ScheduledPost(
        id=str(row["id"]),
        tenant_id=row["tenant_id"],
        workflow_id=row["workflow_id"],
        artifact_id=row["artifact_id"],
        platform=row["platform"],
        text=row["text"],
        scheduled_at=_time(row["scheduled_at"]),  # type: ignore[arg-type]
        status=row["status"],
        dry_run=bool(row["dry_run"]),
        attempts=int(row["attempts"]),
        claimed_by=row["claimed_by"],
        claimed_at=_time(row["claimed_at"]),
        published_at=_time(row["published_at"]),
        external_id=row["external_id"],
        external_url=row["external_url"],
        error=row["error"],
        outcome_unknown=bool(row["outcome_unknown"]),
        created_at=_time(row["created_at"]),  # type: ignore[arg-type]
        updated_at=_time(row["updated_at"]),  # type: ignore[arg-type]
        approval_required=bool(row.get("approval_required", False)),
        approval_digest=row.get("approval_digest", ""),
        approved_by=row.get("approved_by", ""),
        review_id=row.get("review_id", "") or "",
    )


def audit_details(post: ScheduledPost, **extra: Any) -> dict[str, Any]:
    """What every publishing event of a post says: where it comes from and which approval it rests on (digests
    and ids, never the text)."""
    details: dict[str, Any] = {
        "workflow_id": post.workflow_id,
        "artifact_id": post.artifact_id,
        "platform": post.platform,
        "attempt": str(post.attempts),
    }
    if post.approval_required:
        details.update(
            review_id=post.review_id, approved_by=post.approved_by, approval_digest=post.approval_digest
        )
    details.update({k: v for k, v in extra.items() if v is not None})
    return details


def _resource(post: ScheduledPost) -> str:
    return f"posts/{post.id}"


def _now() -> datetime:
    return datetime.now(UTC)


class ScheduledPosts:
    """Queries on ``scheduled_posts`` for both backends (timestamps are stored in UTC)."""

    def __init__(self, database: Database) -> None:
        self.db = database
        self.audit = TeamAuditLog(database, AUDIT_SOURCE)

    async def schedule(self, tenant_id: str, posts: Sequence[NewPost], dry_run: bool) -> list[ScheduledPost]:
        """Store a tenant's posts; a (workflow, artifact) the tenant already scheduled keeps its existing row (a
        retried team run).

        Returns:
            The stored rows, in the order of ``posts``.
        """
        now = _now()
        stored = []
        async with self.db.for_tenant(tenant_id) as db:
            for post in posts:
                await db.execute(
                    "INSERT INTO scheduled_posts (id, tenant_id, workflow_id, artifact_id, platform, text, "
                    "scheduled_at, status, dry_run, created_at, updated_at, approval_required) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) "
                    "ON CONFLICT (tenant_id, workflow_id, artifact_id) DO NOTHING",
                    str(uuid.uuid4()), tenant_id, post.workflow_id, post.artifact_id, post.platform, post.text,
                    _utc(post.scheduled_at), SCHEDULED, dry_run, now, post.approval_required,
                )  # fmt: skip
                rows = await db.fetch(
                    "SELECT * FROM scheduled_posts WHERE tenant_id = $1 AND workflow_id = $2 AND artifact_id = $3",
                    tenant_id, post.workflow_id, post.artifact_id,
                )  # fmt: skip
                stored.append(_post(rows[0]))
        return stored

    async def get(self, tenant_id: str, post_id: str) -> ScheduledPost | None:
        """One of the tenant's posts, or None (also for another tenant's post)."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT * FROM scheduled_posts WHERE tenant_id = $1 AND id = $2", tenant_id, post_id
            )
        return _post(rows[0]) if rows else None

    async def list(
        self, tenant_id: str, page_size: int, page_token: str = "", workflow_id: str = "", status: str = ""
    ) -> tuple[list[ScheduledPost], str]:
        """The tenant's posts, newest first, ``page_size`` at a time, optionally for one workflow and one status.

        Returns:
            The page and the next page's token ("" on the last page).

        Raises:
            BadPageToken: The token is malformed or was issued for other filters (or another tenant).
        """
        async with self.db.for_tenant(tenant_id) as db:
            return await newest_first(
                db,
                "scheduled_posts",
                {"tenant_id": tenant_id, "workflow_id": workflow_id, "status": status},
                page_size,
                page_token,
                _post,
                lambda post: (post.created_at, post.id),
            )

    async def reschedule(self, tenant_id: str, post_id: str, at: datetime) -> ScheduledPost | None:
        """Move one of the tenant's scheduled (or failed-before-send) posts to ``at`` and reset its attempts.

        Returns:
            The updated post, or None when it does not exist or is in another state (see :meth:`get`).
        """
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "UPDATE scheduled_posts SET status = $3, scheduled_at = $4, attempts = 0, error = '', claimed_by = '', "
                "claimed_at = NULL, updated_at = $5 WHERE tenant_id = $1 AND id = $2 "
                "AND (status = $3 OR (status = $6 AND outcome_unknown = $7)) RETURNING *",
                tenant_id, post_id, SCHEDULED, _utc(at), _now(), FAILED, False,
            )  # fmt: skip
        return _post(rows[0]) if rows else None

    async def cancel(self, tenant_id: str, post_id: str) -> ScheduledPost | None:
        """Cancel one of the tenant's scheduled posts; None when it does not exist or is not scheduled."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "UPDATE scheduled_posts SET status = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2 "
                "AND status = $5 RETURNING *",
                tenant_id, post_id, CANCELLED, _now(), SCHEDULED,
            )  # fmt: skip
        return _post(rows[0]) if rows else None

    # Below ``list`` (the method), the built-in type is spelled ``builtins.list``.
    async def cancel_workflow(self, tenant_id: str, workflow_id: str) -> builtins.list[ScheduledPost]:
        """Cancel every still-scheduled post of one of the tenant's workflows; returns the posts cancelled."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "UPDATE scheduled_posts SET status = $3, updated_at = $4 WHERE tenant_id = $1 AND workflow_id = $2 "
                "AND status = $5 RETURNING *",
                tenant_id, workflow_id, CANCELLED, _now(), SCHEDULED,
            )  # fmt: skip
        return sorted((_post(r) for r in rows), key=lambda p: (p.scheduled_at, p.id))

    async def erase_workflow(self, tenant_id: str, workflow_id: str) -> int:
        """Delete every post (whatever its state) of one of the tenant's workflows; returns how many."""
        async with self.db.for_tenant(tenant_id) as db:
            return await db.execute(
                "DELETE FROM scheduled_posts WHERE tenant_id = $1 AND workflow_id = $2",
                tenant_id,
                workflow_id,
            )

    async def erase_tenant(self, tenant_id: str) -> int:
        """Delete every post of the tenant; returns how many."""
        async with self.db.for_tenant(tenant_id) as db:
            return await db.execute("DELETE FROM scheduled_posts WHERE tenant_id = $1", tenant_id)

    # --- the publisher loop's side ---------------------------------------------------------------------------

    async def claim_due(self, owner: str, now: datetime, limit: int) -> builtins.list[ScheduledPost]:
        """Atomically move up to ``limit`` due posts to ``publishing`` for ``owner``; no two callers get the same
        post (PostgreSQL skips rows another claim has locked; SQLite serialises writers). A post held for review
        is not due until it is approved."""
        lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgres" else ""
        async with self.db.for_tenant(ALL_TENANTS) as db:
            rows = await db.fetch(
                "UPDATE scheduled_posts SET status = $1, claimed_by = $2, claimed_at = $3, updated_at = $3, "
                "attempts = attempts + 1 WHERE status = $4 AND id IN (SELECT id FROM scheduled_posts "
                "WHERE status = $4 AND scheduled_at <= $3 AND (approval_required = $6 OR approval_digest <> '') "
                f"ORDER BY scheduled_at, id LIMIT $5{lock}) RETURNING *",
                PUBLISHING, owner, _utc(now), SCHEDULED, limit, False,
            )  # fmt: skip
            claimed = sorted((_post(r) for r in rows), key=lambda p: (p.scheduled_at, p.id))
            for post in claimed:  # the attempt is on record before anything is sent
                await self.audit.record_in(
                    db, post.tenant_id, ATTEMPT, _resource(post),
                    audit_details(post, publisher=owner, text_digest=digest(post.text)),
                    event=event_id(post.id, "attempt", str(post.attempts)),
                )  # fmt: skip
        return claimed

    async def expire_leases(self, claimed_before: datetime) -> builtins.list[ScheduledPost]:
        """Fail posts claimed before ``claimed_before`` (their publisher died mid-publish) as outcome unknown;
        they are never republished automatically."""
        async with self.db.for_tenant(ALL_TENANTS) as db:
            rows = await db.fetch(
                "UPDATE scheduled_posts SET status = $1, outcome_unknown = $2, error = $3, updated_at = $4 "
                "WHERE status = $5 AND claimed_at < $6 RETURNING *",
                FAILED, True, LEASE_EXPIRED_ERROR, _now(), PUBLISHING, _utc(claimed_before),
            )  # fmt: skip
            expired = [_post(r) for r in rows]
            for post in expired:
                await self.audit.record_in(
                    db, post.tenant_id, FAILED_ACTION, _resource(post),
                    audit_details(post, error=LEASE_EXPIRED_ERROR, outcome_unknown="true", publisher=post.claimed_by),
                    event=event_id(post.id, "lease_expired", str(post.attempts)),
                )  # fmt: skip
        return expired

    async def mark_published(
        self, post: ScheduledPost, external_id: str, external_url: str, dry_run: bool
    ) -> bool:
        """Record a publication by the claim's holder (also over an expired lease: the post is known to be
        live). Returns False when the claim is no longer this one."""
        now = _now()
        async with self.db.for_tenant(post.tenant_id) as db:
            changed = await db.execute(
                "UPDATE scheduled_posts SET status = $4, published_at = $5, updated_at = $5, external_id = $6, "
                "external_url = $7, dry_run = $8, error = '', outcome_unknown = $9 "
                "WHERE id = $1 AND claimed_by = $2 AND claimed_at = $3 AND status IN ($10, $11)",
                post.id, post.claimed_by, post.claimed_at, PUBLISHED, now, external_id, external_url, dry_run,
                False, PUBLISHING, FAILED,
            )  # fmt: skip
            if changed == 1:
                details = audit_details(
                    post, external_id=external_id, external_url=external_url, dry_run=str(dry_run).lower()
                )
                await self.audit.record_in(
                    db, post.tenant_id, PUBLISHED_ACTION, _resource(post), details,
                    event=event_id(post.id, "outcome", str(post.attempts)), at=now,
                )  # fmt: skip
        return changed == 1

    async def mark_failed(
        self,
        post: ScheduledPost,
        error: str,
        outcome_unknown: bool,
        action: str = FAILED_ACTION,
        details: dict[str, Any] | None = None,
    ) -> bool:
        """Record a failure by the claim's holder (``action``: ``post.publish_refused`` when the text no longer
        matches its approval)."""
        async with self.db.for_tenant(post.tenant_id) as db:
            changed = await db.execute(
                "UPDATE scheduled_posts SET status = $4, error = $5, outcome_unknown = $6, updated_at = $7 "
                "WHERE id = $1 AND claimed_by = $2 AND claimed_at = $3 AND status IN ($8, $4)",
                post.id, post.claimed_by, post.claimed_at, FAILED, error, outcome_unknown, _now(), PUBLISHING,
            )  # fmt: skip
            if changed == 1:
                await self.audit.record_in(
                    db, post.tenant_id, action, _resource(post),
                    audit_details(post, error=error, outcome_unknown=str(outcome_unknown).lower(), **(details or {})),
                    event=event_id(post.id, "outcome", str(post.attempts)),
                )  # fmt: skip
        return changed == 1

    async def retry_later(self, post: ScheduledPost, at: datetime, error: str) -> bool:
        """Put a claimed post back to ``scheduled`` at ``at`` (the platform certainly did not act on it)."""
        async with self.db.for_tenant(post.tenant_id) as db:
            changed = await db.execute(
                "UPDATE scheduled_posts SET status = $4, scheduled_at = $5, error = $6, claimed_by = '', "
                "claimed_at = NULL, updated_at = $7 WHERE id = $1 AND claimed_by = $2 AND claimed_at = $3 "
                "AND status = $8",
                post.id, post.claimed_by, post.claimed_at, SCHEDULED, _utc(at), error, _now(), PUBLISHING,
            )  # fmt: skip
            if changed == 1:
                await self.audit.record_in(
                    db, post.tenant_id, RETRY_ACTION, _resource(post),
                    audit_details(post, error=error, retry_time=_utc(at).isoformat()),
                    event=event_id(post.id, "outcome", str(post.attempts)),
                )  # fmt: skip
        return changed == 1
