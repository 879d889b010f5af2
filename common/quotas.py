"""Tenant quotas shared by every replica and every service: tasks per day, US dollars and tokens per month,
concurrent workflows.

One ``QuotaStore`` holds the counters: Redis when ``REDIS_URL`` is set (each change is one Lua script or one
``MULTI`` pipeline: atomic, one round trip), else the records database (PostgreSQL: the shared database, each change
one statement, the concurrent-workflow check under a per-tenant advisory lock; SQLite: a ``quotas.sqlite`` file that
every local process opens, each change one statement, which SQLite serializes).

How spend is charged across processes: every service (the supervisor's router, each team's lead and workers) checks
the tenant's month-to-date spend against the monthly quota **before** each model call and adds the call's cost and
tokens **after** it (``common.budget.BudgetGuard``). A task can thus overshoot the quota only by the one call it had
in flight when another call reached it: N concurrent tasks overshoot by at most N model calls. The teams learn the
tenant's monthly quota from the brief (``Brief.monthly_quota``); with no quota configured nothing is read or written
per model call.
"""

from __future__ import annotations

import asyncio
import calendar
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from common.config import Settings
from common.errors import QuotaExceeded
from common.logging import get_logger
from common.storage.database import Database

log = get_logger(__name__)

T = TypeVar("T")


def day_of(now: datetime) -> str:
    """The UTC day a task is counted in (``YYYY-MM-DD``)."""
    return now.astimezone(UTC).strftime("%Y-%m-%d")


def month_of(now: datetime) -> str:
    """The UTC calendar month spend is counted in (``YYYY-MM``)."""
    return now.astimezone(UTC).strftime("%Y-%m")


def seconds_to_next_day(now: datetime) -> float:
    """Seconds until the next UTC midnight (when the daily task counter starts again)."""
    now = now.astimezone(UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (tomorrow - now).total_seconds())


def seconds_to_next_month(now: datetime) -> float:
    """Seconds until the first of the next UTC month (when the monthly counters start again)."""
    now = now.astimezone(UTC)
    days = calendar.monthrange(now.year, now.month)[1]
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=days)
    return max(1.0, (start - now).total_seconds())


@dataclass(frozen=True)
class MonthlySpend:
    """A tenant's month-to-date spend."""

    cost_usd: float = 0.0
    tokens: int = 0


class QuotaStore(Protocol):
    """Where the quota counters live (shared by every replica and service)."""

    async def add_spend(self, tenant_id: str, cost_usd: float, tokens: int, now: datetime) -> None:
        """Add one model call's cost and tokens to the tenant's month."""
        ...

    async def monthly_spend(self, tenant_id: str, now: datetime) -> MonthlySpend:
        """The tenant's spend in the month of ``now``."""
        ...

    async def take_task(self, tenant_id: str, limit: int, now: datetime) -> bool:
        """Count a task against the day's quota if fewer than ``limit`` were counted (atomic); False when full."""
        ...

    async def acquire_slot(
        self, tenant_id: str, workflow_id: str, limit: int, lease_s: float, now: datetime
    ) -> bool:
        """Take a running-workflow slot if fewer than ``limit`` slots younger than ``lease_s`` are held (atomic)."""
        ...

    async def release_slot(self, tenant_id: str, workflow_id: str) -> None:
        """Give a workflow's slot back (idempotent)."""
        ...

    async def erase_tenant(self, tenant_id: str) -> int:
        """Erase every counter and slot of the tenant (DeleteTenant); returns how many records went."""
        ...

    async def close(self) -> None:
        """Release connections this store opened."""
        ...


SQLITE_BUSY_ATTEMPTS = 50


async def _patiently(work: Callable[[], Awaitable[T]]) -> T:
    """Run a statement on the shared SQLite file, again when another process holds the write lock: in WAL mode a
    write that finds a newer snapshot fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT), without
    waiting for busy_timeout."""
    for attempt in range(SQLITE_BUSY_ATTEMPTS):
        try:
            return await work()
        except Exception as exc:  # sqlite3.OperationalError; PostgreSQL errors are not retried
            if "database is locked" not in str(exc) or attempt == SQLITE_BUSY_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.002 * (attempt + 1) + random.random() * 0.005)
    raise AssertionError("unreachable")


