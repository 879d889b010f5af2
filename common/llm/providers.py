"""Real chat models: providers behind one retry policy, a breaker per provider endpoint, and a backup.

Each provider's calls run under its endpoint's circuit breaker (``common.llm.breakers``) and are retried with
tenacity on transient failures (``common.llm.retry``: timeouts, connection errors, 408, 429, 5xx and 529, and
incomplete answers: no finish reason, a dropped stream, a chunk that does not decode), waiting what the provider
asks for. When the primary still fails, or its breaker is open, the backup gets the call. When every provider
fails, ``ModelUnavailableError`` names each failure. Every answer that gets through is whole
(``common.llm.answers``); text a failed attempt had streamed is withdrawn before the next attempt streams.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, stop_any
from tenacity.stop import stop_base

from common.llm.answers import in_graph
from common.llm.retry import (
    AskedToWaitTooLong,
    RetryAfterOrBackoff,
    fault_name,
    is_provider_failure,
    is_retryable,
    retry_after_in,
    retry_after_s,
)
from common.logging import get_logger
from common.metrics import MODEL_CALL_FAULTS
from common.resilience import STATE_OPEN, AsyncCircuitBreaker, BreakerOpen
from common.text import clip

__all__ = [
    "ModelUnavailableError",
    "Provider",
    "ProviderChain",
    "RetryAfterOrBackoff",
    "is_retryable",
    "retry_after_in",
    "retry_after_s",
]

log = get_logger(__name__)


class ModelUnavailableError(RuntimeError):
    """No provider could answer; the message names each provider's failure."""


@dataclass(frozen=True)
class Provider:
    """One configured provider of a chain: its slot ("primary", "backup"), a label for errors, its model, its
    structured-output method, its endpoint's name and the breaker it shares with every model of that endpoint."""

    name: str
    label: str
    model: BaseChatModel
    structured_method: str
    endpoint: str
    breaker: AsyncCircuitBreaker


class _BreakerOpened(stop_base):
    """tenacity stop: the provider's breaker opened while this call was retrying."""

    def __init__(self, breaker: AsyncCircuitBreaker) -> None:
        self.breaker = breaker

    def __call__(self, state: RetryCallState) -> bool:
        return self.breaker.state == STATE_OPEN


