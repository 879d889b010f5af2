"""The submitted tasks in the records database (``queued_tasks``), whichever backend delivers them.

With ``BROKER_URL`` the broker carries the deliveries and this table keeps what the broker cannot: the tenant's
idempotency key (``request_id``), the delivery count (RabbitMQ 3.x classic queues have no delivery limit, and the
``x-delivery-count`` of 4.x quorum queues is lost with a requeue through the wait queue), the dead letters and
which messages the broker confirmed (an unconfirmed one is published again). Without a broker this table is the
queue: a replica claims the next task with one ``UPDATE ... RETURNING`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
choosing among tenants by priority, then fewest running tasks (fair shares), then submission order.

A task's states: ``queued`` → ``running`` (a replica holds it under a lease) → ``done``, or ``dead`` after the
delivery limit (``RequeueDeadLetter`` makes it ``queued`` again with a fresh count).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.storage.database import ALL_TENANTS, Database
from common.storage.pages import newest_first
from common.storage.store import QUEUE_OWNER_PREFIX
from common.webhooks import DeliveryAttempt

QUEUED, RUNNING, DONE, DEAD = "queued", "running", "done", "dead"
WORKFLOW_QUEUED = "queued"  # workflows.status of a submitted workflow that no replica has started

TenantCap = Callable[[str], Awaitable[int | None]]
"""``cap(tenant_id)``: how many of the tenant's submitted tasks may run at once across the fleet (None or 0:
unlimited). Issue 16's tenant quotas plug in here."""


def _now() -> datetime:
    return datetime.now(UTC)


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class QueuedTask:
    """One row of ``queued_tasks``."""

    id: str
    tenant_id: str
    request_id: str
    task: str
    priority: int
    notify_url: str
    user_id: str
    state: str
    deliveries: int
    owner: str
    last_error: str
    created_at: datetime
    dead_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> QueuedTask:
        """A row as read from either database."""
        return cls(
            id=str(row["id"]),
            tenant_id=row["tenant_id"],
            request_id=row["request_id"],
            task=row["task"],
            priority=int(row["priority"]),
            notify_url=row["notify_url"],
            user_id=row["user_id"],
            state=row["state"],
            deliveries=int(row["deliveries"]),
            owner=row["owner"],
            last_error=row["last_error"],
            created_at=_when(row["created_at"]) or _now(),
            dead_at=_when(row["dead_at"]),
        )


@dataclass(frozen=True)
class NewTask:
    """What SubmitTask records."""

    tenant_id: str
    workflow_id: str
    task: str
    priority: int
    request_id: str = ""
    notify_url: str = ""
    user_id: str = ""


