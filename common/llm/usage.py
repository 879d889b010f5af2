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

# List prices in US dollars per million tokens. Prices change: override or extend them with LLM_PRICES. A model is
# matched by its exact name, then by the longest known prefix (so "gpt-4o-mini-2024-07-18" is priced as
# "gpt-4o-mini" and "claude-sonnet-4-5-20250929" as "claude-sonnet-4").
#
# OpenAI: input, cached input and output as published by OpenAI in 2025.
_OPENAI_PRICES: dict[str, Price] = {
    "gpt-5": Price(input=1.25, output=10.00, cache_read=0.125),
    "gpt-5-mini": Price(input=0.25, output=2.00, cache_read=0.025),
    "gpt-5-nano": Price(input=0.05, output=0.40, cache_read=0.005),
    "gpt-5-pro": Price(input=15.00, output=120.00),  # no cached-input discount
    "o3-mini": Price(input=1.10, output=4.40, cache_read=0.55),
    "gpt-4o-mini": Price(input=0.15, output=0.60, cache_read=0.075),
    "gpt-4o": Price(input=2.50, output=10.00, cache_read=1.25),
    "gpt-4.1": Price(input=2.00, output=8.00, cache_read=0.50),
    "gpt-4.1-mini": Price(input=0.40, output=1.60, cache_read=0.10),
    "gpt-4.1-nano": Price(input=0.10, output=0.40, cache_read=0.025),
    "o4-mini": Price(input=1.10, output=4.40, cache_read=0.275),
}


def _claude(input: float, output: float, cache_read: float) -> Price:
    """A Claude price: prompt-cache writes cost 1.25x the input price (5-minute cache) or 2x (1-hour cache)."""
    return Price(
        input=input, output=output, cache_read=cache_read, cache_write=input * 1.25, cache_write_1h=input * 2
    )


# Anthropic: the current Claude list prices (base input, output, cache hits; cache writes as in _claude) published
# at https://platform.claude.com/docs/en/about-claude/pricing, as of December 2026. Claude Haiku 5.5's price is
# the one for prompts up to 100k tokens (longer prompts cost five times as much); Claude Sonnet 5.5's cache hits
# cost $0.10 since October 2026.
_ANTHROPIC_PRICES: dict[str, Price] = {
    "claude-opus-5-5": _claude(4.00, 20.00, 0.20),
    "claude-opus-5": _claude(5.00, 25.00, 0.50),
    "claude-opus-4-5": _claude(5.00, 25.00, 0.50),
    "claude-opus-4-6": _claude(5.00, 25.00, 0.50),
    "claude-opus-4-7": _claude(5.00, 25.00, 0.50),
    "claude-opus-4-8": _claude(5.00, 25.00, 0.50),
    "claude-opus-4": _claude(15.00, 75.00, 1.50),  # Opus 4 and 4.1
    "claude-sonnet-5-5": _claude(2.00, 10.00, 0.10),
    "claude-sonnet-5": _claude(2.00, 10.00, 0.20),
    "claude-sonnet-4": _claude(3.00, 15.00, 0.30),  # Sonnet 4, 4.5 and 4.6
    "claude-3-7-sonnet": _claude(3.00, 15.00, 0.30),
    "claude-haiku-5-5": _claude(0.10, 0.50, 0.01),
    "claude-haiku-4-5": _claude(1.00, 5.00, 0.10),
    "claude-3-5-haiku": _claude(0.80, 4.00, 0.08),
    "claude-3-haiku": _claude(0.25, 1.25, 0.03),
}
DEFAULT_PRICES: dict[str, Price] = {
    **_OPENAI_PRICES,
    **_ANTHROPIC_PRICES,
    OFFLINE_MODEL_NAME: Price(input=0.0, output=0.0),
}


@dataclass(frozen=True)
class Tokens:
    """The tokens of one call: input (cache reads and writes included), output, and the cached parts of input."""

    input: int
    output: int
    cache_read: int = 0
    cache_write: int = 0  # 5-minute cache (and caches of unknown lifetime)
    cache_write_1h: int = 0

    @classmethod
    def of(cls, usage: Mapping[str, Any]) -> Tokens:
        """From LangChain's ``usage_metadata`` (``input_token_details``: ``cache_read``, ``cache_creation``,
        Anthropic's ``ephemeral_5m_input_tokens``/``ephemeral_1h_input_tokens``)."""
        details = usage.get("input_token_details") or {}
        return cls(
            input=int(usage.get("input_tokens") or 0),
            output=int(usage.get("output_tokens") or 0),
            cache_read=int(details.get("cache_read") or 0),
            cache_write=int(details.get("cache_creation") or 0)
            + int(details.get("ephemeral_5m_input_tokens") or 0),
            cache_write_1h=int(details.get("ephemeral_1h_input_tokens") or 0),
        )


