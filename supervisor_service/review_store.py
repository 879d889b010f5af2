"""The ``reviews`` table (``supervisor_service`` migration 030): one row per team review round of a workflow.

The row keeps the serialized ``marketing.supervisor.v1.Review`` (items, findings, approvals), its status and
times as columns for the queries, and ``version`` for compare-and-set decisions: of two reviewers deciding at once,
one wins and the other is told the review changed. Every query filters by tenant inside
``database.for_tenant(tenant)`` (row-level security on PostgreSQL backs the filter up).
"""

from __future__ import annotations

import base64
import builtins
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marketing.supervisor.v1 import review_pb2

from common.storage.database import ALL_TENANTS, Database
from common.storage.pages import newest_first

_NAMESPACE = uuid.UUID("5b0c4c5e-6c1b-4f7e-9c61-1e7a0f3d2a17")
STATUS_NAMES = {
    review_pb2.REVIEW_STATUS_PENDING: "pending",
    review_pb2.REVIEW_STATUS_APPROVED: "approved",
    review_pb2.REVIEW_STATUS_CHANGES_REQUESTED: "changes_requested",
    review_pb2.REVIEW_STATUS_REJECTED: "rejected",
    review_pb2.REVIEW_STATUS_EXPIRED: "expired",
}


def review_id_of(tenant_id: str, workflow_id: str, team: str, round_: int) -> str:
    """A review's id: the same for the same pause (a resumed graph that pauses again opens the same review)."""
    return str(uuid.uuid5(_NAMESPACE, f"{tenant_id}/{workflow_id}/{team}/{round_}"))


@dataclass(frozen=True)
class StoredReview:
    """A review as stored: the message, its version and the decision the workflow resumes with ("" pending)."""

    review: review_pb2.Review
    version: int
    decision: bytes

    @property
    def tenant_workflow(self) -> tuple[str, str]:
        """Its workflow id (the tenant is the caller's)."""
        return self.review.workflow_id, self.review.team


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.astimezone(UTC)


def _stored(row: dict[str, Any]) -> StoredReview:
    snapshot = row["snapshot"]
    return StoredReview(
        review_pb2.Review.FromString(bytes(snapshot)),
        int(row["version"]),
        base64.b64decode(row["decision"]) if row["decision"] else b"",
    )


def _page_key(pair: tuple[StoredReview, datetime | None]) -> tuple[datetime, str]:
    stored, created = pair
    assert created is not None
    return created, stored.review.id


class ReviewStore:
    """Queries on ``reviews`` (PostgreSQL or SQLite)."""

    def __init__(self, database: Database) -> None:
        self.db = database

    async def insert(self, tenant_id: str, review: review_pb2.Review) -> bool:
        """Store a new review; False when it exists already (the same pause, opened again)."""
        created = review.create_time.ToDatetime(UTC)
        expires = review.expire_time.ToDatetime(UTC) if review.HasField("expire_time") else None
        async with self.db.for_tenant(tenant_id) as db:
            changed = await db.execute(
                "INSERT INTO reviews (id, tenant_id, workflow_id, team, round, status, version, snapshot, created_at, "
                "expires_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
                review.id, tenant_id, review.workflow_id, review.team, review.round,
                STATUS_NAMES[review.status], review.SerializeToString(), created, expires,
            )  # fmt: skip
        return changed == 1

    async def get(self, tenant_id: str, review_id: str) -> StoredReview | None:
        """One of the tenant's reviews (None also for another tenant's)."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT * FROM reviews WHERE tenant_id = $1 AND id = $2", tenant_id, review_id
            )
        return _stored(rows[0]) if rows else None

    async def save(
        self, tenant_id: str, stored: StoredReview, review: review_pb2.Review, decision: bytes
    ) -> bool:
        """Replace a review if nobody changed it since ``stored`` was read (compare and set on its version)."""
        decided = review.decide_time.ToDatetime(UTC) if review.HasField("decide_time") else None
        async with self.db.for_tenant(tenant_id) as db:
            changed = await db.execute(
                "UPDATE reviews SET status = $3, snapshot = $4, decision = $5, decided_at = $6, version = version + 1 "
                "WHERE tenant_id = $1 AND id = $2 AND version = $7",
                tenant_id, review.id, STATUS_NAMES[review.status], review.SerializeToString(),
                base64.b64encode(decision).decode() if decision else "", decided, stored.version,
            )  # fmt: skip
        return changed == 1

    async def list(
        self, tenant_id: str, status: str, page_size: int, page_token: str
    ) -> tuple[builtins.list[StoredReview], str]:
        """A page of the tenant's reviews, newest first, optionally of one status."""
        async with self.db.for_tenant(tenant_id) as db:
            page, token = await newest_first(
                db,
                "reviews",
                {"tenant_id": tenant_id, "status": status},
                page_size,
                page_token,
                lambda row: (_stored(row), _time(row["created_at"])),
                _page_key,
            )
        return [stored for stored, _ in page], token

    async def overdue(self, now: datetime) -> builtins.list[tuple[str, str]]:
        """(tenant, review id) of pending reviews of every tenant whose expiry time has passed."""
        async with self.db.for_tenant(ALL_TENANTS) as db:
            rows = await db.fetch(
                "SELECT tenant_id, id FROM reviews WHERE status = $1 AND expires_at IS NOT NULL AND expires_at <= $2",
                "pending", now.astimezone(UTC),
            )  # fmt: skip
        return [(str(r["tenant_id"]), str(r["id"])) for r in rows]

    async def decided(self, tenant_id: str, limit: int = 1000) -> builtins.list[review_pb2.Review]:
        """The tenant's decided reviews, newest first (for the summary)."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT * FROM reviews WHERE tenant_id = $1 AND status <> $2 ORDER BY created_at DESC LIMIT $3",
                tenant_id, "pending", limit,
            )  # fmt: skip
        return [_stored(r).review for r in rows]

    async def submitter(self, tenant_id: str, workflow_id: str) -> str:
        """Who submitted a workflow's task (the records' ``user_id``)."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT user_id FROM workflows WHERE tenant_id = $1 AND id = $2", tenant_id, workflow_id
            )
        return str(rows[0]["user_id"] or "") if rows else ""

    async def delete_workflow(self, tenant_id: str, workflow_id: str) -> int:
        """Delete the reviews of one of the tenant's workflows (erasure, retention); returns how many."""
        async with self.db.for_tenant(tenant_id) as db:
            return await db.execute(
                "DELETE FROM reviews WHERE tenant_id = $1 AND workflow_id = $2", tenant_id, workflow_id
            )

    async def claim_workflow(self, tenant_id: str, workflow_id: str, owner: str) -> bool:
        """Move a workflow awaiting review back to running, held by ``owner`` (one replica drives it on)."""
        now = datetime.now(UTC)
        async with self.db.for_tenant(tenant_id) as db:
            changed = await db.execute(
                "UPDATE workflows SET status = $3, owner = $4, heartbeat_at = $5, updated_at = $5 "
                "WHERE tenant_id = $1 AND id = $2 AND status = $6",
                tenant_id, workflow_id, "running", owner, now, "awaiting_review",
            )  # fmt: skip
        return changed == 1