class _Retrying(Runnable[Any, Any]):
    """One provider's calls: under its breaker, retried on transient failures."""

    def __init__(
        self, inner: Runnable[Any, Any], provider: Provider, attempts: int, max_wait_s: float
    ) -> None:
        self.inner = inner
        self.provider = provider
        self.attempts = attempts
        self.max_wait_s = max_wait_s

    def _failed_attempt(self, state: RetryCallState) -> bool:
        """tenacity retry predicate: count every failed attempt; retry the transient ones."""
        error = state.outcome.exception() if state.outcome else None
        if error is None:
            return False
        MODEL_CALL_FAULTS.labels(provider=self.provider.endpoint, fault=fault_name(error)).inc()
        return is_retryable(error)

    def _retrying(self, may_retry: Callable[[], bool] = lambda: True) -> AsyncRetrying:
        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.info(
                "llm_retry",
                provider=self.provider.name,
                endpoint=self.provider.endpoint,
                attempt=state.attempt_number,
                error=clip(f"{type(error).__name__}: {error}", 200),
                wait_s=round(state.upcoming_sleep, 3),
                asked_s=retry_after_s(error),
            )

        breaker = self.provider.breaker
        return AsyncRetrying(
            retry=lambda state: self._failed_attempt(state) and may_retry(),
            wait=RetryAfterOrBackoff(self.max_wait_s),
            stop=stop_any(
                stop_after_attempt(self.attempts),
                AskedToWaitTooLong(self.max_wait_s),
                _BreakerOpened(breaker),  # other calls found the provider down meanwhile
            ),
            before_sleep=log_retry,
            reraise=True,
        )

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        raise NotImplementedError("provider calls are asynchronous; use ainvoke")

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        async with self.provider.breaker.guard():
            async for attempt in self._retrying():
                with attempt:
                    return await self.inner.ainvoke(input, config, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Stream one provider's answer. A failure before the first chunk is retried; after it, only inside a
        graph, where the chat model has withdrawn the text it streamed (a caller outside a graph could not tell
        the attempts apart, so there the failure is raised)."""
        progress = _StreamProgress()
        async with self.provider.breaker.guard():
            async for attempt in self._retrying(progress.may_retry):
                with attempt:
                    progress.streamed = False
                    async for chunk in self.inner.astream(input, config, **kwargs):
                        progress.streamed = True
                        yield chunk


@dataclass
class _StreamProgress:
    """Whether the current attempt of a stream has yielded a chunk."""

    streamed: bool = False

    def may_retry(self) -> bool:
        """A failed attempt may be retried before its first chunk, or inside a graph (its text withdrawn)."""
        return not self.streamed or in_graph()


class _Fallbacks(Runnable[Any, Any]):
    """Tries each provider's runnable in turn on provider failures; raises ModelUnavailableError when all fail."""

    def __init__(self, runnables: Sequence[_Retrying]) -> None:
        self.runnables = list(runnables)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        raise NotImplementedError("provider calls are asynchronous; use ainvoke")

    def _failed(self, runnable: _Retrying, exc: BaseException, errors: list[str], started: float) -> None:
        provider = runnable.provider
        if isinstance(exc, BreakerOpen):
            MODEL_CALL_FAULTS.labels(provider=provider.endpoint, fault="breaker_open").inc()
        errors.append(f"{provider.name} ({provider.label}): {type(exc).__name__}: {clip(str(exc), 200)}")
        log.warning(
            "llm_provider_failed",
            provider=provider.name,
            endpoint=provider.endpoint,
            error=errors[-1],
            elapsed_ms=int((time.monotonic() - started) * 1000),
            falling_back=runnable is not self.runnables[-1],
        )

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        errors: list[str] = []
        for runnable in self.runnables:
            started = time.monotonic()
            try:
                return await runnable.ainvoke(input, config, **kwargs)
            except Exception as exc:
                if not is_provider_failure(exc):
                    raise
                self._failed(runnable, exc, errors, started)
        raise ModelUnavailableError("no model provider could answer: " + "; ".join(errors))

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        errors: list[str] = []
        for runnable in self.runnables:
            started = time.monotonic()
            streamed = False
            try:
                async for chunk in runnable.astream(input, config, **kwargs):
                    streamed = True
                    yield chunk
                return
            except Exception as exc:
                if not is_provider_failure(exc) or (streamed and not in_graph()):
                    raise
                self._failed(runnable, exc, errors, started)
        raise ModelUnavailableError("no model provider could answer: " + "; ".join(errors))


class ProviderChain:
    """A chat model backed by a primary provider and an optional backup.

    Offers what the agents use of a chat model: ``with_structured_output``, ``bind_tools``, ``ainvoke`` and
    ``astream``; each call runs on the primary (with retries, unless its breaker is open), then on the backup.
    """

    def __init__(self, providers: Sequence[Provider], attempts: int, max_wait_s: float) -> None:
        if not providers:
            raise ValueError("at least one provider is needed")
        self.providers = tuple(providers)
        self.attempts = attempts
        self.max_wait_s = max_wait_s

    def _chain(self, build: Callable[[Provider], Runnable[Any, Any]]) -> _Fallbacks:
        return _Fallbacks([_Retrying(build(p), p, self.attempts, self.max_wait_s) for p in self.providers])

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Runnable[Any, Any]:
        """Structured output, with each provider's own method (json_schema, function_calling or json_mode)."""
        return self._chain(
            lambda p: p.model.with_structured_output(schema, method=p.structured_method, **kwargs)
        )

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, Any]:
        """Tool calling on every provider."""
        return self._chain(lambda p: p.model.bind_tools(tools, **kwargs))

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """A plain completion."""
        return await self._chain(lambda p: p.model).ainvoke(input, config, **kwargs)

    def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        """A streamed completion. Inside a graph, a failed attempt's text is withdrawn (a ``text_withdrawn``
        custom stream chunk) and the next attempt streams from its start; outside one, a failure after the first
        chunk is raised."""
        return self._chain(lambda p: p.model).astream(input, config, **kwargs)