class PriceTable:
    """Turns tokens into US dollars."""

    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        self.prices = {**DEFAULT_PRICES, **(overrides or {})}

    def price_of(self, model: str) -> Price | None:
        """The price of a model: exact name first, then the longest matching prefix; a router's vendor-prefixed
        name (OpenRouter's ``openai/gpt-4o-mini``, ``anthropic/claude-sonnet-4.5``) is priced as the vendor's own
        model when the full name is not in the table."""
        if model in self.prices:
            return self.prices[model]
        prefixes = [name for name in self.prices if model.startswith(name)]
        if prefixes:
            return self.prices[max(prefixes, key=len)]
        if "/" in model:
            return self.price_of(model.rsplit("/", 1)[1].replace(".", "-"))
        return None

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> tuple[float, bool]:
        """(cost in dollars, whether the model has a price) of uncached input and output tokens."""
        return self.cost_of(model, Tokens(input_tokens, output_tokens))

    def cost_of(self, model: str, tokens: Tokens) -> tuple[float, bool]:
        """(cost in dollars, whether the model has a price): cache reads and writes at their own prices (the
        input price where the table has none), the rest of the input at the input price."""
        price = self.price_of(model)
        if price is None:
            return 0.0, False
        cached = tokens.cache_read + tokens.cache_write + tokens.cache_write_1h
        dollars = (
            max(0, tokens.input - cached) * price.input
            + tokens.cache_read * _or(price.cache_read, price.input)
            + tokens.cache_write * _or(price.cache_write, price.input)
            + tokens.cache_write_1h * _or(price.cache_write_1h, price.input)
            + tokens.output * price.output
        )
        return dollars / 1_000_000, True


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


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
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


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
        entry = models.setdefault(call.model, _model_entry(call.model, call.priced))
        entry["calls"] += 1
        entry["input_tokens"] += call.input_tokens
        entry["output_tokens"] += call.output_tokens
        entry["cost_usd"] += call.cost_usd
        entry["latency_ms"] += call.latency_ms
        entry["cache_read_tokens"] += call.cache_read_tokens
        entry["cache_write_tokens"] += call.cache_write_tokens
    return UsageTotals(
        model_calls=len(calls),
        input_tokens=sum(c.input_tokens for c in calls),
        output_tokens=sum(c.output_tokens for c in calls),
        cost_usd=sum(c.cost_usd for c in calls),
        models=tuple(models.values()),
    )


_MODEL_FIGURES = (
    "calls", "input_tokens", "output_tokens", "cost_usd", "latency_ms", "cache_read_tokens", "cache_write_tokens",
)  # fmt: skip


def _model_entry(model: str, priced: bool) -> dict[str, Any]:
    return {"model": model, **{key: 0 for key in _MODEL_FIGURES}, "cost_usd": 0.0, "priced": priced}


def merge_usage(*usages: Mapping[str, Any]) -> dict[str, Any]:
    """Add usage records (``UsageTotals.to_dict`` shape) together."""
    models: dict[str, dict[str, Any]] = {}
    for usage in usages:
        for model in usage.get("models", []):
            entry = models.setdefault(model["model"], _model_entry(model["model"], model["priced"]))
            for key in _MODEL_FIGURES:
                entry[key] += model.get(key, 0)  # records from before cache tokens were counted lack them
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
                metadata = message.response_metadata or {}
                model = str(metadata.get("model_name") or metadata.get("model") or "unknown")
                tokens = Tokens.of(getattr(message, "usage_metadata", None) or {})
                cost, priced = self.prices.cost_of(model, tokens)
                self.calls.append(
                    ModelCall(agent, step, model, tokens.input, tokens.output, latency_ms, cost, priced,
                              tokens.cache_read, tokens.cache_write + tokens.cache_write_1h)
                )  # fmt: skip
                record_model_call(self.team, model, tokens.input, tokens.output, latency_ms / 1000, cost)

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._started.pop(run_id, None)

    def totals(self, step: int | None = None) -> UsageTotals:
        """Totals of all calls, or of the calls made during one graph step."""
        return summarize([c for c in self.calls if step is None or c.step == step])