class SqlQuotaStore:
    """Quota counters in the records database (``quota_counters``, ``quota_slots``; migration 020). On the
    shared SQLite file a statement that meets another process's write lock is tried again (``_patiently``)."""

    def __init__(self, database: Database, owned: bool = False) -> None:
        self.database = database
        self.owned = owned

    async def _bump(self, tenant_id: str, name: str, period: str, amount: float) -> None:
        await _patiently(lambda: self._bump_once(tenant_id, name, period, amount))

    async def _bump_once(self, tenant_id: str, name: str, period: str, amount: float) -> None:
        async with self.database.for_tenant(tenant_id) as db:
            await db.execute(
                "INSERT INTO quota_counters (tenant_id, name, period, value) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (tenant_id, name, period) DO UPDATE SET value = quota_counters.value + $4",
                tenant_id, name, period, amount,
            )  # fmt: skip

    async def add_spend(self, tenant_id: str, cost_usd: float, tokens: int, now: datetime) -> None:
        await self._bump(tenant_id, "cost_usd", month_of(now), float(cost_usd))
        await self._bump(tenant_id, "tokens", month_of(now), float(tokens))

    async def monthly_spend(self, tenant_id: str, now: datetime) -> MonthlySpend:
        return await _patiently(lambda: self._monthly_spend(tenant_id, now))

    async def _monthly_spend(self, tenant_id: str, now: datetime) -> MonthlySpend:
        async with self.database.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT name, value FROM quota_counters WHERE tenant_id = $1 AND period = $2 "
                "AND name IN ('cost_usd', 'tokens')",
                tenant_id, month_of(now),
            )  # fmt: skip
        values = {row["name"]: float(row["value"]) for row in rows}
        return MonthlySpend(values.get("cost_usd", 0.0), int(values.get("tokens", 0)))

    async def take_task(self, tenant_id: str, limit: int, now: datetime) -> bool:
        return await _patiently(lambda: self._take_task(tenant_id, limit, now))

    async def _take_task(self, tenant_id: str, limit: int, now: datetime) -> bool:
        async with self.database.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "INSERT INTO quota_counters (tenant_id, name, period, value) VALUES ($1, 'tasks', $2, 1) "
                "ON CONFLICT (tenant_id, name, period) DO UPDATE SET value = quota_counters.value + 1 "
                "WHERE quota_counters.value < $3 RETURNING value",
                tenant_id, day_of(now), float(limit),
            )  # fmt: skip
        return bool(rows)

    async def acquire_slot(
        self, tenant_id: str, workflow_id: str, limit: int, lease_s: float, now: datetime
    ) -> bool:
        return await _patiently(lambda: self._acquire_slot(tenant_id, workflow_id, limit, lease_s, now))

    async def _acquire_slot(
        self, tenant_id: str, workflow_id: str, limit: int, lease_s: float, now: datetime
    ) -> bool:
        oldest = now - timedelta(seconds=lease_s)
        async with self.database.for_tenant(tenant_id) as db:
            if db.dialect == "postgres":  # serialize the count and the insert of one tenant's admissions
                await db.fetch("SELECT pg_advisory_xact_lock(hashtext('quota_slots:' || $1))", tenant_id)
            await db.execute(
                "DELETE FROM quota_slots WHERE tenant_id = $1 AND acquired_at <= $2", tenant_id, oldest
            )
            changed = await db.execute(
                "INSERT INTO quota_slots (tenant_id, workflow_id, acquired_at) SELECT $1, $2, $3 "
                "WHERE (SELECT count(*) FROM quota_slots WHERE tenant_id = $1) < $4 "
                "ON CONFLICT (tenant_id, workflow_id) DO NOTHING",
                tenant_id, workflow_id, now, limit,
            )  # fmt: skip
        return changed > 0

    async def release_slot(self, tenant_id: str, workflow_id: str) -> None:
        await _patiently(lambda: self._release_slot(tenant_id, workflow_id))

    async def _release_slot(self, tenant_id: str, workflow_id: str) -> None:
        async with self.database.for_tenant(tenant_id) as db:
            await db.execute(
                "DELETE FROM quota_slots WHERE tenant_id = $1 AND workflow_id = $2", tenant_id, workflow_id
            )

    async def erase_tenant(self, tenant_id: str) -> int:
        return await _patiently(lambda: self._erase_tenant(tenant_id))

    async def _erase_tenant(self, tenant_id: str) -> int:
        erased = 0
        async with self.database.for_tenant(tenant_id) as db:
            for table in ("quota_counters", "quota_slots"):
                erased += await db.execute(f"DELETE FROM {table} WHERE tenant_id = $1", tenant_id)
        return erased

    async def close(self) -> None:
        if self.owned:
            await self.database.close()


