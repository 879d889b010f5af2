"""The budget arithmetic and the guard that refuses a model call before it is made (common/budget.py), and the
per-process token buckets (common/rate_limit.py)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from common.budget import Budget, BudgetExceededError, BudgetGuard, Spent, resolve_budget
from common.llm.offline import OfflineChatModel, OfflineReply
from common.llm.usage import PriceTable, UsageLedger
from common.rate_limit import LocalBuckets, Rate


def test_the_request_wins_the_default_fills_in_and_the_ceiling_caps_both() -> None:
    ceiling = Budget(max_cost_usd=1.0, max_model_calls=50)
    default = Budget(max_tokens=1000)
    assert resolve_budget(Budget(max_cost_usd=5.0), default, ceiling) == Budget(1.0, 0, 50)
    assert resolve_budget(Budget(), default, ceiling) == Budget(1.0, 1000, 50)
    assert resolve_budget(Budget(max_model_calls=10), default, Budget()) == Budget(0.0, 0, 10)
    assert resolve_budget(Budget(), Budget(), Budget()).unlimited


def test_remaining_never_turns_a_used_up_limit_into_no_limit() -> None:
    budget = Budget(max_cost_usd=0.5, max_tokens=100, max_model_calls=2)
    left = budget.remaining(Spent(model_calls=2, tokens=150, cost_usd=0.7))
    assert not left.unlimited
    assert left.exceeded(Spent()) == ("max_model_calls", "0 model call(s) made, 0 allowed")
    assert Budget(max_tokens=100).remaining(Spent(tokens=150)).exceeded(Spent()) is None  # 1 token left...
    assert Budget(max_tokens=100).remaining(Spent(tokens=150)).exceeded(Spent(tokens=1)) is not None
    assert budget.remaining(Spent(model_calls=1)) == Budget(0.5, 100, 1)


@pytest.mark.parametrize(
    ("budget", "spent", "limit"),
    [
        (Budget(max_model_calls=3), Spent(model_calls=3), "max_model_calls"),
        (Budget(max_tokens=10), Spent(tokens=10), "max_tokens"),
        (Budget(max_cost_usd=0.01), Spent(cost_usd=0.01), "max_cost_usd"),
    ],
)
def test_a_limit_is_reached_at_its_value(budget: Budget, spent: Spent, limit: str) -> None:
    assert budget.exceeded(spent) is not None and budget.exceeded(spent)[0] == limit  # type: ignore[index]
    assert budget.exceeded(Spent()) is None


class Echo:
    def respond(self, messages: Any, tools: Any) -> OfflineReply:
        return OfflineReply(content="fine")


async def test_the_guard_refuses_the_call_after_the_last_allowed_one() -> None:
    ledger = UsageLedger(PriceTable(), "test")
    guard = BudgetGuard(Budget(max_model_calls=2), ledger)
    model = OfflineChatModel(behaviour=Echo())
    config: Any = {"callbacks": [ledger, guard]}
    for _ in range(2):
        await model.ainvoke([HumanMessage("hi")], config)
    with pytest.raises(BudgetExceededError) as caught:
        await model.ainvoke([HumanMessage("hi")], config)
    assert caught.value.limit == "max_model_calls"
    assert len(ledger.calls) == 2, "the refused call was never made"


async def test_the_guard_counts_what_earlier_drives_spent() -> None:
    ledger = UsageLedger(PriceTable(), "test")
    guard = BudgetGuard(Budget(max_model_calls=5), ledger, spent_before=Spent(model_calls=5))
    with pytest.raises(BudgetExceededError):
        await OfflineChatModel(behaviour=Echo()).ainvoke([HumanMessage("hi")], {"callbacks": [ledger, guard]})


async def test_local_buckets_allow_the_burst_then_say_how_long_to_wait() -> None:
    buckets = LocalBuckets()
    rate = Rate(rps=2.0, burst=3)
    assert [await buckets.take("k", rate) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await buckets.take("k", rate)
    assert 0.4 < wait <= 0.5
    assert await buckets.take("other", rate) == 0.0


class _Context:
    def __init__(self) -> None:
        self.aborted: tuple[Any, ...] | None = None

    async def abort(self, *args: Any) -> None:
        self.aborted = args
        raise RuntimeError("aborted")


class _Broken:
    async def take(self, key: str, rate: Rate) -> float:
        raise ConnectionError("redis is down")


async def _rates(principal: Any) -> tuple[Rate, Rate]:
    return Rate(1.0, 1), Rate(1.0, 1)


async def test_the_rate_limit_interceptor_refuses_with_quota_failure_and_lets_calls_through_when_redis_is_down() -> (
    None
):
    import grpc

    from common.auth.principal import AuthMethod, Principal, acting_as
    from common.rate_limit import RateLimiter, RateLimitInterceptor

    caller = Principal("acme", "key1", frozenset(), AuthMethod.API_KEY)
    limited = RateLimitInterceptor(RateLimiter(LocalBuckets(), _rates))
    with acting_as(caller):
        await limited._admit(_Context())  # type: ignore[arg-type]
        refused = _Context()
        with pytest.raises(RuntimeError):
            await limited._admit(refused)  # type: ignore[arg-type]
    assert refused.aborted is not None and refused.aborted[0] == grpc.StatusCode.RESOURCE_EXHAUSTED
    down = RateLimitInterceptor(RateLimiter(_Broken(), _rates))
    with acting_as(caller):
        await down._admit(_Context())  # type: ignore[arg-type]  # no abort: the call goes through


def test_every_supported_providers_models_are_priced() -> None:
    prices = PriceTable()
    for model in (
        "gpt-5-mini-2025-08-07",
        "gpt-4o-mini",
        "o4-mini",
        "o3-mini",
        "claude-haiku-4-5",
        "claude-opus-4-1",
    ):
        assert prices.price_of(model) is not None, model
    assert len({repr(prices.price_of(m)) for m in ("gpt-5", "gpt-5-mini", "gpt-5-pro-2025-10-06")}) == 3
    # OpenRouter names the vendor first (and writes versions with dots).
    assert prices.price_of("openai/gpt-4o-mini") == prices.price_of("gpt-4o-mini")
    assert prices.price_of("anthropic/claude-sonnet-4.5") == prices.price_of("claude-sonnet-4-5")
    assert prices.price_of("meta-llama/llama-3.1-8b-instruct") is None  # unpriced until LLM_PRICES names it
