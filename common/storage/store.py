"""The workflow records: workflows, agent executions and stored team results, on PostgreSQL or SQLite.

Every method that touches tenant data takes the tenant id first, filters by it in SQL and runs inside
``database.for_tenant(tenant_id)`` (row-level security on PostgreSQL). Cross-tenant background work (heart-beats,
orphan claims) runs as ``for_tenant("*")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from common.storage.database import ALL_TENANTS, Database
from common.storage.pages import newest_first

RUNNING = "running"
BUDGET_EXCEEDED = "budget_exceeded"  # stopped by its budget; ResumeWorkflow with a larger budget reopens it
QUEUE_OWNER_PREFIX = "queue:"
"""Owners of workflows run for the task queue (SubmitTask): the queue's own redelivery resumes them, never the
orphan claims."""
TERMINAL = frozenset({"completed", "degraded", "partial", "failed", "cancelled", BUDGET_EXCEEDED})


@dataclass(frozen=True)
class WorkflowRecord:
    """One row of ``workflows``; ``snapshot`` is the serialized marketing.supervisor.v1.Workflow."""

    id: str
    tenant_id: str
    task: str
    status: str
    owner: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    snapshot: bytes


@dataclass(frozen=True)
class AgentExecution:
    """What one agent did in one step of a team run."""

    workflow_id: str
    team: str
    agent: str
    step_index: int
    kind: str
    input: str
    output: str
    duration_ms: int
    success: bool
    error: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class TenantWorkflow(NamedTuple):
    """A workflow named by its tenant and id (what cross-tenant background work gets back)."""

    tenant_id: str
    workflow_id: str


def workflow_key_prefix(workflow_id: str) -> str:
    """The prefix of the idempotency keys of a workflow's team calls (the supervisor sends
    ``<workflow id>/<team>/<routing step>``)."""
    return f"{workflow_id}/"


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    """Queries shared by both backends."""

    def __init__(self, database: Database) -> None:
        self.db = database

    @property
    def dialect(self) -> str:
        """``postgres`` or ``sqlite``."""
        return self.db.dialect

    async def close(self) -> None:
        """Release the database."""
        await self.db.close()

    # --- workflows ---------------------------------------------------------------------------------------

    async def create_workflow(
        self, tenant_id: str, workflow_id: str, task: str, owner: str, snapshot: bytes, user_id: str = ""
    ) -> None:
        """Record a new running workflow of a tenant (``user_id``: who started it, for the records)."""
        now = _now()
        async with self.db.for_tenant(tenant_id) as db:
            await db.execute(
                "INSERT INTO workflows (id, tenant_id, user_id, task, status, owner, created_at, updated_at, "
                "heartbeat_at, snapshot) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $8)",
                workflow_id, tenant_id, user_id, task, RUNNING, owner, now, snapshot,
            )  # fmt: skip

    async def save_workflow(
        self,
        tenant_id: str,
        workflow_id: str,
        status: str,
        snapshot: bytes,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost_usd: float = 0.0,
    ) -> None:
        """Store the workflow's latest snapshot and status (completion time when it is terminal)."""
        now = _now()
        async with self.db.for_tenant(tenant_id) as db:
            await db.execute(
                "UPDATE workflows SET status = $3, snapshot = $4, input_tokens = $5, output_tokens = $6, "
                "cost_usd = $7, updated_at = $8, heartbeat_at = $8, completed_at = $9 "
                "WHERE tenant_id = $1 AND id = $2 AND status = 'running'",
                tenant_id, workflow_id, status, snapshot, input_tokens, output_tokens, cost_usd, now,
                now if status in TERMINAL else None,
            )  # fmt: skip

    async def get_workflow(self, tenant_id: str, workflow_id: str) -> WorkflowRecord | None:
        """One workflow of the tenant, or None (also when it is another tenant's)."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT * FROM workflows WHERE tenant_id = $1 AND id = $2", tenant_id, workflow_id
            )
        return self._record(rows[0]) if rows else None

    async def list_workflows(
        self, tenant_id: str, page_size: int, page_token: str = "", status: str = ""
    ) -> tuple[list[WorkflowRecord], str]:
        """The tenant's workflows, newest first, ``page_size`` at a time.

        Returns:
            The page and the token of the next page ("" when this is the last page).

        Raises:
            BadPageToken: The token is malformed or was issued for another status filter (or tenant).
        """
        async with self.db.for_tenant(tenant_id) as db:
            return await newest_first(
                db,
                "workflows",
                {"tenant_id": tenant_id, "status": status},
                page_size,
                page_token,
                self._record,
                lambda r: (r.created_at, r.id),
            )

    async def workflows_older_than(self, tenant_id: str, cutoff: datetime, limit: int = 1000) -> list[str]:
        """Ids of the tenant's workflows created before ``cutoff``, oldest first (at most ``limit``)."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT id FROM workflows WHERE tenant_id = $1 AND created_at < $2 ORDER BY created_at, id "
                "LIMIT $3",
                tenant_id, cutoff, limit,
            )  # fmt: skip
        return [str(row["id"]) for row in rows]

    async def workflows_between(self, tenant_id: str, start: datetime, end: datetime) -> list[WorkflowRecord]:
        """The tenant's workflows created in ``[start, end)``, oldest first (usage reports)."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT * FROM workflows WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 "
                "ORDER BY created_at, id",
                tenant_id, start, end,
            )  # fmt: skip
        return [self._record(row) for row in rows]

    async def workflow_ids(self, tenant_id: str) -> list[str]:
        """Ids of every workflow of the tenant, oldest first."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT id FROM workflows WHERE tenant_id = $1 ORDER BY created_at, id", tenant_id
            )
        return [str(row["id"]) for row in rows]

    async def delete_workflow(self, tenant_id: str, workflow_id: str) -> int:
        """Erase a workflow of the tenant: its agent executions, the team results stored for it (in this
        database) and its record. Returns the number of rows deleted (0: no such workflow of this tenant)."""
        async with self.db.for_tenant(tenant_id) as db:
            erased = await db.execute(
                "DELETE FROM agent_executions WHERE tenant_id = $1 AND workflow_id = $2",
                tenant_id,
                workflow_id,
            )
            erased += await self._delete_team_results(db, tenant_id, workflow_key_prefix(workflow_id))
            erased += await db.execute(
                "DELETE FROM workflows WHERE tenant_id = $1 AND id = $2", tenant_id, workflow_id
            )
        return erased

    async def erase_tenant_records(self, tenant_id: str) -> int:
        """Erase every workflow, agent execution and team result of a tenant in this database, and its quota
        counters when they live here (PostgreSQL); returns the number of rows deleted."""
        erased = 0
        async with self.db.for_tenant(tenant_id) as db:
            for table in ("agent_executions", "team_results", "workflows", "quota_counters", "quota_slots"):
                erased += await db.execute(f"DELETE FROM {table} WHERE tenant_id = $1", tenant_id)
        return erased

    async def claim_orphans(self, owner: str, stale_after_s: float) -> list[TenantWorkflow]:
        """Take over running workflows (of every tenant) whose owner stopped heart-beating; each is claimed by one
        replica only."""
        cutoff = _now() - timedelta(seconds=stale_after_s)
        claimed = []
        async with self.db.for_tenant(ALL_TENANTS) as db:
            rows = await db.fetch(
                "SELECT tenant_id, id, owner FROM workflows WHERE status = $1 AND heartbeat_at < $2 "
                f"AND owner NOT LIKE '{QUEUE_OWNER_PREFIX}%' ORDER BY created_at",
                RUNNING, cutoff,
            )  # fmt: skip
            for row in rows:
                changed = await db.execute(
                    "UPDATE workflows SET owner = $3, heartbeat_at = $5 "
                    "WHERE tenant_id = $1 AND id = $2 AND owner = $4 AND status = $6",
                    row["tenant_id"], str(row["id"]), owner, row["owner"], _now(), RUNNING,
                )  # fmt: skip
                if changed == 1:
                    claimed.append(TenantWorkflow(row["tenant_id"], str(row["id"])))
        return claimed

    async def claim(self, tenant_id: str, workflow_id: str, owner: str, stale_after_s: float) -> bool:
        """Take a running workflow of the tenant over if this owner holds it already or its owner stopped
        heart-beating."""
        now = _now()
        async with self.db.for_tenant(tenant_id) as db:
            changed = await db.execute(
                "UPDATE workflows SET owner = $3, heartbeat_at = $4 WHERE tenant_id = $1 AND id = $2 "
                "AND status = $5 AND (owner = $3 OR heartbeat_at < $6)",
                tenant_id, workflow_id, owner, now, RUNNING, now - timedelta(seconds=stale_after_s),
            )  # fmt: skip
        return changed == 1

    async def reopen(self, tenant_id: str, workflow_id: str, owner: str) -> bool:
        """Set a workflow its budget stopped running again, owned by ``owner`` (one atomic statement: of two
        concurrent resumes, one wins); False when it is not stopped by its budget (any more)."""
        now = _now()
        async with self.db.for_tenant(tenant_id) as db:
            changed = await db.execute(
                "UPDATE workflows SET status = $3, owner = $4, heartbeat_at = $5, completed_at = NULL "
                "WHERE tenant_id = $1 AND id = $2 AND status = $6",
                tenant_id, workflow_id, RUNNING, owner, now, BUDGET_EXCEEDED,
            )  # fmt: skip
        return changed == 1

    async def heartbeat(self, owner: str) -> None:
        """Say that this replica is still running its workflows (of every tenant)."""
        async with self.db.for_tenant(ALL_TENANTS) as db:
            await db.execute(
                "UPDATE workflows SET heartbeat_at = $2 WHERE owner = $1 AND status = $3",
                owner,
                _now(),
                RUNNING,
            )

    # --- agent executions ----------------------------------------------------------------------------------

    async def record_executions(self, tenant_id: str, executions: list[AgentExecution]) -> None:
        """Record agent executions of the tenant's workflows; a (workflow, team, step) already recorded is left
        alone."""
        async with self.db.for_tenant(tenant_id) as db:
            for e in executions:
                await db.execute(
                    "INSERT INTO agent_executions (tenant_id, workflow_id, team, agent, step_index, kind, input, "
                    "output, duration_ms, success, error, input_tokens, output_tokens, cost_usd, recorded_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
                    "ON CONFLICT (workflow_id, team, step_index) DO NOTHING",
                    tenant_id, e.workflow_id, e.team, e.agent, e.step_index, e.kind, e.input, e.output,
                    e.duration_ms, e.success, e.error, e.input_tokens, e.output_tokens, e.cost_usd, _now(),
                )  # fmt: skip

    async def agent_executions(self, tenant_id: str, workflow_id: str) -> list[AgentExecution]:
        """A workflow's agent executions, in the order they were recorded."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT workflow_id, team, agent, step_index, kind, input, output, duration_ms, success, error, "
                "input_tokens, output_tokens, cost_usd FROM agent_executions "
                "WHERE tenant_id = $1 AND workflow_id = $2 ORDER BY id",
                tenant_id, workflow_id,
            )  # fmt: skip
        return [
            AgentExecution(**{**r, "workflow_id": str(r["workflow_id"]), "success": bool(r["success"])})
            for r in rows
        ]

    # --- team results (idempotent team calls) --------------------------------------------------------------

    async def get_team_result(self, tenant_id: str, idempotency_key: str) -> bytes | None:
        """The stored result of a completed team call of the tenant, if any."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT result FROM team_results WHERE tenant_id = $1 AND idempotency_key = $2",
                tenant_id, idempotency_key,
            )  # fmt: skip
        return bytes(rows[0]["result"]) if rows else None

    async def put_team_result(self, tenant_id: str, idempotency_key: str, team: str, result: bytes) -> None:
        """Store a completed team call's result for the tenant (the first one stored wins)."""
        async with self.db.for_tenant(tenant_id) as db:
            await db.execute(
                "INSERT INTO team_results (tenant_id, idempotency_key, team, result, created_at) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
                tenant_id, idempotency_key, team, result, _now(),
            )  # fmt: skip

    async def delete_team_results(self, tenant_id: str, key_prefix: str = "") -> int:
        """Erase the tenant's stored team results whose idempotency key starts with ``key_prefix`` (a workflow's:
        ``workflow_key_prefix(workflow_id)``; every one of the tenant's when empty). Returns how many."""
        async with self.db.for_tenant(tenant_id) as db:
            return await self._delete_team_results(db, tenant_id, key_prefix)

    @staticmethod
    async def _delete_team_results(db: Database, tenant_id: str, key_prefix: str) -> int:
        return await db.execute(
            "DELETE FROM team_results WHERE tenant_id = $1 AND substr(idempotency_key, 1, $3) = $2",
            tenant_id, key_prefix, len(key_prefix),
        )  # fmt: skip

    # --- helpers --------------------------------------------------------------------------------------------

    @staticmethod
    def _record(row: dict[str, Any]) -> WorkflowRecord:
        return WorkflowRecord(
            id=str(row["id"]),
            tenant_id=row["tenant_id"],
            task=row["task"],
            status=row["status"],
            owner=row["owner"],
            created_at=_when(row["created_at"]),  # type: ignore[arg-type]
            updated_at=_when(row["updated_at"]),  # type: ignore[arg-type]
            completed_at=_when(row["completed_at"]),
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            cost_usd=row["cost_usd"],
            snapshot=bytes(row["snapshot"]),
        )