_TAKE_TASK = """
local value = tonumber(redis.call('GET', KEYS[1]) or '0')
if value >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

_ACQUIRE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


_MONTH_TTL_S = 40 * 24 * 3600
_DAY_TTL_S = 2 * 24 * 3600


class RedisQuotaStore:
    """Quota counters in Redis: one Lua script (or one MULTI pipeline) per change."""

    def __init__(self, client: Any, prefix: str = "marketing:quota") -> None:
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(_TAKE_TASK)
        self._acquire = client.register_script(_ACQUIRE_SLOT)

    def _key(self, tenant_id: str, *parts: str) -> str:
        return ":".join((self.prefix, tenant_id, *parts))

    async def add_spend(self, tenant_id: str, cost_usd: float, tokens: int, now: datetime) -> None:
        key = self._key(tenant_id, "spend", month_of(now))
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hincrbyfloat(key, "cost_usd", float(cost_usd))
            pipe.hincrby(key, "tokens", int(tokens))
            pipe.expire(key, _MONTH_TTL_S)
            await pipe.execute()

    async def monthly_spend(self, tenant_id: str, now: datetime) -> MonthlySpend:
        cost, tokens = await self.client.hmget(
            self._key(tenant_id, "spend", month_of(now)), "cost_usd", "tokens"
        )
        return MonthlySpend(float(cost or 0.0), int(tokens or 0))

    async def take_task(self, tenant_id: str, limit: int, now: datetime) -> bool:
        key = self._key(tenant_id, "tasks", day_of(now))
        return bool(await self._take(keys=[key], args=[limit, _DAY_TTL_S]))

    async def acquire_slot(
        self, tenant_id: str, workflow_id: str, limit: int, lease_s: float, now: datetime
    ) -> bool:
        stamp = now.timestamp()
        args = [stamp - lease_s, limit, stamp, workflow_id, int(lease_s) + 60]
        return bool(await self._acquire(keys=[self._key(tenant_id, "slots")], args=args))

    async def release_slot(self, tenant_id: str, workflow_id: str) -> None:
        await self.client.zrem(self._key(tenant_id, "slots"), workflow_id)

    async def erase_tenant(self, tenant_id: str) -> int:
        # Every key of the tenant is ``<prefix>:<tenant>:...``; tenant ids hold no ':' (nor, escaped here, glob
        # characters), so the pattern matches no other tenant's keys. SCAN: no blocking KEYS on a shared Redis.
        pattern = _glob_escape(self._key(tenant_id, "")) + "*"
        erased = 0
        batch: list[Any] = []
        async for key in self.client.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                erased += int(await self.client.delete(*batch))
                batch = []
        if batch:
            erased += int(await self.client.delete(*batch))
        return erased

    async def close(self) -> None:
        await self.client.aclose()


async def open_quota_store(settings: Settings, database: Database | None = None) -> QuotaStore:
    """The deployment's quota store: Redis when ``REDIS_URL`` is set; else the records database when it is
    PostgreSQL (``database``, shared by every service); else the shared SQLite file ``<DATA_DIR>/quotas.sqlite``."""
    if settings.redis_url:
        import redis.asyncio as redis

        client = redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3)
        log.info("quota_store_ready", backend="redis")
        return RedisQuotaStore(client)
    if database is not None and database.dialect == "postgres":
        log.info("quota_store_ready", backend="postgres")
        return SqlQuotaStore(database)
    from common.storage import open_store

    store = await open_store(settings, "quotas")
    log.info("quota_store_ready", backend="sqlite")
    return SqlQuotaStore(store.db, owned=True)


@dataclass(frozen=True)
class Quotas:
    """A tenant's quotas (``admin.v1.TenantQuotas``); 0 means no limit."""

    tasks_per_day: int = 0
    monthly_cost_usd: float = 0.0
    monthly_tokens: int = 0
    concurrent_workflows: int = 0

    @classmethod
    def of(cls, message: Any) -> Quotas:
        """From a ``TenantQuotas`` message (None: no quotas)."""
        if message is None:
            return cls()
        return cls(
            int(message.tasks_per_day),
            float(message.monthly_cost_usd),
            int(message.monthly_tokens),
            int(message.concurrent_workflows),
        )


