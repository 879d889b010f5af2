"""Per-task budgets, checked before every model call in every service.

A task's ``Budget`` (US dollars, tokens, model calls; 0: no limit) is resolved once at admission (the request's,
else the tenant's default, each field capped by the tenant's ceiling). The supervisor checks it before each of its
router's model calls and sends what is left of it with every brief (``Brief.remaining_budget``); each team checks
that before each of its lead's and workers' model calls. ``BudgetGuard`` is a LangChain callback handler placed in a
graph run's callbacks next to the ``UsageLedger``: ``on_chat_model_start`` runs before the provider is called and
raises ``BudgetExceededError`` when a limit is reached, so a model call that would go over never starts; the error
is never retried, never sent to a backup provider and never turned into a keyword fallback (``common.routing`` and
``common.agents.team_graph`` re-raise it). The same guard checks the tenant's monthly quota in the shared quota store
(``common.quotas``) and charges each finished call to it: only when the tenant has such a quota.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult
from marketing.team.v1 import team_pb2

from common.errors import BudgetExceededError
from common.llm.usage import UsageLedger
from common.logging import get_logger
from common.quotas import QuotaStore

log = get_logger(__name__)

__all__ = ["Budget", "BudgetExceededError", "BudgetGuard", "MonthlyQuota", "Spent", "resolve_budget"]

LIMITS = ("max_cost_usd", "max_tokens", "max_model_calls")


@dataclass(frozen=True)
class Spent:
    """What some work spent: model calls, tokens (input plus output), US dollars."""

    model_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0

    @classmethod
    def of_usage(cls, usage: Mapping[str, Any]) -> Spent:
        """From a usage record (``UsageTotals.to_dict`` shape)."""
        return cls(
            int(usage.get("model_calls", 0)),
            int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0)),
            float(usage.get("cost_usd", 0.0)),
        )

    def __add__(self, other: Spent) -> Spent:
        return Spent(
            self.model_calls + other.model_calls, self.tokens + other.tokens, self.cost_usd + other.cost_usd
        )


@dataclass(frozen=True)
class Budget:
    """Limits of a task (or what is left of them); a zero field means no limit of that kind."""

    max_cost_usd: float = 0.0
    max_tokens: int = 0
    max_model_calls: int = 0

    @classmethod
    def of(cls, message: team_pb2.Budget | None) -> Budget:
        """From a ``marketing.team.v1.Budget`` (None or unset: no limits)."""
        if message is None:
            return cls()
        return cls(float(message.max_cost_usd), int(message.max_tokens), int(message.max_model_calls))

    def to_proto(self) -> team_pb2.Budget:
        """As a ``marketing.team.v1.Budget``."""
        return team_pb2.Budget(
            max_cost_usd=self.max_cost_usd, max_tokens=self.max_tokens, max_model_calls=self.max_model_calls
        )

    @property
    def unlimited(self) -> bool:
        """True when no field limits anything."""
        return not (self.max_cost_usd or self.max_tokens or self.max_model_calls)

    def capped(self, ceiling: Budget) -> Budget:
        """Each field at most the ceiling's (a zero ceiling field caps nothing; an unlimited field under a
        ceiling takes the ceiling)."""
        return Budget(
            _cap(self.max_cost_usd, ceiling.max_cost_usd),
            int(_cap(self.max_tokens, ceiling.max_tokens)),
            int(_cap(self.max_model_calls, ceiling.max_model_calls)),
        )

    def remaining(self, spent: Spent) -> Budget:
        """What is left after ``spent``; a limit that is used up stays a tiny positive amount (zero would mean
        "no limit"), so the next check stops the next model call."""
        return Budget(
            max(self.max_cost_usd - spent.cost_usd, 1e-12) if self.max_cost_usd else 0.0,
            max(self.max_tokens - spent.tokens, 1) if self.max_tokens else 0,
            max(self.max_model_calls - spent.model_calls, 0) or (-1 if self.max_model_calls else 0),
        )

    def exceeded(self, spent: Spent) -> tuple[str, str] | None:
        """(limit, detail) of the first limit ``spent`` has reached, else None: no further model call fits."""
        if self.max_model_calls and (self.max_model_calls < 0 or spent.model_calls >= self.max_model_calls):
            allowed = max(self.max_model_calls, 0)
            return "max_model_calls", f"{spent.model_calls} model call(s) made, {allowed} allowed"
        if self.max_tokens and spent.tokens >= self.max_tokens:
            return "max_tokens", f"{spent.tokens} token(s) used, {self.max_tokens} allowed"
        if self.max_cost_usd and spent.cost_usd >= self.max_cost_usd - 1e-12:
            return "max_cost_usd", f"${spent.cost_usd:.6f} spent, ${self.max_cost_usd:.6f} allowed"
        return None


def _cap(value: float, ceiling: float) -> float:
    if not ceiling:
        return value
    return min(value, ceiling) if value else ceiling


def resolve_budget(requested: Budget, default: Budget, ceiling: Budget) -> Budget:
    """A task's budget: the request's (else the tenant's default), each field capped by the tenant's ceiling."""
    chosen = requested if not requested.unlimited else default
    return chosen.capped(ceiling)


def exceeded_to_proto(error: BudgetExceededError) -> team_pb2.BudgetExceeded:
    """A ``BudgetExceededError`` as a ``marketing.team.v1.BudgetExceeded``."""
    return team_pb2.BudgetExceeded(limit=error.limit, detail=error.detail, agent=error.agent)


@dataclass(frozen=True)
class MonthlyQuota:
    """A tenant's monthly spend quota as a team sees it (``Brief.monthly_quota``) and where its spend is kept."""

    tenant_id: str
    max_cost_usd: float
    max_tokens: int
    store: QuotaStore

    @property
    def active(self) -> bool:
        """Whether any monthly limit is set."""
        return bool(self.max_cost_usd or self.max_tokens)


class BudgetGuard(AsyncCallbackHandler):
    """Stops a run before a model call that its budget (or its tenant's monthly quota) no longer allows.

    Put it in the run's callbacks after the ``UsageLedger`` it reads (the ledger records each finished call).
    """

    raise_error = True  # an exception in on_chat_model_start aborts the model call
    # Not inline: LangChain runs inline handlers first, one by one, and the non-inline ones after them (gathered),
    # so this guard's on_llm_end sees the ledger's record of the call; and when it refuses a call, the other
    # handlers' events of that call still run.
    run_inline = False

    def __init__(
        self,
        budget: Budget,
        ledger: UsageLedger,
        quota: MonthlyQuota | None = None,
        spent_before: Spent = Spent(),
    ) -> None:
        """
        Args:
            budget: The limits of this run (for a team: what the brief says is left).
            ledger: The run's usage ledger (its calls count against the budget).
            quota: The tenant's monthly quota, checked and charged through the shared quota store.
            spent_before: What earlier drives of the same work spent (a resumed workflow's router usage).
        """
        self.budget = budget
        self.ledger = ledger
        self.quota = quota if quota is not None and quota.active else None
        self.spent_before = spent_before
        self._charged = 0

    def spent(self) -> Spent:
        """What this run spent so far, earlier drives included."""
        return self.spent_before + Spent.of_usage(self.ledger.totals().to_dict())

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        agent = str((metadata or {}).get("langgraph_node") or "")
        if (hit := self.budget.exceeded(self.spent())) is not None:
            log.warning("budget_exceeded", limit=hit[0], detail=hit[1], agent=agent)
            raise BudgetExceededError(hit[0], hit[1], agent)
        if self.quota is not None:
            await self._check_quota(agent)

    async def _check_quota(self, agent: str) -> None:
        assert self.quota is not None
        spent = await self.quota.store.monthly_spend(self.quota.tenant_id, datetime.now(UTC))
        if self.quota.max_cost_usd and spent.cost_usd >= self.quota.max_cost_usd:
            detail = f"${spent.cost_usd:.6f} spent this month, quota ${self.quota.max_cost_usd:g}"
            raise BudgetExceededError("monthly_cost_usd", detail, agent)
        if self.quota.max_tokens and spent.tokens >= self.quota.max_tokens:
            detail = f"{spent.tokens} token(s) used this month, quota {self.quota.max_tokens}"
            raise BudgetExceededError("monthly_tokens", detail, agent)

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Charge the calls the ledger recorded since the last charge to the tenant's month."""
        if self.quota is None:
            return
        new = self.ledger.calls[self._charged :]
        self._charged = len(self.ledger.calls)
        if new:
            await self.quota.store.add_spend(
                self.quota.tenant_id,
                sum(c.cost_usd for c in new),
                sum(c.input_tokens + c.output_tokens for c in new),
                datetime.now(UTC),
            )
