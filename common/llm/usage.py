"""Token and cost accounting: a LangChain callback handler that records every chat-model call of a run.

Passed in a graph run's ``config["callbacks"]``, it reaches every model call inside the graph; LangGraph tags each
call with the node (agent) that made it, so usage is attributed per agent without any plumbing in the agents.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from common.config import Price
from common.llm.offline import OFFLINE_MODEL_NAME
from common.metrics import record_model_call

# List prices in US dollars per million tokens (input, output), as published by OpenAI in 2025. Prices change:
# override or extend them with LLM_PRICES. A model is matched by its exact name, then by the longest known prefix
# (so "gpt-4o-mini-2024-07-18" is priced as "gpt-4o-mini").
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(input=0.15, output=0.60),
    "gpt-4o": Price(input=2.50, output=10.00),
    "gpt-4.1": Price(input=2.00, output=8.00),
    "gpt-4.1-mini": Price(input=0.40, output=1.60),
    "gpt-4.1-nano": Price(input=0.10, output=0.40),
    "o4-mini": Price(input=1.10, output=4.40),
    OFFLINE_MODEL_NAME: Price(input=0.0, output=0.0),
}


class PriceTable:
    """Turns tokens into US dollars."""

    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        self.prices = {**DEFAULT_PRICES, **(overrides or {})}

    def price_of(self, model: str) -> Price | None:
        """The price of a model: exact name first, then the longest matching prefix."""
        if model in self.prices:
            return self.prices[model]
        prefixes = [name for name in self.prices if model.startswith(name)]
        return self.prices[max(prefixes, key=len)] if prefixes else None

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> tuple[float, bool]:
        """(cost in dollars, whether the model has a price)."""
        price = self.price_of(model)
        if price is None:
            return 0.0, False
        return (input_tokens * price.input + output_tokens * price.output) / 1_000_000, True


@dataclass(frozen=True)
class ModelCall:
    """One completed chat-model call."""

    agent: str
    step: int
    model: str
    input_tokens: int
    output_tokens: int
    latency_ms: int
    cost_usd: float
    priced: bool


@dataclass(frozen=True)
class UsageTotals:
    """Aggregated figures of some calls, per model."""

    model_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    models: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly record (graph state holds plain data)."""
        return {
            "model_calls": self.model_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "models": [dict(m) for m in self.models],
        }


def summarize(calls: list[ModelCall]) -> UsageTotals:
    """Totals and per-model figures of a list of calls."""
    models: dict[str, dict[str, Any]] = {}
    for call in calls:
        entry = models.setdefault(
            call.model,
            {"model": call.model, "calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
             "latency_ms": 0, "priced": call.priced},
        )  # fmt: skip
        entry["calls"] += 1
        entry["input_tokens"] += call.input_tokens
        entry["output_tokens"] += call.output_tokens
        entry["cost_usd"] += call.cost_usd
        entry["latency_ms"] += call.latency_ms
    return UsageTotals(
        model_calls=len(calls),
        input_tokens=sum(c.input_tokens for c in calls),
        output_tokens=sum(c.output_tokens for c in calls),
        cost_usd=sum(c.cost_usd for c in calls),
        models=tuple(models.values()),
    )


def merge_usage(*usages: Mapping[str, Any]) -> dict[str, Any]:
    """Add usage records (``UsageTotals.to_dict`` shape) together."""
    models: dict[str, dict[str, Any]] = {}
    for usage in usages:
        for model in usage.get("models", []):
            entry = models.setdefault(
                model["model"],
                {"model": model["model"], "calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
                 "latency_ms": 0, "priced": model["priced"]},
            )  # fmt: skip
            for key in ("calls", "input_tokens", "output_tokens", "cost_usd", "latency_ms"):
                entry[key] += model[key]
            entry["priced"] = entry["priced"] and model["priced"]
    return {
        "model_calls": sum(u.get("model_calls", 0) for u in usages),
        "input_tokens": sum(u.get("input_tokens", 0) for u in usages),
        "output_tokens": sum(u.get("output_tokens", 0) for u in usages),
        "cost_usd": sum(u.get("cost_usd", 0.0) for u in usages),
        "models": list(models.values()),
    }


EMPTY_USAGE: dict[str, Any] = summarize([]).to_dict()


class UsageLedger(AsyncCallbackHandler):
    """Records every chat-model call of one run: agent, model, tokens, latency, cost."""

    run_inline = True

    def __init__(self, prices: PriceTable, team: str) -> None:
        """
        Args:
            prices: The price table.
            team: The team whose calls these are ("supervisor" for its router), for the cost metrics.
        """
        self.prices = prices
        self.team = team
        self.calls: list[ModelCall] = []
        self._started: dict[UUID, tuple[float, str, int]] = {}

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        metadata = metadata or {}
        agent = str(metadata.get("langgraph_node") or "")
        self._started[run_id] = (time.monotonic(), agent, int(metadata.get("langgraph_step") or 0))

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        started, agent, step = self._started.pop(run_id, (time.monotonic(), "", 0))
        latency_ms = int((time.monotonic() - started) * 1000)
        for generations in response.generations:
            for generation in generations:
                if not isinstance(generation, ChatGeneration):
                    continue
                message = generation.message
                usage = getattr(message, "usage_metadata", None) or {}
                metadata = message.response_metadata or {}
                model = str(metadata.get("model_name") or metadata.get("model") or "unknown")
                input_tokens = int(usage.get("input_tokens", 0))
                output_tokens = int(usage.get("output_tokens", 0))
                cost, priced = self.prices.cost(model, input_tokens, output_tokens)
                self.calls.append(
                    ModelCall(agent, step, model, input_tokens, output_tokens, latency_ms, cost, priced)
                )
                record_model_call(self.team, model, input_tokens, output_tokens, latency_ms / 1000, cost)

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._started.pop(run_id, None)

    def totals(self, step: int | None = None) -> UsageTotals:
        """Totals of all calls, or of the calls made during one graph step."""
        return summarize([c for c in self.calls if step is None or c.step == step])