CONCURRENCY_RETRY_S = 5.0


class QuotaGate:
    """Admission of a tenant's new workflows against its quotas, and release of its concurrency slot."""

    def __init__(self, store: QuotaStore, lease_s: float) -> None:
        """
        Args:
            store: The shared counters.
            lease_s: How long a running-workflow slot counts at most (longer than any task may run).
        """
        self.store = store
        self.lease_s = lease_s

    async def check_spend(self, tenant_id: str, quotas: Quotas, now: datetime) -> None:
        """Refuse when the month's dollar or token quota is used up (waiting for the next month helps)."""
        if not (quotas.monthly_cost_usd or quotas.monthly_tokens):
            return
        spent = await self.store.monthly_spend(tenant_id, now)
        wait = seconds_to_next_month(now)
        if quotas.monthly_cost_usd and spent.cost_usd >= quotas.monthly_cost_usd:
            raise QuotaExceeded(
                f"the tenant's monthly cost quota of ${quotas.monthly_cost_usd:g} is used up "
                f"(${spent.cost_usd:.4f} this month)", f"tenant:{tenant_id}", "monthly_cost_usd", wait,
            )  # fmt: skip
        if quotas.monthly_tokens and spent.tokens >= quotas.monthly_tokens:
            raise QuotaExceeded(
                f"the tenant's monthly token quota of {quotas.monthly_tokens} is used up ({spent.tokens} this month)",
                f"tenant:{tenant_id}", "monthly_tokens", wait,
            )  # fmt: skip

    async def admit(
        self, tenant_id: str, quotas: Quotas, workflow_id: str, now: datetime | None = None
    ) -> bool:
        """Admit a new workflow: spend left this month, a running-workflow slot, a task left today (each atomic
        across replicas). Returns whether a slot was taken (then ``release`` it when the workflow stops).

        Raises:
            QuotaExceeded: A quota is reached (``google.rpc.QuotaFailure`` names it; ``RetryInfo`` says when).
        """
        now = now or datetime.now(UTC)
        await self.check_spend(tenant_id, quotas, now)
        slot = False
        if quotas.concurrent_workflows:
            if not await self.store.acquire_slot(
                tenant_id, workflow_id, quotas.concurrent_workflows, self.lease_s, now
            ):
                raise QuotaExceeded(
                    f"the tenant already runs {quotas.concurrent_workflows} workflow(s), its concurrent quota",
                    f"tenant:{tenant_id}", "concurrent_workflows", CONCURRENCY_RETRY_S,
                )  # fmt: skip
            slot = True
        if quotas.tasks_per_day and not await self.store.take_task(tenant_id, quotas.tasks_per_day, now):
            if slot:
                await self.store.release_slot(tenant_id, workflow_id)
            raise QuotaExceeded(
                f"the tenant's quota of {quotas.tasks_per_day} task(s) per day is used up",
                f"tenant:{tenant_id}", "tasks_per_day", seconds_to_next_day(now),
            )  # fmt: skip
        return slot

    async def release(self, tenant_id: str, workflow_id: str) -> None:
        """Give back a workflow's running slot; errors are logged, never raised (the lease expires anyway)."""
        try:
            await self.store.release_slot(tenant_id, workflow_id)
        except Exception:
            log.exception("quota_slot_release_failed", workflow_id=workflow_id)
