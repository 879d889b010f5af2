"""The supervisor's side of budgets and quotas: admission of a task, the budget a workflow runs under, what is left of
it for each brief, and a workflow stopped by it.

- **Admission** (``Admission.admit``): the task's budget is the request's, else the tenant's default, each limit
  capped by the tenant's ceiling; the tenant's quotas (month-to-date spend, a running-workflow slot, a task of the
  day) are taken atomically in the shared quota store, or the call is refused with ``RESOURCE_EXHAUSTED``.
- **During the run** the limits travel in the run's config (``configurable["limits"]``, not in the checkpointed
  state, so ``ResumeWorkflow`` can raise them): the supervisor router's ``BudgetGuard`` counts the routing calls plus
  every team run so far, and each brief carries what is left (``Brief.remaining_budget``) and the tenant's monthly
  quota (``Brief.monthly_quota``).
- **A stop**: a team that ran out answers with ``BriefResult.budget_exceeded`` and its work so far; its node raises
  ``TeamBudgetStop`` so the supervisor's checkpoint stays before that team call (a resume repeats the call with the
  same idempotency key, and the team continues from its own checkpoint: finished steps are not redone). The stored
  workflow is ``WORKFLOW_STATUS_BUDGET_EXCEEDED`` with the artifacts made so far, the partial team run included.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from langgraph.config import get_config
from marketing.supervisor.v1 import supervisor_pb2
from marketing.team.v1 import team_pb2

from common.agents.convert import artifact_to_proto, usage_from_proto, usage_to_proto
from common.agents.state import ArtifactData
from common.budget import Budget, BudgetGuard, MonthlyQuota, Spent, resolve_budget
from common.config import Settings
from common.errors import BudgetExceededError, DependencyUnavailable, QuotaExceeded
from common.llm.usage import UsageLedger, merge_usage
from common.logging import get_logger
from common.metrics import BUDGET_STOPS, QUOTA_REJECTIONS, QUOTA_USAGE_RATIO, TASK_SECONDS, TENANT_COST_USD
from common.quotas import QuotaGate, Quotas, QuotaStore, open_quota_store
from common.rate_limit import RateLimiter, RateLimitInterceptor, redis_or_local
from common.storage.database import Database
from supervisor_service.limits import LimitsLoader, TenantLimitsSource, rates_source
from supervisor_service.state import TeamRunData, WorkflowState
from supervisor_service.views import external_calls_of, team_run_to_proto

log = get_logger(__name__)

LIMITS_KEY = "limits"


class TeamBudgetStop(BudgetExceededError):
    """A team stopped before a model call because the budget ran out; carries its work so far."""

    def __init__(
        self, exceeded: team_pb2.BudgetExceeded, run: TeamRunData, artifacts: list[ArtifactData]
    ) -> None:
        super().__init__(exceeded.limit, exceeded.detail, f"{run['team']}/{exceeded.agent}".rstrip("/"))
        self.run = run
        self.artifacts = artifacts


@dataclass
class RunLimits:
    """The limits of one drive of a workflow (kept in the run's config)."""

    budget: Budget
    quota: MonthlyQuota | None
    guard: BudgetGuard
    prior_routing: Spent = field(default_factory=Spent)
    partial: dict[str, Spent] = field(default_factory=dict)  # teams stopped earlier, by name: what they spent

    @classmethod
    def for_drive(
        cls,
        budget: Budget,
        quota: MonthlyQuota | None,
        ledger: UsageLedger,
        prior: supervisor_pb2.Workflow | None = None,
    ) -> RunLimits:
        """The limits of a drive; ``prior`` is the workflow's last snapshot when it is resumed."""
        routing = Spent.of_usage(_usage_dict(prior.routing_usage)) if prior is not None else Spent()
        partial = {}
        if prior is not None and prior.status == supervisor_pb2.WORKFLOW_STATUS_BUDGET_EXCEEDED:
            stopped = prior.team_runs[-1] if prior.team_runs else None
            if stopped is not None and prior.budget_exceeded.agent.startswith(f"{stopped.team}/"):
                partial[stopped.team] = Spent.of_usage(_usage_dict(stopped.usage))
        guard = BudgetGuard(budget, ledger, quota, routing)
        return cls(budget, quota, guard, routing, partial)

    def guards(self) -> list[BudgetGuard]:
        """The callbacks of the drive: the router's guard, unless there is nothing to check."""
        return [] if self.budget.unlimited and self.guard.quota is None else [self.guard]

    def teams_spent(self, state: WorkflowState) -> Spent:
        """What the teams spent: every team run, and teams stopped earlier that have not finished since."""
        total = Spent()
        finished = set()
        for run in state.get("team_runs", []):
            total = total + Spent.of_usage(run["usage"])
            finished.add(run["team"])
        for team, spent in self.partial.items():
            if team not in finished:
                total = total + spent
        return total

    def spent(self, state: WorkflowState) -> Spent:
        """What the workflow spent so far: every drive's routing and the teams."""
        routing = Spent.of_usage(self.guard.ledger.totals().to_dict())
        return self.prior_routing + routing + self.teams_spent(state)

    def before_routing(self, state: WorkflowState) -> None:
        """Let the router's guard count the team runs too (it sees only this drive's routing calls itself)."""
        self.guard.spent_before = self.prior_routing + self.teams_spent(state)

    def brief_fields(self, state: WorkflowState) -> dict[str, team_pb2.Budget]:
        """The budget fields of a brief: what is left of the task's budget, the tenant's monthly quota."""
        fields: dict[str, team_pb2.Budget] = {}
        if not self.budget.unlimited:
            fields["remaining_budget"] = self.budget.remaining(self.spent(state)).to_proto()
        if self.quota is not None:
            fields["monthly_quota"] = team_pb2.Budget(
                max_cost_usd=self.quota.max_cost_usd, max_tokens=self.quota.max_tokens
            )
        return fields


def _usage_dict(usage: team_pb2.Usage) -> dict[str, Any]:
    return {
        "model_calls": usage.model_calls,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost_usd": usage.cost_usd,
    }


def run_limits() -> RunLimits | None:
    """The current workflow drive's limits (None outside a run, or when the runner set none)."""
    try:
        limits = get_config().get("configurable", {}).get(LIMITS_KEY)
    except RuntimeError:
        return None
    return limits if isinstance(limits, RunLimits) else None


def mark_stopped(
    workflow: supervisor_pb2.Workflow, stop: BudgetExceededError, state: WorkflowState
) -> supervisor_pb2.Workflow:
    """Turn a finished workflow into a BUDGET_EXCEEDED one: which limit, and the stopped team's work so far."""
    workflow.status = supervisor_pb2.WORKFLOW_STATUS_BUDGET_EXCEEDED
    workflow.budget_exceeded.CopyFrom(
        team_pb2.BudgetExceeded(limit=stop.limit, detail=stop.detail, agent=stop.agent or "supervisor")
    )
    if isinstance(stop, TeamBudgetStop):
        workflow.team_runs.append(team_run_to_proto(stop.run))
        workflow.artifacts.extend(artifact_to_proto(a) for a in stop.artifacts)
        workflow.external_calls.extend(external_calls_of([stop.run]))
        workflow.usage.CopyFrom(
            usage_to_proto(merge_usage(usage_from_proto(workflow.usage), stop.run["usage"]))
        )
    warning = (
        f"budget exceeded ({stop.limit}) before a model call of {workflow.budget_exceeded.agent}: {stop.detail}; "
        "ResumeWorkflow with a larger budget continues from here"
    )
    workflow.warnings.append(warning)
    workflow.summary = f"budget_exceeded: {len(workflow.artifacts)} artifact(s); {warning}"
    return workflow


@dataclass(frozen=True)
class Admitted:
    """A task let in: its budget, the tenant's monthly quota, and the running-workflow slot it holds."""

    tenant_id: str
    budget: Budget
    quota: MonthlyQuota | None
    slot: str | None = None


def tenant_label(settings: Settings, tenant_id: str) -> str:
    """The tenant label of the operator's metrics (``all`` when METRICS_TENANT_LABEL=false)."""
    return tenant_id if settings.metrics_tenant_label else "all"


class Admission:
    """Admits tasks against the tenant's budget settings and quotas."""

    def __init__(self, limits: TenantLimitsSource, store: QuotaStore | None, settings: Settings) -> None:
        """
        Args:
            limits: Each tenant's budgets, quotas and rate limits.
            store: The shared quota store (None: quotas are not enforced, budgets still are).
            settings: Process settings (a running-workflow slot lasts at most twice TASK_TIMEOUT_S).
        """
        self.limits = limits
        self.store = store
        self.settings = settings
        self.gate = QuotaGate(store, settings.task_timeout_s * 2) if store is not None else None

    async def admit(
        self, tenant_id: str, requested: team_pb2.Budget | None, new_task: bool = True, take_slot: bool = True
    ) -> Admitted:
        """Resolve the budget and take the quotas of a new task (``new_task=False``: a resumed one, which takes a
        slot but is not counted again in the day's tasks; ``take_slot=False``: a submitted one, counted in the day's
        tasks and checked against the monthly quota, whose running is capped by the task queue instead).

        Raises:
            QuotaExceeded: A quota is reached.
        """
        limits = await self.limits.limits_of(tenant_id)
        budget = resolve_budget(Budget.of(requested), limits.default_budget, limits.budget_ceiling)
        quotas = limits.quotas if new_task else Quotas(0, *_spend_and_slots(limits.quotas))
        if not take_slot:
            quotas = dataclasses.replace(quotas, concurrent_workflows=0)
        quota = None
        if self.store is not None and (quotas.monthly_cost_usd or quotas.monthly_tokens):
            quota = MonthlyQuota(tenant_id, quotas.monthly_cost_usd, quotas.monthly_tokens, self.store)
        slot = None
        if self.gate is not None:
            slot = str(uuid.uuid4())
            try:
                taken = await self.gate.admit(tenant_id, quotas, slot)
            except QuotaExceeded as exc:
                QUOTA_REJECTIONS.labels(quota=exc.quota).inc()
                raise
            except Exception as exc:  # the shared counters did not answer: refuse rather than count nothing
                log.warning("quota_store_unavailable", error=f"{type(exc).__name__}: {exc}")
                raise DependencyUnavailable("the quota store is unavailable; try again later") from exc
            slot = slot if taken else None
            await self._record_ratios(tenant_id, quotas)
        return Admitted(tenant_id, budget, quota, slot)

    async def monthly_quota(self, tenant_id: str) -> MonthlyQuota | None:
        """The tenant's monthly spend quota (None: none, or no quota store), for a workflow resumed without a
        caller (a claimed orphan)."""
        quotas = (await self.limits.limits_of(tenant_id)).quotas
        if self.store is None or not (quotas.monthly_cost_usd or quotas.monthly_tokens):
            return None
        return MonthlyQuota(tenant_id, quotas.monthly_cost_usd, quotas.monthly_tokens, self.store)

    async def _record_ratios(self, tenant_id: str, quotas: Quotas) -> None:
        if self.store is None or not (quotas.monthly_cost_usd or quotas.monthly_tokens):
            return
        spent = await self.store.monthly_spend(tenant_id, datetime.now(UTC))
        label = tenant_label(self.settings, tenant_id)
        if quotas.monthly_cost_usd:
            ratio = spent.cost_usd / quotas.monthly_cost_usd
            QUOTA_USAGE_RATIO.labels(tenant=label, quota="monthly_cost_usd").set(ratio)
        if quotas.monthly_tokens:
            ratio = spent.tokens / quotas.monthly_tokens
            QUOTA_USAGE_RATIO.labels(tenant=label, quota="monthly_tokens").set(ratio)

    async def release(self, admitted: Admitted) -> None:
        """Give back the running-workflow slot of a task that stopped."""
        if self.gate is not None and admitted.slot is not None:
            await self.gate.release(admitted.tenant_id, admitted.slot)


def _spend_and_slots(quotas: Quotas) -> tuple[float, int, int]:
    return quotas.monthly_cost_usd, quotas.monthly_tokens, quotas.concurrent_workflows


def count_stop(stop: BudgetExceededError) -> None:
    """Count a workflow stopped by its budget (the team's own stop is counted by the team)."""
    if not isinstance(stop, TeamBudgetStop):
        BUDGET_STOPS.labels(team="supervisor", limit=stop.limit).inc()


def finished_drive(workflow: supervisor_pb2.Workflow, run: Any, settings: Settings) -> None:
    """Stamp a finished drive's budget on its workflow and record its duration and its cost for the tenant.

    ``run`` is the runner's drive (``limits``, ``started``, ``prior_cost_usd``, ``tenant_id``).
    """
    if run.limits is not None:
        workflow.budget.CopyFrom(run.limits.budget.to_proto())
    TASK_SECONDS.observe(max(0.0, time.monotonic() - run.started))
    cost = workflow.usage.cost_usd - run.prior_cost_usd
    if cost > 0:
        TENANT_COST_USD.labels(tenant=tenant_label(settings, run.tenant_id)).inc(cost)


@dataclass(frozen=True)
class Guards:
    """Budgets, quotas and rate limits: the admission of tasks and the rate-limit interceptor."""

    admission: Admission
    rate_limit: RateLimitInterceptor


async def build_guards(
    settings: Settings, database: Database, load_limits: LimitsLoader, resources: AsyncExitStack
) -> Guards:
    """The shared quota store (Redis, else the records database or the shared SQLite file), each tenant's limits
    (cached TENANT_LIMITS_CACHE_S), the admission of tasks and the rate limiter (Redis buckets with REDIS_URL)."""
    quota_store = await open_quota_store(settings, database)
    resources.push_async_callback(quota_store.close)
    source = TenantLimitsSource(load_limits, settings.tenant_limits_cache_s)
    limiter = RateLimiter(redis_or_local(settings.redis_url), rates_source(source, settings))
    return Guards(Admission(source, quota_store, settings), RateLimitInterceptor(limiter))
