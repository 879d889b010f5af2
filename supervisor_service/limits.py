"""A tenant's budgets, quotas and rate limits (``admin.v1.Tenant`` fields 9-12): validation, storage form, and the
cached view every request path reads.

They are kept in the ``tenants.limits`` column as a serialized ``Tenant`` holding only those four fields. A tenant's
own administrator may set its ``default_budget``; its ``budget_ceiling``, ``quotas`` and ``rate_limits`` are set by
platform administrators only (a tenant must not raise its own quota).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from marketing.admin.v1 import admin_pb2
from marketing.team.v1 import team_pb2

from common.auth.principal import Principal
from common.budget import Budget
from common.config import Settings
from common.errors import FieldViolation
from common.quotas import Quotas
from common.rate_limit import Rate, RatesOf

LIMIT_FIELDS = ("default_budget", "budget_ceiling", "quotas", "rate_limits")
PLATFORM_ONLY = frozenset({"budget_ceiling", "quotas", "rate_limits"})
MAX_USD = 1_000_000.0
MAX_COUNT = 1_000_000_000_000


def _check_budget(path: str, budget: team_pb2.Budget) -> list[FieldViolation]:
    problems = []
    if not 0 <= budget.max_cost_usd <= MAX_USD:
        problems.append(FieldViolation(f"{path}.max_cost_usd", f"must be 0 (no limit) to {MAX_USD:g}"))
    if not 0 <= budget.max_tokens <= MAX_COUNT:
        problems.append(FieldViolation(f"{path}.max_tokens", "must be 0 (no limit) or positive"))
    if budget.max_model_calls < 0:
        problems.append(FieldViolation(f"{path}.max_model_calls", "must be 0 (no limit) or positive"))
    return problems


def check_budget(path: str, budget: team_pb2.Budget) -> list[FieldViolation]:
    """Violations of a request's or a tenant's budget: every limit 0 (none) or positive, and finite."""
    if budget.max_cost_usd != budget.max_cost_usd:  # NaN
        return [FieldViolation(f"{path}.max_cost_usd", "must be a number")]
    return _check_budget(path, budget)


def check_limits(path: str, tenant: admin_pb2.Tenant) -> list[FieldViolation]:
    """Violations of a tenant's budgets, quotas and rate limits (no negative value, no NaN)."""
    problems = check_budget(f"{path}.default_budget", tenant.default_budget)
    problems += check_budget(f"{path}.budget_ceiling", tenant.budget_ceiling)
    numbers = {
        "quotas.tasks_per_day": tenant.quotas.tasks_per_day,
        "quotas.monthly_cost_usd": tenant.quotas.monthly_cost_usd,
        "quotas.monthly_tokens": tenant.quotas.monthly_tokens,
        "quotas.concurrent_workflows": tenant.quotas.concurrent_workflows,
        "rate_limits.tenant_rps": tenant.rate_limits.tenant_rps,
        "rate_limits.tenant_burst": tenant.rate_limits.tenant_burst,
        "rate_limits.api_key_rps": tenant.rate_limits.api_key_rps,
        "rate_limits.api_key_burst": tenant.rate_limits.api_key_burst,
    }
    for name, value in numbers.items():
        if value != value or not 0 <= value <= MAX_COUNT:
            problems.append(
                FieldViolation(f"{path}.{name}", "must be 0 (no limit / the default) or positive")
            )
    return problems


def limits_blob(tenant: admin_pb2.Tenant) -> bytes:
    """The storage form: a ``Tenant`` with only its budgets, quotas and rate limits."""
    kept = admin_pb2.Tenant()
    for name in LIMIT_FIELDS:
        if tenant.HasField(name):
            getattr(kept, name).CopyFrom(getattr(tenant, name))
    return kept.SerializeToString()


def limit_roots(paths: Sequence[str]) -> set[str]:
    """The limit fields an update mask touches."""
    return {p.partition(".")[0] for p in paths} & set(LIMIT_FIELDS)


@dataclass(frozen=True)
class TenantLimits:
    """A tenant's limits as the request path uses them."""

    default_budget: Budget = field(default_factory=Budget)
    budget_ceiling: Budget = field(default_factory=Budget)
    quotas: Quotas = field(default_factory=Quotas)
    rate_limits: admin_pb2.RateLimits = field(default_factory=admin_pb2.RateLimits)

    @classmethod
    def of(cls, blob: bytes) -> TenantLimits:
        """From the ``tenants.limits`` column."""
        tenant = admin_pb2.Tenant.FromString(blob or b"")
        return cls(
            Budget.of(tenant.default_budget),
            Budget.of(tenant.budget_ceiling),
            Quotas.of(tenant.quotas),
            tenant.rate_limits,
        )


LimitsLoader = Callable[[str], Awaitable[bytes | None]]
"""Reads a tenant's ``limits`` column (None: no such tenant)."""


class TenantLimitsSource:
    """Each tenant's limits, read from the tenant store and kept for ``ttl_s`` seconds per replica (a change
    applies everywhere within that time)."""

    def __init__(self, load: LimitsLoader, ttl_s: float) -> None:
        self.load = load
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, TenantLimits]] = {}

    async def limits_of(self, tenant_id: str) -> TenantLimits:
        """The tenant's limits (none for an unknown tenant)."""
        now = time.monotonic()
        cached = self._cache.get(tenant_id)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        limits = TenantLimits.of(await self.load(tenant_id) or b"")
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[tenant_id] = (now, limits)
        return limits

    async def concurrent_workflow_cap(self, tenant_id: str) -> int | None:
        """How many workflows the tenant may run at once across every replica (None: no cap). For the task queue
        (issue 18), which must not start more of a tenant's queued tasks than this."""
        cap = (await self.limits_of(tenant_id)).quotas.concurrent_workflows
        return cap or None


def unlimited_source() -> TenantLimitsSource:
    """A source that knows no limits (no tenant store wired: tests, the in-process stack)."""

    async def nothing(tenant_id: str) -> bytes | None:
        return None

    return TenantLimitsSource(nothing, ttl_s=3600)


def rates_source(source: TenantLimitsSource, settings: Settings) -> RatesOf:
    """A caller's (tenant, API key) rates: the tenant's own ``rate_limits``, else the deployment's
    ``RATE_LIMIT_*`` defaults."""

    async def rates_of(principal: Principal) -> tuple[Rate, Rate]:
        own = (await source.limits_of(principal.tenant_id)).rate_limits
        return (
            Rate(
                own.tenant_rps or settings.rate_limit_tenant_rps,
                own.tenant_burst or settings.rate_limit_tenant_burst,
            ),
            Rate(
                own.api_key_rps or settings.rate_limit_key_rps,
                own.api_key_burst or settings.rate_limit_key_burst,
            ),
        )

    return rates_of