class TaskStore:
    """Queries on ``queued_tasks`` (and the ``workflows`` row of a task that has not started)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, new: NewTask, snapshot: bytes) -> tuple[QueuedTask, bool]:
        """Record a submitted task and its queued workflow; returns the task and True, or the task submitted
        earlier with the same ``request_id`` and False."""
        if new.request_id and (earlier := await self.by_request(new.tenant_id, new.request_id)) is not None:
            return earlier, False
        try:
            await self._insert(new, snapshot)
        except Exception as exc:  # a concurrent submission with the same request_id won the unique index
            if new.request_id and "unique" in str(exc).lower():
                earlier = await self.by_request(new.tenant_id, new.request_id)
                if earlier is not None:
                    return earlier, False
            raise
        task = await self.get(new.tenant_id, new.workflow_id)
        assert task is not None
        return task, True

    async def _insert(self, new: NewTask, snapshot: bytes) -> None:
        """The workflow, then its task: one transaction on PostgreSQL; on SQLite (a statement per commit) the
        workflow is deleted again when the task cannot be inserted, so no task exists without its workflow."""
        now = _now()
        postgres = self.db.dialect == "postgres"
        seq, seq_value = (
            ("", "") if postgres else (", seq", ", (SELECT COALESCE(MAX(seq), 0) + 1 FROM queued_tasks)")
        )
        async with self.db.for_tenant(new.tenant_id) as db:
            await db.execute(
                "INSERT INTO workflows (id, tenant_id, user_id, task, status, owner, created_at, updated_at, "
                "heartbeat_at, snapshot) VALUES ($1, $2, $3, $4, $5, '', $6, $6, $6, $7)",
                new.workflow_id, new.tenant_id, new.user_id, new.task, WORKFLOW_QUEUED, now, snapshot,
            )  # fmt: skip
            try:
                await db.execute(
                    f"INSERT INTO queued_tasks (id, tenant_id, request_id, task, priority, notify_url, user_id, "
                    f"state, available_at, created_at, updated_at{seq}) "
                    f"VALUES ($1, $2, $3, $4, $5, $6, $7, '{QUEUED}', $8, $8, $8{seq_value})",
                    new.workflow_id, new.tenant_id, new.request_id, new.task, new.priority, new.notify_url,
                    new.user_id, now,
                )  # fmt: skip
            except Exception:
                if not postgres:
                    await db.execute("DELETE FROM workflows WHERE id = $1", new.workflow_id)
                raise

    async def by_request(self, tenant_id: str, request_id: str) -> QueuedTask | None:
        """The tenant's task submitted with this request id."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT * FROM queued_tasks WHERE tenant_id = $1 AND request_id = $2", tenant_id, request_id
            )
        return QueuedTask.from_row(rows[0]) if rows else None

    async def get(self, tenant_id: str, task_id: str) -> QueuedTask | None:
        """One task of the tenant (None: none by that id, or another tenant's)."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT * FROM queued_tasks WHERE tenant_id = $1 AND id = $2", tenant_id, task_id
            )
        return QueuedTask.from_row(rows[0]) if rows else None

    async def mark_published(self, tenant_id: str, task_id: str) -> None:
        """The broker confirmed the task's message."""
        async with self.db.for_tenant(tenant_id) as db:
            await db.execute(
                "UPDATE queued_tasks SET published = TRUE WHERE tenant_id = $1 AND id = $2",
                tenant_id,
                task_id,
            )

    async def unpublished(self, older_than_s: float) -> list[QueuedTask]:
        """Queued tasks whose message the broker never confirmed (the submitting replica failed in between)."""
        cutoff = _now() - timedelta(seconds=older_than_s)
        async with self.db.for_tenant(ALL_TENANTS) as db:
            rows = await db.fetch(
                f"SELECT * FROM queued_tasks WHERE state = '{QUEUED}' AND published = FALSE AND updated_at < $1 "
                "ORDER BY seq LIMIT 500",
                cutoff,
            )
        return [QueuedTask.from_row(row) for row in rows]

    # --- deliveries -------------------------------------------------------------------------------------------

    async def start_delivery(
        self, tenant_id: str, task_id: str, owner: str, lease_s: float
    ) -> QueuedTask | None:
        """A broker delivered the task to ``owner``: count the delivery and hold it under a lease. Returns the
        task as it is now (a ``done`` or ``dead`` one is left alone), or None when it no longer exists."""
        now = _now()
        async with self.db.for_tenant(tenant_id) as db:
            await db.execute(
                f"UPDATE queued_tasks SET state = '{RUNNING}', deliveries = deliveries + 1, owner = $3, "
                f"lease_until = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2 "
                f"AND state IN ('{QUEUED}', '{RUNNING}')",
                tenant_id, task_id, owner, now + timedelta(seconds=lease_s), now,
            )  # fmt: skip
        return await self.get(tenant_id, task_id)

    async def claim_next(self, owner: str, lease_s: float, cap: TenantCap) -> QueuedTask | None:
        """Embedded queue: take the next task for ``owner``: the tenant whose best waiting task has the highest
        priority, among equals the one with the fewest running tasks, then the oldest; tenants at their cap wait.
        A running task whose lease expired (its replica died) counts as waiting: it is redelivered."""
        now = _now()
        waiting = (
            f"((state = '{QUEUED}' AND available_at <= $1) OR (state = '{RUNNING}' AND lease_until < $1))"
        )
        async with self.db.for_tenant(ALL_TENANTS) as db:
            heads = await db.fetch(
                f"SELECT tenant_id, MAX(priority) AS top, MIN(seq) AS first FROM queued_tasks WHERE {waiting} "
                "GROUP BY tenant_id",
                now,
            )
            if not heads:
                return None
            running = await self._running(db, now)
        caps = {h["tenant_id"]: await cap(h["tenant_id"]) for h in heads}
        candidates = [
            h for h in heads if not (limit := caps[h["tenant_id"]]) or running.get(h["tenant_id"], 0) < limit
        ]
        candidates.sort(key=lambda h: (-int(h["top"]), running.get(h["tenant_id"], 0), int(h["first"])))
        for head in candidates:
            claimed = await self._claim_of(head["tenant_id"], owner, now, lease_s, waiting)
            if claimed is not None:
                return claimed
        return None

    async def _claim_of(
        self, tenant_id: str, owner: str, now: datetime, lease_s: float, waiting: str
    ) -> QueuedTask | None:
        lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgres" else ""
        async with self.db.for_tenant(ALL_TENANTS) as db:
            rows = await db.fetch(
                f"UPDATE queued_tasks SET state = '{RUNNING}', owner = $2, deliveries = deliveries + 1, "
                f"lease_until = $3, updated_at = $1 WHERE id = (SELECT id FROM queued_tasks WHERE tenant_id = $4 "
                f"AND {waiting} ORDER BY priority DESC, seq LIMIT 1{lock}) RETURNING *",
                now, owner, now + timedelta(seconds=lease_s), tenant_id,
            )  # fmt: skip
        return QueuedTask.from_row(rows[0]) if rows else None

    @staticmethod
    async def _running(db: Database, now: datetime) -> dict[str, int]:
        rows = await db.fetch(
            f"SELECT tenant_id, COUNT(*) AS n FROM queued_tasks WHERE state = '{RUNNING}' AND lease_until >= $1 "
            "GROUP BY tenant_id",
            now,
        )
        return {row["tenant_id"]: int(row["n"]) for row in rows}

    async def running_of(self, tenant_id: str) -> int:
        """How many of the tenant's tasks run now (under a live lease), across the fleet."""
        async with self.db.for_tenant(ALL_TENANTS) as db:
            return (await self._running(db, _now())).get(tenant_id, 0)

    async def renew(self, owner: str, lease_s: float) -> None:
        """Extend the leases of the tasks ``owner`` runs."""
        now = _now()
        async with self.db.for_tenant(ALL_TENANTS) as db:
            await db.execute(
                f"UPDATE queued_tasks SET lease_until = $2 WHERE owner = $1 AND state = '{RUNNING}'",
                owner, now + timedelta(seconds=lease_s),
            )  # fmt: skip

    async def finish(self, tenant_id: str, task_id: str) -> None:
        """The task's workflow is durably recorded as finished."""
        await self._set(tenant_id, task_id, f"state = '{DONE}', lease_until = NULL")

    async def release(
        self, tenant_id: str, task_id: str, error: str, delay_s: float, uncount: bool = False
    ) -> None:
        """Back to ``queued``, available after ``delay_s`` (``uncount``: this delivery does not count, e.g. the
        tenant was at its cap)."""
        count = ", deliveries = deliveries - 1" if uncount else ""
        await self._set(
            tenant_id,
            task_id,
            f"state = '{QUEUED}', lease_until = NULL, owner = '', available_at = $3, last_error = $4{count}",
            _now() + timedelta(seconds=delay_s),
            error,
        )

    async def note_error(self, tenant_id: str, task_id: str, error: str) -> None:
        """Remember why the last delivery failed (the broker redelivers it)."""
        await self._set(tenant_id, task_id, "last_error = $3", error)

    async def dead(self, tenant_id: str, task_id: str, reason: str) -> None:
        """Dead-letter the task with the reason."""
        await self._set(
            tenant_id,
            task_id,
            f"state = '{DEAD}', lease_until = NULL, last_error = $3, dead_at = $4",
            reason,
            _now(),
        )

    async def requeue(self, tenant_id: str, task_id: str) -> QueuedTask | None:
        """A dead letter back to ``queued`` with a fresh delivery count; None when it is not a dead letter."""
        now = _now()
        async with self.db.for_tenant(tenant_id) as db:
            changed = await db.execute(
                f"UPDATE queued_tasks SET state = '{QUEUED}', deliveries = 0, owner = '', available_at = $3, "
                f"published = FALSE, dead_at = NULL, updated_at = $3 WHERE tenant_id = $1 AND id = $2 "
                f"AND state = '{DEAD}'",
                tenant_id, task_id, now,
            )  # fmt: skip
        return await self.get(tenant_id, task_id) if changed else None

    async def _set(self, tenant_id: str, task_id: str, assignments: str, *args: Any) -> None:
        async with self.db.for_tenant(tenant_id) as db:
            await db.execute(
                f"UPDATE queued_tasks SET {assignments}, updated_at = ${len(args) + 3} "
                "WHERE tenant_id = $1 AND id = $2",
                tenant_id, task_id, *args, _now(),
            )  # fmt: skip

    # --- queries ----------------------------------------------------------------------------------------------

    async def dead_letters(
        self, tenant_id: str, page_size: int, page_token: str
    ) -> tuple[list[QueuedTask], str]:
        """A page of dead letters, newest first: the tenant's, or every tenant's for ``ALL_TENANTS``."""
        filters = {"state": DEAD, "tenant_id": "" if tenant_id == ALL_TENANTS else tenant_id}
        async with self.db.for_tenant(tenant_id) as db:
            return await newest_first(
                db,
                "queued_tasks",
                filters,
                page_size,
                page_token,
                QueuedTask.from_row,
                lambda t: (t.created_at, t.id),
            )

    async def depth(self) -> list[tuple[str, int, int]]:
        """(tenant, priority, queued tasks) of every tenant and priority with waiting tasks."""
        async with self.db.for_tenant(ALL_TENANTS) as db:
            rows = await db.fetch(
                f"SELECT tenant_id, priority, COUNT(*) AS n FROM queued_tasks WHERE state = '{QUEUED}' "
                "GROUP BY tenant_id, priority"
            )
        return [(row["tenant_id"], int(row["priority"]), int(row["n"])) for row in rows]

    async def cancel_queued(self, tenant_id: str, task_id: str, snapshot: bytes) -> bool:
        """Cancel a task no replica has started: its workflow becomes ``cancelled``. False when it started."""
        now = _now()
        async with self.db.for_tenant(tenant_id) as db:
            changed = await db.execute(
                "UPDATE workflows SET status = 'cancelled', snapshot = $3, updated_at = $4, completed_at = $4 "
                f"WHERE tenant_id = $1 AND id = $2 AND status = '{WORKFLOW_QUEUED}'",
                tenant_id, task_id, snapshot, now,
            )  # fmt: skip
            if changed:
                await db.execute(
                    f"UPDATE queued_tasks SET state = '{DONE}', updated_at = $3 WHERE tenant_id = $1 AND id = $2",
                    tenant_id, task_id, now,
                )  # fmt: skip
        return changed == 1

    async def queued_of(self, tenant_id: str, priority: int) -> int:
        """How many of the tenant's tasks of this priority wait."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                f"SELECT COUNT(*) AS n FROM queued_tasks WHERE tenant_id = $1 AND priority = $2 AND state = '{QUEUED}'",
                tenant_id, priority,
            )  # fmt: skip
        return int(rows[0]["n"])

    async def tenant_of(self, task_id: str) -> str | None:
        """The tenant of a task (platform administrators act across tenants)."""
        async with self.db.for_tenant(ALL_TENANTS) as db:
            rows = await db.fetch("SELECT tenant_id FROM queued_tasks WHERE id = $1", task_id)
        return str(rows[0]["tenant_id"]) if rows else None

    async def hold_workflow(self, tenant_id: str, workflow_id: str, owner: str, stale_after_s: float) -> bool:
        """This delivery runs the workflow: it becomes ``running`` under ``owner`` (a ``queue:`` owner, which the
        orphan claims leave to the queue) when it is queued, or running under ``owner`` already or under an owner
        that stopped heart-beating. False otherwise (finished, or another replica runs it)."""
        now = _now()
        async with self.db.for_tenant(tenant_id) as db:
            changed = await db.execute(
                "UPDATE workflows SET status = 'running', owner = $3, updated_at = $4, heartbeat_at = $4 "
                f"WHERE tenant_id = $1 AND id = $2 AND (status = '{WORKFLOW_QUEUED}' "
                "OR (status = 'running' AND (owner = $3 OR heartbeat_at < $5)))",
                tenant_id, workflow_id, owner, now, now - timedelta(seconds=stale_after_s),
            )  # fmt: skip
        return changed == 1

    async def release_workflows(self, owner: str, workflow_id: str | None = None) -> None:
        """Let go of the running workflows ``owner`` holds (one, or all of them on shutdown): their next delivery
        may take them at once, anywhere (the bare ``queue:`` owner keeps the orphan claims away)."""
        released = datetime(2000, 1, 1, tzinfo=UTC)  # long stale
        only = "" if workflow_id is None else " AND id = $4"
        args: list[Any] = [QUEUE_OWNER_PREFIX, released, owner] + ([workflow_id] if workflow_id else [])
        async with self.db.for_tenant(ALL_TENANTS) as db:
            await db.execute(
                f"UPDATE workflows SET owner = $1, heartbeat_at = $2 WHERE owner = $3 AND status = 'running'{only}",
                *args,
            )

    async def shelve_workflow(self, tenant_id: str, workflow_id: str, snapshot: bytes) -> None:
        """A dead-lettered task's workflow waits (``queued``, nobody's) until RequeueDeadLetter, unless it finished."""
        async with self.db.for_tenant(tenant_id) as db:
            await db.execute(
                f"UPDATE workflows SET status = '{WORKFLOW_QUEUED}', owner = '', snapshot = $3, updated_at = $4 "
                f"WHERE tenant_id = $1 AND id = $2 AND status IN ('{WORKFLOW_QUEUED}', 'running')",
                tenant_id, workflow_id, snapshot, _now(),
            )  # fmt: skip

    async def heartbeat_workflows(self, owner: str) -> None:
        """The workflows ``owner`` runs for the queue are alive (ResumeWorkflow leaves them alone)."""
        async with self.db.for_tenant(ALL_TENANTS) as db:
            await db.execute(
                "UPDATE workflows SET heartbeat_at = $2 WHERE owner = $1 AND status = 'running'",
                owner,
                _now(),
            )

    async def forget(self, tenant_id: str, task_id: str) -> int:
        """Erase the task and its webhook deliveries (DeleteWorkflow, retention, DeleteTenant)."""
        async with self.db.for_tenant(tenant_id) as db:
            erased = await db.execute(
                "DELETE FROM queued_tasks WHERE tenant_id = $1 AND id = $2", tenant_id, task_id
            )
            erased += await db.execute(
                "DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND subject = $2", tenant_id, task_id
            )
        return erased

    async def record_webhook(self, attempt: DeliveryAttempt) -> None:
        """Store one webhook delivery attempt."""
        async with self.db.for_tenant(attempt.tenant_id) as db:
            await db.execute(
                "INSERT INTO webhook_deliveries (tenant_id, delivery_id, subject, event_type, url, attempt, "
                "status_code, error, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                attempt.tenant_id, attempt.delivery_id, attempt.subject, attempt.event_type, attempt.url,
                attempt.attempt, attempt.status_code, attempt.error, _now(),
            )  # fmt: skip

    async def unannounced_finishes(
        self, finished_after: datetime, finished_before: datetime, event_type: str, limit: int = 100
    ) -> list[tuple[QueuedTask, bytes]]:
        """Submitted tasks with a ``notify_url`` whose workflow finished in the window and has no attempt of
        ``event_type`` recorded since it finished (the replica that recorded the finish died before sending),
        with the finished workflow's snapshot; of every tenant."""
        async with self.db.for_tenant(ALL_TENANTS) as db:
            rows = await db.fetch(
                "SELECT q.*, w.snapshot AS workflow_snapshot FROM queued_tasks q JOIN workflows w "
                "ON w.tenant_id = q.tenant_id AND w.id = q.id WHERE q.notify_url <> '' "
                "AND w.completed_at > $1 AND w.completed_at < $2 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d "
                "WHERE d.tenant_id = q.tenant_id AND d.subject = CAST(q.id AS TEXT) AND d.event_type = $3 "
                "AND d.at >= w.completed_at) "
                "ORDER BY w.completed_at LIMIT $4",
                finished_after, finished_before, event_type, limit,
            )  # fmt: skip
        return [(QueuedTask.from_row(row), bytes(row["workflow_snapshot"])) for row in rows]

    async def webhook_recorded(self, tenant_id: str, delivery_id: str) -> bool:
        """Whether an attempt of this webhook delivery was recorded (it was sent, or is being sent)."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT 1 AS found FROM webhook_deliveries WHERE tenant_id = $1 AND delivery_id = $2 LIMIT 1",
                tenant_id, delivery_id,
            )  # fmt: skip
        return bool(rows)

    async def webhook_attempts(self, tenant_id: str, subject: str) -> list[dict[str, Any]]:
        """The recorded attempts for a subject, in order."""
        async with self.db.for_tenant(tenant_id) as db:
            return await db.fetch(
                "SELECT * FROM webhook_deliveries WHERE tenant_id = $1 AND subject = $2 ORDER BY id",
                tenant_id, subject,
            )  # fmt: skip
