"""Real chat models: OpenAI-compatible providers behind retries and a primary/backup fallback.

Each provider's calls are retried with tenacity (exponential backoff with jitter, ``Retry-After`` honoured) on
timeouts, connection errors, 408, 429 and 5xx, never on other 4xx. When the primary still fails, the backup gets the
call. When every provider fails, ``ModelUnavailableError`` names each failure.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from common.logging import get_logger
from common.text import clip

log = get_logger(__name__)

INITIAL_BACKOFF_S = 0.5


class ModelUnavailableError(RuntimeError):
    """No provider could answer; the message names each provider's failure."""


def is_retryable(exc: BaseException) -> bool:
    """Timeouts, connection errors, 408, 429 and 5xx are worth another try; other errors are not."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 429) or exc.status_code >= 500
    return False


def retry_after_s(exc: BaseException | None) -> float | None:
    """The delay a provider asked for (``retry-after-ms`` or ``Retry-After`` in seconds or as an HTTP date)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return retry_after_in(headers) if headers else None


def retry_after_in(headers: Any) -> float | None:
    """The delay response headers ask for: ``retry-after-ms``, else ``Retry-After`` (seconds or HTTP date)."""
    if (value := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (moment - datetime.now(UTC)).total_seconds())


class RetryAfterOrBackoff:
    """tenacity wait: the provider's Retry-After when it sent one, else exponential backoff with jitter."""

    def __init__(self, max_wait_s: float) -> None:
        self.max_wait_s = max_wait_s
        self.backoff = wait_exponential_jitter(
            multiplier=INITIAL_BACKOFF_S, max=max_wait_s, jitter=INITIAL_BACKOFF_S
        )

    def __call__(self, state: RetryCallState) -> float:
        requested = retry_after_s(state.outcome.exception() if state.outcome else None)
        if requested is not None:
            return min(requested, self.max_wait_s)
        return self.backoff(state)


@dataclass(frozen=True)
class Provider:
    """One configured provider: its role ("primary", "backup"), a label for errors, its model and structured method."""

    name: str
    label: str
    model: BaseChatModel
    structured_method: str


class _Retrying(Runnable[Any, Any]):
    """Retries a runnable on transient provider errors; a stream is retried only before its first chunk."""

    def __init__(
        self, inner: Runnable[Any, Any], provider: Provider, attempts: int, max_wait_s: float
    ) -> None:
        self.inner = inner
        self.provider = provider
        self.attempts = attempts
        self.max_wait_s = max_wait_s

    def _retrying(self) -> AsyncRetrying:
        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.info(
                "llm_retry",
                provider=self.provider.name,
                attempt=state.attempt_number,
                error=clip(f"{type(error).__name__}: {error}", 200),
                wait_s=round(state.upcoming_sleep, 2),
            )

        return AsyncRetrying(
            retry=retry_if_exception(is_retryable),
            wait=RetryAfterOrBackoff(self.max_wait_s),
            stop=stop_after_attempt(self.attempts),
            before_sleep=log_retry,
            reraise=True,
        )

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        raise NotImplementedError("provider calls are asynchronous; use ainvoke")

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        async for attempt in self._retrying():
            with attempt:
                return await self.inner.ainvoke(input, config, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        iterator: AsyncIterator[Any] | None = None
        first: Any = None
        async for attempt in self._retrying():
            with attempt:
                iterator = aiter(self.inner.astream(input, config, **kwargs))
                try:
                    first = await anext(iterator)
                except StopAsyncIteration:
                    return
        assert iterator is not None
        yield first
        async for chunk in iterator:
            yield chunk


class _Fallbacks(Runnable[Any, Any]):
    """Tries each provider's runnable in turn on provider errors; raises ModelUnavailableError when all fail."""

    def __init__(self, runnables: Sequence[_Retrying]) -> None:
        self.runnables = list(runnables)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        raise NotImplementedError("provider calls are asynchronous; use ainvoke")

    def _failed(self, runnable: _Retrying, exc: Exception, errors: list[str], started: float) -> None:
        provider = runnable.provider
        errors.append(f"{provider.name} ({provider.label}): {type(exc).__name__}: {clip(str(exc), 200)}")
        log.warning(
            "llm_provider_failed",
            provider=provider.name,
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
            except openai.APIError as exc:
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
            except openai.APIError as exc:
                if streamed:
                    raise
                self._failed(runnable, exc, errors, started)
        raise ModelUnavailableError("no model provider could answer: " + "; ".join(errors))


class ProviderChain:
    """A chat model backed by a primary provider and an optional backup.

    Offers what the agents use of a chat model: ``with_structured_output``, ``bind_tools``, ``ainvoke`` and
    ``astream``; each call runs on the primary (with retries), then on the backup.
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
        """A streamed completion."""
        return self._chain(lambda p: p.model).astream(input, config, **kwargs)
