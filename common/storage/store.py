"""The workflow records: workflows, agent executions and stored team results, on PostgreSQL or SQLite."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.storage.database import Database
from common.storage.pages import newest_first

RUNNING = "running"
TERMINAL = frozenset({"completed", "degraded", "partial", "failed", "cancelled"})


@dataclass(frozen=True)
class WorkflowRecord:
    """One row of ``workflows``; ``snapshot`` is the serialized marketing.supervisor.v1.Workflow."""

    id: str
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

    async def create_workflow(self, workflow_id: str, task: str, owner: str, snapshot: bytes) -> None:
        """Record a new running workflow."""
        now = _now()
        await self.db.execute(
            "INSERT INTO workflows (id, task, status, owner, created_at, updated_at, heartbeat_at, snapshot) "
            "VALUES ($1, $2, $3, $4, $5, $5, $5, $6)",
            workflow_id, task, RUNNING, owner, now, snapshot,
        )  # fmt: skip

    async def save_workflow(
        self,
        workflow_id: str,
        status: str,
        snapshot: bytes,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost_usd: float = 0.0,
    ) -> None:
        """Store the workflow's latest snapshot and status (completion time when it is terminal)."""
        now = _now()
        await self.db.execute(
            "UPDATE workflows SET status = $2, snapshot = $3, input_tokens = $4, output_tokens = $5, cost_usd = $6, "
            "updated_at = $7, heartbeat_at = $7, completed_at = $8 WHERE id = $1 AND status = 'running'",
            workflow_id, status, snapshot, input_tokens, output_tokens, cost_usd, now,
            now if status in TERMINAL else None,
        )  # fmt: skip

    async def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        """One workflow, or None."""
        rows = await self.db.fetch("SELECT * FROM workflows WHERE id = $1", workflow_id)
        return self._record(rows[0]) if rows else None

    async def list_workflows(
        self, page_size: int, page_token: str = "", status: str = ""
    ) -> tuple[list[WorkflowRecord], str]:
        """Newest first, ``page_size`` at a time.

        Returns:
            The page and the token of the next page ("" when this is the last page).

        Raises:
            BadPageToken: The token is malformed or was issued for another status filter.
        """
        return await newest_first(
            self.db,
            "workflows",
            {"status": status},
            page_size,
            page_token,
            self._record,
            lambda r: (r.created_at, r.id),
        )

    async def claim_orphans(self, owner: str, stale_after_s: float) -> list[str]:
        """Take over running workflows whose owner stopped heart-beating; each is claimed by one replica only."""
        cutoff = _now() - timedelta(seconds=stale_after_s)
        rows = await self.db.fetch(
            "SELECT id, owner FROM workflows WHERE status = $1 AND heartbeat_at < $2 ORDER BY created_at",
            RUNNING, cutoff,
        )  # fmt: skip
        claimed = []
        for row in rows:
            changed = await self.db.execute(
                "UPDATE workflows SET owner = $2, heartbeat_at = $4 WHERE id = $1 AND owner = $3 AND status = $5",
                str(row["id"]), owner, row["owner"], _now(), RUNNING,
            )  # fmt: skip
            if changed == 1:
                claimed.append(str(row["id"]))
        return claimed

    async def claim(self, workflow_id: str, owner: str, stale_after_s: float) -> bool:
        """Take a running workflow over if this owner holds it already or its owner stopped heart-beating."""
        now = _now()
        changed = await self.db.execute(
            "UPDATE workflows SET owner = $2, heartbeat_at = $3 WHERE id = $1 AND status = $4 "
            "AND (owner = $2 OR heartbeat_at < $5)",
            workflow_id, owner, now, RUNNING, now - timedelta(seconds=stale_after_s),
        )  # fmt: skip
        return changed == 1

    async def heartbeat(self, owner: str) -> None:
        """Say that this replica is still running its workflows."""
        await self.db.execute(
            "UPDATE workflows SET heartbeat_at = $2 WHERE owner = $1 AND status = $3", owner, _now(), RUNNING
        )

    # --- agent executions ----------------------------------------------------------------------------------

    async def record_executions(self, executions: list[AgentExecution]) -> None:
        """Record agent executions; a (workflow, team, step) already recorded is left alone."""
        for e in executions:
            await self.db.execute(
                "INSERT INTO agent_executions (workflow_id, team, agent, step_index, kind, input, output, duration_ms, "
                "success, error, input_tokens, output_tokens, cost_usd, recorded_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
                "ON CONFLICT (workflow_id, team, step_index) DO NOTHING",
                e.workflow_id, e.team, e.agent, e.step_index, e.kind, e.input, e.output, e.duration_ms,
                e.success, e.error, e.input_tokens, e.output_tokens, e.cost_usd, _now(),
            )  # fmt: skip

    async def agent_executions(self, workflow_id: str) -> list[AgentExecution]:
        """A workflow's agent executions, in the order they were recorded."""
        rows = await self.db.fetch(
            "SELECT workflow_id, team, agent, step_index, kind, input, output, duration_ms, success, error, "
            "input_tokens, output_tokens, cost_usd FROM agent_executions WHERE workflow_id = $1 ORDER BY id",
            workflow_id,
        )
        return [
            AgentExecution(**{**r, "workflow_id": str(r["workflow_id"]), "success": bool(r["success"])})
            for r in rows
        ]

    # --- team results (idempotent team calls) --------------------------------------------------------------

    async def get_team_result(self, idempotency_key: str) -> bytes | None:
        """The stored result of a completed team call, if any."""
        rows = await self.db.fetch(
            "SELECT result FROM team_results WHERE idempotency_key = $1", idempotency_key
        )
        return bytes(rows[0]["result"]) if rows else None

    async def put_team_result(self, idempotency_key: str, team: str, result: bytes) -> None:
        """Store a completed team call's result (the first one stored wins)."""
        await self.db.execute(
            "INSERT INTO team_results (idempotency_key, team, result, created_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            idempotency_key, team, result, _now(),
        )  # fmt: skip

    # --- helpers --------------------------------------------------------------------------------------------

    @staticmethod
    def _record(row: dict[str, Any]) -> WorkflowRecord:
        return WorkflowRecord(
            id=str(row["id"]),
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
